package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage"
)

// processConfig is what every long-running Segflow process reads besides
// the configuration of its parts.
type processConfig struct {
	// MetricsAddr serves /metrics, /healthz and /readyz.
	MetricsAddr string `env:"SEGFLOW_METRICS_ADDR, default=127.0.0.1:9464"`
	// LogLevel is zerolog's: debug, info, warn, error.
	LogLevel string `env:"SEGFLOW_LOG_LEVEL, default=info"`
	// LogFormat is json (one object a line) or console (for people).
	LogFormat string `env:"SEGFLOW_LOG_FORMAT, default=json"`
}

func (c processConfig) Validate() error {
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		return fmt.Errorf("SEGFLOW_LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		return fmt.Errorf("SEGFLOW_LOG_FORMAT must be json or console, not %q", c.LogFormat)
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
		return fmt.Errorf("SEGFLOW_METRICS_ADDR must be host:port, not %q", c.MetricsAddr)
	}
	return nil
}

// logger is the process's root logger.
func (c processConfig) logger(w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(c.LogLevel)
	if c.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// dataDirConfig is the one ups setting a pipeline process reads: its data
// directory (the reader's default sink, up's NATS store). The default is
// ups.Config's.
type dataDirConfig struct {
	DataDir string `env:"SEGFLOW_DATA_DIR, default=segflow-data"`
}

func (c dataDirConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New("SEGFLOW_DATA_DIR must not be empty")
	}
	return nil
}

// embeddedNATSConfig is where segflow up's own NATS server listens when
// SEGFLOW_NATS_URL names none.
type embeddedNATSConfig struct {
	Addr string `env:"SEGFLOW_NATS_ADDR, default=127.0.0.1:4222"`
}

func (c embeddedNATSConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("SEGFLOW_NATS_ADDR must be host:port, not %q", c.Addr)
	}
	return nil
}

// connectBus connects a long-running process to NATS: it reconnects for
// ever, logging as it goes.
func connectBus(ctx context.Context, cfg natsConfig, name string, log zerolog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := connectNATS(cfg, name,
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("disconnected from NATS")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("reconnected to NATS") }),
	)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// stageRunner is a stage.Runner of any input type.
type stageRunner interface {
	Run(ctx context.Context) error
	Ready() bool
	Name() events.Stage
}

// stageDeps is what building a stage needs.
type stageDeps struct {
	js       jetstream.JetStream
	pipeline *events.Pipeline
	client   *platform.Client
	stageCfg stage.Config
	metrics  *stage.Metrics
	log      zerolog.Logger
	environ  []string
	dataDir  string
}

// runPipelineProcess runs stages (and the dead-letter forwarder) over an
// ensured pipeline, with the admin endpoints, until ctx is done.
func runPipelineProcess(ctx context.Context, runners []stageRunner, d stageDeps, nc *nats.Conn, reg *prometheus.Registry, proc processConfig, ready func(addr string)) error {
	ln, err := net.Listen("tcp", proc.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listening on SEGFLOW_METRICS_ADDR %s: %w", proc.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if problem := readiness(nc, runners); problem != "" {
			http.Error(w, problem, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if ready != nil {
		ready(ln.Addr().String())
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Without it, max-deliveries advisories wait unforwarded: stop the
		// process, so that it is restarted, rather than run on without.
		if err := stage.ForwardDeadLetters(ctx, d.js, d.pipeline, d.metrics, d.log, time.Now); err != nil {
			cancel(fmt.Errorf("forwarding dead letters: %w", err))
		}
	}()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// readiness is "" when the process is ready, else what it waits for.
func readiness(nc *nats.Conn, runners []stageRunner) string {
	if !nc.IsConnected() {
		return "not connected to NATS"
	}
	var waiting []string
	for _, r := range runners {
		if !r.Ready() {
			waiting = append(waiting, string(r.Name()))
		}
	}
	if len(waiting) > 0 {
		return "stages not consuming yet: " + strings.Join(waiting, ", ")
	}
	return ""
}

// newRegistry is a process's metrics registry with the Go, process and
// build-info collectors (go_build_info{path="github.com/segflow/segflow/cmd/segflow"}
// is how the dashboard tells Segflow's processes from others).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewBuildInfoCollector())
	return reg
}
