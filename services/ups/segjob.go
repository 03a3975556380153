package ups

import "errors"

// Segment job statuses (SW-SEG's enum; QUEUED and CANCELLING are passed
// through only briefly or not at all here).
const (
	jobNew        = "NEW"
	jobProcessing = "PROCESSING"
	jobSucceeded  = "SUCCEEDED"
	jobFailed     = "FAILED"
	jobCancelled  = "CANCELLED"
)

// errSegmentJobNotFound is an unknown job id, or one of another org or
// sandbox.
var errSegmentJobNotFound = errors.New("segment job not found")

// SegmentJob is a segment job as the API shows it (§3 of the reference).
// The evaluation state that is not part of the wire shape lives beside it
// in segmentJobRecord.
type SegmentJob struct {
	ID                  string            `json:"id"`
	ImsOrgID            string            `json:"imsOrgId"`
	Sandbox             sandboxView       `json:"sandbox"`
	ProfileInstanceID   string            `json:"profileInstanceId"`
	Source              string            `json:"source"`
	Status              string            `json:"status"`
	BatchID             string            `json:"batchId"`
	ComputeJobID        int64             `json:"computeJobId"`
	ComputeGatewayJobID string            `json:"computeGatewayJobId"`
	Segments            []segmentJobEntry `json:"segments"`
	Metrics             segmentJobMetrics `json:"metrics"`
	Errors              []segmentJobError `json:"errors"`
	RequestID           string            `json:"requestId"`
	Schema              schemaNameView    `json:"schema"`
	ModelName           string            `json:"modelName"`
	Properties          map[string]string `json:"properties,omitempty"`
	Links               segmentJobLinks   `json:"_links"`
	UpdateTime          int64             `json:"updateTime"`   // Unix ms
	CreationTime        int64             `json:"creationTime"` // Unix ms
	UpdateEpoch         int64             `json:"updateEpoch"`  // Unix s
}

// segmentJobEntry is one segment of a job, as it was when the job was
// created: later edits of the definition do not change a job.
type segmentJobEntry struct {
	SegmentID string            `json:"segmentId"`
	Segment   segmentJobSegment `json:"segment"`
}

type segmentJobSegment struct {
	ID            string        `json:"id"`
	Version       int           `json:"version"`
	Expression    PQLExpression `json:"expression"`
	MergePolicyID string        `json:"mergePolicyId"`
	MergePolicy   policyRef     `json:"mergePolicy"`
}

type policyRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// segmentJobMetrics are a job's counters. While a job runs only the start
// times are set, as on the Platform.
type segmentJobMetrics struct {
	TotalTime                          *jobTiming                  `json:"totalTime,omitempty"`
	ProfileSegmentationTime            *jobTiming                  `json:"profileSegmentationTime,omitempty"`
	TotalProfiles                      int64                       `json:"totalProfiles"`
	SegmentedProfileCounter            map[string]int64            `json:"segmentedProfileCounter"`
	SegmentedProfileByNamespaceCounter map[string]map[string]int64 `json:"segmentedProfileByNamespaceCounter"`
	SegmentedProfileByStatusCounter    map[string]map[string]int64 `json:"segmentedProfileByStatusCounter"`
	TotalProfilesByMergePolicy         map[string]int64            `json:"totalProfilesByMergePolicy"`
}

// jobTiming is a start, end and duration in Unix ms; unset parts are
// left out.
type jobTiming struct {
	StartTimeInMs int64 `json:"startTimeInMs,omitempty"`
	EndTimeInMs   int64 `json:"endTimeInMs,omitempty"`
	TotalTimeInMs int64 `json:"totalTimeInMs,omitempty"`
}

func (t *jobTiming) end(ms int64) {
	t.EndTimeInMs = ms
	t.TotalTimeInMs = ms - t.StartTimeInMs
}

type segmentJobError struct {
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	CallStack string `json:"callStack,omitempty"`
}

type segmentJobLinks struct {
	Cancel      linkView `json:"cancel"`
	CheckStatus linkView `json:"checkStatus"`
}

type linkView struct {
	Href   string `json:"href"`
	Method string `json:"method"`
}

// finished reports whether a status is final.
func finished(status string) bool {
	return status == jobSucceeded || status == jobFailed || status == jobCancelled
}
