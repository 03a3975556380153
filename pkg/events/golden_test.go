package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// sampleRequest is the request the sample payloads carry.
func sampleRequest() Request {
	minSize, maxSize := int64(100), int64(1000000)
	r := Request{
		RequestID: "9b2f6a54-3c1e-4d7a-8e0f-1a2b3c4d5e6f",
		Definition: Definition{
			Name:        "US cart abandoners",
			Description: "Abandoned a cart in the last 7 days",
			Expression: Expression{
				Value: `homeAddress.countryCode = "US" and xEvent.exists(e => e.eventType = "commerce.cartAbandoned" and e.timestamp occurs <= 7 days before now)`,
			},
			MergePolicyID: "timestampOrdered-none-mp",
		},
		Estimate: &EstimateRequest{Enabled: true, MinSize: &minSize, MaxSize: &maxSize},
		Export: &ExportRequest{
			Fields:      FieldList{"identities.id", "personalEmail.address"},
			DatasetName: "US cart abandoners",
			Filter:      &ExportFilter{FromIngestTimestamp: "2026-02-01T00:00:00Z"},
		},
		Labels: Labels{"team": "growth", "campaign": "spring-2026"},
	}
	r.SetDefaults()
	return r
}

func sampleDefinitionCreated() DefinitionCreated {
	r := sampleRequest()
	d := NewDefinitionCreated(r, Segment{ID: "4afe34ae-8c98-4513-8a1d-67ccaa54bc05", Name: r.Definition.Name, Expression: r.Definition.Expression})
	d.Estimate = &Estimate{EstimatedSize: 4275, StandardError: 12.5, ConfidenceInterval: "95%", ProfilesRead: 50000, ProfilesMatched: 4275, TotalRows: 50000,
		PreviewID: "MDphcHAtMzJiZTAzMjgtM2YzMS00YjY0LThkODQtYWNkMGM0ZmJkYWQzOmU4OTAwNjhiOjA", DurationMs: 2300}
	d.Timings.Begin(StageDefiner, at(0))
	d.Timings.End(StageDefiner, at(2900*time.Millisecond))
	return d
}

func sampleJobSucceeded() JobSucceeded {
	d := sampleDefinitionCreated()
	j := NewJobSucceeded(d, "b31aed3d-3f39-4d05-9e1c-7e9e6f5c0c11", JobMetrics{
		TotalProfiles: 50000, SegmentedProfiles: 4210,
		SegmentedProfilesByStatus:    map[string]int64{"realized": 4210, "exited": 65},
		SegmentedProfilesByNamespace: map[string]int64{"ECID": 4210, "Email": 3980},
		TotalTimeMs:                  8400, ProfileSegmentationTimeMs: 7900,
	})
	j.Timings.Begin(StageSegmenter, at(3*time.Second))
	j.Timings.End(StageSegmenter, at(12*time.Second))
	return j
}

func sampleExportSucceeded() ExportSucceeded {
	x := NewExportSucceeded(sampleJobSucceeded())
	x.DatasetID, x.DatasetName, x.DatasetReused = "5b020a27e7040801dedba61b", "US cart abandoners", false
	x.ExportJobID, x.BatchID, x.ProfileCount = "100", "da5cfb4de32c4b93a09f7e37fa53ad52", 4210
	x.Metrics = ExportMetrics{ProfilesByNamespace: map[string]int64{"ECID": 4210}, TotalTimeMs: 5100, ProfileExportTimeMs: 4000, DatasetWriteTimeMs: 900}
	x.Timings.Begin(StageExporter, at(12100*time.Millisecond))
	x.Timings.End(StageExporter, at(18*time.Second))
	return x
}

func sampleBatchReady() BatchReady {
	b := NewBatchReady(sampleExportSucceeded(), []File{
		{URI: "file:///var/lib/segflow/batches/da5cfb4de32c4b93a09f7e37fa53ad52/part-00000.parquet", Name: "part-00000.parquet", Size: 183204, Records: 4000,
			SHA256: "3f1c9d2a8b7e6f5a4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c"},
		{URI: "file:///var/lib/segflow/batches/da5cfb4de32c4b93a09f7e37fa53ad52/part-00001.parquet", Name: "part-00001.parquet", Size: 9876, Records: 210,
			SHA256: "a0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff"},
	})
	b.Timings.Begin(StageReader, at(18100*time.Millisecond))
	b.Timings.End(StageReader, at(19500*time.Millisecond))
	return b
}

func sampleRejected() Failure {
	r := sampleRequest()
	f := NewFailure(StageDefiner, r, Problem{Reason: `unknown function "startswith" at 1:10, did you mean "startsWith"?`, Field: "definition.expression.value",
		Position: &Position{Offset: 9, Line: 1, Column: 10}})
	f.Rejected = true
	f.Timings.Begin(StageDefiner, at(0))
	f.Timings.End(StageDefiner, at(40*time.Millisecond))
	return f
}

func sampleJobFailed() Failure {
	f := NewFailure(StageSegmenter, sampleDefinitionCreated(), Problem{
		Reason:        "segment job FAILED",
		PlatformError: &PlatformError{Code: "0100000003", Message: "Error in Segment Job", RequestID: "d995479c-8a08-4240-903b-af469c67be1f", Operation: "GetSegmentJob"},
	})
	f.SegmentJobID = "b31aed3d-3f39-4d05-9e1c-7e9e6f5c0c11"
	f.Attempts = 1
	f.Timings.Begin(StageSegmenter, at(3*time.Second))
	f.Timings.End(StageSegmenter, at(9*time.Second))
	return f
}

