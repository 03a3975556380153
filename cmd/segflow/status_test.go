package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// putStatus stores st in the status bucket.
func putStatus(t *testing.T, env *stagetest.Env, st events.Status) {
	t.Helper()
	b, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pipeline.Status.Put(context.Background(), events.StatusKey(st.RequestID), b); err != nil {
		t.Fatal(err)
	}
}

func TestStatus(t *testing.T) {
	env := stagetest.Start(t, nil)
	at := time.Now().Add(-time.Minute)
	r := events.Request{RequestID: "req-7", Labels: events.Labels{"team": "growth"}, Definition: events.Definition{Name: "carts",
		Expression: events.Expression{Value: "a = 1"}}}
	r.SetDefaults()
	dc := events.NewDefinitionCreated(r, events.Segment{ID: "seg-7", Name: "carts"})
	dc.Timings.Begin(events.StageDefiner, at)
	dc.Timings.End(events.StageDefiner, at.Add(400*time.Millisecond))
	st := events.NewStatus("req-7", r.Labels, at)
	st.Begin(events.StageDefiner, at)
	st.Record(dc, at.Add(400*time.Millisecond))
	st.Begin(events.StageSegmenter, at.Add(time.Second))
	js := events.NewJobSucceeded(dc, "job-7", events.JobMetrics{})
	f := events.NewFailure(events.StageSegmenter, js, events.Problem{Reason: "the segment job FAILED",
		PlatformError: &events.PlatformError{Message: "no such field", Operation: "GetSegmentJob"}})
	f.SegmentJobID = "job-7"
	st.Record(f, at.Add(3*time.Second))
	putStatus(t, env, st)

	cmd := start(t, env, nil, "status", "req-7")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	out := cmd.out.String()
	for _, want := range []string{
		"request      req-7", "state        failed at the segmenter", "segment      carts", "definition   seg-7",
		"segment job  job-7", "labels       team=growth", "definer    0.4s", "segmenter  2.0s",
		"reason:     the segment job FAILED", "platform:   no such field (GetSegmentJob)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}

	cmd = start(t, env, nil, "status", "-json", "req-7")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	var got events.Status
	if err := json.Unmarshal([]byte(cmd.out.String()), &got); err != nil || got.RequestID != "req-7" || got.State != events.StateFailed {
		t.Errorf("-json: %+v, %v", got, err)
	}

	for args, wantErr := range map[string]string{
		"status nobody": "no status for request nobody",
		"status a..b":   "requestId",
		"status":        "usage",
	} {
		cmd = start(t, env, nil, strings.Fields(args)...)
		if err := cmd.wait(t); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err = %v, want %q", args, err, wantErr)
		}
	}
}

func TestStatusRunning(t *testing.T) {
	env := stagetest.Start(t, nil)
	st := events.NewStatus("req-8", nil, time.Now().Add(-5*time.Second))
	st.Begin(events.StageDefiner, time.Now().Add(-5*time.Second))
	putStatus(t, env, st)
	cmd := start(t, env, nil, "status", "req-8")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if out := cmd.out.String(); !strings.Contains(out, "running at the definer") || !strings.Contains(out, "definer  running  since") {
		t.Errorf("stdout:\n%s", out)
	}
}
