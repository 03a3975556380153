package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/definer"
	"github.com/segflow/segflow/services/exporter"
	"github.com/segflow/segflow/services/reader"
	"github.com/segflow/segflow/services/segmenter"
	"github.com/segflow/segflow/services/stage"
	"github.com/segflow/segflow/services/ups"
)

// envVar is one environment variable a role reads.
type envVar struct {
	Name     string `json:"name"`
	Default  string `json:"default,omitempty"`
	Required bool   `json:"required,omitempty"`
}

// roleConfigs are the configuration structs each role loads
// (loadPipelineConfigs, buildStages, runUp, runUPS, connectPipeline), as
// zero values whose env tags name the variables.
func roleConfigs(role string) ([]envVar, bool) {
	pipeline := func(own any) []envVar {
		var vs []envVar
		for _, c := range []any{processConfig{}, natsConfig{}, platform.Config{}, events.Config{}, stage.Config{}, own} {
			vs = append(vs, envVarsOf(c)...)
		}
		return append(vs, envVarsOf(dataDirConfig{})...)
	}
	var vs []envVar
	switch role {
	case "definer":
		vs = pipeline(definer.Config{})
	case "segmenter":
		vs = pipeline(segmenter.Config{})
	case "exporter":
		vs = pipeline(exporter.Config{})
	case "reader":
		vs = pipeline(reader.Config{})
		for i := range vs {
			if vs[i].Name == "SEGFLOW_SINK_URL" {
				vs[i].Default = "file://$SEGFLOW_DATA_DIR/audiences" // reader.DefaultSinkURL, made absolute
			}
		}
	case "ups":
		vs = envVarsOf(ups.Config{})
	case "request", "status", "watch", "dlq":
		// The commands find the pipeline (connectPipeline).
		vs = append(envVarsOf(natsConfig{}), envVarsOf(events.Config{})...)
	case "up":
		vs = pipeline(embeddedNATSConfig{})
		for _, c := range []any{definer.Config{}, segmenter.Config{}, exporter.Config{}, reader.Config{}, ups.Config{}} {
			vs = append(vs, envVarsOf(c)...)
		}
		for i := range vs {
			if vs[i].Name == "SEGFLOW_UPS_SAMPLE_PROFILES" {
				vs[i].Default = fmt.Sprint(upSampleProfiles) // up's own default
			}
		}
	default:
		return nil, false
	}
	slices.SortFunc(vs, func(a, b envVar) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(vs, func(a, b envVar) bool { return a.Name == b.Name }), true
}

// envRoles are the roles "segflow env" describes: the services, and the
// commands that talk to the pipeline (request, status, watch, dlq read
// the same variables).
var envRoles = []string{"up", "ups", "definer", "segmenter", "exporter", "reader", "request", "status", "watch", "dlq"}

// envVarsOf lists the variables of a go-envconfig struct by its env tags,
// nested structs included.
func envVarsOf(cfg any) []envVar {
	var out []envVar
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, ok := f.Tag.Lookup("env")
			name, opts, _ := strings.Cut(tag, ",")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				if f.Type.Kind() == reflect.Struct && !strings.Contains(tag, "noinit") {
					walk(f.Type)
				}
				continue
			}
			v := envVar{Name: name}
			// As go-envconfig reads it: a default runs to the end of the
			// tag, commas and all.
			parts := strings.Split(opts, ",")
			for j, p := range parts {
				p = strings.TrimSpace(p)
				if d, ok := strings.CutPrefix(p, "default="); ok {
					v.Default = strings.Join(append([]string{d}, parts[j+1:]...), ",")
					break
				}
				if p == "required" {
					v.Required = true
				}
			}
			out = append(out, v)
		}
	}
	walk(reflect.TypeOf(cfg))
	return out
}

// runEnv implements "segflow env [-json] ROLE": the environment
// variables a role reads, with their defaults, for deployment manifests
// and for the tests that check them.
func runEnv(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of {name, default, required}")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: segflow env [-json] ROLE\n\nPrints the SEGFLOW_* variables ROLE reads and their defaults. Roles: %s.\n", strings.Join(envRoles, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("env takes one role: %w", errUsage)
	}
	vs, ok := roleConfigs(fs.Arg(0))
	if !ok {
		return fmt.Errorf("env: unknown role %q (roles: %s)", fs.Arg(0), strings.Join(envRoles, ", "))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(vs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT")
	for _, v := range vs {
		def := v.Default
		switch {
		case v.Required:
			def = "(required)"
		case def == "":
			def = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\n", v.Name, def)
	}
	return tw.Flush()
}
