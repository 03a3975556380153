package ups

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/segflow/segflow/pkg/pql"
)

// segmentJobs runs segment jobs: one at a time, in the order they were
// created, in a goroutine of its own. A job evaluates all its segments in
// one pass over the profiles per merge policy, then writes the new
// memberships and only then reports SUCCEEDED. Jobs that were not done
// when ups stopped (or was killed) are run again at the next start: a job
// is a pure function of the store and the previous memberships, so
// running it twice gives what running it once would have.
type segmentJobs struct {
	jobs     *segmentJobStore
	defs     *definitionStore
	policies *policyStore
	profiles *profileStore
	members  *memberships
	log      zerolog.Logger
	now      func() time.Time

	membersMu   sync.Mutex // serializes membership file writes
	membersDirs dirTree

	queue  chan jobKey
	ctx    context.Context
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	cancel map[string]context.CancelFunc // the running job's, by id
}

type jobKey struct {
	c  Caller
	id string
}

// maxQueuedJobs bounds the segment jobs waiting to run; more is a 429.
const maxQueuedJobs = 1000

var errTooManyJobs = errors.New("too many segment jobs are waiting to run")

func newSegmentJobs(dir string, jobs *segmentJobStore, defs *definitionStore, policies *policyStore,
	profiles *profileStore, members *memberships, log zerolog.Logger, now func() time.Time) (*segmentJobs, error) {
	if err := loadMembers(dir, members, profiles.identityCount); err != nil {
		return nil, fmt.Errorf("loading segment memberships: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &segmentJobs{
		jobs: jobs, defs: defs, policies: policies, profiles: profiles, members: members,
		log: log, now: now, membersDirs: dirTree{root: dir},
		queue: make(chan jobKey, maxQueuedJobs), ctx: ctx, stop: stop, done: make(chan struct{}),
		cancel: map[string]context.CancelFunc{},
	}
	for _, j := range jobs.unfinished() {
		r.queue <- jobKey{j.caller(), j.ID}
	}
	go r.loop()
	return r, nil
}

// close stops the runner. A running job is abandoned where it is (it
// runs again at the next start); queued ones stay queued on disk.
func (r *segmentJobs) close() {
	r.stop()
	<-r.done
}

func (r *segmentJobs) loop() {
	defer close(r.done)
	for {
		select {
		case <-r.ctx.Done():
			return
		case k := <-r.queue:
			r.run(k)
		}
	}
}

// submit creates a job for the caller's segments ids ("*": all of them)
// and queues it.
func (r *segmentJobs) submit(c Caller, ids []string, schema string) (SegmentJob, error) {
	var defs []SegmentDefinition
	if slices.Contains(ids, "*") {
		defs = r.defs.all(c)
		if len(defs) == 0 {
			return SegmentJob{}, badRequestf("The sandbox has no segment definitions to evaluate.")
		}
	} else {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			d, ok := r.defs.get(c, id)
			if !ok {
				return SegmentJob{}, badRequestf("The segment definition %s is not found.", truncate(id, 100))
			}
			defs = append(defs, d)
		}
	}
	job := SegmentJob{
		ImsOrgID:          c.Org,
		Sandbox:           sandboxOf(c.Org, c.Sandbox),
		ProfileInstanceID: "ups",
		Source:            "api",
		Status:            jobNew,
		RequestID:         newPolicyID(),
		Schema:            schemaNameView{Name: schema},
		ModelName:         schema,
		Errors:            []segmentJobError{},
		Metrics:           segmentJobMetrics{},
	}
	for _, d := range defs {
		if _, err := d.query(); err != nil {
			return SegmentJob{}, badRequestf("The segment definition %s has an invalid expression: %v", d.ID, err)
		}
		pol, err := r.policies.resolve(c, d.MergePolicyID)
		if err != nil {
			return SegmentJob{}, badRequestf("The merge policy %s of segment definition %s is not found.", truncate(d.MergePolicyID, 100), d.ID)
		}
		job.Segments = append(job.Segments, segmentJobEntry{
			SegmentID: d.ID,
			Segment: segmentJobSegment{
				ID: d.ID, Version: 1, Expression: d.Expression,
				MergePolicyID: pol.ID, MergePolicy: policyRef{ID: pol.ID, Version: max(pol.Version, 1)},
			},
		})
	}
	if len(r.queue) >= cap(r.queue) {
		return SegmentJob{}, errTooManyJobs
	}
	job, err := r.jobs.create(job)
	if err != nil {
		return SegmentJob{}, err
	}
	select {
	case r.queue <- jobKey{c, job.ID}:
	default:
		// Lost a race for the last places: it runs at the next start.
		r.log.Warn().Str("segment_job", job.ID).Msg("segment job queue full")
	}
	return job, nil
}

// cancelJob marks a job cancelled: at once if it has not started, else
// as soon as its evaluation notices.
func (r *segmentJobs) cancelJob(c Caller, id string) (SegmentJob, error) {
	j, err := r.jobs.update(c, id, func(j *SegmentJob) bool {
		if finished(j.Status) {
			return false
		}
		j.Status = jobCancelled
		return true
	})
	if err != nil {
		return SegmentJob{}, err
	}
	r.mu.Lock()
	if cancel, ok := r.cancel[id]; ok {
		cancel()
	}
	r.mu.Unlock()
	return j, nil
}

