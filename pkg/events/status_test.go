package events

import (
	"errors"
	"testing"
	"time"
)

func TestStatusFollowsTheRequest(t *testing.T) {
	s := NewStatus("r-1", Labels{"team": "growth"}, at(0))
	if s.State != StatePending || s.Finished() {
		t.Fatalf("new: %+v", s)
	}
	s.Begin(StageDefiner, at(0))
	d := sampleDefinitionCreated()
	d.RequestID = "r-1"
	s.Record(d, at(3*time.Second))
	if s.Stage != StageDefiner || s.State != StateDone || s.DefinitionID != d.Segment.ID || s.PreviewID == "" || s.Finished() {
		t.Fatalf("after definition.created: %+v", s)
	}
	s.Begin(StageSegmenter, at(3*time.Second))
	s.Record(sampleJobSucceeded(), at(12*time.Second))
	s.Begin(StageExporter, at(12*time.Second))
	s.Record(sampleExportSucceeded(), at(18*time.Second))
	if s.ProfileCount != 4210 || s.BatchID == "" || s.ExportJobID != "100" {
		t.Fatalf("after export.succeeded: %+v", s)
	}
	s.Begin(StageReader, at(18*time.Second))
	if s.State != StateRunning || s.Stage != StageReader {
		t.Fatalf("reader running: %+v", s)
	}
	s.Record(sampleBatchReady(), at(20*time.Second))
	if !s.Finished() || s.Files != 2 || s.Timings.Reader == nil || s.Timings.TotalMs != 19500 {
		t.Fatalf("after batch.ready: %+v", s)
	}
	if !s.Updated.Equal(at(20*time.Second)) || !s.Created.Equal(at(0)) {
		t.Fatalf("times: %+v", s)
	}

	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeStatus(b)
	if err != nil || back.BatchID != s.BatchID || back.Labels["team"] != "growth" {
		t.Fatalf("decode: %+v %v", back, err)
	}
	if _, err := DecodeStatus([]byte(`{"stage":"definer"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("no request id: %v", err)
	}
	if _, err := DecodeStatus([]byte(`{"requestId":1}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong type: %v", err)
	}
}

func TestStatusFailures(t *testing.T) {
	s := NewStatus("r", nil, at(0))
	s.Begin(StageDefiner, at(0))
	s.Record(sampleRejected(), at(time.Second))
	if s.State != StateRejected || s.Error == nil || s.Error.Field != "definition.expression.value" || !s.Finished() || s.Labels["team"] != "growth" {
		t.Fatalf("rejected: %+v", s)
	}
	s = NewStatus("r", nil, at(0))
	s.Begin(StageSegmenter, at(0))
	s.Record(sampleJobFailed(), at(time.Second))
	if s.State != StateFailed || s.Stage != StageSegmenter || s.SegmentJobID == "" || s.Error.PlatformError == nil {
		t.Fatalf("job failed: %+v", s)
	}
	s = NewStatus("r", nil, at(0))
	s.Record(sampleDeadLetter(), at(time.Second))
	if s.State != StateFailed || s.Stage != StageExporter || !s.Error.Retryable {
		t.Fatalf("dead letter: %+v", s)
	}
}

func TestTimings(t *testing.T) {
	var tm Timings
	tm.Begin(StageSegmenter, at(time.Second))
	tm.Begin(StageSegmenter, at(5*time.Second)) // a redelivery keeps the first start
	tm.End(StageSegmenter, at(4*time.Second))
	st := tm.Stage(StageSegmenter)
	if !tm.Requested.Equal(at(time.Second)) || !st.Start.Equal(at(time.Second)) || st.DurationMs != 3000 || tm.TotalMs != 3000 {
		t.Fatalf("%+v %+v", tm, st)
	}
	c := tm.Clone()
	c.Segmenter.DurationMs = 1
	if tm.Segmenter.DurationMs != 3000 {
		t.Fatal("Clone shares stage timings")
	}
	if tm.Stage("nope") != nil {
		t.Fatal("unknown stage")
	}
}

func TestNewFailureCarriesContext(t *testing.T) {
	x := sampleExportSucceeded()
	f := NewFailure(StageReader, x, Problem{Reason: "sha256 mismatch", Retryable: true})
	if f.RequestID != x.RequestID || f.BatchID != x.BatchID || f.ExportJobID != x.ExportJobID || f.DatasetID != x.DatasetID ||
		f.Segment == nil || f.Segment.ID != x.Segment.ID || f.Request == nil || f.Timings.Exporter == nil || f.Labels["team"] != "growth" {
		t.Fatalf("%+v", f)
	}
	if f.EventType() != TypeBatchFailed {
		t.Fatal(f.EventType())
	}
	p := ProblemFrom(&ValidationError{Field: "export.fields", Reason: "bad"})
	if p.Field != "export.fields" || p.Reason != "bad" {
		t.Fatalf("%+v", p)
	}
	if p := ProblemFrom(errors.New("boom")); p.Reason != "boom" || p.Field != "" {
		t.Fatalf("%+v", p)
	}
}

func TestTimingsEndOfNoStageIsIgnored(t *testing.T) {
	var tm Timings
	tm.End(Stage("bogus"), time.Now()) // used to panic
	if tm != (Timings{}) {
		t.Errorf("timings changed: %+v", tm)
	}
}

func TestFailuresCarryThePreviewID(t *testing.T) {
	r := Request{RequestID: "r-1", Definition: Definition{Name: "x", Expression: Expression{Value: "true"}}}
	r.SetDefaults()
	d := NewDefinitionCreated(r, Segment{ID: "seg-1", Name: "x"})
	d.Estimate = &Estimate{PreviewID: "p-1"}
	j := NewJobSucceeded(d, "job-1", JobMetrics{})
	if f := NewFailure(StageExporter, j, Problem{Reason: "x"}); f.PreviewID != "p-1" {
		t.Errorf("export.failed previewId %q, want p-1", f.PreviewID)
	}
}
