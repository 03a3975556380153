package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Export jobs (aep-api.md §4): write profiles — all of them, or the
// members of segments — into a new batch of a dataset on the profile
// union schema, under /data/core/ups/export/jobs. Export job ids are
// numbers on the wire.
//
// Retries: reads and the cancel (DELETE) are retried. A create is not
// retried after a 5xx or a broken connection: the first attempt may have
// started an export, and a second would write a second batch of the same
// profiles into the dataset (readers of the dataset would see them
// twice). A 429 is retried within the client's policy. The caller records
// the job id before polling and, after an ambiguous failure, looks for
// the job (ListExportJobs, matching the destination dataset) before
// creating another; a dataset per request makes that lookup exact.

const exportJobsPath = "/data/core/ups/export/jobs"

// Export job statuses. The Platform documents no cancelled state for
// exports (ups ends a cancelled export FAILED); ExportCancelled is
// accepted as final in case one appears.
const (
	ExportNew        = "NEW"
	ExportProcessing = "PROCESSING"
	ExportSucceeded  = "SUCCEEDED"
	ExportFailed     = "FAILED"
	ExportCancelled  = "CANCELLED"
)

// Membership statuses an export may filter on.
const (
	MembershipRealized = "realized"
	MembershipExisting = "existing"
	MembershipExited   = "exited"
)

// ExportJobID is an export job's id: a number on the wire (SW-SEG's
// example writes it 100.0; it is decoded from a string too).
type ExportJobID int64

func (id ExportJobID) String() string { return strconv.FormatInt(int64(id), 10) }

// UnmarshalJSON reads an integer, an integral float or a numeric string.
func (id *ExportJobID) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*id = 0
		return nil
	}
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil && v >= 0 {
		*id = ExportJobID(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) || f > 1<<53 || f < 0 {
		return fmt.Errorf("export job id %s is not a whole number", excerpt(b))
	}
	*id = ExportJobID(int64(f))
	return nil
}

// ParseExportJobID reads an export job id written as text (as a pipeline
// event or a command line carries it).
func ParseExportJobID(s string) (ExportJobID, error) {
	var id ExportJobID
	if err := id.UnmarshalJSON([]byte(strconv.Quote(s))); err != nil {
		return 0, err
	}
	return id, nil
}

// ExportJobRequest is the body of POST /export/jobs (§4). Only
// Destination.DatasetID is required (Schema defaults to ProfileClass);
// everything else narrows or widens the export.
type ExportJobRequest struct {
	// Fields are the profile fields to export, comma-separated dotted
	// paths ("identities.id,personalEmail.address"); empty exports all.
	Fields string `json:"fields,omitempty"`
	// MergePolicy merges the fragments; nil uses the segment's (or the
	// default) policy, version 0 the latest.
	MergePolicy *MergePolicyRef `json:"mergePolicy,omitempty"`
	// Filter picks the profiles; nil exports every profile.
	Filter *ExportFilter `json:"filter,omitempty"`
	// AdditionalFields adds the profiles' ExperienceEvents.
	AdditionalFields *AdditionalFields `json:"additionalFields,omitempty"`
	// Destination is the dataset (on the profile union schema) the new
	// batch goes to.
	Destination ExportDestination `json:"destination"`
	// Schema is the class exported: ProfileClass.
	Schema SchemaName `json:"schema"`
	// EvaluationInfo, with Segmentation set, segments before exporting
	// (D-EJ only; ups refuses it: run a segment job first).
	EvaluationInfo *ExportEvaluationInfo `json:"evaluationInfo,omitempty"`
}

// ExportFilter picks the profiles of an export.
type ExportFilter struct {
	// Segments keeps the members of these segments.
	Segments []SegmentFilter `json:"segments,omitempty"`
	// SegmentQualificationTime bounds when the members qualified.
	SegmentQualificationTime *TimeRange `json:"segmentQualificationTime,omitempty"`
	// FromIngestTimestamp (RFC 3339) keeps profiles updated after it.
	FromIngestTimestamp string `json:"fromIngestTimestamp,omitempty"`
	// EmptyProfiles exports profiles made only of events too.
	EmptyProfiles bool `json:"emptyProfiles,omitempty"`
}

