package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// The exporter against a real ups: profiles loaded with batch ingestion,
// a definition and a segment job made with the client give a real
// job.succeeded; the exporter must leave one dataset and one export job
// per request in ups whatever happens to its messages.

// upsFaults breaks the exporter's calls on demand: the answer of the next
// dataset or export job create is lost after ups made it, or the next
// poll of an export job hangs.
type upsFaults struct {
	base        http.RoundTripper
	loseDataset atomic.Bool
	loseJob     atomic.Bool
	hangPoll    atomic.Bool
}

func (f *upsFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/data/core/ups/export/jobs/") && f.hangPoll.CompareAndSwap(true, false) {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	resp, err := f.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost {
		return resp, err
	}
	if (req.URL.Path == "/data/foundation/catalog/dataSets" && f.loseDataset.CompareAndSwap(true, false)) ||
		(req.URL.Path == "/data/core/ups/export/jobs" && f.loseJob.CompareAndSwap(true, false)) {
		resp.Body.Close()
		return nil, errors.New("connection reset by peer (test)")
	}
	return resp, nil
}

// segment defines a segment and runs its job in ups, as the definer and
// the segmenter would, and returns the job.succeeded of request id.
func segment(t *testing.T, c *platform.Client, id, name, pql string) events.JobSucceeded {
	t.Helper()
	def, job := stagetest.Segment(t, c, name, pql)
	n, _ := job.SegmentCount(def.ID)
	r := events.Request{RequestID: id, Definition: events.Definition{Name: name, Expression: events.Expression{Type: "PQL", Format: "pql/text", Value: pql}}}
	r.SetDefaults()
	d := events.NewDefinitionCreated(r, events.Segment{ID: def.ID, Name: def.Name, Expression: r.Definition.Expression})
	d.MergePolicyID = def.MergePolicyID
	return events.NewJobSucceeded(d, job.ID, events.JobMetrics{TotalProfiles: job.Metrics.TotalProfiles, SegmentedProfiles: n})
}

// withRequest is js for another request, exporting per x.
func withRequest(js events.JobSucceeded, id string, x *events.ExportRequest) events.JobSucceeded {
	js.RequestID, js.Request.RequestID, js.Request.Export = id, id, x
	return js
}

