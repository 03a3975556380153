package main

import (
	"context"
	"fmt"
	"io"

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
	defer tuneGC(environ, cfg.MemoryLimitMB)()
	log := zerolog.New(stderr).With().Timestamp().Str("service", "ups").Logger()
	log.Info().Str("collector", gcSetting()).Msg("opening the store")
	reg := newRegistry()
	srv, err := ups.New(cfg, ups.Options{Logger: log, Registerer: reg, Gatherer: reg})
	if err != nil {
		return err
	}
	return srv.Run(ctx, nil)
}

func loadUPSConfig(ctx context.Context, environ []string) (ups.Config, error) {
	return loadEnvConfig[ups.Config](ctx, environ)
}
