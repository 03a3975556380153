package events

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// This file holds the version 1 payloads. A change that a v1 consumer
// could not ignore (a removed or retyped field) makes a v2 type and event
// type; adding an optional field does not.

// Segment is the segment definition the definer created.
type Segment struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Expression Expression `json:"expression"`
}

// Estimate is the Platform's size estimate of the segment, when the
// request asked for one.
type Estimate struct {
	EstimatedSize      int64   `json:"estimatedSize"`
	StandardError      float64 `json:"standardError"`
	ConfidenceInterval string  `json:"confidenceInterval,omitempty"` // e.g. "95%"
	ProfilesRead       int64   `json:"profilesRead"`
	ProfilesMatched    int64   `json:"profilesMatched"`
	TotalRows          int64   `json:"totalRows,omitempty"`
	PreviewID          string  `json:"previewId,omitempty"`
	DurationMs         int64   `json:"durationMs"`
}

// PlatformIDs are the ids of what the pipeline created on the Platform for
// one request, as far as it got.
type PlatformIDs struct {
	DefinitionID string `json:"definitionId,omitempty"` // = the segment id
	PreviewID    string `json:"previewId,omitempty"`    // the estimate's
	SegmentJobID string `json:"segmentJobId,omitempty"`
	DatasetID    string `json:"datasetId,omitempty"`
	ExportJobID  string `json:"exportJobId,omitempty"` // decimal: the Platform's id is a number
	BatchID      string `json:"batchId,omitempty"`
}

// StageTiming is when a stage worked on the request.
type StageTiming struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end,omitzero"`
	DurationMs int64     `json:"durationMs"`
}

// Timings carry each stage's start, end and duration forward, from the
// moment the definer took the request. A stage calls Begin when it takes
// the message and End before publishing.
type Timings struct {
	// Requested is when the definer first took the request.
	Requested time.Time    `json:"requested,omitzero"`
	Definer   *StageTiming `json:"definer,omitempty"`
	Segmenter *StageTiming `json:"segmenter,omitempty"`
	Exporter  *StageTiming `json:"exporter,omitempty"`
	Reader    *StageTiming `json:"reader,omitempty"`
	// TotalMs runs from Requested to the latest End.
	TotalMs int64 `json:"totalMs"`
}

// Stage returns the stage's timing, nil if it has none.
func (t *Timings) Stage(s Stage) *StageTiming {
	if p := t.slot(s); p != nil {
		return *p
	}
	return nil
}

func (t *Timings) slot(s Stage) **StageTiming {
	switch s {
	case StageDefiner:
		return &t.Definer
	case StageSegmenter:
		return &t.Segmenter
	case StageExporter:
		return &t.Exporter
	case StageReader:
		return &t.Reader
	}
	return nil
}

// Begin records that stage s started at at (keeping an earlier start:
// a redelivery resumes the same work), and sets Requested if unset.
func (t *Timings) Begin(s Stage, at time.Time) {
	at = at.UTC()
	if t.Requested.IsZero() {
		t.Requested = at
	}
	p := t.slot(s)
	if p == nil {
		return
	}
	if *p == nil {
		*p = &StageTiming{Start: at}
	}
}

// End records that stage s ended at at, and updates its duration and the
// total.
func (t *Timings) End(s Stage, at time.Time) {
	at = at.UTC()
	p := t.slot(s)
	if p == nil {
		return // not a stage
	}
	t.Begin(s, at)
	st := *p
	st.End = at
	st.DurationMs = at.Sub(st.Start).Milliseconds()
	if ms := at.Sub(t.Requested).Milliseconds(); ms > t.TotalMs {
		t.TotalMs = ms
	}
}

// Clone deep-copies the timings.
func (t Timings) Clone() Timings {
	for _, p := range []**StageTiming{&t.Definer, &t.Segmenter, &t.Exporter, &t.Reader} {
		if *p != nil {
			c := **p
			*p = &c
		}
	}
	return t
}

// DefinitionCreated (definition.created) says the definer created the
// segment definition (and, when asked, estimated it within bounds).
type DefinitionCreated struct {
	RequestID     string    `json:"requestId"`
	Labels        Labels    `json:"labels"`
	Sandbox       string    `json:"sandbox"`
	Segment       Segment   `json:"segment"`
	MergePolicyID string    `json:"mergePolicyId,omitempty"`
	Estimate      *Estimate `json:"estimate,omitempty"`
	// Request is the request as validated, with its defaults: the
	// later stages need nothing else (export options included).
	Request Request `json:"request"`
	Timings Timings `json:"timings"`
}

