package exporter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage"
)

// Intent steps of the exporter. The create steps are recorded with the
// stream sequence of the message taking them ("create-dataset@42"): a
// redelivery of that message knows the create is its own, abandoned; a
// copy of the message (another sequence) knows that another message may
// be creating right now (see Config.CreateLease).
const (
	stepCreateDataset   = "create-dataset"    // looking up, then creating, the dataset
	stepDataset         = "dataset"           // the dataset's id is recorded
	stepCreateExportJob = "create-export-job" // creating the export job
	stepExportJob       = "export-job"        // the export job's id is recorded
)

// ownStep is a create step of m's message.
func ownStep(step string, m *stage.Msg) string { return fmt.Sprintf("%s@%d", step, m.Sequence) }

// parseStep splits a recorded step into its name and the stream sequence
// of the message that recorded it (0 if none).
func parseStep(s string) (string, uint64) {
	name, seq, ok := strings.Cut(s, "@")
	if !ok {
		return s, 0
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return s, 0
	}
	return name, n
}

// busy says whether another message of the request is taking step now:
// it recorded the step less than CreateLease ago. Retrying later (a
// transient error) lets it finish; this message then finds the id.
func (h *Handler) busy(m *stage.Msg, step string) error {
	name, seq := parseStep(m.Intent.Step)
	if name != step || seq == 0 || seq == m.Sequence {
		return nil
	}
	if age := time.Now().Sub(m.Intent.Updated); age < h.cfg.CreateLease {
		return fmt.Errorf("another message of request %s (stream sequence %d) started %s %v ago; this one (%d) retries later", m.RequestID, seq, step, age.Round(time.Millisecond), m.Sequence)
	}
	return nil
}

// tagNamespace is the Catalog tag namespace of the datasets the exporter
// creates: ["requestId:<id>"] names the request that created it.
const tagNamespace = "segflow"

// maxDatasetName bounds a generated dataset name.
const maxDatasetName = 128

// lastLook is how long a delivery that finds the export's time already
// spent still polls the job before cancelling it.
const lastLook = 10 * time.Second

// cancelTimeout bounds the cancellation of a job that ran out of time.
const cancelTimeout = 30 * time.Second

// Handler is the exporter: a stage.Handler of job.succeeded.
type Handler struct {
	client *platform.Client
	cfg    Config
}

var _ stage.Handler[events.JobSucceeded] = (*Handler)(nil)

