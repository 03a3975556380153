package exporter_test

import (
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/exporter"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness runs the exporter as a stage over an embedded JetStream.
type harness struct {
	*stagetest.Harness[events.JobSucceeded]
	succeeded *stagetest.Watcher[events.ExportSucceeded]
	failed    *stagetest.Watcher[events.Failure]
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
		Harness:   stagetest.NewHarness[events.JobSucceeded](env, events.StageExporter, nil),
		succeeded: stagetest.WatchAs[events.ExportSucceeded](t, env, subj.ExportSucceeded),
		failed:    stagetest.WatchAs[events.Failure](t, env, subj.ExportFailed),
	}
	hs.Config.ShutdownTimeout = 100 * time.Millisecond
	hs.run(t, client, cfg)
	return hs
}

// run starts a runner of a new exporter (another one after Stop).
func (hs *harness) run(t *testing.T, client *platform.Client, cfg exporter.Config) {
	t.Helper()
	h, err := exporter.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.Handler = h
	hs.Run(t)
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