// JobMetrics are the finished segment job's counts and times.
type JobMetrics struct {
	// TotalProfiles is how many profiles the job evaluated.
	TotalProfiles int64 `json:"totalProfiles"`
	// SegmentedProfiles is how many qualified for this segment.
	SegmentedProfiles            int64            `json:"segmentedProfiles"`
	SegmentedProfilesByStatus    map[string]int64 `json:"segmentedProfilesByStatus,omitempty"`    // realized, existing, exited
	SegmentedProfilesByNamespace map[string]int64 `json:"segmentedProfilesByNamespace,omitempty"` // identity namespace
	TotalTimeMs                  int64            `json:"totalTimeMs,omitempty"`
	ProfileSegmentationTimeMs    int64            `json:"profileSegmentationTimeMs,omitempty"`
}

// JobSucceeded (job.succeeded) says the segment job finished.
type JobSucceeded struct {
	RequestID     string     `json:"requestId"`
	Labels        Labels     `json:"labels"`
	Sandbox       string     `json:"sandbox"`
	Segment       Segment    `json:"segment"`
	MergePolicyID string     `json:"mergePolicyId,omitempty"`
	Estimate      *Estimate  `json:"estimate,omitempty"`
	SegmentJobID  string     `json:"segmentJobId"`
	Metrics       JobMetrics `json:"metrics"`
	Request       Request    `json:"request"`
	Timings       Timings    `json:"timings"`
}

// ExportMetrics are the finished export job's counts and times.
type ExportMetrics struct {
	ProfilesByNamespace map[string]int64 `json:"profilesByNamespace,omitempty"`
	TotalTimeMs         int64            `json:"totalTimeMs,omitempty"`
	ProfileExportTimeMs int64            `json:"profileExportTimeMs,omitempty"`
	DatasetWriteTimeMs  int64            `json:"datasetWriteTimeMs,omitempty"`
}

// ExportSucceeded (export.succeeded) says the export job wrote the batch.
type ExportSucceeded struct {
	RequestID     string  `json:"requestId"`
	Labels        Labels  `json:"labels"`
	Sandbox       string  `json:"sandbox"`
	Segment       Segment `json:"segment"`
	MergePolicyID string  `json:"mergePolicyId,omitempty"`
	SegmentJobID  string  `json:"segmentJobId"`
	DatasetID     string  `json:"datasetId"`
	DatasetName   string  `json:"datasetName"`
	// DatasetReused is true when a dataset of that name existed.
	DatasetReused bool   `json:"datasetReused"`
	ExportJobID   string `json:"exportJobId"` // decimal
	BatchID       string `json:"batchId"`
	// ProfileCount is the export job's count of exported profiles.
	ProfileCount int64         `json:"profileCount"`
	Metrics      ExportMetrics `json:"metrics"`
	Request      Request       `json:"request"`
	Timings      Timings       `json:"timings"`
}

// File is one file of the exported batch, as the reader stored it.
type File struct {
	// URI is where the reader's sink stored it (file://, s3://, ...).
	URI string `json:"uri"`
	// Name is the file's name in the batch.
	Name    string `json:"name"`
	Size    int64  `json:"size"`    // bytes
	Records int64  `json:"records"` // rows
	SHA256  string `json:"sha256"`  // lowercase hex of the stored bytes
}

// BatchReady (batch.ready) is the pipeline's result, binding for
// consumers: the segment, the ids, the profile count and the manifest of
// stored files. Files is never null on the wire.
type BatchReady struct {
	RequestID string `json:"requestId"`
	Labels    Labels `json:"labels"`
	// Sandbox is where the segment, jobs, dataset and batch live.
	Sandbox      string  `json:"sandbox"`
	Segment      Segment `json:"segment"`
	SegmentJobID string  `json:"segmentJobId"`
	ExportJobID  string  `json:"exportJobId"`
	DatasetID    string  `json:"datasetId"`
	BatchID      string  `json:"batchId"`
	ProfileCount int64   `json:"profileCount"`
	Files        []File  `json:"files"`
	Timings      Timings `json:"timings"`
}

// MarshalJSON writes nil Files as [].
func (b BatchReady) MarshalJSON() ([]byte, error) {
	type plain BatchReady
	if b.Files == nil {
		b.Files = []File{}
	}
	return marshal(plain(b))
}

// Position locates a problem in the PQL expression (1-based line and
// column in characters, 0-based byte offset).
type Position struct {
	Offset int `json:"offset"`
	Line   int `json:"line"`
	Column int `json:"column"`
}

// PlatformError is the Platform's error as a stage received it: an error
// answer (Status set) or the errors of a FAILED job (Status 0).
type PlatformError struct {
	Status    int    `json:"status,omitempty"`
	Code      string `json:"code,omitempty"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"` // the Platform's x-request-id
	Operation string `json:"operation,omitempty"` // e.g. "CreateSegmentJob"
}

