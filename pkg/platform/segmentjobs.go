package platform

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// Segment jobs (aep-api.md §3): evaluate definitions over every profile
// and write the memberships, under /data/core/ups/segment/jobs.
//
// Retries: reads and the cancel (a DELETE) are retried. A create is not
// retried after a 5xx or a broken connection: the first attempt may have
// started a job, and a second would evaluate the segments twice (two
// jobs, the later one's memberships winning). A 429 ("too many
// segmentation jobs in processing") is retried within the client's
// policy, as the Platform refused the request; a longer Retry-After comes
// back as the *Error, RetryAfter set. The caller records the job id it
// gets before polling, and after an ambiguous failure looks for the job
// (ListSegmentJobs with SegmentID) before creating another.

const segmentJobsPath = segmentBase + "/jobs"

// Segment job statuses (SW-SEG). NEW, QUEUED, PROCESSING and CANCELLING
// are on the way; SUCCEEDED, FAILED and CANCELLED are final.
const (
	JobNew        = "NEW"
	JobQueued     = "QUEUED"
	JobProcessing = "PROCESSING"
	JobCancelling = "CANCELLING"
	JobCancelled  = "CANCELLED"
	JobFailed     = "FAILED"
	JobSucceeded  = "SUCCEEDED"
)

// AllSegments is the segment id that makes a job evaluate every batch
// definition of the sandbox (needed above 1500 definitions).
const AllSegments = "*"

// SegmentJob is a segment job.
type SegmentJob struct {
	ID                  string              `json:"id"`
	IMSOrgID            string              `json:"imsOrgId"`
	Sandbox             Sandbox             `json:"sandbox"`
	ProfileInstanceID   string              `json:"profileInstanceId"`
	Source              string              `json:"source"` // api, scheduler
	Status              string              `json:"status"`
	BatchID             string              `json:"batchId"`
	ComputeJobID        int64               `json:"computeJobId"`
	ComputeGatewayJobID string              `json:"computeGatewayJobId"`
	Segments            []SegmentJobSegment `json:"segments"`
	Metrics             SegmentJobMetrics   `json:"metrics"`
	Errors              []JobError          `json:"errors"`
	RequestID           string              `json:"requestId"`
	Schema              SchemaName          `json:"schema"`
	ModelName           string              `json:"modelName"`
	Properties          map[string]any      `json:"properties,omitempty"` // scheduleId, runId
	Links               map[string]Link     `json:"_links"`               // cancel, checkStatus
	CreationTime        int64               `json:"creationTime"`         // Unix ms
	UpdateTime          int64               `json:"updateTime"`           // Unix ms
	UpdateEpoch         int64               `json:"updateEpoch"`          // Unix s
}