// New returns the exporter over client. cfg must be valid.
func New(client *platform.Client, cfg Config) (*Handler, error) {
	if client == nil {
		return nil, errors.New("exporter: a Platform client is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{client: client, cfg: cfg}, nil
}

// Decode reads a job.succeeded event. (On error the runner takes the
// request id from the envelope, so that the failure is tied to it.)
func (h *Handler) Decode(body []byte, _ stage.Meta) (events.JobSucceeded, error) {
	_, p, err := events.DecodeAs[events.JobSucceeded](body)
	return p, err
}

// Handle creates or reuses the dataset, creates the export job (once),
// waits for it and returns export.succeeded.
func (h *Handler) Handle(ctx context.Context, in events.JobSucceeded, m *stage.Msg) (events.Payload, error) {
	start := time.Now()
	if !m.Intent.Started.IsZero() {
		start = m.Intent.Started // a redelivery resumes the same work
	}
	ds, reused, err := h.dataset(ctx, in, m)
	if err != nil {
		return nil, err
	}
	id, err := h.exportJob(ctx, in, ds.ID, m)
	if err != nil {
		return nil, err
	}
	log := m.Log().With().Str("dataset_id", ds.ID).Stringer("export_job_id", id).Logger()
	job, err := h.wait(ctx, id, m, log)
	if err != nil {
		return nil, err
	}
	batches := job.BatchIDs()
	if len(batches) != 1 || batches[0] == "" {
		return nil, stage.Fail("export job %s SUCCEEDED but names %d batches (%q), not one", id, len(batches), batches)
	}

	out := events.NewExportSucceeded(in)
	out.DatasetID, out.DatasetName, out.DatasetReused = ds.ID, ds.Name, reused
	out.ExportJobID, out.BatchID = id.String(), batches[0]
	out.ProfileCount = job.Metrics.TotalExportedProfileCounter
	out.Metrics = events.ExportMetrics{
		ProfilesByNamespace: job.Metrics.ExportedProfileByNamespaceCounter,
		TotalTimeMs:         job.Metrics.TotalTime.TotalTimeInMs,
		ProfileExportTimeMs: job.Metrics.ProfileExportTime.TotalTimeInMs,
		DatasetWriteTimeMs:  job.Metrics.ACPDatasetWriteTime.TotalTimeInMs,
	}
	out.Timings.Begin(events.StageExporter, start)
	out.Timings.End(events.StageExporter, time.Now())
	log.Info().Str("batch_id", out.BatchID).Int64("profiles", out.ProfileCount).Bool("dataset_reused", reused).Msg("export job succeeded")
	return out, nil
}

// wait polls the export job until it is done, within Config.Timeout
// since the exporter first set out to export the request (a redelivery
// goes on with what is left). A job not done by then is cancelled and the
// request fails.
func (h *Handler) wait(ctx context.Context, id platform.ExportJobID, m *stage.Msg, log zerolog.Logger) (platform.ExportJob, error) {
	timeout := h.cfg.Timeout
	if s := m.Intent.Started; !s.IsZero() {
		if timeout = s.Add(h.cfg.Timeout).Sub(time.Now()); timeout <= 0 {
			timeout = min(lastLook, h.cfg.Timeout) // one last look before giving up
		}
	}
	log.Debug().Dur("timeout", timeout).Msg("waiting for the export job")
	polls := 0
	job, err := h.client.WaitExportJob(ctx, id, platform.WaitOptions{
		Poll:    platform.Backoff{Initial: h.cfg.Poll, Max: h.cfg.PollMax, Multiplier: 1.5},
		Timeout: timeout,
		OnPoll: func(status string, err error) {
			polls++
			m.Polled(1)
			log.Debug().Str("status", status).AnErr("error", err).Msg("export job polled")
		},
	})
	var jf *platform.JobFailedError
	switch {
	case err == nil:
		log.Debug().Int("polls", polls).Msg("export job done")
		return job, nil
	case errors.As(err, &jf):
		return job, stage.JobFailed("the export job failed", err, jf, "WaitExportJob")
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		what := "it was cancelled"
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
		defer cancel()
		if cerr := h.client.CancelExportJob(cctx, id); cerr != nil {
			what = fmt.Sprintf("cancelling it failed: %v", cerr)
			log.Warn().Err(cerr).Msg("cancelling an export job that ran out of time")
		}
		return job, stage.Fail("export job %s was not done within SEGFLOW_EXPORT_TIMEOUT (%v; last status %q); %s", id, h.cfg.Timeout, job.Status, what)
	}
	return job, stage.Classify(ctx, fmt.Sprintf("polling export job %s", id), err)
}

// dataset returns the request's dataset, and whether it existed before
// the request: the one recorded by an earlier delivery, else the first
// dataset of the name on the union schema, else a new one.
func (h *Handler) dataset(ctx context.Context, in events.JobSucceeded, m *stage.Msg) (platform.Dataset, bool, error) {
	if id := m.Intent.DatasetID; id != "" {
		ds, err := h.client.Dataset(ctx, id)
		if errors.Is(err, platform.ErrNotFound) {
			return ds, false, withPlatform(err, fmt.Sprintf("dataset %s, which an earlier delivery of this request chose, is not found (deleted?)", id))
		}
		if err != nil {
			return ds, false, stage.Classify(ctx, fmt.Sprintf("reading dataset %s", id), err)
		}
		ds.ID = id
		return ds, !createdBy(ds, in.RequestID), nil
	}

	name := h.datasetName(in)
	if err := h.busy(m, stepCreateDataset); err != nil {
		return platform.Dataset{}, false, err
	}
	if err := m.SaveIntent(ctx, ownStep(stepCreateDataset, m), m.Intent.PlatformIDs); err != nil {
		return platform.Dataset{}, false, err
	}
	found, err := h.client.FindDatasets(ctx, name)
	if err != nil {
		return platform.Dataset{}, false, stage.Classify(ctx, fmt.Sprintf("looking up dataset %q", name), err)
	}
	var ds platform.Dataset
	var others []string
	for _, d := range found {
		if isUnion(d) {
			ds = d
			break
		}
		others = append(others, d.ID+" ("+d.SchemaRef.ID+")")
	}
	reused := true
	switch {
	case ds.ID != "":
		reused = !createdBy(ds, in.RequestID)
	case len(others) > 0:
		return ds, false, stage.Fail("dataset %q exists but not on the profile union schema (%s), so no export can write to it: name another in export.datasetName", name, strings.Join(others, ", "))
	default:
		id, err := h.client.CreateDataset(ctx, platform.DatasetSpec{
			Name:        name,
			Description: fmt.Sprintf("Segflow exports of segment %q", in.Segment.Name),
			Schema:      platform.SchemaProfileUnion,
			Tags:        map[string][]string{tagNamespace: {"requestId:" + in.RequestID}},
		})
		if err != nil {
			// A 5xx or a broken connection may have created it: the next
			// delivery finds it by name (and by its tag, as its own).
			return ds, false, stage.Classify(ctx, fmt.Sprintf("creating dataset %q", name), err)
		}
		ds = platform.Dataset{ID: id, Name: name}
		reused = false
	}
	ids := m.Intent.PlatformIDs
	ids.DatasetID = ds.ID
	if err := m.SaveIntent(ctx, stepDataset, ids); err != nil {
		return ds, false, err
	}
	m.Log().Info().Str("dataset_id", ds.ID).Str("dataset", name).Bool("reused", reused).Msg("dataset ready")
	return ds, reused, nil
}

// exportJob returns the request's export job: the one recorded, the one
// an earlier delivery created without learning its id, or a new one.
func (h *Handler) exportJob(ctx context.Context, in events.JobSucceeded, datasetID string, m *stage.Msg) (platform.ExportJobID, error) {
	if s := m.Intent.ExportJobID; s != "" {
		id, err := platform.ParseExportJobID(s)
		if err != nil {
			return 0, stage.Fail("the intent record holds export job id %q: %v", s, err)
		}
		return id, nil
	}
	if err := h.busy(m, stepCreateExportJob); err != nil {
		return 0, err
	}
	// An earlier delivery recorded the step and may have created the job.
	step, _ := parseStep(m.Intent.Step)
	lost := step == stepCreateExportJob
	since := m.Intent.Updated
	if err := m.SaveIntent(ctx, ownStep(stepCreateExportJob, m), m.Intent.PlatformIDs); err != nil {
		return 0, err
	}
	var job platform.ExportJob
	if lost {
		jobs, err := h.client.FindExportJobs(ctx, datasetID)
		if err != nil {
			return 0, stage.Classify(ctx, fmt.Sprintf("looking for the export jobs of dataset %s", datasetID), err)
		}
		notBefore := since.Add(-h.cfg.ClockSkew).UnixMilli()
		for _, j := range jobs { // newest first: keep the oldest match
			if unixMilli(j.CreationTime) >= notBefore && exports(j, in.Segment.ID) {
				job = j
			}
		}
		if job.ID != 0 {
			m.Log().Info().Stringer("export_job_id", job.ID).Msg("found the export job an earlier delivery created")
		}
	}
	if job.ID == 0 {
		var err error
		job, err = h.client.CreateExportJob(ctx, h.exportRequest(in, datasetID))
		if err != nil {
			return 0, stage.Classify(ctx, fmt.Sprintf("creating the export job into dataset %s", datasetID), err)
		}
		if job.ID == 0 {
			return 0, fmt.Errorf("the Platform created an export job without an id")
		}
	}
	ids := m.Intent.PlatformIDs
	ids.ExportJobID = job.ID.String()
	if err := m.SaveIntent(ctx, stepExportJob, ids); err != nil {
		return 0, err
	}
	return job.ID, nil
}

// exportRequest is the export job of the request: its segment's realized
// members, with the request's fields, filters and events.
func (h *Handler) exportRequest(in events.JobSucceeded, datasetID string) platform.ExportJobRequest {
	req := platform.ExportJobRequest{
		Fields: h.cfg.fields(),
		Filter: &platform.ExportFilter{Segments: []platform.SegmentFilter{{
			SegmentID: in.Segment.ID, SegmentNs: platform.ProfileInstance, Status: []string{platform.MembershipRealized},
		}}},
		Destination: platform.ExportDestination{DatasetID: datasetID},
		Schema:      platform.SchemaName{Name: platform.ProfileClass},
	}
	if in.MergePolicyID != "" {
		req.MergePolicy = &platform.MergePolicyRef{ID: in.MergePolicyID}
	}
	x := in.Request.Export
	if x == nil {
		return req
	}
	if len(x.Fields) > 0 {
		req.Fields = x.Fields.String()
	}
	if x.Filter != nil {
		req.Filter.FromIngestTimestamp = x.Filter.FromIngestTimestamp
	}
	if x.AdditionalFields != nil && x.AdditionalFields.EventList != nil {
		el := x.AdditionalFields.EventList
		pel := &platform.EventList{Fields: el.Fields.String()}
		if el.Filter != nil {
			pel.Filter = &platform.EventFilter{FromIngestTimestamp: el.Filter.FromIngestTimestamp, ToIngestTimestamp: el.Filter.ToIngestTimestamp}
		}
		req.AdditionalFields = &platform.AdditionalFields{EventList: pel}
	}
	return req
}

// datasetName is the request's export.datasetName, else the prefix and
// the segment's name made safe.
func (h *Handler) datasetName(in events.JobSucceeded) string {
	if x := in.Request.Export; x != nil && strings.TrimSpace(x.DatasetName) != "" {
		return strings.TrimSpace(x.DatasetName)
	}
	s := safeName(in.Segment.Name)
	if s == "" {
		s = safeName(in.Segment.ID)
	}
	name := h.cfg.DatasetPrefix + s
	if len(name) > maxDatasetName {
		name = strings.TrimRight(name[:maxDatasetName], "-")
	}
	return name
}

// safeName lowercases s and keeps its letters and digits, with single
// dashes for every run of anything else: "US cart abandoners (7d)" gives
// "us-cart-abandoners-7d".
func safeName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)), r == '_':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	return b.String()
}

