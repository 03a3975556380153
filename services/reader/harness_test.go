package reader_test

import (
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/reader"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness runs the reader as a stage over an embedded JetStream.
type harness struct {
	*stagetest.Harness[events.ExportSucceeded]
	ready  *stagetest.Watcher[events.BatchReady]
	failed *stagetest.Watcher[events.Failure]
	dir    string // the sink's directory
}

// start runs a reader over client with a file:// sink in a temporary
// directory, on a pipeline configured by pipe (stagetest's when nil).
func start(t *testing.T, client *platform.Client, pipe *events.Config) *harness {
	t.Helper()
	env := stagetest.Start(t, pipe)
	data := t.TempDir()
	cfg := reader.DefaultConfig(data)
	cfg.ParallelFiles = 2
	h, err := reader.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the runner's stop, so run after it.
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("closing the sink: %v", err)
		}
	})
	subj := env.Pipeline.Subjects
	hs := &harness{
		Harness: stagetest.NewHarness[events.ExportSucceeded](env, events.StageReader, h),
		dir:     data + "/audiences",
		ready:   stagetest.WatchAs[events.BatchReady](t, env, subj.BatchReady),
		failed:  stagetest.WatchAs[events.Failure](t, env, subj.BatchFailed),
	}
	hs.Config.ShutdownTimeout = 5 * time.Second
	hs.Run(t)
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
