package reader_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/reader"
	"github.com/segflow/segflow/services/stage"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness runs the reader as a stage over an embedded JetStream.
type harness struct {
	env   *stagetest.Env
	reg   *prometheus.Registry
	ready <-chan events.Event
	fail  <-chan events.Event
	dir   string // the sink's directory
}

// start runs a reader over client with a file:// sink in a temporary
// directory, on a pipeline configured by pipe (stagetest's when nil).
func start(t *testing.T, client *platform.Client, pipe *events.Config) *harness {
	t.Helper()
	env := stagetest.Start(t, pipe)
	data := t.TempDir()
	cfg := reader.DefaultConfig(data)
	cfg.ParallelFiles = 2
	h, err := reader.New(client, cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := stage.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := &stage.Runner[events.ExportSucceeded]{
		Stage: events.StageReader, Handler: h, Pipeline: env.Pipeline, JS: env.JS,
		Config:  stage.Config{Concurrency: 4, ShutdownTimeout: 5 * time.Second, Deadline: time.Hour},
		Metrics: metrics, Log: testLog(t),
	}
	subj := env.Pipeline.Subjects
	hs := &harness{
		env: env, reg: reg, dir: data + "/audiences",
		ready: env.Watch(t, subj.BatchReady),
		fail:  env.Watch(t, subj.BatchFailed),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Errorf("closing the sink: %v", err)
		}
	})
	return hs
}

// exported is an export.succeeded of request id for batch, with count
// profiles.
func exported(id, batch string, count int64) events.ExportSucceeded {
	r := events.Request{RequestID: id, Labels: events.Labels{"team": "growth"}, Definition: events.Definition{
		Name: "s", Expression: events.Expression{Type: "PQL", Format: "pql/text", Value: `homeAddress.countryCode = "US"`},
	}}
	r.SetDefaults()
	d := events.NewDefinitionCreated(r, events.Segment{ID: "seg-" + id, Name: "s", Expression: r.Definition.Expression})
	j := events.NewJobSucceeded(d, "sj-"+id, events.JobMetrics{})
	x := events.NewExportSucceeded(j)
	x.DatasetID, x.DatasetName, x.ExportJobID, x.BatchID, x.ProfileCount = "ds-1", "segflow-s", "100", batch, count
	x.Timings.Begin(events.StageExporter, time.Now().Add(-time.Second))
	x.Timings.End(events.StageExporter, time.Now())
	return x
}

func (h *harness) nextReady(t *testing.T) events.BatchReady {
	t.Helper()
	var b events.BatchReady
	if err := stagetest.Next(t, h.ready).DecodeData(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) nextFailed(t *testing.T) events.Failure {
	t.Helper()
	var f events.Failure
	if err := stagetest.Next(t, h.fail).DecodeData(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

// counter is the value of a stage counter, with outcome if not "".
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

// testLog logs to the test when SEGFLOW_TEST_LOG is set.
func testLog(t *testing.T) zerolog.Logger {
	if os.Getenv("SEGFLOW_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}