// isUnion reports whether the dataset is on the profile union schema,
// named by $id or meta:altId.
func isUnion(d platform.Dataset) bool {
	id := d.SchemaRef.ID
	return id == platform.SchemaProfileUnion || id == "_xdm.context.profile__union"
}

// createdBy reports whether the exporter created the dataset for request.
func createdBy(d platform.Dataset, requestID string) bool {
	for _, v := range d.Tags[tagNamespace] {
		if v == "requestId:"+requestID {
			return true
		}
	}
	return false
}

// exports reports whether the job exports the members of segment.
func exports(j platform.ExportJob, segmentID string) bool {
	if j.Filter == nil {
		return false
	}
	for _, s := range j.Filter.Segments {
		if s.SegmentID == segmentID {
			return true
		}
	}
	return false
}

// withPlatform is a permanent failure for reason, carrying the Platform's
// error.
func withPlatform(err error, reason string) error {
	pe := stage.FromPlatform(reason, err)
	var p *stage.ProblemError
	if errors.As(pe, &p) {
		p.Reason = reason
	}
	return pe
}

// unixMilli reads a creation time as Unix milliseconds, also when a
// Platform wrote it in seconds (as SW-SEG's text says it does).
func unixMilli(t int64) int64 {
	if t > 0 && t < 100_000_000_000 { // before 1973 in ms: seconds
		return t * 1000
	}
	return t
}
