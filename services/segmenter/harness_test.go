package segmenter_test

import (
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/segmenter"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness is the segmenter running over a Platform at base, with
// collectors of its subjects.
type harness struct {
	*stagetest.Harness[events.DefinitionCreated]
	client    *platform.Client
	succeeded *stagetest.Collector[events.JobSucceeded]
	failed    *stagetest.Collector[events.Failure]
}

// fastConfig polls jobs quickly.
func fastConfig() segmenter.Config {
	return segmenter.Config{JobTimeout: time.Minute, JobPoll: 5 * time.Millisecond, JobPollMax: 50 * time.Millisecond}
}

func startHarness(t *testing.T, base string, cfg segmenter.Config) *harness {
	t.Helper()
	env := stagetest.Start(t, nil)
	subj := env.Pipeline.Subjects
	h := &harness{
		client:    stagetest.Client(t, base, nil),
		succeeded: stagetest.Collect[events.JobSucceeded](t, env, subj.JobSucceeded),
		failed:    stagetest.Collect[events.Failure](t, env, subj.JobFailed),
	}
	h.Harness = stagetest.NewHarness[events.DefinitionCreated](env, events.StageSegmenter, segmenter.New(h.client, cfg))
	h.Run(t)
	return h
}

// publish publishes d as the definer would. again publishes it as a
// new message (another Nats-Msg-Id), as a replay or a second definer
// publishing would, rather than a copy JetStream drops.
func (h *harness) publish(t *testing.T, d events.DefinitionCreated, again bool) {
	t.Helper()
	if !again {
		h.Publish(t, events.StageDefiner, d)
		return
	}
	h.PublishCopy(t, h.Pipeline.Subjects.DefinitionCreated, stagetest.NewEvent(t, events.StageDefiner, d), "again/"+time.Now().Format(time.RFC3339Nano))
}

// definition is the definer's event for request id and segment segID.
func definition(id, segID, expr string) events.DefinitionCreated {
	r := events.Request{RequestID: id, Labels: events.Labels{"team": "growth"}, Definition: events.Definition{
		Name: "seg-" + id, Expression: events.Expression{Value: expr},
	}}
	r.SetDefaults()
	d := events.NewDefinitionCreated(r, events.Segment{ID: segID, Name: r.Definition.Name, Expression: r.Definition.Expression})
	now := time.Now()
	d.Timings.Begin(events.StageDefiner, now.Add(-time.Second))
	d.Timings.End(events.StageDefiner, now)
	return d
}