// SegmentFilter is one segment of an export filter.
type SegmentFilter struct {
	SegmentID string `json:"segmentId"`
	// SegmentNs is the segment's namespace; empty means "ups".
	SegmentNs string `json:"segmentNs,omitempty"`
	// Status are the membership statuses exported (MembershipRealized,
	// …); empty means the Platform's default, realized and existing.
	Status []string `json:"status,omitempty"`
}

// TimeRange is a pair of RFC 3339 instants; either may be empty.
type TimeRange struct {
	StartTime string `json:"startTime,omitempty"`
	EndTime   string `json:"endTime,omitempty"`
}

// AdditionalFields are what an export adds to the profiles.
type AdditionalFields struct {
	EventList *EventList `json:"eventList,omitempty"`
}

// EventList exports the profiles' ExperienceEvents.
type EventList struct {
	// Fields are the event fields, comma-separated ("_id, _experience").
	Fields string `json:"fields,omitempty"`
	// Filter bounds the events by ingestion time (ups refuses it).
	Filter *EventFilter `json:"filter,omitempty"`
}

// EventFilter bounds events by ingestion time (RFC 3339).
type EventFilter struct {
	FromIngestTimestamp string `json:"fromIngestTimestamp,omitempty"`
	ToIngestTimestamp   string `json:"toIngestTimestamp,omitempty"`
}

// ExportDestination is where an export writes: a dataset, and in a job
// the batch (or, with SegmentPerBatch, the batches) written.
type ExportDestination struct {
	DatasetID string `json:"datasetId"`
	// SegmentPerBatch writes one batch per segment of the filter.
	SegmentPerBatch bool `json:"segmentPerBatch"`
	// BatchID is the batch written (SegmentPerBatch false).
	BatchID string `json:"batchId,omitempty"`
	// Batches are the batches written per segment (SegmentPerBatch true).
	Batches []ExportBatch `json:"batches,omitempty"`
}

// UnmarshalJSON accepts the dataset id as datasetId or dataSetId (the
// casing of the doc's segmentPerBatch example), and batches as a list or
// a single object (SW-SEG types it an object).
func (d *ExportDestination) UnmarshalJSON(b []byte) error {
	var w struct {
		DatasetID       string          `json:"datasetId"`
		DataSetID       string          `json:"dataSetId"`
		SegmentPerBatch flexBool        `json:"segmentPerBatch"`
		BatchID         string          `json:"batchId"`
		Batches         json.RawMessage `json:"batches"`
	}
	// Each spelling matches its own field: encoding/json prefers an
	// exact match of the key over a case-insensitive one.
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*d = ExportDestination{DatasetID: w.DatasetID, SegmentPerBatch: bool(w.SegmentPerBatch), BatchID: w.BatchID}
	if d.DatasetID == "" {
		d.DatasetID = w.DataSetID
	}
	raw := bytes.TrimSpace(w.Batches)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '{':
		var one ExportBatch
		if err := json.Unmarshal(raw, &one); err != nil {
			return fmt.Errorf("destination.batches: %w", err)
		}
		d.Batches = []ExportBatch{one}
	default:
		if err := json.Unmarshal(raw, &d.Batches); err != nil {
			return fmt.Errorf("destination.batches: %w", err)
		}
	}
	return nil
}

// ExportBatch is the batch of one segment of a segmentPerBatch export.
type ExportBatch struct {
	SegmentID string   `json:"segmentId"`
	SegmentNs string   `json:"segmentNs"`
	Status    []string `json:"status"`
	BatchID   string   `json:"batchId"`
}

// ExportEvaluationInfo is {"segmentation": bool}.
type ExportEvaluationInfo struct {
	Segmentation bool `json:"segmentation"`
}