// Problem says what went wrong.
type Problem struct {
	Reason string `json:"reason"`
	// Field is the request field at fault, for a rejection.
	Field string `json:"field,omitempty"`
	// Position is where in the expression, for invalid PQL.
	Position      *Position      `json:"position,omitempty"`
	PlatformError *PlatformError `json:"platformError,omitempty"`
	// Retryable is true when a later attempt could succeed (the message
	// was dead-lettered after its deliveries ran out), false when only a
	// changed request can.
	Retryable bool `json:"retryable"`
}

// ProblemFrom makes a Problem of err: a *ValidationError gives the field
// and reason; anything else its message.
func ProblemFrom(err error) Problem {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return Problem{Reason: ve.Reason, Field: ve.Field}
	}
	return Problem{Reason: err.Error()}
}

// Failure is the payload of every failure subject: request.rejected
// (Rejected, from the definer), definition.failed, job.failed,
// export.failed and batch.failed. It carries what the request had reached.
type Failure struct {
	RequestID string `json:"requestId"`
	Labels    Labels `json:"labels"`
	Stage     Stage  `json:"stage"`
	// Rejected marks a request refused as invalid (request.rejected).
	Rejected bool `json:"rejected,omitempty"`
	Problem
	// Attempts is how many deliveries the stage spent, when known.
	Attempts int      `json:"attempts,omitempty"`
	Sandbox  string   `json:"sandbox,omitempty"`
	Segment  *Segment `json:"segment,omitempty"`
	PlatformIDs
	Request *Request `json:"request,omitempty"`
	Timings Timings  `json:"timings"`
}

// EventType and EventSubject make each payload a Payload.

func (DefinitionCreated) EventType() string { return TypeDefinitionCreated }
func (JobSucceeded) EventType() string      { return TypeJobSucceeded }
func (ExportSucceeded) EventType() string   { return TypeExportSucceeded }
func (BatchReady) EventType() string        { return TypeBatchReady }

// EventType depends on the stage, and on Rejected for the definer.
func (f Failure) EventType() string {
	switch {
	case f.Rejected:
		return TypeRequestRejected
	case f.Stage == StageDefiner:
		return TypeDefinitionFailed
	case f.Stage == StageSegmenter:
		return TypeJobFailed
	case f.Stage == StageExporter:
		return TypeExportFailed
	case f.Stage == StageReader:
		return TypeBatchFailed
	}
	return "segflow.unknown.failed.v1"
}

func (p DefinitionCreated) EventSubject() string { return p.RequestID }
func (p JobSucceeded) EventSubject() string      { return p.RequestID }
func (p ExportSucceeded) EventSubject() string   { return p.RequestID }
func (p BatchReady) EventSubject() string        { return p.RequestID }
func (p Failure) EventSubject() string           { return p.RequestID }

// EventSandbox is the Platform sandbox the request works in: a stage
// makes the message's Platform calls there.
func (p DefinitionCreated) EventSandbox() string { return p.Sandbox }
func (p JobSucceeded) EventSandbox() string      { return p.Sandbox }
func (p ExportSucceeded) EventSandbox() string   { return p.Sandbox }

// NewDefinitionCreated starts the chain from a validated request and the
// created segment: labels and the request are carried forward.
func NewDefinitionCreated(r Request, seg Segment) DefinitionCreated {
	return DefinitionCreated{
		RequestID:     r.RequestID,
		Labels:        r.Labels.Clone(),
		Sandbox:       r.Sandbox,
		Segment:       seg,
		MergePolicyID: r.Definition.MergePolicyID,
		Request:       r,
	}
}

// NewJobSucceeded carries d forward with the segment job's id and metrics.
func NewJobSucceeded(d DefinitionCreated, segmentJobID string, m JobMetrics) JobSucceeded {
	return JobSucceeded{
		RequestID:     d.RequestID,
		Labels:        d.Labels.Clone(),
		Sandbox:       d.Sandbox,
		Segment:       d.Segment,
		MergePolicyID: d.MergePolicyID,
		Estimate:      d.Estimate,
		SegmentJobID:  segmentJobID,
		Metrics:       m,
		Request:       d.Request,
		Timings:       d.Timings.Clone(),
	}
}

// NewExportSucceeded carries j forward; the caller fills the dataset,
// export job, batch and counts.
func NewExportSucceeded(j JobSucceeded) ExportSucceeded {
	return ExportSucceeded{
		RequestID:     j.RequestID,
		Labels:        j.Labels.Clone(),
		Sandbox:       j.Sandbox,
		Segment:       j.Segment,
		MergePolicyID: j.MergePolicyID,
		SegmentJobID:  j.SegmentJobID,
		Request:       j.Request,
		Timings:       j.Timings.Clone(),
	}
}

