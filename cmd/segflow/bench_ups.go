package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/services/ups"
)

// benchUPS is an in-process ups serving on a loopback port.
type benchUPS struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

// startBenchUPS opens ups on cfg.DataDir and serves it. It returns how
// long ups.New took: opening the data directory and loading the store.
func startBenchUPS(ctx context.Context, cfg ups.Config, log zerolog.Logger) (*benchUPS, time.Duration, error) {
	start := time.Now()
	srv, err := ups.New(cfg, ups.Options{Logger: log, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return nil, 0, err
	}
	took := time.Since(start)
	ctx, cancel := context.WithCancel(ctx)
	u := &benchUPS{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() { u.done <- srv.Run(ctx, ready) }()
	select {
	case addr := <-ready:
		u.url = "http://" + addr
		return u, took, nil
	case err := <-u.done:
		cancel()
		srv.Close()
		return nil, 0, err
	}
}

// stop shuts ups down and waits for it; stop after stop does nothing.
func (u *benchUPS) stop() error {
	if u == nil || u.done == nil {
		return nil
	}
	u.cancel()
	err := <-u.done
	u.done = nil
	return err
}
