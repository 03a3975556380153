package events

import (
	"fmt"
	"strings"
)

// Stage names one of the four pipeline stages. The name is also its
// service's name, its durable consumer's name and its dead-letter token.
type Stage string

// The stages, in pipeline order.
const (
	StageDefiner   Stage = "definer"   // segment.requested -> definition.created
	StageSegmenter Stage = "segmenter" // definition.created -> job.succeeded
	StageExporter  Stage = "exporter"  // job.succeeded -> export.succeeded
	StageReader    Stage = "reader"    // export.succeeded -> batch.ready
)

// Stages lists the stages in pipeline order.
func Stages() []Stage {
	return []Stage{StageDefiner, StageSegmenter, StageExporter, StageReader}
}

// Valid reports whether s is one of the four stages.
func (s Stage) Valid() bool {
	switch s {
	case StageDefiner, StageSegmenter, StageExporter, StageReader:
		return true
	}
	return false
}

// Subject names without a prefix.
const (
	SubjectRequested         = "segment.requested"
	SubjectDefinitionCreated = "definition.created"
	SubjectJobSucceeded      = "job.succeeded"
	SubjectExportSucceeded   = "export.succeeded"
	SubjectBatchReady        = "batch.ready"

	SubjectRequestRejected  = "request.rejected"
	SubjectDefinitionFailed = "definition.failed"
	SubjectJobFailed        = "job.failed"
	SubjectExportFailed     = "export.failed"
	SubjectBatchFailed      = "batch.failed"

	// SubjectDeadLetterPrefix is followed by a stage name: dlq.definer.
	SubjectDeadLetterPrefix = "dlq"
)

// Subjects are the pipeline's subjects, each with the configured prefix in
// front (none by default). Build it with NewSubjects.
type Subjects struct {
	// Prefix is the validated prefix, without its trailing dot; empty for none.
	Prefix string

	Requested         string // input: segment.requested
	DefinitionCreated string // definer's output
	JobSucceeded      string // segmenter's output
	ExportSucceeded   string // exporter's output
	BatchReady        string // reader's output: the pipeline's result

	RequestRejected  string // definer: the request is invalid (never retried)
	DefinitionFailed string // definer: the Platform failed the definition or estimate
	JobFailed        string // segmenter
	ExportFailed     string // exporter
	BatchFailed      string // reader
}

// NewSubjects builds the subjects under prefix, which is empty or one or
// more dot-separated tokens of letters, digits, '-' and '_' ("acme",
// "acme.prod"). The restriction (tighter than NATS's token rules) keeps the
// stream and bucket names derived from it valid.
func NewSubjects(prefix string) (Subjects, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return Subjects{}, err
	}
	p := func(s string) string {
		if prefix == "" {
			return s
		}
		return prefix + "." + s
	}
	return Subjects{
		Prefix:            prefix,
		Requested:         p(SubjectRequested),
		DefinitionCreated: p(SubjectDefinitionCreated),
		JobSucceeded:      p(SubjectJobSucceeded),
		ExportSucceeded:   p(SubjectExportSucceeded),
		BatchReady:        p(SubjectBatchReady),
		RequestRejected:   p(SubjectRequestRejected),
		DefinitionFailed:  p(SubjectDefinitionFailed),
		JobFailed:         p(SubjectJobFailed),
		ExportFailed:      p(SubjectExportFailed),
		BatchFailed:       p(SubjectBatchFailed),
	}, nil
}

// MustSubjects is NewSubjects for a prefix known to be valid (tests,
// constants); it panics otherwise.
func MustSubjects(prefix string) Subjects {
	s, err := NewSubjects(prefix)
	if err != nil {
		panic(err)
	}
	return s
}

// ValidatePrefix checks a subject prefix; see NewSubjects. The error is a
// *ValidationError.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > 64 {
		return invalid("prefix", fmt.Sprintf("%q is longer than 64 bytes", prefix))
	}
	for i, tok := range strings.Split(prefix, ".") {
		if tok == "" {
			return invalid("prefix", fmt.Sprintf("%q has an empty token (leading, trailing or double dot) at token %d", prefix, i+1))
		}
		for _, r := range tok {
			if !isNameRune(r) {
				return invalid("prefix", fmt.Sprintf("%q holds %q: tokens are letters, digits, '-' and '_'", prefix, r))
			}
		}
	}
	return nil
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// Input is the subject a stage consumes.
func (s Subjects) Input(stage Stage) string {
	switch stage {
	case StageDefiner:
		return s.Requested
	case StageSegmenter:
		return s.DefinitionCreated
	case StageExporter:
		return s.JobSucceeded
	case StageReader:
		return s.ExportSucceeded
	}
	return ""
}

// Output is the subject a stage publishes on success.
func (s Subjects) Output(stage Stage) string {
	switch stage {
	case StageDefiner:
		return s.DefinitionCreated
	case StageSegmenter:
		return s.JobSucceeded
	case StageExporter:
		return s.ExportSucceeded
	case StageReader:
		return s.BatchReady
	}
	return ""
}

// Failure is the subject a stage publishes a failure on (the definer's
// rejections of invalid requests go to RequestRejected instead).
func (s Subjects) Failure(stage Stage) string {
	switch stage {
	case StageDefiner:
		return s.DefinitionFailed
	case StageSegmenter:
		return s.JobFailed
	case StageExporter:
		return s.ExportFailed
	case StageReader:
		return s.BatchFailed
	}
	return ""
}

// DeadLetter is the subject a stage's exhausted messages go to:
// [prefix.]dlq.<stage>.
func (s Subjects) DeadLetter(stage Stage) string {
	return s.prefixed(SubjectDeadLetterPrefix + "." + string(stage))
}

// DeadLetters is the wildcard matching every stage's dead-letter subject.
func (s Subjects) DeadLetters() string {
	return s.prefixed(SubjectDeadLetterPrefix + ".*")
}

func (s Subjects) prefixed(subject string) string {
	if s.Prefix == "" {
		return subject
	}
	return s.Prefix + "." + subject
}

// All lists every subject the pipeline stream captures: the input, the four
// outputs, the five failure subjects and the dead-letter wildcard.
func (s Subjects) All() []string {
	return []string{
		s.Requested, s.DefinitionCreated, s.JobSucceeded, s.ExportSucceeded, s.BatchReady,
		s.RequestRejected, s.DefinitionFailed, s.JobFailed, s.ExportFailed, s.BatchFailed,
		s.DeadLetters(),
	}
}

// For is the subject a payload is published on: each success payload's
// own subject, a Failure's by its stage (RequestRejected when Rejected),
// a DeadLetter's by its stage, a Request's the input subject. It returns
// "" for a payload it does not know.
func (s Subjects) For(p Payload) string {
	switch p := p.(type) {
	case Request, *Request:
		return s.Requested
	case DefinitionCreated, *DefinitionCreated:
		return s.DefinitionCreated
	case JobSucceeded, *JobSucceeded:
		return s.JobSucceeded
	case ExportSucceeded, *ExportSucceeded:
		return s.ExportSucceeded
	case BatchReady, *BatchReady:
		return s.BatchReady
	case Failure:
		return s.failureFor(&p)
	case *Failure:
		return s.failureFor(p)
	case DeadLetter:
		return s.DeadLetter(p.Stage)
	case *DeadLetter:
		return s.DeadLetter(p.Stage)
	}
	return ""
}

func (s Subjects) failureFor(f *Failure) string {
	if f.Rejected {
		return s.RequestRejected
	}
	return s.Failure(f.Stage)
}
