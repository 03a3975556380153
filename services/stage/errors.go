package stage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
)

// ProblemError is a failure that another attempt cannot fix: a rejected
// request, a Platform 4xx, a job the Platform FAILED. The stage publishes
// it as its failure event and acks the message.
type ProblemError struct {
	events.Problem
	// Rejected marks an invalid request (request.rejected), as opposed to a
	// failure of the Platform's work.
	Rejected bool
	err      error
}

func (e *ProblemError) Error() string { return e.Reason }

func (e *ProblemError) Unwrap() error { return e.err }

// Reject is the definer's refusal of an invalid request: p names the
// field or the PQL position.
func Reject(p events.Problem) error { return &ProblemError{Problem: p, Rejected: true} }

// Fail is a permanent failure with reason.
func Fail(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &ProblemError{Problem: events.Problem{Reason: err.Error()}, err: err}
}

// FromPlatform classifies an error of the Platform client: transient ones
// (rate limits, 5xx, network) come back as they are, to be retried;
// anything else (4xx, a FAILED job) becomes a *ProblemError carrying the
// Platform's status, code and message. what says what was being done
// ("creating the segment definition").
func FromPlatform(what string, err error) error {
	if err == nil || platform.Transient(err) || errors.Is(err, errShutdown) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the stage's own context ended: not the Platform's verdict
	}
	p := events.Problem{Reason: fmt.Sprintf("%s: %v", what, err)}
	var pe *platform.Error
	if errors.As(err, &pe) {
		p.PlatformError = &events.PlatformError{
			Status: pe.Status, Code: pe.Code, Message: pe.Message,
			RequestID: pe.RequestID, Operation: pe.Operation,
		}
	}
	return &ProblemError{Problem: p, err: err}
}

// JobFailed is FromPlatform for a Platform job (estimate, segment job,
// export job) that ended FAILED: err, of waiting for it, holds jf, whose
// errors become the PlatformError of op.
func JobFailed(what string, err error, jf *platform.JobFailedError, op string) error {
	perr := FromPlatform(what, err)
	var pe *ProblemError
	if !errors.As(perr, &pe) {
		return perr
	}
	msgs := make([]string, 0, len(jf.Errors))
	code := ""
	for _, je := range jf.Errors {
		if je.Msg != "" {
			msgs = append(msgs, je.Msg)
		}
		if code == "" {
			code = je.Code
		}
	}
	if len(msgs) == 0 {
		msgs = append(msgs, fmt.Sprintf("%s %s is %s", jf.Kind, jf.ID, jf.Status))
	}
	pe.PlatformError = &events.PlatformError{Code: code, Message: strings.Join(msgs, "; "), Operation: op}
	return pe
}

// Classify is FromPlatform for a call made under ctx, which stages use
// for every Platform call: when ctx has ended (the stage is stopping) or
// the error is transient, err comes back wrapped with what, to be handed
// back or retried; anything else is FromPlatform's *ProblemError.
func Classify(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil || platform.Transient(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return FromPlatform(what, err)
}

// errShutdown is the cause of a handler's context when the stage stops:
// its message is handed back for redelivery, not failed.
var errShutdown = errors.New("stage: shutting down")