// run takes a queued job through PROCESSING to its end.
func (r *segmentJobs) run(k jobKey) {
	started := r.now().UnixMilli()
	job, err := r.jobs.update(k.c, k.id, func(j *SegmentJob) bool {
		if finished(j.Status) {
			return false // cancelled while queued
		}
		j.Status = jobProcessing
		j.Metrics = segmentJobMetrics{TotalTime: &jobTiming{StartTimeInMs: started}, ProfileSegmentationTime: &jobTiming{}}
		return true
	})
	if err != nil {
		r.log.Error().Err(err).Str("segment_job", k.id).Msg("starting segment job")
		return
	}
	if job.Status != jobProcessing {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.mu.Lock()
	r.cancel[k.id] = cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.cancel, k.id)
		r.mu.Unlock()
		cancel()
	}()

	metrics, err := r.evaluate(ctx, k.c, job)
	if r.ctx.Err() != nil {
		return // shutting down: the job runs again at the next start
	}
	ended := r.now().UnixMilli()
	_, uerr := r.jobs.update(k.c, k.id, func(j *SegmentJob) bool {
		if finished(j.Status) {
			return false // cancelled: keep CANCELLED
		}
		switch {
		case err != nil:
			j.Status = jobFailed
			j.Errors = append(j.Errors, segmentJobError{Code: "0100-500", Msg: err.Error()})
			j.Metrics.TotalTime.end(ended)
		default:
			j.Status = jobSucceeded
			metrics.TotalTime = &jobTiming{StartTimeInMs: started}
			metrics.TotalTime.end(ended)
			j.Metrics = metrics
		}
		return true
	})
	if uerr != nil {
		r.log.Error().Err(uerr).Str("segment_job", k.id).Msg("finishing segment job")
	}
	ev := r.log.Info()
	if err != nil {
		ev = r.log.Warn().Err(err)
	}
	ev.Str("segment_job", k.id).Int("segments", len(job.Segments)).Int64("ms", ended-started).Msg("segment job done")
}

// evaluate runs the job's segments, one pass per merge policy, and
// publishes their memberships. Segments that use others of the job through
// inSegment come after them in the pass; a segment using one evaluated
// under another merge policy reads its memberships from before the job.
func (r *segmentJobs) evaluate(ctx context.Context, c Caller, job SegmentJob) (segmentJobMetrics, error) {
	m := segmentJobMetrics{
		SegmentedProfileCounter:            map[string]int64{},
		SegmentedProfileByNamespaceCounter: map[string]map[string]int64{},
		SegmentedProfileByStatusCounter:    map[string]map[string]int64{},
		TotalProfilesByMergePolicy:         map[string]int64{},
	}
	byPolicy := map[string][]evalSegment{}
	deps := map[string][]string{}
	for _, s := range job.Segments {
		q, err := parseExpression(s.Segment.Expression)
		if err != nil {
			return m, fmt.Errorf("segment %s: %w", s.SegmentID, err)
		}
		byPolicy[s.Segment.MergePolicyID] = append(byPolicy[s.Segment.MergePolicyID], evalSegment{id: s.SegmentID, q: q})
		deps[s.SegmentID] = pql.Analyze(q).Segments
	}
	order, err := pql.DependencyOrder(deps)
	if err != nil {
		return m, err
	}
	rank := map[string]int{}
	for i, id := range order {
		rank[id] = i
	}
	view := r.members.view(c)
	schema := r.profiles.schema(c)
	now := r.now()
	segStart := now.UnixMilli()
	results := map[string]*segmentMembers{}
	for _, polID := range slices.Sorted(maps.Keys(byPolicy)) {
		segs := byPolicy[polID]
		slices.SortFunc(segs, func(a, b evalSegment) int { return rank[a.id] - rank[b.id] })
		pol, err := r.policies.get(c, polID)
		if err != nil {
			return m, fmt.Errorf("merge policy %s: %w", polID, err)
		}
		pass, err := newSegmentPass(schema, pol.rule(), segs, view)
		if err != nil {
			return m, err
		}
		res, err := pass.run(ctx, r.profiles, c, now, scanOptions{})
		if err != nil {
			return m, err
		}
		m.TotalProfiles = max(m.TotalProfiles, int64(res.info.Total))
		m.TotalProfilesByMergePolicy[polID] = int64(res.info.Total)
		for i, s := range segs {
			next, exits := view[s.id].next(res.members[i], now.UnixMicro())
			results[s.id] = next
			m.SegmentedProfileCounter[s.id] = int64(len(res.members[i]))
			m.SegmentedProfileByNamespaceCounter[s.id] = res.namespaces[i]
			m.SegmentedProfileByStatusCounter[s.id] = map[string]int64{
				"realized": int64(len(res.members[i])),
				"exited":   int64(exits),
			}
		}
	}
	segEnd := r.now().UnixMilli()
	m.ProfileSegmentationTime = &jobTiming{StartTimeInMs: segStart}
	m.ProfileSegmentationTime.end(segEnd)
	if err := ctx.Err(); err != nil {
		return m, err
	}
	// Durable before visible, visible before SUCCEEDED.
	r.membersMu.Lock()
	defer r.membersMu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(results)) {
		if err := saveMembers(&r.membersDirs, c, id, results[id]); err != nil {
			return m, err
		}
	}
	r.members.publish(c, results)
	return m, nil
}

// membersDir is where memberships live under the data directory.
func membersDir(dataDir string) string { return filepath.Join(dataDir, "memberships") }
