package platform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Waiting for asynchronous work (segment jobs, export jobs, estimates):
// poll with capped exponential backoff and jitter until the work reaches
// a final state, within the context's deadline.

// DefaultJobPoll is the polling backoff of WaitSegmentJob, WaitExportJob
// and WaitEstimate when given the zero Backoff: 500 ms growing to 30 s.
// Platform jobs take minutes; a job on ups is done in well under a second.
var DefaultJobPoll = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 1.5}

// WaitOptions say how a Wait… call polls.
type WaitOptions struct {
	// Poll spaces the polls: the n-th wait is drawn from [c/2, c] with c
	// = min(Max, Initial·Multiplier^n). Zero fields take DefaultJobPoll's.
	Poll Backoff
	// Timeout, if positive, bounds the wait on top of the context's own
	// deadline.
	Timeout time.Duration
	// OnPoll, if set, is called after every poll with the status seen, or
	// with the transient error the poll met (the wait goes on). A pipeline
	// stage uses it to keep its message alive (InProgress) and to record
	// progress. It runs on the waiting goroutine.
	OnPoll func(status string, err error)
}

// ErrJobFailed matches the error of a Wait… call whose job ended in
// another state than success: FAILED, or cancelled.
var ErrJobFailed = errors.New("platform: job failed")

// ErrJobCancelled matches the error of a Wait… call whose job was
// cancelled (it matches ErrJobFailed too).
var ErrJobCancelled = errors.New("platform: job cancelled")

// JobFailedError is a job, export job or estimate that ended without
// success: errors.Is(err, ErrJobFailed).
type JobFailedError struct {
	// Kind is "segment job", "export job" or "preview".
	Kind string
	// ID is the job's id (an export job's number as text).
	ID string
	// Status is the final status: FAILED, CANCELLED, …
	Status string
	// Errors are what the job reported.
	Errors []JobError
}

func (e *JobFailedError) Error() string {
	msg := fmt.Sprintf("platform: %s %s is %s", e.Kind, e.ID, e.Status)
	if len(e.Errors) > 0 {
		parts := make([]string, 0, len(e.Errors))
		for _, je := range e.Errors {
			if s := je.String(); s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			msg += ": " + strings.Join(parts, "; ")
		}
	}
	return msg
}

// Is matches ErrJobFailed, and ErrJobCancelled for a cancelled job.
func (e *JobFailedError) Is(target error) bool {
	switch target {
	case ErrJobFailed:
		return true
	case ErrJobCancelled:
		return e.Status == JobCancelled || e.Status == JobCancelling
	}
	return false
}

// waitFor polls get until final says the answer is final, then returns
// it with final's error. Transient errors keep it polling; another error
// ends it. When the context (or opts.Timeout) ends first it returns the
// last answer seen and an error wrapping the context's error and the last
// state or error seen.
func waitFor[T any](ctx context.Context, op string, opts WaitOptions, get func(context.Context) (T, error), final func(T) (string, bool, error)) (T, error) {
	poll := opts.Poll.orDefault(DefaultJobPoll)
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	var last T
	// seen is what the last poll that said something said: its state, or
	// its transient error. A poll the context cut short says nothing.
	var seen error
	stopped := func(ctxErr, cut error) (T, error) {
		if seen == nil {
			seen = cut
		}
		return last, &stoppedError{op: op, ctxErr: ctxErr, lastError: seen}
	}
	for n := 0; ; n++ {
		v, err := get(ctx)
		switch {
		case err == nil:
			last = v
			status, done, ferr := final(v)
			if opts.OnPoll != nil {
				opts.OnPoll(status, nil)
			}
			if done {
				return v, ferr
			}
			seen = fmt.Errorf("still %s", status)
		case ctx.Err() != nil:
			var se *stoppedError
			if errors.As(err, &se) && se.lastError != nil {
				err = se.lastError
			}
			return stopped(ctx.Err(), err)
		case !Transient(err):
			return last, err
		default:
			seen = err
			if opts.OnPoll != nil {
				opts.OnPoll("", err)
			}
		}
		if serr := sleep(ctx, poll.half(n)); serr != nil {
			return stopped(serr, nil)
		}
	}
}
