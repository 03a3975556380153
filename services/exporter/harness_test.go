package exporter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/exporter"
	"github.com/segflow/segflow/services/stage"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness runs the exporter as a stage over an embedded JetStream.
type harness struct {
	env       *stagetest.Env
	reg       *prometheus.Registry // the running runner's
	succeeded <-chan events.Event
	failed    <-chan events.Event
	dead      <-chan events.Event
	// stop stops the running runner (at once, handing its messages back)
	// and waits for it.
	stop func()
}

// testConfig polls fast.
func testConfig() exporter.Config {
	c := exporter.DefaultConfig()
	c.Poll, c.PollMax = 5*time.Millisecond, 50*time.Millisecond
	c.Timeout = 30 * time.Second
	return c
}

// start runs an exporter over client with cfg, on a pipeline configured
// by pipe (stagetest's when nil).
func start(t *testing.T, client *platform.Client, cfg exporter.Config, pipe *events.Config) *harness {
	t.Helper()
	env := stagetest.Start(t, pipe)
	subj := env.Pipeline.Subjects
	hs := &harness{
		env:       env,
		succeeded: env.Watch(t, subj.ExportSucceeded),
		failed:    env.Watch(t, subj.ExportFailed),
		dead:      env.Watch(t, subj.DeadLetter(events.StageExporter)),
	}
	hs.run(t, client, cfg)
	return hs
}

// run starts a runner (another one after stop), with a new registry.
func (hs *harness) run(t *testing.T, client *platform.Client, cfg exporter.Config) {
	t.Helper()
	h, err := exporter.New(client, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := stage.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := &stage.Runner[events.JobSucceeded]{
		Stage: events.StageExporter, Handler: h, Pipeline: hs.env.Pipeline, JS: hs.env.JS,
		Config:  stage.Config{Concurrency: 4, ShutdownTimeout: 100 * time.Millisecond, Deadline: time.Hour},
		Metrics: metrics, Log: zerolog.Nop(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	eventually(t, "the runner consuming", r.Ready)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("runner: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	hs.reg, hs.stop = reg, stop
}

// input is a job.succeeded of request id for a segment named name.
func input(id, name string, x *events.ExportRequest) events.JobSucceeded {
	r := events.Request{RequestID: id, Labels: events.Labels{"team": "growth"}, Definition: events.Definition{
		Name: name, Expression: events.Expression{Type: "PQL", Format: "pql/text", Value: `homeAddress.countryCode = "US"`},
	}, Export: x}
	r.SetDefaults()
	d := events.NewDefinitionCreated(r, events.Segment{ID: "seg-" + id, Name: name, Expression: r.Definition.Expression})
	d.MergePolicyID = "mp-1"
	d.Timings.Begin(events.StageDefiner, time.Now().Add(-time.Second))
	d.Timings.End(events.StageDefiner, time.Now())
	return events.NewJobSucceeded(d, "sj-"+id, events.JobMetrics{TotalProfiles: 100, SegmentedProfiles: 42})
}

// nextSucceeded waits for export.succeeded.
func (h *harness) nextSucceeded(t *testing.T) events.ExportSucceeded {
	t.Helper()
	var x events.ExportSucceeded
	if err := stagetest.Next(t, h.succeeded).DecodeData(&x); err != nil {
		t.Fatal(err)
	}
	return x
}

// nextFailed waits for export.failed.
func (h *harness) nextFailed(t *testing.T) events.Failure {
	t.Helper()
	var f events.Failure
	if err := stagetest.Next(t, h.failed).DecodeData(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

// counter is the value of segflow_stage_messages_total{outcome}, 0 if
// absent.
func (h *harness) counter(t *testing.T, name, outcome string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := outcome == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func zerologNop() zerolog.Logger { return zerolog.Nop() }
