package segmenter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage"
)

// StepCreateSegmentJob is the segmenter's intent step: the job is being
// created (no id yet: the answer may have been lost) or was created (its
// id is recorded).
const StepCreateSegmentJob = "create-segment-job"

// clockSkew is how much earlier than the intent's record (our clock) a
// job's creation time (the Platform's clock) may be and still be taken
// for the job an earlier attempt created.
const clockSkew = time.Minute

// lastLook is how long a delivery that comes after the job's deadline
// still waits for it (at most Config.JobTimeout).
const lastLook = 10 * time.Second

// cancelTimeout bounds the cancellation of a job that ran out of time.
const cancelTimeout = 30 * time.Second

// Handler is the segmenter: a stage.Handler of definition.created.
type Handler struct {
	client *platform.Client
	cfg    Config
}

var _ stage.Handler[events.DefinitionCreated] = (*Handler)(nil)

// New returns the segmenter over client. cfg must be valid
// (Config.Validate), as the command checks it.
func New(client *platform.Client, cfg Config) *Handler {
	return &Handler{client: client, cfg: cfg}
}

// Decode reads a definition.created event; one without a segment id
// fails validation (job.failed).
func (h *Handler) Decode(body []byte, _ stage.Meta) (events.DefinitionCreated, error) {
	_, p, err := events.DecodeAs[events.DefinitionCreated](body)
	return p, err
}

// Handle runs (or resumes) the segment job and returns job.succeeded.
func (h *Handler) Handle(ctx context.Context, in events.DefinitionCreated, m *stage.Msg) (events.Payload, error) {
	start := time.Now()
	if s := m.Intent.Started; !s.IsZero() && s.Before(start) {
		start = s // a redelivery resumes the same work
	}
	segID := in.Segment.ID
	jobID, err := h.job(ctx, segID, m)
	if err != nil {
		return nil, err
	}
	j, err := h.wait(ctx, jobID, m)
	if err != nil {
		return nil, err
	}
	metrics := jobMetrics(j, segID)
	if _, ok := j.SegmentCount(segID); !ok {
		m.Log().Warn().Str("segment_job_id", jobID).Msg("the job reports no count for the segment")
	}
	m.Log().Info().Str("segment_job_id", jobID).Int64("segmented_profiles", metrics.SegmentedProfiles).
		Int64("total_profiles", metrics.TotalProfiles).Msg("segment job succeeded")
	out := events.NewJobSucceeded(in, jobID, metrics)
	out.Timings.Begin(events.StageSegmenter, start)
	out.Timings.End(events.StageSegmenter, time.Now())
	return out, nil
}

// job returns the id of the request's segment job: the one an earlier
// delivery recorded or created, or a new one.
func (h *Handler) job(ctx context.Context, segID string, m *stage.Msg) (string, error) {
	if id := m.Intent.SegmentJobID; id != "" {
		return id, nil
	}
	if m.Intent.Step == StepCreateSegmentJob {
		// An earlier attempt may have created it and lost the answer.
		id, err := h.findJob(ctx, segID, m.Intent.Started)
		if err != nil {
			return "", err
		}
		if id != "" {
			m.Log().Info().Str("segment_job_id", id).Msg("found the segment job an earlier attempt created")
			return id, h.record(ctx, m, id)
		}
	} else if err := m.SaveIntent(ctx, StepCreateSegmentJob, m.Intent.PlatformIDs); err != nil {
		return "", err
	}
	j, err := h.client.CreateSegmentJob(ctx, segID)
	if err != nil {
		return "", stage.Classify(ctx, "creating the segment job", err)
	}
	m.Log().Info().Str("segment_job_id", j.ID).Msg("segment job created")
	return j.ID, h.record(ctx, m, j.ID)
}

func (h *Handler) record(ctx context.Context, m *stage.Msg, jobID string) error {
	ids := m.Intent.PlatformIDs
	ids.SegmentJobID = jobID
	return m.SaveIntent(ctx, StepCreateSegmentJob, ids)
}