// ExportJob is an export job.
type ExportJob struct {
	ID                  ExportJobID       `json:"id"`
	JobType             string            `json:"jobType"` // BATCH, STREAMING
	Destination         ExportDestination `json:"destination"`
	Fields              string            `json:"fields,omitempty"`
	Schema              SchemaName        `json:"schema"`
	IMSOrgID            string            `json:"imsOrgId"`
	Sandbox             *Sandbox          `json:"sandbox,omitempty"` // ups; not in SW-SEG
	Status              string            `json:"status"`
	Filter              *ExportFilter     `json:"filter,omitempty"`
	AdditionalFields    *AdditionalFields `json:"additionalFields,omitempty"`
	MergePolicy         MergePolicyRef    `json:"mergePolicy"`
	ProfileInstanceID   string            `json:"profileInstanceId"`
	Metrics             ExportJobMetrics  `json:"metrics"`
	Errors              []JobError        `json:"errors,omitempty"`
	ComputeGatewayJobID struct {
		ExportJob string `json:"exportJob,omitempty"`
		PushJob   string `json:"pushJob,omitempty"`
	} `json:"computeGatewayJobId"`
	CreationTime int64  `json:"creationTime"` // Unix ms (SW-SEG's text says s; its values are ms)
	UpdateTime   int64  `json:"updateTime"`   // Unix ms
	RequestID    string `json:"requestId"`
}

// ExportJobMetrics are an export's timings and counts.
type ExportJobMetrics struct {
	TotalTime                         JobTiming        `json:"totalTime"`
	ProfileExportTime                 JobTiming        `json:"profileExportTime"`
	ACPDatasetWriteTime               JobTiming        `json:"aCPDatasetWriteTime"`
	TotalExportedProfileCounter       int64            `json:"totalExportedProfileCounter"`
	ExportedProfileByNamespaceCounter map[string]int64 `json:"exportedProfileByNamespaceCounter,omitempty"`
}

