package exporter_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/platform"
)

// fakePlatform is an httptest Platform serving what the exporter calls:
// IMS tokens, Catalog datasets and export jobs, with faults a test
// scripts through fault.
type fakePlatform struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	datasets map[string]platform.Dataset
	jobs     map[platform.ExportJobID]*fakeJob
	nextID   int
	calls    map[string]int // "METHOD /path-kind" → count
	// fault, when set, may answer a request itself (true) before the
	// fake does; n is the call's count of its kind, from 1.
	fault func(w http.ResponseWriter, r *http.Request, kind string, n int) bool
	// delay slows every API answer.
	delay time.Duration
	// polls is how many polls of a job answer PROCESSING before its end.
	polls int
	// end is the final state of every job: SUCCEEDED (the default) or
	// FAILED with errors.
	end func(j *platform.ExportJob)
}

type fakeJob struct {
	job   platform.ExportJob
	polls int
}

func newFake(t *testing.T) *fakePlatform {
	f := &fakePlatform{t: t, datasets: map[string]platform.Dataset{}, jobs: map[platform.ExportJobID]*fakeJob{}, calls: map[string]int{}, nextID: 100}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePlatform) client(t *testing.T) *platform.Client {
	t.Helper()
	c, err := platform.New(platform.Config{BaseURL: f.srv.URL, ClientID: "c", ClientSecret: "s", OrgID: "O@AdobeOrg", Sandbox: "prod"},
		platform.Options{Retry: platform.RetryPolicy{MaxAttempts: 4, Backoff: platform.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}, MaxRetryAfter: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakePlatform) set(fn func(f *fakePlatform)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakePlatform) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[kind]
}

// kindOf names a request by what it does.
func kindOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/ims/token/v3":
		return "token"
	case p == "/data/foundation/catalog/dataSets" && r.Method == http.MethodPost:
		return "create-dataset"
	case p == "/data/foundation/catalog/dataSets":
		return "list-datasets"
	case strings.HasPrefix(p, "/data/foundation/catalog/dataSets/"):
		return "get-dataset"
	case p == "/data/core/ups/export/jobs" && r.Method == http.MethodPost:
		return "create-export-job"
	case p == "/data/core/ups/export/jobs":
		return "list-export-jobs"
	case strings.HasPrefix(p, "/data/core/ups/export/jobs/") && r.Method == http.MethodDelete:
		return "cancel-export-job"
	case strings.HasPrefix(p, "/data/core/ups/export/jobs/"):
		return "get-export-job"
	}
	return "other"
}

func (f *fakePlatform) serve(w http.ResponseWriter, r *http.Request) {
	kind := kindOf(r)
	f.mu.Lock()
	f.calls[kind]++
	n := f.calls[kind]
	fault, delay := f.fault, f.delay
	f.mu.Unlock()
	if delay > 0 && kind != "token" {
		time.Sleep(delay)
	}
	if fault != nil && fault(w, r, kind, n) {
		return
	}
	f.handle(w, r, kind)
}

// commit lets the fake do what r asks, and drops its answer: with the
// fault answering an error, a create whose answer was lost.
func (f *fakePlatform) commit(r *http.Request, kind string) {
	f.handle(httptest.NewRecorder(), r, kind)
}

