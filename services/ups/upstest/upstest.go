// Package upstest runs ups for tests of other packages: on a loopback
// port, over a temporary data directory, stopped when the test ends.
package upstest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"

	"github.com/segflow/segflow/services/ups"
)

// Config returns ups's default configuration (the dev client included)
// for a loopback port and a temporary data directory.
func Config(t testing.TB) ups.Config {
	t.Helper()
	var cfg ups.Config
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(nil)}); err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	return cfg
}

// Start runs ups with cfg until the test ends and returns its base URL.
// now, if not nil, is ups's clock.
func Start(t testing.TB, cfg ups.Config, now func() time.Time) string {
	t.Helper()
	srv, err := ups.New(cfg, ups.Options{Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- srv.Run(ctx, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ups: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("ups did not start: %v", err)
		return ""
	}
}
