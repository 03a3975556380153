package segmenter_test

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/segmenter"
	"github.com/segflow/segflow/services/stage/stagetest"
)

func TestConfig(t *testing.T) {
	c := stagetest.FromEnv[segmenter.Config](t, nil)
	if c != segmenter.DefaultConfig() {
		t.Fatalf("env defaults %+v, DefaultConfig %+v", c, segmenter.DefaultConfig())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for env, val := range map[string]string{"SEGFLOW_JOB_TIMEOUT": "0s", "SEGFLOW_JOB_POLL": "-1s", "SEGFLOW_JOB_POLL_MAX": "1ms"} {
		c := stagetest.FromEnv[segmenter.Config](t, map[string]string{env: val})
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), env) {
			t.Errorf("%s=%s: %v", env, val, err)
		}
	}
}

func TestSucceeded(t *testing.T) {
	fake := newFake(t)
	h := startHarness(t, fake.URL, fastConfig())
	in := definition("r-ok", "seg-1", "true")
	h.publish(t, in, false)
	j := h.succeeded.Wait(t, "r-ok", 1)
	want := events.JobMetrics{
		TotalProfiles: 100, SegmentedProfiles: 40,
		SegmentedProfilesByStatus:    map[string]int64{"realized": 30, "existing": 10},
		SegmentedProfilesByNamespace: map[string]int64{"ECID": 40},
		TotalTimeMs:                  1234, ProfileSegmentationTimeMs: 1000,
	}
	if j.SegmentJobID != "job-1" || j.Segment != in.Segment || j.Labels["team"] != "growth" || j.Request.RequestID != "r-ok" {
		t.Fatalf("job.succeeded %+v", j)
	}
	if j.Metrics.TotalProfiles != want.TotalProfiles || j.Metrics.SegmentedProfiles != want.SegmentedProfiles || j.Metrics.TotalTimeMs != want.TotalTimeMs ||
		j.Metrics.ProfileSegmentationTimeMs != want.ProfileSegmentationTimeMs ||
		!maps.Equal(j.Metrics.SegmentedProfilesByStatus, want.SegmentedProfilesByStatus) || !maps.Equal(j.Metrics.SegmentedProfilesByNamespace, want.SegmentedProfilesByNamespace) {
		t.Fatalf("metrics %+v, want %+v", j.Metrics, want)
	}
	if tm := j.Timings; tm.Definer == nil || tm.Segmenter == nil || tm.Segmenter.End.Before(tm.Segmenter.Start) || tm.TotalMs < tm.Segmenter.DurationMs {
		t.Fatalf("timings %+v", tm)
	}
	// Replayed as a new message: the same job, no second one.
	h.publish(t, in, true)
	if again := h.succeeded.Wait(t, "r-ok", 2); again.SegmentJobID != "job-1" {
		t.Fatalf("again %+v", again)
	}
	if fake.jobCount() != 1 || fake.Count("POST /segment/jobs") != 1 {
		t.Fatalf("%d jobs, %d creates", fake.jobCount(), fake.Count("POST /segment/jobs"))
	}
	h.Settled(t)
	// The status record has the job.
	e, err := h.Pipeline.Status.Get(context.Background(), events.StatusKey("r-ok"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := events.DecodeStatus(e.Value()); err != nil || s.State != events.StateDone || s.Stage != events.StageSegmenter || s.SegmentJobID != "job-1" {
		t.Fatalf("status %+v, %v", s, err)
	}
}

// TestFaults drives the segmenter against a Platform that misbehaves.
func TestFaults(t *testing.T) {
	t.Run("job FAILED", func(t *testing.T) {
		fake := newFake(t)
		fake.getJob = func(w http.ResponseWriter, j *fakeJob, polls int) bool {
			v := j.view("FAILED")
			v["errors"] = []map[string]any{{"code": 8.0000018e7, "msg": "Request rate is large", "callStack": "at x"}, {"code": "2", "msg": "and more"}}
			stagetest.WriteJSON(w, 200, v)
			return true
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-failed", "seg-1", "true"), false)
		f := h.failed.Wait(t, "r-failed", 1)
		pe := f.PlatformError
		if f.Rejected || f.Retryable || f.Attempts != 1 || f.SegmentJobID != "job-1" || f.DefinitionID != "seg-1" || !strings.Contains(f.Reason, "FAILED") ||
			pe == nil || pe.Message != "Request rate is large; and more" || pe.Code != "80000018" || pe.Operation != "WaitSegmentJob" {
			t.Fatalf("job.failed %+v (%+v)", f, pe)
		}
		h.Settled(t)
	})

	t.Run("job CANCELLED", func(t *testing.T) {
		fake := newFake(t)
		fake.getJob = func(w http.ResponseWriter, j *fakeJob, _ int) bool {
			stagetest.WriteJSON(w, 200, j.view("CANCELLED"))
			return true
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-cancelled", "seg-1", "true"), false)
		f := h.failed.Wait(t, "r-cancelled", 1)
		if !strings.Contains(f.Reason, "CANCELLED") || f.PlatformError == nil || !strings.Contains(f.PlatformError.Message, "CANCELLED") {
			t.Fatalf("job.failed %+v", f)
		}
		h.Settled(t)
	})

	t.Run("429 with Retry-After on create", func(t *testing.T) {
		fake := newFake(t)
		fake.createJob = func(w http.ResponseWriter, n int, _ func() *fakeJob) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				stagetest.UPSError(w, 429, "There are too many segmentation jobs in processing at the moment.")
				return true
			}
			return false
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-429", "seg-1", "true"), false)
		if j := h.succeeded.Wait(t, "r-429", 1); j.SegmentJobID != "job-1" {
			t.Fatalf("job.succeeded %+v", j)
		}
		if fake.jobCount() != 1 || fake.Count("POST /segment/jobs") != 2 || h.Handled("r-429") != 1 {
			t.Fatalf("%d jobs, %d creates, %d deliveries", fake.jobCount(), fake.Count("POST /segment/jobs"), h.Handled("r-429"))
		}
		h.Settled(t)
	})

	t.Run("503 after the create happened", func(t *testing.T) {
		fake := newFake(t)
		fake.createJob = func(w http.ResponseWriter, n int, store func() *fakeJob) bool {
			if n == 1 {
				store()
				stagetest.UPSError(w, 503, "Service unavailable")
				return true
			}
			return false
		}
		fake.add("seg-1", time.Now().Add(-time.Hour)) // another, older job of the segment: not ours
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-503", "seg-1", "true"), false)
		if j := h.succeeded.Wait(t, "r-503", 1); j.SegmentJobID != "job-2" {
			t.Fatalf("job.succeeded %+v", j)
		}
		if fake.jobCount() != 2 || fake.Count("POST /segment/jobs") != 1 || fake.Count("GET /segment/jobs") != 1 || h.Handled("r-503") != 2 {
			t.Fatalf("calls %v, deliveries %d", fake.Calls, h.Handled("r-503"))
		}
		h.Settled(t)
	})

	t.Run("503 on create before anything happened", func(t *testing.T) {
		// The redelivery looks, finds nothing and creates the job.
		fake := newFake(t)
		fake.createJob = func(w http.ResponseWriter, n int, _ func() *fakeJob) bool {
			if n == 1 {
				stagetest.UPSError(w, 503, "Service unavailable")
				return true
			}
			return false
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-503b", "seg-1", "true"), false)
		if j := h.succeeded.Wait(t, "r-503b", 1); j.SegmentJobID != "job-1" {
			t.Fatalf("job.succeeded %+v", j)
		}
		if fake.jobCount() != 1 || fake.Count("POST /segment/jobs") != 2 || fake.Count("GET /segment/jobs") != 1 {
			t.Fatalf("calls %v", fake.Calls)
		}
		h.Settled(t)
	})

	t.Run("503 burst and slow answers while polling", func(t *testing.T) {
		// The ack wait is a second; the job takes longer.
		fake := newFake(t)
		fake.getJob = func(w http.ResponseWriter, j *fakeJob, polls int) bool {
			switch {
			case polls <= 5:
				stagetest.UPSError(w, 503, "Service unavailable")
			case polls <= 7:
				time.Sleep(700 * time.Millisecond)
				stagetest.WriteJSON(w, 200, j.view("PROCESSING"))
			default:
				return false
			}
			return true
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-burst", "seg-1", "true"), false)
		if j := h.succeeded.Wait(t, "r-burst", 1); j.SegmentJobID != "job-1" || j.Metrics.SegmentedProfiles != 40 {
			t.Fatalf("job.succeeded %+v", j)
		}
		if h.Handled("r-burst") != 1 || fake.jobCount() != 1 {
			t.Fatalf("%d deliveries, %d jobs", h.Handled("r-burst"), fake.jobCount())
		}
		h.Settled(t)
	})

	t.Run("the job is gone", func(t *testing.T) {
		fake := newFake(t)
		h := startHarness(t, fake.URL, fastConfig())
		h.SeedIntent(t, events.Intent{RequestID: "r-gone", Step: segmenter.StepCreateSegmentJob, PlatformIDs: events.PlatformIDs{SegmentJobID: "job-77"}, Started: time.Now(), Updated: time.Now()})
		h.publish(t, definition("r-gone", "seg-1", "true"), false)
		f := h.failed.Wait(t, "r-gone", 1)
		if f.PlatformError == nil || f.PlatformError.Status != 404 || f.SegmentJobID != "job-77" || fake.Count("POST /segment/jobs") != 0 {
			t.Fatalf("job.failed %+v", f)
		}
		h.Settled(t)
	})

	t.Run("400 on create", func(t *testing.T) {
		fake := newFake(t)
		fake.createJob = func(w http.ResponseWriter, _ int, _ func() *fakeJob) bool {
			stagetest.UPSError(w, 400, "The segment definition seg-1 is not found.")
			return true
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-400", "seg-1", "true"), false)
		f := h.failed.Wait(t, "r-400", 1)
		if f.Rejected || f.Retryable || f.Attempts != 1 || f.PlatformError == nil || f.PlatformError.Status != 400 || f.PlatformError.Operation != "CreateSegmentJob" {
			t.Fatalf("job.failed %+v", f)
		}
		h.Settled(t)
	})

	t.Run("out of time: cancelled", func(t *testing.T) {
		fake := newFake(t)
		fake.getJob = func(w http.ResponseWriter, j *fakeJob, _ int) bool {
			stagetest.WriteJSON(w, 200, j.view("PROCESSING"))
			return true
		}
		cfg := fastConfig()
		cfg.JobTimeout = 300 * time.Millisecond
		h := startHarness(t, fake.URL, cfg)
		h.publish(t, definition("r-slow", "seg-1", "true"), false)
		f := h.failed.Wait(t, "r-slow", 1)
		if !strings.Contains(f.Reason, "SEGFLOW_JOB_TIMEOUT") || !strings.Contains(f.Reason, "cancelled it") || f.SegmentJobID != "job-1" {
			t.Fatalf("job.failed %+v", f)
		}
		if fake.Count("DELETE /segment/jobs/{id}") != 1 {
			t.Errorf("%d cancels", fake.Count("DELETE /segment/jobs/{id}"))
		}
		h.Settled(t)
	})

	t.Run("the timeout runs from the first attempt", func(t *testing.T) {
		// A redelivery after the deadline looks once more and gives up.
		fake := newFake(t)
		fake.getJob = func(w http.ResponseWriter, j *fakeJob, _ int) bool {
			stagetest.WriteJSON(w, 200, j.view("PROCESSING"))
			return true
		}
		job := fake.add("seg-1", time.Now().Add(-2*time.Hour))
		cfg := fastConfig()
		cfg.JobTimeout = time.Second
		h := startHarness(t, fake.URL, cfg)
		long := time.Now().Add(-2 * time.Hour)
		h.SeedIntent(t, events.Intent{RequestID: "r-late", Step: segmenter.StepCreateSegmentJob, PlatformIDs: events.PlatformIDs{SegmentJobID: job.ID}, Started: long, Updated: long})
		h.publish(t, definition("r-late", "seg-1", "true"), false)
		f := h.failed.Wait(t, "r-late", 1)
		if !strings.Contains(f.Reason, "SEGFLOW_JOB_TIMEOUT") || fake.Count("GET /segment/jobs/{id}") == 0 {
			t.Fatalf("job.failed %+v", f)
		}
		h.Settled(t)
	})

	t.Run("undecodable events", func(t *testing.T) {
		fake := newFake(t)
		h := startHarness(t, fake.URL, fastConfig())
		dead := stagetest.Collect[events.DeadLetter](t, h.Env, h.Pipeline.Subjects.DeadLetter(events.StageSegmenter))
		subj := h.Pipeline.Subjects.DefinitionCreated
		// No segment id: job.failed.
		if _, err := h.JS.Publish(context.Background(), subj, []byte(`{"specversion":"1.0","id":"x","source":"/segflow/definer","type":"segflow.definition.created.v1","subject":"r-noseg","data":{"requestId":"r-noseg","segment":{"id":""}}}`)); err != nil {
			t.Fatal(err)
		}
		if f := h.failed.Wait(t, "r-noseg", 1); f.Field != "segment.id" || f.Attempts != 1 {
			t.Fatalf("job.failed %+v", f)
		}
		// Not an event at all: no request to fail, a dead letter.
		if _, err := h.JS.Publish(context.Background(), subj, []byte(`not json`)); err != nil {
			t.Fatal(err)
		}
		var d events.DeadLetter
		if err := dead.Event(t, "", 1).DecodeData(&d); err != nil || string(d.Body()) != "not json" {
			t.Fatalf("dead letter %+v: %v", d, err)
		}
		if fake.jobCount() != 0 {
			t.Errorf("%d jobs", fake.jobCount())
		}
		h.Settled(t)
	})

	t.Run("another sandbox", func(t *testing.T) {
		// The client's sandbox is prod; the request's is dev, and every
		// call for it goes there.
		fake := newFake(t)
		h := startHarness(t, fake.URL, fastConfig())
		d := definition("r-sandbox", "seg-1", "true")
		d.Sandbox = "dev"
		h.publish(t, d, false)
		h.succeeded.Wait(t, "r-sandbox", 1)
		h.Settled(t)
		fake.Mu.Lock()
		defer fake.Mu.Unlock()
		var jobCalls int
		for _, c := range fake.Requests {
			if c.Kind == "token" {
				continue
			}
			jobCalls++
			if sb := c.Header.Get("x-sandbox-name"); sb != "dev" {
				t.Errorf("%s %s went to sandbox %q", c.Method, c.Path, sb)
			}
		}
		if jobCalls < 2 {
			t.Errorf("%d segment job calls", jobCalls)
		}
	})

	t.Run("shutdown hands the message back", func(t *testing.T) {
		fake := newFake(t)
		release := make(chan struct{})
		fake.getJob = func(w http.ResponseWriter, j *fakeJob, _ int) bool {
			select {
			case <-release:
				return false
			default:
				stagetest.WriteJSON(w, 200, j.view("PROCESSING"))
				return true
			}
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publish(t, definition("r-stop", "seg-1", "true"), false)
		stagetest.Eventually(t, "the job polled", func() bool { return fake.Count("GET /segment/jobs/{id}") > 2 })
		h.Stop(t)
		close(release)
		h.Run(t)
		if j := h.succeeded.Wait(t, "r-stop", 1); j.SegmentJobID != "job-1" {
			t.Fatalf("job.succeeded %+v", j)
		}
		if n := h.failed.N("r-stop"); n != 0 || fake.jobCount() != 1 || h.Handled("r-stop") != 2 {
			t.Fatalf("%d failures, %d jobs, %d deliveries", n, fake.jobCount(), h.Handled("r-stop"))
		}
		h.Settled(t)
	})
}
