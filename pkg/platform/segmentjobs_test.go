package platform

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The reference's segment job (aep-api.md §3), with the elided parts
// filled in.
const (
	refJobID     = "b31aed3d-6a1e-4d7d-9b6f-2d3e2c8b0c11"
	refJobSegID  = "30230300-ccf1-48ad-8012-c5563a007069"
	refJobPolicy = "25c548a0-ca7f-4dcd-81d5-997642f178b9"
	refJob       = `{"id":"` + refJobID + `","imsOrgId":"E95186D65A28ABF00A495D82@AdobeOrg",
 "sandbox":{"sandboxId":"28e74200-e3de-11e9-8f5d-7f27416c5f0d","sandboxName":"prod","type":"production","default":true},"profileInstanceId":"ups",
 "source":"scheduler","status":"SUCCEEDED","batchId":"678f53bc-e21d-4c47-a7ec-4ad0064f8d2c","computeJobId":8811,"computeGatewayJobId":"9ea97b25-ee16-4b3b-8f7f-0d2a4c4f6b61",
 "segments":[{"segmentId":"` + refJobSegID + `","segment":{"id":"` + refJobSegID + `","version":1,"expression":{"type":"PQL","format":"pql/json","value":"{\"nodeType\":\"literal\",\"literalType\":\"Boolean\",\"value\":true}"},
   "mergePolicyId":"` + refJobPolicy + `","mergePolicy":{"id":"` + refJobPolicy + `","version":1}}}],
 "metrics":{"totalTime":{"startTimeInMs":1573203617195,"endTimeInMs":1573204395655,"totalTimeInMs":778460},
   "profileSegmentationTime":{"startTimeInMs":1573204266727,"endTimeInMs":1573204395655,"totalTimeInMs":128928},
   "totalProfiles":13146432,
   "segmentedProfileCounter":{"` + refJobSegID + `":1033},
   "segmentedProfileByNamespaceCounter":{"` + refJobSegID + `":{"tenantiduserobjid":1033,"campaign_profile_mscom_mkt_prod2":1033}},
   "segmentedProfileByStatusCounter":{"` + refJobSegID + `":{"exited":144646,"existing":10,"realized":2056}},
   "totalProfilesByMergePolicy":{"` + refJobPolicy + `":13146432}},
 "errors":[],"requestId":"4e538382-dbd8-449e-988a-4ac639ebe72b","schema":{"name":"_xdm.context.profile"},"modelName":"_xdm.context.profile",
 "properties":{"scheduleId":"4e538382-dbd8-449e-988a-4ac639ebe72b","runId":"e6a5b0b5-9c0f-4f8d-a2b5-3d3b1b2f8a10"},
 "_links":{"cancel":{"href":"/segment/jobs/` + refJobID + `","method":"DELETE"},"checkStatus":{"href":"/segment/jobs/` + refJobID + `","method":"GET"}},
 "updateTime":1573204395000,"creationTime":1573203600535,"updateEpoch":1573204395}`
	refNewJob      = `{"id":"` + refJobID + `","status":"NEW","segments":[{"segmentId":"7863c010-e092-41c8-ae5e-9e533186752e","segment":{"id":"7863c010-e092-41c8-ae5e-9e533186752e"}}],"metrics":{"totalTime":{"startTimeInMs":1579304313411},"profileSegmentationTime":{}}}`
	refTooManyJobs = `{"requestId":"r","errors":{"429":[{"code":429,"message":"There are too many segmentation jobs in processing at the moment. Try again at a later time."}]},"type":"https://ns.adobe.com/aep/errors/UPAPI-113434-429","title":"There are too many segmentation jobs in processing at the moment. Try again at a later time.","status":429}`
)

