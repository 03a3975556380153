package segmenter_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/services/stage/stagetest"
)

// fakePlatform is an httptest Platform of what the segmenter calls: IMS
// tokens and segment jobs (create, get, list, cancel). A job is
// PROCESSING at its first poll and SUCCEEDED from the second, unless a
// hook says otherwise.
type fakePlatform struct {
	*stagetest.Fake

	// Under Mu.
	jobs   []*fakeJob
	nextID int

	// Hooks; a hook that writes an answer returns true.
	createJob func(w http.ResponseWriter, n int, store func() *fakeJob) bool
	getJob    func(w http.ResponseWriter, j *fakeJob, polls int) bool
}

type fakeJob struct {
	ID        string
	SegmentID string
	Created   time.Time
	Polls     int
	Cancelled bool
}

func newFake(t *testing.T) *fakePlatform {
	f := &fakePlatform{Fake: stagetest.NewFake(t)}
	f.Handle("POST /data/core/ups/segment/jobs", "POST /segment/jobs", f.postJob)
	f.Handle("GET /data/core/ups/segment/jobs", "GET /segment/jobs", f.listJobs)
	f.Handle("GET /data/core/ups/segment/jobs/{id}", "GET /segment/jobs/{id}", f.getJobHTTP)
	f.Handle("DELETE /data/core/ups/segment/jobs/{id}", "DELETE /segment/jobs/{id}", f.deleteJob)
	return f
}

func (f *fakePlatform) jobCount() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return len(f.jobs)
}

// add stores a job on segID created at created.
func (f *fakePlatform) add(segID string, created time.Time) *fakeJob {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.nextID++
	j := &fakeJob{ID: fmt.Sprintf("job-%d", f.nextID), SegmentID: segID, Created: created}
	f.jobs = append(f.jobs, j)
	return j
}

func (f *fakePlatform) find(id string) *fakeJob {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, j := range f.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

// view is the job as the API shows it, in status.
func (j *fakeJob) view(status string) map[string]any {
	v := map[string]any{
		"id": j.ID, "status": status, "creationTime": j.Created.UnixMilli(),
		"segments": []map[string]any{{"segmentId": j.SegmentID, "segment": map[string]any{"id": j.SegmentID}}},
		"metrics":  map[string]any{"totalTime": map[string]any{"startTimeInMs": j.Created.UnixMilli()}},
	}
	if status == "SUCCEEDED" {
		start := j.Created.UnixMilli()
		v["metrics"] = map[string]any{
			"totalTime":                          map[string]any{"startTimeInMs": start, "endTimeInMs": start + 1234, "totalTimeInMs": 1234},
			"profileSegmentationTime":            map[string]any{"startTimeInMs": start + 100, "endTimeInMs": start + 1100},
			"totalProfiles":                      100.0,
			"segmentedProfileCounter":            map[string]any{j.SegmentID: 40.0, "other": 7},
			"segmentedProfileByNamespaceCounter": map[string]any{j.SegmentID: map[string]any{"ECID": 40}},
			"segmentedProfileByStatusCounter":    map[string]any{j.SegmentID: map[string]any{"realized": 30, "existing": 10}},
		}
	}
	return v
}

func (f *fakePlatform) postJob(w http.ResponseWriter, r *http.Request, n int) {
	body, _ := io.ReadAll(r.Body)
	var refs []struct {
		SegmentID string `json:"segmentId"`
	}
	if err := json.Unmarshal(body, &refs); err != nil || len(refs) != 1 {
		stagetest.UPSError(w, 400, "bad body "+string(body))
		return
	}
	var stored *fakeJob
	store := func() *fakeJob { stored = f.add(refs[0].SegmentID, time.Now()); return stored }
	if f.createJob != nil && f.createJob(w, n, store) {
		return
	}
	store()
	stagetest.WriteJSON(w, 200, stored.view("NEW"))
}

func (f *fakePlatform) listJobs(w http.ResponseWriter, r *http.Request, _ int) {
	seg, _ := strings.CutPrefix(r.URL.Query().Get("property"), "segments~segmentId==")
	f.Mu.Lock()
	children := []map[string]any{}
	for i := len(f.jobs) - 1; i >= 0; i-- { // newest first
		if j := f.jobs[i]; seg == "" || j.SegmentID == seg {
			children = append(children, j.view("PROCESSING"))
		}
	}
	f.Mu.Unlock()
	stagetest.WriteJSON(w, 200, map[string]any{"children": children, "_page": map[string]any{"totalCount": len(children), "pageSize": len(children)}})
}

func (f *fakePlatform) getJobHTTP(w http.ResponseWriter, r *http.Request, _ int) {
	j := f.find(r.PathValue("id"))
	if j == nil {
		stagetest.UPSError(w, 404, "The segment job "+r.PathValue("id")+" is not found.")
		return
	}
	f.Mu.Lock()
	j.Polls++
	polls, cancelled := j.Polls, j.Cancelled
	f.Mu.Unlock()
	if f.getJob != nil && f.getJob(w, j, polls) {
		return
	}
	switch {
	case cancelled:
		stagetest.WriteJSON(w, 200, j.view("CANCELLED"))
	case polls < 2:
		stagetest.WriteJSON(w, 200, j.view("PROCESSING"))
	default:
		stagetest.WriteJSON(w, 200, j.view("SUCCEEDED"))
	}
}

func (f *fakePlatform) deleteJob(w http.ResponseWriter, r *http.Request, _ int) {
	j := f.find(r.PathValue("id"))
	if j == nil {
		stagetest.UPSError(w, 404, "not found")
		return
	}
	f.Mu.Lock()
	j.Cancelled = true
	f.Mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
