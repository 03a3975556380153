package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/definer"
	"github.com/segflow/segflow/services/exporter"
	"github.com/segflow/segflow/services/reader"
	"github.com/segflow/segflow/services/segmenter"
	"github.com/segflow/segflow/services/stage"
)

// buildStages makes the runners of the given stages, each reading its
// own configuration from d.environ. closers are what the caller closes
// once the runners have stopped (the reader's sink).
func buildStages(ctx context.Context, d stageDeps, which []events.Stage) (out []stageRunner, closers []io.Closer, err error) {
	for _, st := range which {
		log := d.log.With().Str("service", string(st)).Logger()
		var r stageRunner
		switch st {
		case events.StageDefiner:
			cfg, err := loadEnvConfig[definer.Config](ctx, d.environ)
			if err != nil {
				return nil, closers, err
			}
			r = newRunner(d, st, definer.New(d.client, cfg), log)
		case events.StageSegmenter:
			cfg, err := loadEnvConfig[segmenter.Config](ctx, d.environ)
			if err != nil {
				return nil, closers, err
			}
			r = newRunner(d, st, segmenter.New(d.client, cfg), log)
		case events.StageExporter:
			cfg, err := loadEnvConfig[exporter.Config](ctx, d.environ)
			if err != nil {
				return nil, closers, err
			}
			h, err := exporter.New(d.client, cfg)
			if err != nil {
				return nil, closers, err
			}
			r = newRunner(d, st, h, log)
		case events.StageReader:
			environ := d.environ
			if _, set := lookupEnv(environ, "SEGFLOW_SINK_URL"); !set {
				environ = append(environ[:len(environ):len(environ)], "SEGFLOW_SINK_URL="+reader.DefaultSinkURL(d.dataDir))
			}
			cfg, err := loadEnvConfig[reader.Config](ctx, environ)
			if err != nil {
				return nil, closers, err
			}
			h, err := reader.New(d.client, cfg)
			if err != nil {
				return nil, closers, err
			}
			closers = append(closers, h)
			r = newRunner(d, st, h, log)
		default:
			return nil, closers, fmt.Errorf("unknown stage %q", st)
		}
		out = append(out, r)
	}
	return out, closers, nil
}

func newRunner[In events.Payload](d stageDeps, st events.Stage, h stage.Handler[In], log zerolog.Logger) *stage.Runner[In] {
	return &stage.Runner[In]{
		Stage: st, Handler: h, Pipeline: d.pipeline, JS: d.js,
		Config: d.stageCfg, Metrics: d.metrics, Log: log,
	}
}

// runRole implements "segflow definer|segmenter|exporter|reader": one
// stage in its own process, for separate deployment, against the NATS
// server of SEGFLOW_NATS_URL and the Platform of SEGFLOW_PLATFORM_URL.
func runRole(ctx context.Context, st events.Stage, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments, only SEGFLOW_* environment variables (see README): %w", st, errUsage)
	}
	c, err := loadPipelineConfigs(ctx, environ)
	if err != nil {
		return err
	}
	log := c.proc.logger(stderr)
	return servePipeline(ctx, c, environ, []events.Stage{st}, newRegistry(), log, func(metricsAddr string, nc *nats.Conn) {
		log.Info().Str("stage", string(st)).Str("nats", nc.ConnectedUrlRedacted()).Str("platform", c.platform.BaseURL).Str("metrics", "http://"+metricsAddr+"/metrics").Msg("started")
	})
}

// pipelineConfigs is everything a pipeline process reads from the
// environment.
type pipelineConfigs struct {
	proc     processConfig
	nats     natsConfig
	platform platform.Config
	events   events.Config
	stage    stage.Config
	dataDir  string // SEGFLOW_DATA_DIR
}

func loadPipelineConfigs(ctx context.Context, environ []string) (c pipelineConfigs, err error) {
	if c.proc, err = loadEnvConfig[processConfig](ctx, environ); err != nil {
		return c, err
	}
	if c.nats, err = loadEnvConfig[natsConfig](ctx, environ); err != nil {
		return c, err
	}
	if c.platform, err = loadPlatformConfig(ctx, environ); err != nil {
		return c, err
	}
	if c.events, err = loadEnvConfig[events.Config](ctx, environ); err != nil {
		return c, err
	}
	if c.stage, err = loadEnvConfig[stage.Config](ctx, environ); err != nil {
		return c, err
	}
	dd, err := loadEnvConfig[dataDirConfig](ctx, environ)
	c.dataDir = dd.DataDir
	return c, err
}

// servePipeline connects to NATS, ensures the pipeline's streams, and runs
// the stages with the Platform client until ctx is done. started is
// called once the admin endpoints listen.
func servePipeline(ctx context.Context, c pipelineConfigs, environ []string, stages []events.Stage, reg *prometheus.Registry, log zerolog.Logger, started func(metricsAddr string, nc *nats.Conn)) error {
	pm, err := platform.NewMetrics(reg)
	if err != nil {
		return err
	}
	client, err := platform.New(c.platform, platform.Options{Metrics: pm, Logger: log.With().Str("component", "platform").Logger()})
	if err != nil {
		return err
	}
	name := "segflow"
	for _, st := range stages {
		name += " " + string(st)
	}
	nc, js, err := connectBus(ctx, c.nats, name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
	pipeline, err := events.Ensure(ectx, js, c.events)
	cancel()
	if err != nil {
		return fmt.Errorf("setting up the pipeline's streams on NATS: %w", err)
	}
	sm, err := stage.NewMetrics(reg)
	if err != nil {
		return err
	}
	// Every process reports all four queues, so the queue of a stage
	// whose processes are all gone still shows (and alerts).
	if _, err := stage.NewConsumerCollector(reg, pipeline, events.Stages(), 3*time.Second); err != nil {
		return err
	}
	d := stageDeps{js: js, pipeline: pipeline, client: client, stageCfg: c.stage, metrics: sm, log: log, environ: environ, dataDir: c.dataDir}
	runners, closers, err := buildStages(ctx, d, stages)
	defer func() {
		for _, c := range closers {
			if err := c.Close(); err != nil {
				log.Warn().Err(err).Msg("closing")
			}
		}
	}()
	if err != nil {
		return err
	}
	return runPipelineProcess(ctx, runners, d, nc, reg, c.proc, func(addr string) { started(addr, nc) })
}
