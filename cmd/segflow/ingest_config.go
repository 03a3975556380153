package main

import (
	"context"
	"io"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/platform"
)

// loadPlatformConfig reads the Platform connection settings from environ.
func loadPlatformConfig(ctx context.Context, environ []string) (platform.Config, error) {
	return loadEnvConfig[platform.Config](ctx, environ)
}

func newPlatformClient(cfg platform.Config, stderr io.Writer, verbose bool) (*platform.Client, error) {
	log := zerolog.Nop()
	if verbose {
		log = zerolog.New(stderr).With().Timestamp().Logger().Level(zerolog.DebugLevel)
	}
	return platform.New(cfg, platform.Options{Logger: log})
}