func TestUPS(t *testing.T) {
	base, usPeople := stagetest.StartUPS(t, 12)
	us := len(usPeople)
	admin := stagetest.Client(t, base, nil)
	seg := segment(t, admin, "r-1", "US people", `homeAddress.countryCode = "US"`)

	faults := &upsFaults{base: http.DefaultTransport}
	pipe := stagetest.Config()
	pipe.MaxDeliver = 5
	cfg := testConfig()
	client := stagetest.Client(t, base, faults)
	h := start(t, client, cfg, &pipe)
	ctx := context.Background()
	succeeded := 0.0
	waitSucceeded := func(n int) {
		t.Helper()
		succeeded += float64(n)
		stagetest.Eventually(t, fmt.Sprintf("%v messages handled", succeeded), func() bool {
			return h.Counter(t, "segflow_stage_messages_total", "succeeded") >= succeeded
		})
	}
	// one checks that the dataset of name has one export job of the
	// segment, and returns it.
	one := func(name string) (platform.Dataset, platform.ExportJob) {
		t.Helper()
		ds, err := admin.FindDatasets(ctx, name)
		if err != nil || len(ds) != 1 {
			t.Fatalf("datasets named %q: %+v, %v", name, ds, err)
		}
		jobs, err := admin.FindExportJobs(ctx, ds[0].ID)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("export jobs into %q: %+v, %v", name, jobs, err)
		}
		return ds[0], jobs[0]
	}

	// The workflow's export: a new dataset on the union schema, one job,
	// the segment's members counted.
	h.Publish(t, events.StageSegmenter, seg)
	out := h.succeeded.Next(t)
	waitSucceeded(1)
	ds, job := one("segflow-us-people")
	if out.DatasetID != ds.ID || out.DatasetReused || out.ProfileCount != int64(us) || out.ExportJobID != job.ID.String() ||
		out.BatchID != job.Destination.BatchID || out.MergePolicyID == "" || job.MergePolicy.ID != out.MergePolicyID || out.Timings.Exporter == nil {
		t.Fatalf("export.succeeded %+v, job %+v, %d US profiles", out, job, us)
	}
	if ds.SchemaRef.ID != platform.SchemaProfileUnion {
		t.Errorf("dataset schema %+v", ds.SchemaRef)
	}
	if b, err := admin.Batch(ctx, out.BatchID); err != nil || b.Status != platform.BatchSuccess || b.DatasetID() != ds.ID {
		t.Fatalf("batch %+v, %v", b, err)
	}

	// The same segment for another request: the dataset is reused.
	h.Publish(t, events.StageSegmenter, withRequest(seg, "r-2", nil))
	out2 := h.succeeded.Next(t)
	waitSucceeded(1)
	if jobs, err := admin.FindExportJobs(ctx, ds.ID); out2.DatasetID != ds.ID || !out2.DatasetReused || err != nil || len(jobs) != 2 || out2.ProfileCount != int64(us) {
		t.Fatalf("second export %+v: %d jobs, %v", out2, len(jobs), err)
	}

	t.Run("same message twice", func(t *testing.T) {
		// Two copies of one message (another Nats-Msg-Id, so the stream
		// keeps both), handled at once.
		e := stagetest.NewEvent(t, events.StageSegmenter, withRequest(seg, "r-3", &events.ExportRequest{DatasetName: "twice"}))
		for i := range 2 {
			h.PublishCopy(t, h.Pipeline.Subjects.JobSucceeded, e, fmt.Sprintf("copy-%d", i))
		}
		waitSucceeded(2)
		ds, job := one("twice")
		if job.Status != platform.ExportSucceeded {
			t.Errorf("job %+v", job)
		}
		// Both copies published the same export.succeeded (core NATS
		// subscribers see both publications).
		for range 2 {
			if out := h.succeeded.Next(t); out.RequestID != "r-3" || out.DatasetID != ds.ID || out.ExportJobID != job.ID.String() || out.DatasetReused {
				t.Fatalf("export.succeeded %+v", out)
			}
		}
		// Both copies published export.succeeded with one event id: the
		// stream kept one.
		if n := h.InStream(t, h.Pipeline.Subjects.ExportSucceeded); n != 3 {
			t.Errorf("%d export.succeeded events in the stream for 3 requests", n)
		}
	})

	t.Run("answers lost", func(t *testing.T) {
		// ups makes the dataset, then the export job, and each time the
		// answer is lost: two redeliveries find them.
		faults.loseDataset.Store(true)
		faults.loseJob.Store(true)
		redelivered := h.Counter(t, "segflow_stage_redeliveries_total", "")
		h.Publish(t, events.StageSegmenter, withRequest(seg, "r-4", &events.ExportRequest{DatasetName: "lost answers"}))
		out := h.succeeded.Next(t)
		waitSucceeded(1)
		ds, job := one("lost answers")
		if out.DatasetID != ds.ID || out.DatasetReused || out.ExportJobID != job.ID.String() || out.ProfileCount != int64(us) {
			t.Fatalf("export.succeeded %+v, dataset %+v, job %+v", out, ds, job)
		}
		if n := h.Counter(t, "segflow_stage_redeliveries_total", "") - redelivered; n != 2 || faults.loseDataset.Load() || faults.loseJob.Load() {
			t.Errorf("%v redeliveries, want 2", n)
		}
	})

	t.Run("restarted while polling", func(t *testing.T) {
		// The job's id is recorded and the exporter stops while it polls
		// the job: the message is handed back, and the next exporter
		// polls the same job.
		faults.hangPoll.Store(true)
		h.Publish(t, events.StageSegmenter, withRequest(seg, "r-5", &events.ExportRequest{DatasetName: "restart"}))
		stagetest.Eventually(t, "the exporter polling", func() bool { return !faults.hangPoll.Load() })
		h.Stop(t)
		h.run(t, client, cfg)
		out := h.succeeded.Next(t)
		if _, job := one("restart"); out.RequestID != "r-5" || out.ExportJobID != job.ID.String() {
			t.Fatalf("export.succeeded %+v, job %+v", out, job)
		}
		if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 1 {
			t.Errorf("%v redeliveries, want 1", n)
		}
	})
}