// UnmarshalJSON accepts computeJobId written as a float.
func (j *SegmentJob) UnmarshalJSON(b []byte) error {
	type plain SegmentJob
	w := struct {
		*plain
		ComputeJobID number `json:"computeJobId"`
	}{plain: (*plain)(j)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	j.ComputeJobID = int64(w.ComputeJobID)
	return nil
}

// Done reports whether the job reached a final status.
func (j SegmentJob) Done() bool {
	switch j.Status {
	case JobSucceeded, JobFailed, JobCancelled:
		return true
	}
	return false
}

// SegmentJobSegment is one definition of a job, as it was when the job
// was created.
type SegmentJobSegment struct {
	SegmentID string `json:"segmentId"`
	Segment   struct {
		ID            string         `json:"id"`
		Version       int            `json:"version"`
		Expression    Expression     `json:"expression"`
		MergePolicyID string         `json:"mergePolicyId"`
		MergePolicy   MergePolicyRef `json:"mergePolicy"`
	} `json:"segment"`
}

// SegmentJobMetrics are a job's timings and counts. A running job shows
// only start times. Counters are keyed by segment id (and then namespace
// or membership status), TotalProfilesByMergePolicy by merge policy id.
type SegmentJobMetrics struct {
	TotalTime                          JobTiming                   `json:"totalTime"`
	ProfileSegmentationTime            JobTiming                   `json:"profileSegmentationTime"`
	TotalProfiles                      int64                       `json:"totalProfiles"`
	SegmentedProfileCounter            map[string]int64            `json:"segmentedProfileCounter,omitempty"`
	SegmentedProfileByNamespaceCounter map[string]map[string]int64 `json:"segmentedProfileByNamespaceCounter,omitempty"`
	SegmentedProfileByStatusCounter    map[string]map[string]int64 `json:"segmentedProfileByStatusCounter,omitempty"`
	TotalProfilesByMergePolicy         map[string]int64            `json:"totalProfilesByMergePolicy,omitempty"`
}

// UnmarshalJSON accepts the counters as floats (SW-SEG types them
// "number").
func (m *SegmentJobMetrics) UnmarshalJSON(b []byte) error {
	var w struct {
		TotalTime                          JobTiming                    `json:"totalTime"`
		ProfileSegmentationTime            JobTiming                    `json:"profileSegmentationTime"`
		TotalProfiles                      number                       `json:"totalProfiles"`
		SegmentedProfileCounter            map[string]number            `json:"segmentedProfileCounter"`
		SegmentedProfileByNamespaceCounter map[string]map[string]number `json:"segmentedProfileByNamespaceCounter"`
		SegmentedProfileByStatusCounter    map[string]map[string]number `json:"segmentedProfileByStatusCounter"`
		TotalProfilesByMergePolicy         map[string]number            `json:"totalProfilesByMergePolicy"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = SegmentJobMetrics{
		TotalTime:                          w.TotalTime,
		ProfileSegmentationTime:            w.ProfileSegmentationTime,
		TotalProfiles:                      int64(w.TotalProfiles),
		SegmentedProfileCounter:            counts(w.SegmentedProfileCounter),
		SegmentedProfileByNamespaceCounter: nestedCounts(w.SegmentedProfileByNamespaceCounter),
		SegmentedProfileByStatusCounter:    nestedCounts(w.SegmentedProfileByStatusCounter),
		TotalProfilesByMergePolicy:         counts(w.TotalProfilesByMergePolicy),
	}
	return nil
}

// segmentRef is one entry of a create: {"segmentId": "…"}.
type segmentRef struct {
	SegmentID string `json:"segmentId"`
}

// CreateSegmentJob starts a job evaluating the definitions segmentIDs
// (AllSegments alone for every one). It returns the job as created (NEW).
// The body is the documented array [{"segmentId": …}], or, for
// AllSegments, the object form {"schema": …, "segments": [{"segmentId":
// "*"}]}.
//
// Not retried after a 5xx or a broken connection (see the top of this
// file); retried after a 429 within the client's policy.
func (c *Client) CreateSegmentJob(ctx context.Context, segmentIDs ...string) (SegmentJob, error) {
	if len(segmentIDs) == 0 {
		return SegmentJob{}, errors.New("platform: CreateSegmentJob: no segment ids")
	}
	refs := make([]segmentRef, len(segmentIDs))
	for i, id := range segmentIDs {
		if id == "" {
			return SegmentJob{}, errors.New("platform: CreateSegmentJob: an empty segment id")
		}
		refs[i] = segmentRef{SegmentID: id}
	}
	var body any = refs
	if len(segmentIDs) == 1 && segmentIDs[0] == AllSegments {
		body = struct {
			Schema   SchemaName   `json:"schema"`
			Segments []segmentRef `json:"segments"`
		}{SchemaName{Name: ProfileClass}, refs}
	}
	var out SegmentJob
	err := c.do(ctx, call{
		op:       "CreateSegmentJob",
		method:   http.MethodPost,
		path:     segmentJobsPath,
		jsonBody: body,
		header:   profileInstanceHeader,
		out:      &out,
	})
	if err != nil {
		return SegmentJob{}, err
	}
	if out.ID == "" {
		return SegmentJob{}, errors.New("platform: CreateSegmentJob: the answer has no job id")
	}
	return out, nil
}

// profileInstanceHeader is the optional x-profile-instance-id of job
// creates.
var profileInstanceHeader = http.Header{"X-Profile-Instance-Id": {ProfileInstance}}

// SegmentJob returns the job id.
func (c *Client) SegmentJob(ctx context.Context, id string) (SegmentJob, error) {
	var out SegmentJob
	err := c.do(ctx, call{op: "SegmentJob", method: http.MethodGet, path: segmentJobsPath + "/" + escape(id), out: &out})
	return out, err
}

// SegmentJobListOptions select segment jobs.
type SegmentJobListOptions struct {
	// Start is the start parameter; 0 omits it.
	Start int64
	// Limit is the page size; 0 leaves the Platform's default.
	Limit int
	// Status keeps the jobs in one status (JobSucceeded, …).
	Status string
	// Sort is such as "creationTime:desc".
	Sort string
	// SegmentID keeps the jobs evaluating that definition
	// (property=segments~segmentId==<id>).
	SegmentID string
	// SnapshotName is the snapshot.name parameter.
	SnapshotName string
}

func (o SegmentJobListOptions) values() url.Values {
	q := url.Values{}
	if o.Start > 0 {
		q.Set("start", strconv.FormatInt(o.Start, 10))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	if o.SegmentID != "" {
		q.Set("property", "segments~segmentId=="+o.SegmentID)
	}
	if o.SnapshotName != "" {
		q.Set("snapshot.name", o.SnapshotName)
	}
	return q
}

// SegmentJobPage is one page of segment jobs.
type SegmentJobPage struct {
	Jobs []SegmentJob `json:"children"`
	Page struct {
		TotalCount int `json:"totalCount"`
		PageSize   int `json:"pageSize"`
	} `json:"_page"`
	// Next is the href of the next page, "" on the last.
	Next string `json:"-"`
}

// UnmarshalJSON reads _links.next.href into Next.
func (p *SegmentJobPage) UnmarshalJSON(b []byte) error {
	type plain SegmentJobPage
	w := struct {
		*plain
		Links struct {
			Next json.RawMessage `json:"next"`
		} `json:"_links"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	p.Next = hrefOf(w.Links.Next)
	return nil
}

// ListSegmentJobs returns one page of segment jobs.
func (c *Client) ListSegmentJobs(ctx context.Context, opts SegmentJobListOptions) (SegmentJobPage, error) {
	var out SegmentJobPage
	err := c.do(ctx, call{op: "ListSegmentJobs", method: http.MethodGet, path: segmentJobsPath, query: opts.values(), out: &out})
	return out, err
}

// CancelSegmentJob asks for the job to be cancelled (DELETE; the Platform
// answers 204, possibly with a {"status","message"} body). Cancelling is
// asynchronous: the job goes CANCELLING, then CANCELLED. Retried like any
// DELETE.
func (c *Client) CancelSegmentJob(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "CancelSegmentJob", method: http.MethodDelete, path: segmentJobsPath + "/" + escape(id)})
}