func TestCreateSegmentJob(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodPost, "/data/core/ups/segment/jobs", "")
		if got := r.Header.Get("x-profile-instance-id"); got != "ups" {
			t.Errorf("x-profile-instance-id %q", got)
		}
		status(http.StatusOK, refNewJob)(w, r)
	})
	c := f.client()
	j, err := c.CreateSegmentJob(context.Background(), "7863c010-e092-41c8-ae5e-9e533186752e")
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != refJobID || j.Status != JobNew || j.Done() || j.Metrics.TotalTime.StartTimeInMs != 1579304313411 || j.Metrics.TotalTime.EndTimeInMs != 0 {
		t.Fatalf("job %+v", j)
	}
	if _, err := c.CreateSegmentJob(context.Background(), AllSegments); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSegmentJob(context.Background(), "a", "b"); err != nil {
		t.Fatal(err)
	}
	_, bodies := f.requests()
	sameJSON(t, "one segment", bodies[0], `[{"segmentId":"7863c010-e092-41c8-ae5e-9e533186752e"}]`)
	sameJSON(t, "every segment", bodies[1], `{"schema":{"name":"_xdm.context.profile"},"segments":[{"segmentId":"*"}]}`)
	sameJSON(t, "two segments", bodies[2], `[{"segmentId":"a"},{"segmentId":"b"}]`)
	if _, err := c.CreateSegmentJob(context.Background()); err == nil {
		t.Error("a job of no segments was sent")
	}
}

func TestCreateSegmentJobRetries(t *testing.T) {
	// Neither a 500 nor a connection broken after the request went out is
	// retried: the job may exist.
	f := newFake(t)
	f.handle(status(http.StatusInternalServerError, `{"type":"https://ns.adobe.com/aep/errors/UPAPI-113751-500","title":"internal","status":500}`))
	c := f.client()
	if _, err := c.CreateSegmentJob(context.Background(), "s"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	var calls atomic.Int32
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	})
	_, err := c.CreateSegmentJob(context.Background(), "s")
	var ne *NetworkError
	if !errors.As(err, &ne) || !Transient(err) || calls.Load() != 1 {
		t.Fatalf("err = %v after %d attempts", err, calls.Load())
	}
	if reqs, _ := f.requests(); len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}

	// "Too many segmentation jobs": refused, so repeated, honouring
	// Retry-After.
	f.handle(sequence(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0.15")
		status(http.StatusTooManyRequests, refTooManyJobs)(w, r)
	}, status(http.StatusOK, refNewJob)))
	start := time.Now()
	if j, err := c.CreateSegmentJob(context.Background(), "s"); err != nil || j.ID != refJobID {
		t.Fatalf("after a 429: %+v, %v", j, err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("retried after %s", el)
	}
	// A Retry-After longer than the client waits is the caller's.
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "600")
		status(http.StatusTooManyRequests, refTooManyJobs)(w, r)
	})
	_, err = c.CreateSegmentJob(context.Background(), "s")
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, ErrRateLimited) || pe.RetryAfter != 10*time.Minute || !strings.Contains(pe.Message, "too many segmentation jobs") {
		t.Fatalf("err = %#v", err)
	}
}

func TestSegmentJobDecodesTheReference(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodGet, "/data/core/ups/segment/jobs/"+refJobID, "")
		status(http.StatusOK, refJob)(w, r)
	})
	j, err := f.client().SegmentJob(context.Background(), refJobID)
	if err != nil {
		t.Fatal(err)
	}
	m := j.Metrics
	if j.Status != JobSucceeded || !j.Done() || j.ComputeJobID != 8811 || j.BatchID != "678f53bc-e21d-4c47-a7ec-4ad0064f8d2c" || j.Sandbox.SandboxName != "prod" ||
		j.Schema.Name != ProfileClass || j.Links["cancel"] != (Link{"/segment/jobs/" + refJobID, "DELETE"}) || j.Properties["runId"] == nil ||
		j.CreationTime != 1573203600535 || j.UpdateEpoch != 1573204395 {
		t.Fatalf("job %+v", j)
	}
	if len(j.Segments) != 1 || j.Segments[0].SegmentID != refJobSegID || j.Segments[0].Segment.MergePolicy != (MergePolicyRef{refJobPolicy, 1}) ||
		j.Segments[0].Segment.Expression.Format != FormatPQLJSON || !strings.Contains(j.Segments[0].Segment.Expression.Value, `"literal"`) {
		t.Fatalf("segments %+v", j.Segments)
	}
	if m.TotalTime != (JobTiming{1573203617195, 1573204395655, 778460}) || m.ProfileSegmentationTime.TotalTimeInMs != 128928 || m.TotalProfiles != 13146432 ||
		m.SegmentedProfileByStatusCounter[refJobSegID]["realized"] != 2056 || m.SegmentedProfileByNamespaceCounter[refJobSegID]["tenantiduserobjid"] != 1033 ||
		m.TotalProfilesByMergePolicy[refJobPolicy] != 13146432 {
		t.Fatalf("metrics %+v", m)
	}
	if n, ok := j.SegmentCount(refJobSegID); !ok || n != 1033 {
		t.Fatalf("SegmentCount = %d, %v", n, ok)
	}

	// SW-SEG types the counters "number": floats decode too.
	floaty := strings.NewReplacer(`"totalProfiles":13146432`, `"totalProfiles":1.3146432E7`, `":1033}`, `":1033.0}`, `"computeJobId":8811`, `"computeJobId":8811.0`).Replace(refJob)
	var j2 SegmentJob
	if err := jsonDecode(floaty, &j2); err != nil {
		t.Fatal(err)
	}
	if j2.Metrics.TotalProfiles != 13146432 || j2.Metrics.SegmentedProfileCounter[refJobSegID] != 1033 || j2.ComputeJobID != 8811 {
		t.Fatalf("float metrics %+v", j2.Metrics)
	}
}

