package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Endpoints (aep-api.md §1–§4).
const (
	definitionsPath = "/data/core/ups/segment/definitions"
	jobsPath        = "/data/core/ups/segment/jobs"
	previewPath     = "/data/core/ups/preview"
	estimatePath    = "/data/core/ups/estimate"
	exportJobsPath  = "/data/core/ups/export/jobs"
	profileSchema   = "_xdm.context.profile"
)

// waitLimit bounds every wait for a job, estimate or export.
const waitLimit = 30 * time.Minute

// createDefinition creates a batch-evaluated segment definition and
// returns its id.
func (a *api) createDefinition(ctx context.Context, name, pql string) (string, error) {
	in := map[string]any{
		"name":              name,
		"profileInstanceId": "ups",
		"description":       "segflow bench",
		"schema":            map[string]string{"name": profileSchema},
		"expression":        map[string]string{"type": "PQL", "format": "pql/text", "value": pql},
		"evaluationInfo": map[string]any{
			"batch":       map[string]bool{"enabled": true},
			"continuous":  map[string]bool{"enabled": false},
			"synchronous": map[string]bool{"enabled": false},
		},
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := a.call(ctx, "POST", definitionsPath, in, &out); err != nil {
		return "", fmt.Errorf("creating segment definition %s: %w", name, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("creating segment definition %s: no id in the answer", name)
	}
	return out.ID, nil
}

// timing is a job's start, end and duration in Unix ms.
type timing struct {
	StartTimeInMs int64 `json:"startTimeInMs"`
	EndTimeInMs   int64 `json:"endTimeInMs"`
	TotalTimeInMs int64 `json:"totalTimeInMs"`
}

// segmentJob is what the benchmark reads of a segment job.
type segmentJob struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Metrics struct {
		TotalTime               *timing          `json:"totalTime"`
		ProfileSegmentationTime *timing          `json:"profileSegmentationTime"`
		TotalProfiles           int64            `json:"totalProfiles"`
		SegmentedProfileCounter map[string]int64 `json:"segmentedProfileCounter"`
	} `json:"metrics"`
	Errors []struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// jobRun is a segment job run to its end.
type jobRun struct {
	Job  segmentJob
	Wall time.Duration // from sending the POST to reading SUCCEEDED
}

// reference is the instant the job evaluated its segments at (PQL's now),
// in Unix ms: the start of its profile segmentation.
func (r jobRun) reference() (int64, error) {
	t := r.Job.Metrics.ProfileSegmentationTime
	if t == nil || t.StartTimeInMs == 0 {
		return 0, fmt.Errorf("segment job %s reports no metrics.profileSegmentationTime.startTimeInMs", r.Job.ID)
	}
	return t.StartTimeInMs, nil
}

func (r jobRun) segmentationMs() int64 {
	if t := r.Job.Metrics.ProfileSegmentationTime; t != nil {
		return t.TotalTimeInMs
	}
	return -1
}

func (r jobRun) totalMs() int64 {
	if t := r.Job.Metrics.TotalTime; t != nil {
		return t.TotalTimeInMs
	}
	return -1
}

// runJob creates a segment job of the segments ids and polls it until it
// ends; a job that does not succeed is an error.
func (a *api) runJob(ctx context.Context, ids []string) (jobRun, error) {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	body := make([]map[string]string, len(ids))
	for i, id := range ids {
		body[i] = map[string]string{"segmentId": id}
	}
	start := time.Now()
	var job segmentJob
	if err := a.call(ctx, "POST", jobsPath, body, &job); err != nil {
		return jobRun{}, fmt.Errorf("creating a segment job: %w", err)
	}
	p := poller{Initial: time.Millisecond, Max: 20 * time.Millisecond, Factor: 1.3}
	for {
		switch job.Status {
		case "SUCCEEDED":
			return jobRun{Job: job, Wall: time.Since(start)}, nil
		case "FAILED", "CANCELLED":
			var msgs []string
			for _, e := range job.Errors {
				msgs = append(msgs, e.Code+": "+e.Msg)
			}
			return jobRun{}, fmt.Errorf("segment job %s ended %s: %s", job.ID, job.Status, strings.Join(msgs, "; "))
		}
		if err := p.wait(ctx); err != nil {
			return jobRun{}, fmt.Errorf("waiting for segment job %s (%s): %w", job.ID, job.Status, err)
		}
		if err := a.call(ctx, "GET", jobsPath+"/"+url.PathEscape(job.ID), nil, &job); err != nil {
			return jobRun{}, err
		}
	}
}

// estimateRun is a preview/estimate measured from its POST.
type estimateRun struct {
	Available bool `json:"available"`
	// FirstProgress is when a GET /estimate first showed RUNNING with
	// profilesReadSoFar > 0; 0 when no poll saw one (the estimate was
	// ready first).
	FirstProgress     time.Duration `json:"-"`
	FirstProgressRead int64         `json:"firstProgressProfilesRead"`
	Ready             time.Duration `json:"-"`
	EstimatedSize     int64         `json:"estimatedSize"`
	ProfilesRead      int64         `json:"profilesReadSoFar"`
	TotalRows         int64         `json:"totalRows"`
	Polls             int           `json:"polls"`
	Error             string        `json:"error,omitempty"`
}

type estimate struct {
	State             string `json:"state"`
	EstimatedSize     int64  `json:"estimatedSize"`
	ProfilesReadSoFar int64  `json:"profilesReadSoFar"`
	TotalRows         int64  `json:"totalRows"`
	Error             *struct {
		Description string `json:"description"`
	} `json:"error"`
}

// estimate starts a preview of pql and polls its estimate until the
// result is ready. Polls are 2 ms apart: the time to the first progress
// report is measured.
func (a *api) estimate(ctx context.Context, pql string) (estimateRun, error) {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	in := map[string]string{
		"predicateExpression": pql,
		"predicateType":       "pql/text",
		"predicateModel":      profileSchema,
		"graphType":           "none",
	}
	var run estimateRun
	start := time.Now()
	var created struct {
		PreviewID string `json:"previewId"`
	}
	if err := a.call(ctx, "POST", previewPath, in, &created); err != nil {
		if notAvailable(err) {
			return run, nil
		}
		return run, fmt.Errorf("creating a preview: %w", err)
	}
	run.Available = true
	if created.PreviewID == "" {
		return run, errors.New("creating a preview: no previewId in the answer")
	}
	p := poller{Initial: 2 * time.Millisecond, Max: 2 * time.Millisecond, Factor: 1}
	for {
		var e estimate
		if err := a.call(ctx, "GET", estimatePath+"/"+url.PathEscape(created.PreviewID), nil, &e); err != nil {
			return run, fmt.Errorf("reading the estimate: %w", err)
		}
		run.Polls++
		switch e.State {
		case "RUNNING":
			if run.FirstProgress == 0 && e.ProfilesReadSoFar > 0 {
				run.FirstProgress, run.FirstProgressRead = time.Since(start), e.ProfilesReadSoFar
			}
		case "RESULT_READY":
			run.Ready = time.Since(start)
			run.EstimatedSize, run.ProfilesRead, run.TotalRows = e.EstimatedSize, e.ProfilesReadSoFar, e.TotalRows
			return run, nil
		case "FAILED":
			msg := ""
			if e.Error != nil {
				msg = e.Error.Description
			}
			return run, fmt.Errorf("the estimate failed: %s", msg)
		}
		if err := p.wait(ctx); err != nil {
			return run, fmt.Errorf("waiting for the estimate (%s): %w", e.State, err)
		}
	}
}

// exportRun is an export job measured from its POST.
type exportRun struct {
	Available bool          `json:"available"`
	JobID     string        `json:"jobId,omitempty"`
	Wall      time.Duration `json:"-"`
	// Exported is metrics.totalExportedProfileCounter, -1 when absent.
	Exported int64  `json:"exported"`
	BatchID  string `json:"batchId,omitempty"`
	Fields   string `json:"fields"`
}

type exportJob struct {
	ID          json.Number `json:"id"`
	Status      string      `json:"status"`
	Destination struct {
		BatchID string `json:"batchId"`
	} `json:"destination"`
	Metrics struct {
		TotalExportedProfileCounter *int64 `json:"totalExportedProfileCounter"`
	} `json:"metrics"`
	Errors []struct {
		Code string `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// export exports the realized members of segment id, fields only, to
// dataset and waits for the job to succeed.
func (a *api) export(ctx context.Context, segmentID, dataset, fields string) (exportRun, error) {
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	run := exportRun{Exported: -1, Fields: fields}
	in := map[string]any{
		"fields": fields,
		"filter": map[string]any{
			"segments": []map[string]any{{"segmentId": segmentID, "segmentNs": "ups", "status": []string{"realized"}}},
		},
		"destination": map[string]any{"datasetId": dataset, "segmentPerBatch": false},
		"schema":      map[string]string{"name": profileSchema},
	}
	start := time.Now()
	var job exportJob
	if err := a.call(ctx, "POST", exportJobsPath, in, &job); err != nil {
		if notAvailable(err) {
			return run, nil
		}
		return run, fmt.Errorf("creating an export job: %w", err)
	}
	run.Available, run.JobID = true, job.ID.String()
	if run.JobID == "" {
		return run, errors.New("creating an export job: no id in the answer")
	}
	p := poller{Initial: time.Millisecond, Max: 20 * time.Millisecond, Factor: 1.3}
	for {
		switch job.Status {
		case "SUCCEEDED":
			run.Wall = time.Since(start)
			run.BatchID = job.Destination.BatchID
			if n := job.Metrics.TotalExportedProfileCounter; n != nil {
				run.Exported = *n
			}
			return run, nil
		case "FAILED", "CANCELLED":
			var msgs []string
			for _, e := range job.Errors {
				msgs = append(msgs, e.Code+": "+e.Msg)
			}
			return run, fmt.Errorf("export job %s ended %s: %s", run.JobID, job.Status, strings.Join(msgs, "; "))
		}
		if err := p.wait(ctx); err != nil {
			return run, fmt.Errorf("waiting for export job %s (%s): %w", run.JobID, job.Status, err)
		}
		if err := a.call(ctx, "GET", exportJobsPath+"/"+url.PathEscape(run.JobID), nil, &job); err != nil {
			return run, err
		}
	}
}
