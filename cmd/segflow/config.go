package main

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// loadEnvConfig fills a package's Config from environ (KEY=value) by its
// env tags, then validates it; an error names the variable at fault.
func loadEnvConfig[T any, PT interface {
	*T
	Validate() error
}](ctx context.Context, environ []string) (T, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var cfg T
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(env)}); err != nil {
		return cfg, fmt.Errorf("reading configuration: %s", nameVariable(cfg, err))
	}
	if err := PT(&cfg).Validate(); err != nil {
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
