package main

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"

	"github.com/segflow/segflow/services/ups"
)

// runUPS runs ups until ctx is done. Configuration comes from environ
// (SEGFLOW_UPS_ADDR, SEGFLOW_DATA_DIR, SEGFLOW_UPS_CLIENTS, ...).
func runUPS(ctx context.Context, args []string, environ []string, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("ups takes no arguments, only SEGFLOW_* environment variables (see README): %w", errUsage)
	}
	cfg, err := loadUPSConfig(ctx, environ)
	if err != nil {
		return err
	}
	tuneGC(environ)
	log := zerolog.New(stderr).With().Timestamp().Str("service", "ups").Logger()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := ups.New(cfg, ups.Options{Logger: log, Registerer: reg, Gatherer: reg})
	if err != nil {
		return err
	}
	return srv.Run(ctx, nil)
}

// upsGCPercent is the GOGC ups runs with unless GOGC is set. The profile
// store is a large heap of mostly pointer-free byte slices, so a
// collection is cheap while the default 100 would let a 2 GB store grow
// the process to 4 GB between collections.
const upsGCPercent = 25

func tuneGC(environ []string) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			return // the runtime already honours it
		}
	}
	debug.SetGCPercent(upsGCPercent)
}

func loadUPSConfig(ctx context.Context, environ []string) (ups.Config, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var cfg ups.Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(env)}); err != nil {
		return cfg, fmt.Errorf("reading configuration: %s", nameVariable(cfg, err))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

// nameVariable rewrites envconfig's "Field: problem" into "VARIABLE:
// problem", so the message names what the user set.
func nameVariable(target any, err error) string {
	msg := err.Error()
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok {
		return msg
	}
	f, ok := reflect.TypeOf(target).FieldByName(field)
	if !ok {
		return msg
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name + ": " + rest
}
