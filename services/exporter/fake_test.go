package exporter_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// fakePlatform is an httptest Platform serving what the exporter calls:
// IMS tokens, Catalog datasets and export jobs, with faults a test
// scripts through Fault.
type fakePlatform struct {
	*stagetest.Fake

	// Under Mu.
	datasets map[string]platform.Dataset
	jobs     map[platform.ExportJobID]*fakeJob
	nextID   int
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
	f := &fakePlatform{Fake: stagetest.NewFake(t), datasets: map[string]platform.Dataset{}, jobs: map[platform.ExportJobID]*fakeJob{}, nextID: 100}
	f.Handle("POST /data/foundation/catalog/dataSets", "create-dataset", f.createDataset)
	f.Handle("GET /data/foundation/catalog/dataSets", "list-datasets", f.listDatasets)
	f.Handle("GET /data/foundation/catalog/dataSets/{id}", "get-dataset", f.getDataset)
	f.Handle("POST /data/core/ups/export/jobs", "create-export-job", f.createJob)
	f.Handle("GET /data/core/ups/export/jobs", "list-export-jobs", f.listJobs)
	f.Handle("DELETE /data/core/ups/export/jobs/{id}", "cancel-export-job", f.cancelJob)
	f.Handle("GET /data/core/ups/export/jobs/{id}", "get-export-job", f.getJob)
	return f
}

func (f *fakePlatform) createDataset(w http.ResponseWriter, r *http.Request, _ int) {
	body, _ := io.ReadAll(r.Body)
	var in struct {
		Name      string              `json:"name"`
		SchemaRef platform.SchemaRef  `json:"schemaRef"`
		Tags      map[string][]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		stagetest.WriteJSON(w, 400, map[string]any{"title": "BadRequest", "detail": err.Error(), "status": 400})
		return
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("ds-%d", f.nextID)
	f.datasets[id] = platform.Dataset{ID: id, Name: in.Name, SchemaRef: in.SchemaRef, Tags: in.Tags, Created: time.Now().UnixMilli()}
	stagetest.WriteJSON(w, 201, []string{"@/dataSets/" + id})
}

func (f *fakePlatform) listDatasets(w http.ResponseWriter, r *http.Request, _ int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
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
	stagetest.WriteJSON(w, 200, out)
}

func (f *fakePlatform) getDataset(w http.ResponseWriter, r *http.Request, _ int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	id := r.PathValue("id")
	d, ok := f.datasets[id]
	if !ok {
		stagetest.WriteJSON(w, 404, map[string]any{"type": "/placeholder/type/uri", "status": 404, "title": "NotFoundError", "detail": "DataSet not found."})
		return
	}
	stagetest.WriteJSON(w, 200, map[string]platform.Dataset{id: d})
}

func (f *fakePlatform) createJob(w http.ResponseWriter, r *http.Request, _ int) {
	body, _ := io.ReadAll(r.Body)
	var req platform.ExportJobRequest
	if err := json.Unmarshal(body, &req); err != nil {
		stagetest.WriteJSON(w, 400, map[string]any{"status": 400, "title": "bad", "type": "x"})
		return
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	d, ok := f.datasets[req.Destination.DatasetID]
	if !ok || d.SchemaRef.ID != platform.SchemaProfileUnion {
		stagetest.WriteJSON(w, 422, map[string]any{"status": 422, "title": "Invalid destination", "type": "https://ns.adobe.com/aep/errors/UPAPI-1000-422"})
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
	stagetest.WriteJSON(w, 200, f.jobs[id].job)
}

func (f *fakePlatform) listJobs(w http.ResponseWriter, r *http.Request, _ int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
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
	stagetest.WriteJSON(w, 200, map[string]any{"records": recs, "page": map[string]any{"pageSize": len(recs)}, "link": map[string]any{}})
}

func (f *fakePlatform) cancelJob(w http.ResponseWriter, r *http.Request, _ int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var id platform.ExportJobID
	_ = id.UnmarshalJSON([]byte(r.PathValue("id")))
	if j, ok := f.jobs[id]; ok && !j.job.Done() {
		j.job.Status = platform.ExportFailed
		j.job.Errors = []platform.JobError{{Code: "cancelled", Msg: "Export job cancelled"}}
	}
	stagetest.WriteJSON(w, 200, map[string]any{"status": true, "message": "cancelled"})
}

func (f *fakePlatform) getJob(w http.ResponseWriter, r *http.Request, _ int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var id platform.ExportJobID
	if err := id.UnmarshalJSON([]byte(r.PathValue("id"))); err != nil {
		stagetest.WriteJSON(w, 404, map[string]any{"status": 404, "title": "no job", "type": "x"})
		return
	}
	j, ok := f.jobs[id]
	if !ok {
		stagetest.WriteJSON(w, 404, map[string]any{"status": 404, "title": "Export job not found", "type": "https://ns.adobe.com/aep/errors/UPAPI-1000-404"})
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
	stagetest.WriteJSON(w, 200, j.job)
}

// datasetsNamed returns the datasets of a name.
func (f *fakePlatform) datasetsNamed(name string) []platform.Dataset {
	f.Mu.Lock()
	defer f.Mu.Unlock()
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
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []platform.ExportJob
	for _, j := range f.jobs {
		if j.job.Destination.DatasetID == datasetID {
			out = append(out, j.job)
		}
	}
	return out
}
