package exporter_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// The exporter against a fake Platform: what it sends, and how it meets
// the Platform's faults.

const unavailable = `{"type":"https://ns.adobe.com/aep/errors/UPAPI-1000-503","title":"Service unavailable","status":503}`

func TestExportFake(t *testing.T) {
	f := newFake(t)
	h := start(t, f.Client(t), testConfig(), nil)

	since := "2026-01-01T00:00:00Z"
	x := &events.ExportRequest{
		Fields: events.FieldList{"identityMap", "person.name"},
		Filter: &events.ExportFilter{FromIngestTimestamp: since},
		AdditionalFields: &events.AdditionalFields{EventList: &events.EventList{
			Fields: events.FieldList{"_id", "eventType"}, Filter: &events.EventFilter{FromIngestTimestamp: since},
		}},
	}
	in := input("r-1", "US Cart abandoners (7d)!", x)
	h.Publish(t, events.StageSegmenter, in)
	out := h.succeeded.Next(t)
	if out.RequestID != "r-1" || out.DatasetName != "segflow-us-cart-abandoners-7d" || out.DatasetReused || out.DatasetID == "" ||
		out.BatchID == "" || out.ProfileCount != 42 || out.Metrics.ProfilesByNamespace["ECID"] != 42 || out.Metrics.TotalTimeMs != 1500 ||
		out.Metrics.ProfileExportTimeMs != 1000 || out.Metrics.DatasetWriteTimeMs != 400 || out.SegmentJobID != "sj-r-1" ||
		out.MergePolicyID != "mp-1" || out.Labels["team"] != "growth" || out.Segment.ID != "seg-r-1" {
		t.Fatalf("export.succeeded %+v", out)
	}
	if _, err := platform.ParseExportJobID(out.ExportJobID); err != nil || out.BatchID != "batch-"+out.ExportJobID {
		t.Errorf("export job %q batch %q", out.ExportJobID, out.BatchID)
	}
	if ex := out.Timings.Exporter; ex == nil || ex.End.Before(ex.Start) || out.Timings.Definer == nil || out.Timings.TotalMs < ex.DurationMs {
		t.Errorf("timings %+v", out.Timings)
	}
	ds := f.datasetsNamed(out.DatasetName)
	if len(ds) != 1 || ds[0].SchemaRef.ID != platform.SchemaProfileUnion || ds[0].Tags["segflow"][0] != "requestId:r-1" {
		t.Fatalf("datasets %+v", ds)
	}
	jobs := f.jobsInto(out.DatasetID)
	if len(jobs) != 1 {
		t.Fatalf("jobs %+v", jobs)
	}
	j := jobs[0]
	if j.Fields != "identityMap,person.name" || j.MergePolicy.ID != "mp-1" || j.Schema.Name != platform.ProfileClass ||
		j.Filter == nil || len(j.Filter.Segments) != 1 || fmt.Sprint(j.Filter.Segments[0]) != fmt.Sprint(platform.SegmentFilter{SegmentID: "seg-r-1", SegmentNs: "ups", Status: []string{"realized"}}) ||
		j.Filter.FromIngestTimestamp != since || j.AdditionalFields == nil || j.AdditionalFields.EventList.Fields != "_id,eventType" ||
		j.AdditionalFields.EventList.Filter.FromIngestTimestamp != since {
		t.Fatalf("export job request %+v filter %+v", j, j.Filter)
	}

	// The same segment again: the dataset is reused, a second job made.
	h.Publish(t, events.StageSegmenter, input("r-2", "US Cart abandoners (7d)!", nil))
	out2 := h.succeeded.Next(t)
	if out2.DatasetID != out.DatasetID || !out2.DatasetReused || out2.ExportJobID == out.ExportJobID {
		t.Fatalf("second export %+v", out2)
	}
	if jobs := f.jobsInto(out.DatasetID); len(jobs) != 2 || f.Count("create-dataset") != 1 {
		t.Fatalf("%d jobs, %d dataset creates", len(jobs), f.Count("create-dataset"))
	}
	for _, j := range f.jobsInto(out.DatasetID) {
		if j.Filter.Segments[0].SegmentID == "seg-r-2" && (j.Fields != "" || j.AdditionalFields != nil || j.Filter.FromIngestTimestamp != "") {
			t.Errorf("a request without export options made %+v", j)
		}
	}

	// A named dataset.
	h.Publish(t, events.StageSegmenter, input("r-3", "whatever", &events.ExportRequest{DatasetName: " My audience "}))
	if out3 := h.succeeded.Next(t); out3.DatasetName != "My audience" || out3.DatasetReused {
		t.Fatalf("named dataset %+v", out3)
	}
}