// UnmarshalJSON accepts the counters as floats.
func (m *ExportJobMetrics) UnmarshalJSON(b []byte) error {
	var w struct {
		TotalTime                         JobTiming         `json:"totalTime"`
		ProfileExportTime                 JobTiming         `json:"profileExportTime"`
		ACPDatasetWriteTime               JobTiming         `json:"aCPDatasetWriteTime"`
		TotalExportedProfileCounter       number            `json:"totalExportedProfileCounter"`
		ExportedProfileByNamespaceCounter map[string]number `json:"exportedProfileByNamespaceCounter"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = ExportJobMetrics{
		TotalTime:                         w.TotalTime,
		ProfileExportTime:                 w.ProfileExportTime,
		ACPDatasetWriteTime:               w.ACPDatasetWriteTime,
		TotalExportedProfileCounter:       int64(w.TotalExportedProfileCounter),
		ExportedProfileByNamespaceCounter: counts(w.ExportedProfileByNamespaceCounter),
	}
	return nil
}

// Done reports whether the export reached a final status.
func (j ExportJob) Done() bool {
	switch j.Status {
	case ExportSucceeded, ExportFailed, ExportCancelled:
		return true
	}
	return false
}

// BatchIDs are the batches the export wrote: destination.batchId, or each
// segment's batch of a segmentPerBatch export.
func (j ExportJob) BatchIDs() []string {
	var ids []string
	if j.Destination.BatchID != "" {
		ids = append(ids, j.Destination.BatchID)
	}
	for _, b := range j.Destination.Batches {
		if b.BatchID != "" {
			ids = append(ids, b.BatchID)
		}
	}
	return ids
}

// CreateExportJob starts an export and returns the job as created (NEW).
// Not retried after a 5xx or a broken connection (see the top of this
// file); retried after a 429 within the client's policy. A destination
// that is not a dataset on the union schema is a 4xx (ErrBadRequest).
func (c *Client) CreateExportJob(ctx context.Context, req ExportJobRequest) (ExportJob, error) {
	if req.Destination.DatasetID == "" {
		return ExportJob{}, errors.New("platform: CreateExportJob: the destination has no dataset id")
	}
	if req.Schema == (SchemaName{}) {
		req.Schema.Name = ProfileClass
	}
	// A request names no batches: they are the job's.
	req.Destination.BatchID, req.Destination.Batches = "", nil
	var out ExportJob
	err := c.do(ctx, call{
		op:       "CreateExportJob",
		method:   http.MethodPost,
		path:     exportJobsPath,
		jsonBody: req,
		header:   profileInstanceHeader,
		out:      &out,
	})
	if err != nil {
		return ExportJob{}, err
	}
	if out.ID == 0 {
		return ExportJob{}, errors.New("platform: CreateExportJob: the answer has no job id")
	}
	return out, nil
}

// ExportJob returns the export job id.
func (c *Client) ExportJob(ctx context.Context, id ExportJobID) (ExportJob, error) {
	var out ExportJob
	err := c.do(ctx, call{op: "ExportJob", method: http.MethodGet, path: exportJobsPath + "/" + id.String(), out: &out})
	return out, err
}

// ExportJobListOptions select export jobs.
type ExportJobListOptions struct {
	// Limit is the page size; 0 leaves the Platform's default.
	Limit int
	// Offset is the cursor of the page ("<creationTimeMs>_<id>"), from
	// the previous page's NextOffset; "" for the first page.
	Offset string
	// Status keeps the jobs in one status (ExportNew, ExportSucceeded,
	// ExportFailed).
	Status string
}

// ExportJobPage is one page of export jobs.
type ExportJobPage struct {
	Jobs []ExportJob `json:"records"`
	Page struct {
		SortField  string `json:"sortField"`
		Sort       string `json:"sort"`
		PageOffset string `json:"pageOffset"`
		PageSize   int    `json:"pageSize"`
	} `json:"page"`
	Link PageLink `json:"link"`
}

// NextOffset is the cursor of the next page, read from link.next, and
// whether there is a next page.
func (p ExportJobPage) NextOffset() (string, bool) {
	if p.Link.Next == "" {
		return "", false
	}
	u, err := url.Parse(p.Link.Next)
	if err != nil {
		return "", false
	}
	off := u.Query().Get("offset")
	return off, off != ""
}

// ListExportJobs returns one page of export jobs, newest first.
func (c *Client) ListExportJobs(ctx context.Context, opts ExportJobListOptions) (ExportJobPage, error) {
	q := url.Values{}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Offset != "" {
		q.Set("offset", opts.Offset)
	}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	var out ExportJobPage
	err := c.do(ctx, call{op: "ListExportJobs", method: http.MethodGet, path: exportJobsPath, query: q, out: &out})
	return out, err
}

// FindExportJobs returns the export jobs writing to the dataset
// datasetID, newest first, walking every page: how a caller whose create
// failed ambiguously finds out whether the job exists.
func (c *Client) FindExportJobs(ctx context.Context, datasetID string) ([]ExportJob, error) {
	var out []ExportJob
	opts := ExportJobListOptions{Limit: 100}
	for range maxPages {
		p, err := c.ListExportJobs(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, j := range p.Jobs {
			if j.Destination.DatasetID == datasetID {
				out = append(out, j)
			}
		}
		next, ok := p.NextOffset()
		if !ok || next == opts.Offset || len(p.Jobs) == 0 {
			break
		}
		opts.Offset = next
	}
	return out, nil
}

// CancelExportJob asks for the export to be cancelled (DELETE; 200 or 204
// with {"status": true, "message": …}). Retried like any DELETE.
func (c *Client) CancelExportJob(ctx context.Context, id ExportJobID) error {
	return c.do(ctx, call{op: "CancelExportJob", method: http.MethodDelete, path: exportJobsPath + "/" + id.String()})
}

// WaitExportJob polls the export until it is SUCCEEDED (returned) or
// FAILED (returned with a *JobFailedError, errors.Is(err, ErrJobFailed)),
// as WaitSegmentJob polls a segment job.
func (c *Client) WaitExportJob(ctx context.Context, id ExportJobID, opts WaitOptions) (ExportJob, error) {
	return waitFor(ctx, "WaitExportJob", opts,
		func(ctx context.Context) (ExportJob, error) { return c.ExportJob(ctx, id) },
		func(j ExportJob) (string, bool, error) {
			switch j.Status {
			case ExportSucceeded:
				return j.Status, true, nil
			case ExportFailed, ExportCancelled:
				return j.Status, true, &JobFailedError{Kind: "export job", ID: id.String(), Status: j.Status, Errors: j.Errors}
			}
			return j.Status, false, nil
		})
}