// NewBatchReady carries x forward with the stored files.
func NewBatchReady(x ExportSucceeded, files []File) BatchReady {
	return BatchReady{
		RequestID:    x.RequestID,
		Labels:       x.Labels.Clone(),
		Sandbox:      x.Sandbox,
		Segment:      x.Segment,
		SegmentJobID: x.SegmentJobID,
		ExportJobID:  x.ExportJobID,
		DatasetID:    x.DatasetID,
		BatchID:      x.BatchID,
		ProfileCount: x.ProfileCount,
		Files:        files,
		Timings:      x.Timings.Clone(),
	}
}

// NewFailure is stage's failure of the message whose payload was in (a
// Request for the definer, else the stage's input payload), carrying its
// context. For a rejection set Rejected on the result.
func NewFailure(stage Stage, in Payload, p Problem) Failure {
	f := Failure{Stage: stage, Problem: p}
	switch in := in.(type) {
	case Request:
		r := in
		f.RequestID, f.Labels, f.Sandbox, f.Request = r.RequestID, r.Labels.Clone(), r.Sandbox, &r
	case DefinitionCreated:
		seg, r := in.Segment, in.Request
		f.RequestID, f.Labels, f.Sandbox, f.Segment, f.Request = in.RequestID, in.Labels.Clone(), in.Sandbox, &seg, &r
		f.DefinitionID = seg.ID
		if in.Estimate != nil {
			f.PreviewID = in.Estimate.PreviewID
		}
		f.Timings = in.Timings.Clone()
	case JobSucceeded:
		seg, r := in.Segment, in.Request
		f.RequestID, f.Labels, f.Sandbox, f.Segment, f.Request = in.RequestID, in.Labels.Clone(), in.Sandbox, &seg, &r
		f.DefinitionID, f.SegmentJobID = seg.ID, in.SegmentJobID
		if in.Estimate != nil {
			f.PreviewID = in.Estimate.PreviewID
		}
		f.Timings = in.Timings.Clone()
	case ExportSucceeded:
		seg, r := in.Segment, in.Request
		f.RequestID, f.Labels, f.Sandbox, f.Segment, f.Request = in.RequestID, in.Labels.Clone(), in.Sandbox, &seg, &r
		f.DefinitionID, f.SegmentJobID = seg.ID, in.SegmentJobID
		f.DatasetID, f.ExportJobID, f.BatchID = in.DatasetID, in.ExportJobID, in.BatchID
		f.Timings = in.Timings.Clone()
	}
	return f
}

// check is run by NewEvent and DecodeData on payloads that have it.
type checker interface{ check() error }

func (p DefinitionCreated) check() error {
	if p.Segment.ID == "" {
		return invalid("segment.id", "is missing")
	}
	return nil
}

func (p JobSucceeded) check() error {
	if p.Segment.ID == "" {
		return invalid("segment.id", "is missing")
	}
	if p.SegmentJobID == "" {
		return invalid("segmentJobId", "is missing")
	}
	return nil
}

func (p ExportSucceeded) check() error {
	switch {
	case p.Segment.ID == "":
		return invalid("segment.id", "is missing")
	case p.DatasetID == "":
		return invalid("datasetId", "is missing")
	case p.ExportJobID == "":
		return invalid("exportJobId", "is missing")
	case p.BatchID == "":
		return invalid("batchId", "is missing")
	}
	return nil
}

func (p BatchReady) check() error {
	switch {
	case p.Segment.ID == "":
		return invalid("segment.id", "is missing")
	case p.BatchID == "":
		return invalid("batchId", "is missing")
	}
	for i, f := range p.Files {
		field := fmt.Sprintf("files[%d]", i)
		switch {
		case f.URI == "":
			return invalid(field+".uri", "is missing")
		case f.Name == "":
			return invalid(field+".name", "is missing")
		case f.Size < 0 || f.Records < 0:
			return invalid(field, "has a negative size or record count")
		case len(f.SHA256) != 64 || !isLowerHex(f.SHA256):
			return invalid(field+".sha256", fmt.Sprintf("%q is not 64 lowercase hex digits", f.SHA256))
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	if _, err := hex.DecodeString(s); err != nil {
		return false
	}
	for _, c := range s {
		if c >= 'A' && c <= 'F' {
			return false
		}
	}
	return true
}

func (p Failure) check() error {
	switch {
	case !p.Stage.Valid():
		return invalid("stage", fmt.Sprintf("%q is not a stage", p.Stage))
	case p.Rejected && p.Stage != StageDefiner:
		return invalid("rejected", "only the definer rejects requests")
	case p.Reason == "":
		return invalid("reason", "is missing")
	}
	return nil
}