func TestDefaultFields(t *testing.T) {
	f := newFake(t)
	cfg := testConfig()
	cfg.Fields = "identityMap, personalEmail.address"
	h := start(t, f.Client(t), cfg, nil)
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	out := h.succeeded.Next(t)
	if jobs := f.jobsInto(out.DatasetID); len(jobs) != 1 || jobs[0].Fields != "identityMap,personalEmail.address" {
		t.Fatalf("jobs %+v", jobs)
	}
}

// Rate limits: the client waits out Retry-After (header or body) and
// tries again, creates included.
func TestRateLimited(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.polls = 2
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			switch {
			case kind == "list-datasets" && n == 1:
				stagetest.Answer(w, 429, `{"title":"Too many requests","status":429}`, "Retry-After", "1")
			case kind == "create-dataset" && n == 1:
				stagetest.Answer(w, 429, `[{"message":"Too many requests","retryAfterMs":"200","statusCode":"429"}]`)
			case kind == "create-export-job" && n <= 2:
				stagetest.Answer(w, 429, `{"title":"Too many requests","status":429}`, "Retry-After", "0")
			case kind == "get-export-job" && n == 2:
				stagetest.Answer(w, 429, `{"title":"Too many requests","status":429}`, "Retry-After", "1")
			default:
				return false
			}
			return true
		}
	})
	h := start(t, f.Client(t), testConfig(), nil)
	begin := time.Now()
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	out := h.succeeded.Next(t)
	if time.Since(begin) < 2*time.Second {
		t.Errorf("done in %v: the Retry-After seconds were not waited out", time.Since(begin))
	}
	if f.Count("list-datasets") != 2 || f.Count("create-dataset") != 2 || f.Count("create-export-job") != 3 || len(f.jobsInto(out.DatasetID)) != 1 {
		t.Fatalf("calls %+v", f.Calls)
	}
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 0 {
		t.Errorf("%v redeliveries", n)
	}
}

// 503 bursts: reads are retried by the client and polls go on; a create
// that got one is not retried by the client, and the redelivery looks
// for what it may have made before making it again.
func TestUnavailable(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.polls = 2
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			switch {
			case kind == "list-datasets" && n <= 2, kind == "get-export-job" && n <= 6:
			case kind == "create-dataset" && n == 1: // nothing made
			case kind == "create-export-job" && n == 1: // made, answer lost
				f.Commit(r)
			default:
				return false
			}
			stagetest.Answer(w, 503, unavailable)
			return true
		}
	})
	pipe := stagetest.Config()
	pipe.MaxDeliver = 5
	h := start(t, f.Client(t), testConfig(), &pipe)
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	out := h.succeeded.Next(t)
	if ds := f.datasetsNamed("segflow-s"); len(ds) != 1 || out.DatasetReused {
		t.Fatalf("datasets %+v, reused %v", ds, out.DatasetReused)
	}
	if jobs := f.jobsInto(out.DatasetID); len(jobs) != 1 || jobs[0].ID.String() != out.ExportJobID {
		t.Fatalf("jobs %+v", jobs)
	}
	if f.Count("create-dataset") != 2 || f.Count("create-export-job") != 1 || f.Count("list-export-jobs") != 1 {
		t.Fatalf("calls %+v", f.Calls)
	}
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 2 {
		t.Errorf("%v redeliveries, want 2", n)
	}
}

// A create of the export job that failed without making anything: the
// redelivery finds no job and creates one.
func TestCreateFailedCleanly(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			if kind == "create-export-job" && n == 1 {
				stagetest.Answer(w, 502, `{"title":"Bad gateway","status":502}`)
				return true
			}
			return false
		}
	})
	h := start(t, f.Client(t), testConfig(), nil)
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	out := h.succeeded.Next(t)
	if jobs := f.jobsInto(out.DatasetID); len(jobs) != 1 || f.Count("create-export-job") != 2 || f.Count("list-export-jobs") != 1 {
		t.Fatalf("jobs %+v calls %+v", jobs, f.Calls)
	}
}