// findJob looks for a job on the segment created since since (less the
// clock skew): the first one at or after since, else the last one
// before. It returns "" when there is none.
func (h *Handler) findJob(ctx context.Context, segID string, since time.Time) (string, error) {
	page, err := h.client.ListSegmentJobs(ctx, platform.SegmentJobListOptions{SegmentID: segID, Sort: "creationTime:desc", Limit: 100})
	if err != nil {
		return "", stage.Classify(ctx, "looking for the segment jobs of segment "+segID, err)
	}
	at, from := since.UnixMilli(), since.Add(-clockSkew).UnixMilli()
	var after, before *platform.SegmentJob
	for i := range page.Jobs {
		j := &page.Jobs[i]
		if !evaluates(*j, segID) || j.CreationTime < from {
			continue
		}
		if j.CreationTime >= at {
			if after == nil || j.CreationTime < after.CreationTime {
				after = j
			}
		} else if before == nil || j.CreationTime > before.CreationTime {
			before = j
		}
	}
	switch {
	case after != nil:
		return after.ID, nil
	case before != nil:
		return before.ID, nil
	}
	return "", nil
}

// evaluates reports whether job j evaluates segment segID.
func evaluates(j platform.SegmentJob, segID string) bool {
	for _, s := range j.Segments {
		if s.SegmentID == segID || s.Segment.ID == segID {
			return true
		}
	}
	return false
}

// wait polls the job until it is done, within what is left of
// Config.JobTimeout since the intent was first recorded (a redelivery
// after that deadline still looks for lastLook). A job out of time is
// cancelled.
func (h *Handler) wait(ctx context.Context, jobID string, m *stage.Msg) (platform.SegmentJob, error) {
	timeout := h.cfg.JobTimeout
	if s := m.Intent.Started; !s.IsZero() {
		if timeout = time.Until(s.Add(h.cfg.JobTimeout)); timeout <= 0 {
			timeout = min(lastLook, h.cfg.JobTimeout)
		}
	}
	last := ""
	j, err := h.client.WaitSegmentJob(ctx, jobID, platform.WaitOptions{
		Poll:    platform.Backoff{Initial: h.cfg.JobPoll, Max: h.cfg.JobPollMax, Multiplier: 1.5},
		Timeout: timeout,
		OnPoll: func(status string, err error) {
			m.Polled(1)
			if status != "" && status != last {
				last = status
				m.Log().Debug().Str("segment_job_id", jobID).Str("status", status).Msg("segment job")
			}
		},
	})
	var jf *platform.JobFailedError
	switch {
	case err == nil:
		return j, nil
	case ctx.Err() != nil:
		return j, fmt.Errorf("waiting for segment job %s: %w", jobID, err)
	case errors.As(err, &jf):
		return j, stage.JobFailed("the segment job "+jobID+" did not succeed", err, jf, "WaitSegmentJob")
	case errors.Is(err, context.DeadlineExceeded):
		cctx, cancel := context.WithTimeout(ctx, cancelTimeout)
		defer cancel()
		what := "cancelled it"
		if cerr := h.client.CancelSegmentJob(cctx, jobID); cerr != nil {
			what = fmt.Sprintf("cancelling it failed: %v", cerr)
			m.Log().Warn().Err(cerr).Str("segment_job_id", jobID).Msg("cancelling a segment job out of time")
		}
		return j, stage.Fail("the segment job %s was not done within SEGFLOW_JOB_TIMEOUT (%v; last status %q); %s", jobID, h.cfg.JobTimeout, j.Status, what)
	}
	return j, stage.Classify(ctx, "waiting for the segment job "+jobID, err)
}

// jobMetrics are the job's counts of the segment and its timings.
func jobMetrics(j platform.SegmentJob, segID string) events.JobMetrics {
	n, _ := j.SegmentCount(segID)
	return events.JobMetrics{
		TotalProfiles:                j.Metrics.TotalProfiles,
		SegmentedProfiles:            n,
		SegmentedProfilesByStatus:    maps.Clone(j.Metrics.SegmentedProfileByStatusCounter[segID]),
		SegmentedProfilesByNamespace: maps.Clone(j.Metrics.SegmentedProfileByNamespaceCounter[segID]),
		TotalTimeMs:                  millis(j.Metrics.TotalTime),
		ProfileSegmentationTimeMs:    millis(j.Metrics.ProfileSegmentationTime),
	}
}

// millis is a phase's length: its total, or its end less its start.
func millis(t platform.JobTiming) int64 {
	switch {
	case t.TotalTimeInMs > 0:
		return t.TotalTimeInMs
	case t.StartTimeInMs > 0 && t.EndTimeInMs > t.StartTimeInMs:
		return t.EndTimeInMs - t.StartTimeInMs
	}
	return 0
}
