package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is where a request stands within its current stage.
type State string

// The states. A request ends done at the reader, failed or rejected.
const (
	StatePending  State = "pending"  // accepted, no stage working on it yet
	StateRunning  State = "running"  // Stage is working on it
	StateDone     State = "done"     // Stage finished; the next one takes over
	StateFailed   State = "failed"   // Stage published its failure event
	StateRejected State = "rejected" // the definer refused the request
)

// Status is the per-request record in the status bucket (key: the request
// id), what `segflow status` and `segflow watch` show. Each stage updates
// it when it takes a message (Begin) and after publishing (Record).
type Status struct {
	RequestID   string `json:"requestId"`
	Stage       Stage  `json:"stage"`
	State       State  `json:"state"`
	Sandbox     string `json:"sandbox,omitempty"`
	SegmentName string `json:"segmentName,omitempty"`
	PlatformIDs
	// ProfileCount is the exported profile count, once known.
	ProfileCount int64 `json:"profileCount,omitempty"`
	// Files is how many files the reader stored.
	Files int `json:"files,omitempty"`
	// Timings hold each stage's start and end.
	Timings Timings   `json:"timings"`
	Error   *Problem  `json:"error,omitempty"`
	Labels  Labels    `json:"labels"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// NewStatus is the record of a request just taken.
func NewStatus(requestID string, labels Labels, at time.Time) Status {
	at = at.UTC()
	return Status{
		RequestID: requestID,
		Stage:     StageDefiner,
		State:     StatePending,
		Labels:    labels.Clone(),
		Created:   at,
		Updated:   at,
	}
}

// StatusKey is the request's key in the status bucket.
func StatusKey(requestID string) string { return requestID }

// Begin records that stage took the request at at.
func (s *Status) Begin(stage Stage, at time.Time) {
	s.Stage, s.State, s.Error = stage, StateRunning, nil
	s.Timings.Begin(stage, at)
	s.Updated = at.UTC()
}

// Record updates the status from a payload a stage just published: a
// success moves its stage to done and copies the ids and counts; a
// Failure marks it failed (or rejected) with the problem.
func (s *Status) Record(p Payload, at time.Time) {
	done := func(stage Stage, t Timings) {
		s.Stage, s.State, s.Error = stage, StateDone, nil
		s.Timings = t.Clone()
		if s.Timings.Stage(stage) == nil || s.Timings.Stage(stage).End.IsZero() {
			s.Timings.End(stage, at)
		}
	}
	switch p := p.(type) {
	case DefinitionCreated:
		s.Sandbox, s.SegmentName, s.DefinitionID = p.Sandbox, p.Segment.Name, p.Segment.ID
		if p.Estimate != nil {
			s.PreviewID = p.Estimate.PreviewID
		}
		done(StageDefiner, p.Timings)
	case JobSucceeded:
		s.Sandbox, s.SegmentName, s.DefinitionID, s.SegmentJobID = p.Sandbox, p.Segment.Name, p.Segment.ID, p.SegmentJobID
		done(StageSegmenter, p.Timings)
	case ExportSucceeded:
		s.Sandbox, s.SegmentName, s.DefinitionID, s.SegmentJobID = p.Sandbox, p.Segment.Name, p.Segment.ID, p.SegmentJobID
		s.DatasetID, s.ExportJobID, s.BatchID, s.ProfileCount = p.DatasetID, p.ExportJobID, p.BatchID, p.ProfileCount
		done(StageExporter, p.Timings)
	case BatchReady:
		s.SegmentName, s.DefinitionID, s.SegmentJobID = p.Segment.Name, p.Segment.ID, p.SegmentJobID
		s.DatasetID, s.ExportJobID, s.BatchID, s.ProfileCount = p.DatasetID, p.ExportJobID, p.BatchID, p.ProfileCount
		s.Files = len(p.Files)
		done(StageReader, p.Timings)
	case Failure:
		s.Stage, s.State = p.Stage, StateFailed
		if p.Rejected {
			s.State = StateRejected
		}
		prob := p.Problem
		s.Error = &prob
		if p.Sandbox != "" {
			s.Sandbox = p.Sandbox
		}
		if p.Segment != nil {
			s.SegmentName = p.Segment.Name
		}
		s.PlatformIDs = MergeIDs(s.PlatformIDs, p.PlatformIDs)
		s.Timings.End(p.Stage, at)
	case DeadLetter:
		s.Stage, s.State = p.Stage, StateFailed
		s.Error = &Problem{Reason: fmt.Sprintf("dead-lettered after %d deliveries: %s", p.Deliveries, p.Reason), Retryable: true}
		s.Timings.End(p.Stage, at)
	}
	if s.Labels == nil {
		s.Labels = LabelsOf(p).Clone()
	}
	s.Updated = at.UTC()
}

// LabelsOf returns the labels a payload carries.
func LabelsOf(p Payload) Labels {
	switch p := p.(type) {
	case Request:
		return p.Labels
	case DefinitionCreated:
		return p.Labels
	case JobSucceeded:
		return p.Labels
	case ExportSucceeded:
		return p.Labels
	case BatchReady:
		return p.Labels
	case Failure:
		return p.Labels
	case DeadLetter:
		return p.Labels
	}
	return nil
}

// MergeIDs is a with every id b has: b's win.
func MergeIDs(a, b PlatformIDs) PlatformIDs {
	for _, f := range []struct{ dst, src *string }{
		{&a.DefinitionID, &b.DefinitionID}, {&a.PreviewID, &b.PreviewID}, {&a.SegmentJobID, &b.SegmentJobID},
		{&a.DatasetID, &b.DatasetID}, {&a.ExportJobID, &b.ExportJobID}, {&a.BatchID, &b.BatchID},
	} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	return a
}

// Finished reports whether the request will not move again: done at the
// reader, failed or rejected.
func (s Status) Finished() bool {
	return s.State == StateFailed || s.State == StateRejected || s.Stage == StageReader && s.State == StateDone
}

// Encode is the record's JSON, as stored.
func (s Status) Encode() ([]byte, error) { return marshal(s) }

// DecodeStatus reads a stored record.
func DecodeStatus(b []byte) (Status, error) {
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return Status{}, fmt.Errorf("decoding status: %w", jsonError(err, ""))
	}
	if s.RequestID == "" {
		return Status{}, fmt.Errorf("decoding status: %w", invalid("requestId", "is missing"))
	}
	return s, nil
}

// Intent is a stage's record, in the intents bucket, of the Platform
// objects it is creating for a request: written before each create and
// updated with the id after it, so that a redelivered message resumes the
// job it already created instead of creating a second one.
type Intent struct {
	RequestID string `json:"requestId"`
	Stage     Stage  `json:"stage"`
	// Step names the create in progress or last done, such as
	// "create-definition", "create-segment-job" (stage-defined).
	Step string `json:"step"`
	// PlatformIDs hold what the stage has created so far.
	PlatformIDs
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
}

// IntentKey is the key of a stage's intent for a request:
// "<stage>.<requestId>".
func IntentKey(stage Stage, requestID string) string { return string(stage) + "." + requestID }