func (f *fakePlatform) handle(w http.ResponseWriter, r *http.Request, kind string) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch kind {
	case "token":
		writeJSON(w, 200, map[string]any{"access_token": "tok", "token_type": "bearer", "expires_in": 3600})
	case "create-dataset":
		var in struct {
			Name      string              `json:"name"`
			SchemaRef platform.SchemaRef  `json:"schemaRef"`
			Tags      map[string][]string `json:"tags"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			writeJSON(w, 400, map[string]any{"title": "BadRequest", "detail": err.Error(), "status": 400})
			return
		}
		f.nextID++
		id := fmt.Sprintf("ds-%d", f.nextID)
		f.datasets[id] = platform.Dataset{ID: id, Name: in.Name, SchemaRef: in.SchemaRef, Tags: in.Tags, Created: time.Now().UnixMilli()}
		writeJSON(w, 201, []string{"@/dataSets/" + id})
	case "list-datasets":
		out := map[string]platform.Dataset{}
		for _, p := range r.URL.Query()["property"] {
			if name, ok := strings.CutPrefix(p, "name=="); ok {
				for id, d := range f.datasets {
					if d.Name == name {
						out[id] = d
					}
				}
			}
		}
		writeJSON(w, 200, out)
	case "get-dataset":
		id := strings.TrimPrefix(r.URL.Path, "/data/foundation/catalog/dataSets/")
		d, ok := f.datasets[id]
		if !ok {
			writeJSON(w, 404, map[string]any{"type": "/placeholder/type/uri", "status": 404, "title": "NotFoundError", "detail": "DataSet not found."})
			return
		}
		writeJSON(w, 200, map[string]platform.Dataset{id: d})
	case "create-export-job":
		var req platform.ExportJobRequest
		if err := json.Unmarshal(body, &req); err != nil {
			writeJSON(w, 400, map[string]any{"status": 400, "title": "bad", "type": "x"})
			return
		}
		d, ok := f.datasets[req.Destination.DatasetID]
		if !ok || d.SchemaRef.ID != platform.SchemaProfileUnion {
			writeJSON(w, 422, map[string]any{"status": 422, "title": "Invalid destination", "type": "https://ns.adobe.com/aep/errors/UPAPI-1000-422"})
			return
		}
		f.nextID++
		id := platform.ExportJobID(f.nextID)
		f.jobs[id] = &fakeJob{job: platform.ExportJob{
			ID: id, JobType: "BATCH", Destination: platform.ExportDestination{DatasetID: d.ID}, Fields: req.Fields,
			Schema: req.Schema, Status: platform.ExportNew, Filter: req.Filter, AdditionalFields: req.AdditionalFields,
			CreationTime: time.Now().UnixMilli(), UpdateTime: time.Now().UnixMilli(),
		}}
		if req.MergePolicy != nil {
			f.jobs[id].job.MergePolicy = *req.MergePolicy
		}
		writeJSON(w, 200, f.jobs[id].job)
	case "list-export-jobs":
		var recs []platform.ExportJob
		for _, j := range f.jobs {
			recs = append(recs, j.job)
		}
		// newest first
		for i := range recs {
			for k := i + 1; k < len(recs); k++ {
				if recs[k].ID > recs[i].ID {
					recs[i], recs[k] = recs[k], recs[i]
				}
			}
		}
		writeJSON(w, 200, map[string]any{"records": recs, "page": map[string]any{"pageSize": len(recs)}, "link": map[string]any{}})
	case "cancel-export-job":
		var id platform.ExportJobID
		_ = id.UnmarshalJSON([]byte(strings.TrimPrefix(r.URL.Path, "/data/core/ups/export/jobs/")))
		if j, ok := f.jobs[id]; ok && !j.job.Done() {
			j.job.Status = platform.ExportFailed
			j.job.Errors = []platform.JobError{{Code: "cancelled", Msg: "Export job cancelled"}}
		}
		writeJSON(w, 200, map[string]any{"status": true, "message": "cancelled"})
	case "get-export-job":
		var id platform.ExportJobID
		if err := id.UnmarshalJSON([]byte(strings.TrimPrefix(r.URL.Path, "/data/core/ups/export/jobs/"))); err != nil {
			writeJSON(w, 404, map[string]any{"status": 404, "title": "no job", "type": "x"})
			return
		}
		j, ok := f.jobs[id]
		if !ok {
			writeJSON(w, 404, map[string]any{"status": 404, "title": "Export job not found", "type": "https://ns.adobe.com/aep/errors/UPAPI-1000-404"})
			return
		}
		j.polls++
		switch {
		case j.job.Done():
		case j.polls <= f.polls:
			j.job.Status = platform.ExportProcessing
		default:
			j.job.Status = platform.ExportSucceeded
			j.job.Destination.BatchID = fmt.Sprintf("batch-%d", j.job.ID)
			j.job.Metrics = platform.ExportJobMetrics{
				TotalExportedProfileCounter:       42,
				ExportedProfileByNamespaceCounter: map[string]int64{"ECID": 42},
				TotalTime:                         platform.JobTiming{TotalTimeInMs: 1500},
				ProfileExportTime:                 platform.JobTiming{TotalTimeInMs: 1000},
				ACPDatasetWriteTime:               platform.JobTiming{TotalTimeInMs: 400},
			}
			if f.end != nil {
				f.end(&j.job)
			}
		}
		writeJSON(w, 200, j.job)
	default:
		http.NotFound(w, r)
	}
}

// datasetsNamed returns the datasets of a name.
func (f *fakePlatform) datasetsNamed(name string) []platform.Dataset {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []platform.Dataset
	for _, d := range f.datasets {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}

// jobsInto returns the jobs writing to a dataset.
func (f *fakePlatform) jobsInto(datasetID string) []platform.ExportJob {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []platform.ExportJob
	for _, j := range f.jobs {
		if j.job.Destination.DatasetID == datasetID {
			out = append(out, j.job)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
