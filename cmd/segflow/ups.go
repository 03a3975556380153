package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/rs/zerolog"

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
	reg := newRegistry()
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
	return loadEnvConfig[ups.Config](ctx, environ)
}