func TestListSegmentJobs(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodGet, "/data/core/ups/segment/jobs", "limit=5&property=segments~segmentId%3D%3Dabc&snapshot.name=inUS&sort=creationTime%3Adesc&start=10&status=SUCCEEDED")
		status(http.StatusOK, `{"_page":{"totalCount":14,"pageSize":1},"children":[`+refJob+`],"_links":{"next":{"href":"/segment/jobs?start=11&limit=5"}}}`)(w, r)
	})
	p, err := f.client().ListSegmentJobs(context.Background(), SegmentJobListOptions{Start: 10, Limit: 5, Status: JobSucceeded, Sort: "creationTime:desc", SegmentID: "abc", SnapshotName: "inUS"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Jobs) != 1 || p.Jobs[0].ID != refJobID || p.Page.TotalCount != 14 || p.Next != "/segment/jobs?start=11&limit=5" {
		t.Fatalf("page %+v", p)
	}
	// The last page's empty next link.
	var last SegmentJobPage
	if err := jsonDecode(`{"_page":{"totalCount":14,"pageSize":14},"children":[],"_links":{"next":{}}}`, &last); err != nil || last.Next != "" {
		t.Fatalf("last page %+v, %v", last, err)
	}
}

func TestCancelSegmentJob(t *testing.T) {
	f := newFake(t)
	f.handle(sequence(
		func(w http.ResponseWriter, r *http.Request) {
			checkRequest(t, r, http.MethodDelete, "/data/core/ups/segment/jobs/"+refJobID, "")
			w.WriteHeader(http.StatusNoContent)
		},
		// The doc's 204 with a body, served as a 200.
		status(http.StatusOK, `{"status":true,"message":"Segment job with id '`+refJobID+`' has been marked for cancelling"}`),
	))
	c := f.client()
	for range 2 {
		if err := c.CancelSegmentJob(context.Background(), refJobID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWaitSegmentJob(t *testing.T) {
	f := newFake(t)
	running := strings.Replace(refNewJob, `"NEW"`, `"PROCESSING"`, 1)
	steps := []http.HandlerFunc{status(http.StatusOK, refNewJob), status(http.StatusOK, running)}
	for range fastRetry.MaxAttempts { // a 503 burst longer than the retries
		steps = append(steps, status(http.StatusServiceUnavailable, `{"error_code":"503000","message":"busy"}`))
	}
	steps = append(steps, status(http.StatusOK, running), status(http.StatusOK, refJob))
	f.handle(sequence(steps...))
	var seen []string
	j, err := f.client().WaitSegmentJob(context.Background(), refJobID, WaitOptions{Poll: fastPollBackoff, OnPoll: func(s string, err error) {
		if err != nil {
			if !Transient(err) {
				t.Errorf("OnPoll got a permanent error %v", err)
			}
			s = "503"
		}
		seen = append(seen, s)
	}})
	if err != nil || j.Status != JobSucceeded || j.Metrics.TotalProfiles != 13146432 {
		t.Fatalf("WaitSegmentJob = %+v, %v", j, err)
	}
	if got := strings.Join(seen, ","); got != "NEW,PROCESSING,503,PROCESSING,SUCCEEDED" {
		t.Errorf("polls saw %s", got)
	}
}

func TestWaitSegmentJobEnds(t *testing.T) {
	failed := `{"id":"` + refJobID + `","status":"FAILED","segments":[],"metrics":{},"errors":[{"code":"8.0000018E7","msg":"Request rate is large","callStack":"com.adobe.aep"}]}`
	cancelled := `{"id":"` + refJobID + `","status":"CANCELLED","segments":[],"metrics":{}}`
	for _, tt := range []struct {
		name      string
		h         http.HandlerFunc
		opts      WaitOptions
		check     func(error) bool
		wantState string
	}{
		{"failed", status(http.StatusOK, failed), WaitOptions{}, func(err error) bool {
			var jf *JobFailedError
			return errors.Is(err, ErrJobFailed) && !errors.Is(err, ErrJobCancelled) && errors.As(err, &jf) && jf.Errors[0].Code == "8.0000018E7" &&
				strings.Contains(err.Error(), "Request rate is large")
		}, JobFailed},
		{"cancelled", status(http.StatusOK, cancelled), WaitOptions{}, func(err error) bool {
			return errors.Is(err, ErrJobFailed) && errors.Is(err, ErrJobCancelled)
		}, JobCancelled},
		{"not found", status(http.StatusNotFound, `{"type":"https://ns.adobe.com/aep/errors/UPAPI-113430-404","title":"The segment job is not found.","status":404}`), WaitOptions{}, func(err error) bool {
			return errors.Is(err, ErrNotFound)
		}, ""},
		{"timeout", status(http.StatusOK, strings.Replace(refNewJob, `"NEW"`, `"PROCESSING"`, 1)), WaitOptions{Timeout: 60 * time.Millisecond}, func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded) && !Transient(err) && strings.Contains(err.Error(), "still PROCESSING")
		}, JobProcessing},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle(tt.h)
			opts := tt.opts
			opts.Poll = Backoff{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond}
			j, err := f.client().WaitSegmentJob(context.Background(), refJobID, opts)
			if !tt.check(err) || j.Status != tt.wantState {
				t.Fatalf("WaitSegmentJob = %+v, %v", j, err)
			}
		})
	}

	// The caller's deadline bounds the wait too.
	f := newFake(t)
	f.handle(status(http.StatusOK, refNewJob))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	start := time.Now()
	j, err := f.client().WaitSegmentJob(ctx, refJobID, WaitOptions{Poll: Backoff{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond}})
	if !errors.Is(err, context.DeadlineExceeded) || j.Status != JobNew || time.Since(start) > 2*time.Second {
		t.Fatalf("WaitSegmentJob = %+v, %v", j, err)
	}
}

