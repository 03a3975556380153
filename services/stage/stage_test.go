package stage_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// segmenterLike is a test handler on the segmenter's subjects: it decides
// per request what to do, by the segment's name.
type segmenterLike struct {
	mu    sync.Mutex
	calls map[string]int
	seen  map[string][]events.Intent
}

func (h *segmenterLike) Decode(body []byte, _ stage.Meta) (events.DefinitionCreated, error) {
	_, p, err := events.DecodeAs[events.DefinitionCreated](body)
	return p, err
}

func (h *segmenterLike) Handle(ctx context.Context, in events.DefinitionCreated, m *stage.Msg) (events.Payload, error) {
	h.mu.Lock()
	h.calls[in.RequestID]++
	n := h.calls[in.RequestID]
	h.seen[in.RequestID] = append(h.seen[in.RequestID], m.Intent)
	h.mu.Unlock()
	switch in.Segment.Name {
	case "ok":
	case "bad":
		return nil, stage.Fail("the segment job FAILED: %s", "no such field")
	case "flaky":
		if n == 1 {
			// A job is created, then the connection drops.
			if err := m.SaveIntent(ctx, "create-segment-job", events.PlatformIDs{SegmentJobID: "job-1"}); err != nil {
				return nil, err
			}
			return nil, errors.New("connection reset")
		}
	case "down":
		return nil, errors.New("503 from the Platform")
	}
	m.Polled(3)
	return events.NewJobSucceeded(in, "job-1", events.JobMetrics{TotalProfiles: 10, SegmentedProfiles: 4}), nil
}

func definition(id, name string) events.DefinitionCreated {
	r := events.Request{RequestID: id, Labels: events.Labels{"team": "t"}, Definition: events.Definition{
		Name: name, Expression: events.Expression{Type: "PQL", Format: "pql/text", Value: "true"},
	}}
	r.SetDefaults()
	return events.NewDefinitionCreated(r, events.Segment{ID: "seg-" + id, Name: name, Expression: r.Definition.Expression})
}

// segmenterRunner is a runner of segmenterLike on env, with concurrency
// workers and its metrics in reg.
func segmenterRunner(t *testing.T, env *stagetest.Env, reg *prometheus.Registry, concurrency int) (*stage.Runner[events.DefinitionCreated], *segmenterLike) {
	t.Helper()
	metrics, err := stage.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := &segmenterLike{calls: map[string]int{}, seen: map[string][]events.Intent{}}
	return &stage.Runner[events.DefinitionCreated]{
		Stage: events.StageSegmenter, Handler: h, Pipeline: env.Pipeline, JS: env.JS,
		Config:  stage.Config{Concurrency: concurrency, ShutdownTimeout: time.Second, Deadline: time.Hour},
		Metrics: metrics, Log: zerolog.Nop(),
	}, h
}