// Slow answers: the message is kept alive (InProgress) and not
// redelivered while the exporter waits on them.
func TestSlowPlatform(t *testing.T) {
	f := newFake(t)
	f.Set(func() { f.Delay, f.polls = 250*time.Millisecond, 3 })
	h := start(t, f.Client(t), testConfig(), nil)
	begin := time.Now()
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	out := h.succeeded.Next(t)
	if d := time.Since(begin); d < 1500*time.Millisecond { // longer than the 1 s ack wait
		t.Fatalf("done in %v: not slow enough to test anything", d)
	}
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 0 {
		t.Errorf("%v redeliveries", n)
	}
	if len(f.jobsInto(out.DatasetID)) != 1 {
		t.Error("more than one job")
	}
}

// A FAILED export job is export.failed with the job's error, not retried.
func TestExportJobFailed(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.end = func(j *platform.ExportJob) {
			j.Status = platform.ExportFailed
			j.Destination.BatchID = ""
			j.Errors = []platform.JobError{{Code: "0100000003", Msg: "Error in Export Job"}}
		}
	})
	h := start(t, f.Client(t), testConfig(), nil)
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	fl := h.failed.Next(t)
	if fl.Stage != events.StageExporter || fl.Retryable || !strings.Contains(fl.Reason, "Error in Export Job") || fl.PlatformError == nil ||
		fl.PlatformError.Code != "0100000003" || fl.ExportJobID == "" || fl.DatasetID == "" || fl.SegmentJobID != "sj-r-1" || fl.Attempts != 1 {
		t.Fatalf("export.failed %+v %+v", fl, fl.PlatformError)
	}
}

// The dataset an earlier delivery chose is gone: export.failed saying so.
func TestDatasetNotFound(t *testing.T) {
	f := newFake(t)
	h := start(t, f.Client(t), testConfig(), nil)
	now := time.Now()
	h.SeedIntent(t, events.Intent{RequestID: "r-1", Stage: events.StageExporter, Step: "dataset",
		PlatformIDs: events.PlatformIDs{DatasetID: "ds-gone"}, Started: now, Updated: now})
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	fl := h.failed.Next(t)
	if !strings.Contains(fl.Reason, "ds-gone") || !strings.Contains(fl.Reason, "not found") || fl.PlatformError == nil || fl.PlatformError.Status != 404 || fl.Retryable {
		t.Fatalf("export.failed %+v", fl)
	}
	if f.Count("create-dataset")+f.Count("create-export-job") != 0 {
		t.Errorf("calls %+v", f.Calls)
	}
}

// A dataset of the name on another schema cannot take an export.
func TestDatasetOnAnotherSchema(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.datasets["ds-crm"] = platform.Dataset{ID: "ds-crm", Name: "crm", SchemaRef: platform.SchemaRef{ID: platform.SchemaProfile}}
	})
	h := start(t, f.Client(t), testConfig(), nil)
	h.Publish(t, events.StageSegmenter, input("r-1", "s", &events.ExportRequest{DatasetName: "crm"}))
	fl := h.failed.Next(t)
	if !strings.Contains(fl.Reason, "not on the profile union schema") || f.Count("create-export-job") != 0 {
		t.Fatalf("export.failed %+v", fl)
	}
}

// A refused export job (a 4xx) fails at once with the Platform's error.
func TestExportJobRefused(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			if kind == "create-export-job" {
				stagetest.Answer(w, 400, `{"type":"https://ns.adobe.com/aep/errors/UPAPI-1000-400","title":"Invalid fields: nosuch.field","status":400}`)
				return true
			}
			return false
		}
	})
	h := start(t, f.Client(t), testConfig(), nil)
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	fl := h.failed.Next(t)
	if fl.PlatformError == nil || fl.PlatformError.Status != 400 || !strings.Contains(fl.Reason, "nosuch.field") || fl.DatasetID == "" || fl.Retryable {
		t.Fatalf("export.failed %+v %+v", fl, fl.PlatformError)
	}
	if f.Count("create-export-job") != 1 {
		t.Errorf("a 400 was retried: %+v", f.Calls)
	}
}