// WaitSegmentJob polls the job until it is SUCCEEDED, FAILED or
// CANCELLED, with capped exponential backoff and jitter (opts.Poll, zero
// fields from DefaultJobPoll), within the context's deadline and
// opts.Timeout. SUCCEEDED returns the job; FAILED or CANCELLED return it
// with a *JobFailedError (errors.Is(err, ErrJobFailed)). Transient errors
// (5xx, 429, network) keep it polling; other errors (404) end it. When
// the deadline comes first it returns the last job seen and an error
// wrapping context.DeadlineExceeded.
func (c *Client) WaitSegmentJob(ctx context.Context, id string, opts WaitOptions) (SegmentJob, error) {
	return waitFor(ctx, "WaitSegmentJob", opts,
		func(ctx context.Context) (SegmentJob, error) { return c.SegmentJob(ctx, id) },
		func(j SegmentJob) (string, bool, error) {
			switch j.Status {
			case JobSucceeded:
				return j.Status, true, nil
			case JobFailed, JobCancelled:
				return j.Status, true, &JobFailedError{Kind: "segment job", ID: id, Status: j.Status, Errors: j.Errors}
			}
			return j.Status, false, nil
		})
}

// SegmentCount is the number of profiles the job found in segment id
// (segmentedProfileCounter), and whether the job reports it.
func (j SegmentJob) SegmentCount(id string) (int64, bool) {
	n, ok := j.Metrics.SegmentedProfileCounter[id]
	return n, ok
}