func TestRunner(t *testing.T) {
	env := stagetest.Start(t, nil)
	reg := prometheus.NewRegistry()
	r, h := segmenterRunner(t, env, reg, 4)
	subj := env.Pipeline.Subjects
	succeeded := env.Watch(t, subj.JobSucceeded)
	failed := env.Watch(t, subj.JobFailed)
	dead := env.Watch(t, subj.DeadLetter(events.StageSegmenter))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	// Success: job.succeeded carries the request on.
	env.Publish(t, events.StageDefiner, definition("r-ok", "ok"))
	ev := stagetest.Next(t, succeeded)
	var js events.JobSucceeded
	if err := ev.DecodeData(&js); err != nil || js.RequestID != "r-ok" || js.SegmentJobID != "job-1" || js.Labels["team"] != "t" {
		t.Fatalf("job.succeeded %+v: %v", js, err)
	}
	if ev.ID != events.EventID("r-ok", events.TypeJobSucceeded) || ev.Subject != "r-ok" {
		t.Errorf("event id %q subject %q", ev.ID, ev.Subject)
	}

	// A permanent failure: job.failed, not retried.
	env.Publish(t, events.StageDefiner, definition("r-bad", "bad"))
	var f events.Failure
	if err := stagetest.Next(t, failed).DecodeData(&f); err != nil || f.RequestID != "r-bad" || f.Retryable || !strings.Contains(f.Reason, "no such field") {
		t.Fatalf("job.failed %+v: %v", f, err)
	}

	// A transient failure after creating something: the redelivery sees
	// the intent and succeeds.
	env.Publish(t, events.StageDefiner, definition("r-flaky", "flaky"))
	if err := stagetest.Next(t, succeeded).DecodeData(&js); err != nil || js.RequestID != "r-flaky" {
		t.Fatalf("flaky: %+v %v", js, err)
	}
	h.mu.Lock()
	seen := h.seen["r-flaky"]
	h.mu.Unlock()
	if len(seen) != 2 || seen[0].SegmentJobID != "" || seen[1].SegmentJobID != "job-1" || seen[1].Step != "create-segment-job" {
		t.Errorf("intents seen by the deliveries: %+v", seen)
	}

	// Failing on every delivery: a retryable failure and a dead letter.
	env.Publish(t, events.StageDefiner, definition("r-down", "down"))
	if err := stagetest.Next(t, failed).DecodeData(&f); err != nil || f.RequestID != "r-down" || !f.Retryable || f.Attempts != 3 {
		t.Fatalf("exhausted: %+v %v", f, err)
	}
	var d events.DeadLetter
	if err := stagetest.Next(t, dead).DecodeData(&d); err != nil || d.RequestID != "r-down" || d.Subject != subj.DefinitionCreated || !strings.Contains(d.Replay, "segflow dlq replay segmenter") {
		t.Fatalf("dead letter %+v: %v", d, err)
	}
	if _, p, err := events.DecodeAs[events.DefinitionCreated](d.Body()); err != nil || p.RequestID != "r-down" {
		t.Errorf("the dead letter's message: %v", err)
	}

	// Statuses.
	for id, want := range map[string]events.State{"r-ok": events.StateDone, "r-bad": events.StateFailed, "r-down": events.StateFailed} {
		e, err := env.Pipeline.Status.Get(context.Background(), events.StatusKey(id))
		if err != nil {
			t.Fatalf("status of %s: %v", id, err)
		}
		s, _ := events.DecodeStatus(e.Value())
		if s.State != want || s.Stage != events.StageSegmenter || s.Labels["team"] != "t" {
			t.Errorf("status of %s: %+v", id, s)
		}
	}

	// Metrics: the outcomes, and a clean lint.
	if n := testutil.ToFloat64(metricVec(t, reg, "segflow_stage_messages_total", "succeeded")); n != 2 {
		t.Errorf("succeeded count %v", n)
	}
	// r-bad and r-down ended with job.failed; none is ready (the reader ends those).
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP segflow_pipeline_requests_finished_total Requests that reached their end, by result: ready (batch.ready published), failed (a stage's failure event), rejected (the request was invalid).
# TYPE segflow_pipeline_requests_finished_total counter
segflow_pipeline_requests_finished_total{result="failed"} 2
segflow_pipeline_requests_finished_total{result="ready"} 0
segflow_pipeline_requests_finished_total{result="rejected"} 0
`), "segflow_pipeline_requests_finished_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// metricVec finds the segmenter's counter with outcome in reg.
func metricVec(t *testing.T, reg *prometheus.Registry, name, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	t.Fatalf("no %s{outcome=%q}", name, outcome)
	return nil
}

// TestRunnerKeepsLaterStatus redelivers a message whose event went out
// before its ack was lost, after the next stages finished the request:
// the status record stays where the later stage left it.
func TestRunnerKeepsLaterStatus(t *testing.T) {
	env := stagetest.Start(t, nil)
	r, _ := segmenterRunner(t, env, prometheus.NewRegistry(), 1)
	ctx := context.Background()
	done := events.NewStatus("r-late", nil, time.Now())
	done.Stage, done.State, done.Files = events.StageReader, events.StateDone, 2
	data, err := done.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pipeline.Status.Put(ctx, events.StatusKey("r-late"), data); err != nil {
		t.Fatal(err)
	}
	succeeded := env.Watch(t, env.Pipeline.Subjects.JobSucceeded)
	rctx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(rctx) }()
	env.Publish(t, events.StageDefiner, definition("r-late", "ok"))
	stagetest.Next(t, succeeded)
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	e, err := env.Pipeline.Status.Get(ctx, events.StatusKey("r-late"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := events.DecodeStatus(e.Value())
	if err != nil || s.Stage != events.StageReader || s.State != events.StateDone || s.Files != 2 {
		t.Errorf("status after a late segmenter delivery: %s %s, %d files (%v); want it left at reader done", s.Stage, s.State, s.Files, err)
	}
}

// slowFirst is a test handler that works slowly on the request named
// "slow" and records the deliveries of the others.
type slowFirst struct {
	mu         sync.Mutex
	deliveries map[string][]int
}

func (h *slowFirst) Decode(body []byte, _ stage.Meta) (events.DefinitionCreated, error) {
	_, p, err := events.DecodeAs[events.DefinitionCreated](body)
	return p, err
}

func (h *slowFirst) Handle(ctx context.Context, in events.DefinitionCreated, m *stage.Msg) (events.Payload, error) {
	h.mu.Lock()
	h.deliveries[in.RequestID] = append(h.deliveries[in.RequestID], m.Delivery)
	h.mu.Unlock()
	if in.Segment.Name == "slow" {
		select {
		case <-time.After(2500 * time.Millisecond): // over two ack waits
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return events.NewJobSucceeded(in, "job-1", events.JobMetrics{}), nil
}

// TestRunnerPullsOnlyWhatItCanHandle keeps every handler busy for longer
// than the ack wait while another message is waiting: that message is
// delivered once, when a handler is free, not again because its ack wait
// ran out while it waited unheld.
func TestRunnerPullsOnlyWhatItCanHandle(t *testing.T) {
	env := stagetest.Start(t, nil) // ack wait 1s
	metrics, err := stage.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := &slowFirst{deliveries: map[string][]int{}}
	r := &stage.Runner[events.DefinitionCreated]{
		Stage: events.StageSegmenter, Handler: h, Pipeline: env.Pipeline, JS: env.JS,
		Config:  stage.Config{Concurrency: 1, ShutdownTimeout: time.Second, Deadline: time.Hour},
		Metrics: metrics, Log: zerolog.Nop(),
	}
	succeeded := env.Watch(t, env.Pipeline.Subjects.JobSucceeded)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(ctx) }()
	env.Publish(t, events.StageDefiner, definition("r-slow", "slow"))
	env.Publish(t, events.StageDefiner, definition("r-next", "ok"))
	stagetest.Next(t, succeeded)
	stagetest.Next(t, succeeded)
	time.Sleep(1500 * time.Millisecond) // a second delivery would come by now
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if got := h.deliveries["r-next"]; len(got) != 1 || got[0] != 1 {
		t.Errorf("the waiting message was handled in deliveries %v, want once, in delivery 1", got)
	}
	if got := h.deliveries["r-slow"]; len(got) != 1 {
		t.Errorf("the slow message was handled in deliveries %v, want once", got)
	}
}