// A redelivery that finds the export job's id polls it and creates
// nothing.
func TestResumesRecordedJob(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.datasets["ds-1"] = platform.Dataset{ID: "ds-1", Name: "segflow-s", SchemaRef: platform.SchemaRef{ID: platform.SchemaProfileUnion},
			Tags: map[string][]string{"segflow": {"requestId:r-1"}}}
		f.jobs[7] = &fakeJob{job: platform.ExportJob{ID: 7, Status: platform.ExportProcessing, Destination: platform.ExportDestination{DatasetID: "ds-1"}}}
	})
	h := start(t, f.Client(t), testConfig(), nil)
	now := time.Now()
	// Started longer ago than the timeout: one last look finds it done.
	h.SeedIntent(t, events.Intent{RequestID: "r-1", Stage: events.StageExporter, Step: "export-job",
		PlatformIDs: events.PlatformIDs{DatasetID: "ds-1", ExportJobID: "7"}, Started: now.Add(-3 * time.Hour), Updated: now})
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	out := h.succeeded.Next(t)
	if out.ExportJobID != "7" || out.DatasetID != "ds-1" || out.DatasetReused || out.BatchID != "batch-7" {
		t.Fatalf("export.succeeded %+v", out)
	}
	if ex := out.Timings.Exporter; ex == nil || ex.DurationMs < 3*3600_000 {
		t.Errorf("the exporter's timing does not start at the intent's start: %+v", ex)
	}
	if f.Count("create-dataset")+f.Count("create-export-job")+f.Count("list-datasets") != 0 {
		t.Errorf("calls %+v", f.Calls)
	}
}

// A message that is not a job.succeeded fails, tied to its request.
func TestUndecodable(t *testing.T) {
	f := newFake(t)
	h := start(t, f.Client(t), testConfig(), nil)
	body := `{"specversion":"1.0","id":"r-x/job","source":"/segflow/segmenter","type":"segflow.job.succeeded.v1","subject":"r-x","datacontenttype":"application/json","data":{"requestId":"r-x","segmentJobId":"sj"}}`
	if _, err := h.JS.PublishMsg(context.Background(), &nats.Msg{Subject: h.Pipeline.Subjects.JobSucceeded, Data: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	fl := h.failed.Next(t)
	if fl.RequestID != "r-x" || fl.Field != "segment.id" || fl.Retryable {
		t.Fatalf("export.failed %+v", fl)
	}
}

// A copy of the message finds another message's create under way: it
// waits (is retried) until the create lease passes, then takes the other
// for dead, looks for its job and, finding none, creates one.
func TestCopyWaitsForCreateLease(t *testing.T) {
	f := newFake(t)
	f.Set(func() {
		f.datasets["ds-1"] = platform.Dataset{ID: "ds-1", Name: "segflow-s", SchemaRef: platform.SchemaRef{ID: platform.SchemaProfileUnion}}
	})
	cfg := testConfig()
	cfg.CreateLease = 1500 * time.Millisecond
	pipe := stagetest.Config()
	pipe.MaxDeliver = 5
	h := start(t, f.Client(t), cfg, &pipe)
	now := time.Now()
	h.SeedIntent(t, events.Intent{RequestID: "r-1", Stage: events.StageExporter, Step: "create-export-job@99999",
		PlatformIDs: events.PlatformIDs{DatasetID: "ds-1"}, Started: now, Updated: now})
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	out := h.succeeded.Next(t)
	if time.Since(now) < cfg.CreateLease {
		t.Errorf("created within the other message's lease")
	}
	if jobs := f.jobsInto("ds-1"); len(jobs) != 1 || out.DatasetID != "ds-1" || !out.DatasetReused || f.Count("list-export-jobs") != 1 {
		t.Fatalf("jobs %+v calls %+v", jobs, f.Calls)
	}
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n < 1 {
		t.Errorf("%v redeliveries", n)
	}
}

// A job not done within the export timeout is cancelled and the request
// fails, saying so.
func TestExportTimeout(t *testing.T) {
	f := newFake(t)
	f.Set(func() { f.polls = 1 << 30 })
	cfg := testConfig()
	cfg.Timeout = 500 * time.Millisecond
	h := start(t, f.Client(t), cfg, nil)
	h.Publish(t, events.StageSegmenter, input("r-1", "s", nil))
	fl := h.failed.Next(t)
	if !strings.Contains(fl.Reason, "SEGFLOW_EXPORT_TIMEOUT") || !strings.Contains(fl.Reason, "cancelled") || fl.Retryable || fl.ExportJobID == "" {
		t.Fatalf("export.failed %+v", fl)
	}
	if f.Count("cancel-export-job") != 1 {
		t.Errorf("calls %+v", f.Calls)
	}
}