func TestWaitPollsWithCappedBackoff(t *testing.T) {
	f := newFake(t)
	var times []time.Time
	var n atomic.Int32
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		times = append(times, time.Now())
		if n.Add(1) < 8 {
			status(http.StatusOK, refNewJob)(w, r)
			return
		}
		status(http.StatusOK, refJob)(w, r)
	})
	poll := Backoff{Initial: 4 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2}
	if _, err := f.client().WaitSegmentJob(context.Background(), refJobID, WaitOptions{Poll: poll}); err != nil {
		t.Fatal(err)
	}
	// Each wait is at least half its ceiling: the polls slow down.
	for i := 1; i < len(times); i++ {
		if gap, c := times[i].Sub(times[i-1]), poll.ceiling(i-1); gap < c/2 {
			t.Errorf("wait %d = %s, want at least %s", i, gap, c/2)
		}
	}
	// The n-th wait is drawn from [ceiling/2, ceiling], the ceiling
	// growing by Multiplier up to Max.
	for n := range 12 {
		c := poll.ceiling(n)
		if want := min(poll.Max, poll.Initial<<n); c != want {
			t.Errorf("ceiling(%d) = %s, want %s", n, c, want)
		}
		for range 200 {
			if d := poll.half(n); d < c/2 || d > c {
				t.Fatalf("half(%d) = %s, outside [%s, %s]", n, d, c/2, c)
			}
		}
	}
}