func sampleDeadLetter() DeadLetter {
	d := DeadLetter{
		RequestID: "9b2f6a54-3c1e-4d7a-8e0f-1a2b3c4d5e6f", Labels: Labels{"team": "growth"},
		Stage: StageExporter, Stream: "SEGFLOW", Consumer: "exporter", StreamSequence: 42, Deliveries: 10,
		Subject: "job.succeeded", MsgID: "9b2f6a54-3c1e-4d7a-8e0f-1a2b3c4d5e6f/segflow.job.succeeded.v1",
		Reason: "platform: CreateExportJob: 503 service unavailable", Replay: "segflow dlq replay --stage exporter --seq 42",
		Received: at(12 * time.Second),
	}
	d.SetMessage([]byte(`{"specversion":"1.0","id":"x","source":"/segflow/segmenter","type":"segflow.job.succeeded.v1","data":{}}`))
	return d
}

func sampleStatus() Status {
	s := NewStatus("9b2f6a54-3c1e-4d7a-8e0f-1a2b3c4d5e6f", Labels{"team": "growth", "campaign": "spring-2026"}, at(0))
	s.Begin(StageDefiner, at(0))
	s.Record(sampleDefinitionCreated(), at(2900*time.Millisecond))
	s.Begin(StageSegmenter, at(3*time.Second))
	s.Record(sampleJobSucceeded(), at(12*time.Second))
	s.Begin(StageExporter, at(12100*time.Millisecond))
	return s
}

// golden compares got's indented JSON with testdata/name, or rewrites it
// under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, buf.Bytes(), want)
	}
}

func TestGoldenPayloads(t *testing.T) {
	cases := []struct {
		file string
		v    any
		zero func() any // a pointer to decode the fixture into
	}{
		{"request.json", sampleRequest(), func() any { return new(Request) }},
		{"definition_created.json", sampleDefinitionCreated(), func() any { return new(DefinitionCreated) }},
		{"job_succeeded.json", sampleJobSucceeded(), func() any { return new(JobSucceeded) }},
		{"export_succeeded.json", sampleExportSucceeded(), func() any { return new(ExportSucceeded) }},
		{"batch_ready.json", sampleBatchReady(), func() any { return new(BatchReady) }},
		{"request_rejected.json", sampleRejected(), func() any { return new(Failure) }},
		{"job_failed.json", sampleJobFailed(), func() any { return new(Failure) }},
		{"dead_letter.json", sampleDeadLetter(), func() any { return new(DeadLetter) }},
		{"status.json", sampleStatus(), func() any { return new(Status) }},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.file, b)
			// The fixture decodes back to the value.
			fixture, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			p := c.zero()
			if err := json.Unmarshal(fixture, p); err != nil {
				t.Fatal(err)
			}
			// (Compared as JSON: a dead letter's raw message is re-indented in
			// the fixture.)
			again, err := marshal(reflect.ValueOf(p).Elem().Interface())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("fixture decodes to\n%s\nwant\n%s", again, b)
			}
		})
	}
}

// The batch.ready wire shape is binding: exactly these keys.
func TestBatchReadyShape(t *testing.T) {
	b, err := json.Marshal(sampleBatchReady())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"requestId", "labels", "sandbox", "segment", "segmentJobId", "exportJobId", "datasetId", "batchId", "profileCount", "files", "timings"}
	if len(m) != len(want) {
		t.Errorf("batch.ready has %d keys, want %d: %s", len(m), len(want), b)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("batch.ready lacks %q", k)
		}
	}
	var seg, file map[string]json.RawMessage
	_ = json.Unmarshal(m["segment"], &seg)
	for _, k := range []string{"id", "name", "expression"} {
		if _, ok := seg[k]; !ok {
			t.Errorf("segment lacks %q", k)
		}
	}
	var files []map[string]json.RawMessage
	_ = json.Unmarshal(m["files"], &files)
	file = files[0]
	for _, k := range []string{"uri", "name", "size", "records", "sha256"} {
		if _, ok := file[k]; !ok {
			t.Errorf("file lacks %q", k)
		}
	}
	// Empty labels and files are {} and [], never null.
	empty, _ := json.Marshal(BatchReady{RequestID: "r"})
	if !bytes.Contains(empty, []byte(`"labels":{}`)) || !bytes.Contains(empty, []byte(`"files":[]`)) {
		t.Errorf("empty batch.ready: %s", empty)
	}
}

func TestGoldenEnvelope(t *testing.T) {
	e, err := NewEvent(Source(StageReader), sampleBatchReady(), at(19500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope_batch_ready.json", b)

	fixture, err := os.ReadFile("testdata/envelope_batch_ready.json")
	if err != nil {
		t.Fatal(err)
	}
	got, payload, err := DecodeAs[BatchReady](fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(payload, sampleBatchReady()) {
		t.Errorf("payload: got %+v", payload)
	}
	if got.ID != e.ID || got.Type != TypeBatchReady || got.Subject != e.Subject || !got.Time.Equal(e.Time) {
		t.Errorf("envelope: got %+v", got)
	}
}
