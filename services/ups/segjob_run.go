package ups

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
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
	go r.loop()
	// The jobs a stop left unfinished, every one of them: the queue takes
	// them as the runner frees room (more than it holds would otherwise
	// stay NEW until another start).
	backlog := jobs.unfinished()
	go func() {
		for _, j := range backlog {
			select {
			case r.queue <- jobKey{j.caller(), j.ID}:
			case <-r.ctx.Done():
				return
			}
		}
	}()
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
			// Jobs waiting together run together: one pass over the
			// profiles serves them all (a burst of requests otherwise
			// queues one scan per job).
			batch := []jobKey{k}
		drain:
			for len(batch) < maxJobsPerPass {
				select {
				case k := <-r.queue:
					batch = append(batch, k)
				default:
					break drain
				}
			}
			byCaller := map[Caller][]string{}
			var callers []Caller
			for _, k := range batch {
				if _, ok := byCaller[k.c]; !ok {
					callers = append(callers, k.c)
				}
				byCaller[k.c] = append(byCaller[k.c], k.id)
			}
			for _, c := range callers {
				r.run(c, byCaller[c])
			}
		}
	}
}

// maxJobsPerPass bounds the jobs one pass evaluates together.
const maxJobsPerPass = 64

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

// run takes queued jobs of one caller through PROCESSING to their end,
// evaluating all their segments in one pass.
func (r *segmentJobs) run(c Caller, ids []string) {
	started := r.now().UnixMilli()
	var jobs []SegmentJob
	for _, id := range ids {
		job, err := r.jobs.update(c, id, func(j *SegmentJob) bool {
			if finished(j.Status) {
				return false // cancelled while queued
			}
			j.Status = jobProcessing
			j.Metrics = segmentJobMetrics{TotalTime: &jobTiming{StartTimeInMs: started}, ProfileSegmentationTime: &jobTiming{}}
			return true
		})
		if err != nil {
			r.log.Error().Err(err).Str("segment_job", id).Msg("starting segment job")
			continue
		}
		if job.Status == jobProcessing {
			jobs = append(jobs, job)
		}
	}
	// A job whose own segments cannot be evaluated (a merge policy deleted
	// since it was submitted) fails alone, not with the jobs it would
	// share the pass with.
	jobs = slices.DeleteFunc(jobs, func(j SegmentJob) bool {
		err := r.check(c, j.Segments)
		if err != nil {
			r.failJob(c, j.ID, err)
		}
		return err != nil
	})
	if len(jobs) == 0 {
		return
	}
	// Cancelling one job of the pass marks it CANCELLED at once; the pass
	// stops only when every job in it is cancelled.
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	var live atomic.Int64
	live.Store(int64(len(jobs)))
	r.mu.Lock()
	for _, j := range jobs {
		r.cancel[j.ID] = sync.OnceFunc(func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		for _, j := range jobs {
			delete(r.cancel, j.ID)
		}
		r.mu.Unlock()
	}()

	var entries []segmentJobEntry
	for _, j := range jobs {
		entries = append(entries, j.Segments...)
	}
	res, err := r.evaluate(ctx, c, entries)
	if r.ctx.Err() != nil {
		return // shutting down: the jobs run again at the next start
	}
	ended := r.now().UnixMilli()
	for _, job := range jobs {
		_, uerr := r.jobs.update(c, job.ID, func(j *SegmentJob) bool {
			if finished(j.Status) {
				return false // cancelled: keep CANCELLED
			}
			if err != nil {
				j.Status = jobFailed
				j.Errors = append(j.Errors, segmentJobError{Code: "0100-500", Msg: err.Error()})
				j.Metrics.TotalTime.end(ended)
				return true
			}
			j.Status = jobSucceeded
			j.Metrics = res.metrics(j.Segments)
			j.Metrics.TotalTime = &jobTiming{StartTimeInMs: started}
			j.Metrics.TotalTime.end(ended)
			return true
		})
		if uerr != nil {
			r.log.Error().Err(uerr).Str("segment_job", job.ID).Msg("finishing segment job")
		}
	}
	ev := r.log.Info()
	if err != nil {
		ev = r.log.Warn().Err(err)
	}
	ev.Int("jobs", len(jobs)).Int("segments", len(entries)).Int64("ms", ended-started).Msg("segment jobs done")
}

// passResult is what a pass found for each segment.
type passResult struct {
	segments map[string]segmentOutcome
	byPolicy map[string]int64 // persons per merge policy id
	timing   jobTiming
}

type segmentOutcome struct {
	policy     string
	qualifying int64
	exits      int64
	namespaces map[string]int64
}

// metrics are a job's metrics from the pass that evaluated its segments.
func (p passResult) metrics(segs []segmentJobEntry) segmentJobMetrics {
	m := segmentJobMetrics{
		SegmentedProfileCounter:            map[string]int64{},
		SegmentedProfileByNamespaceCounter: map[string]map[string]int64{},
		SegmentedProfileByStatusCounter:    map[string]map[string]int64{},
		TotalProfilesByMergePolicy:         map[string]int64{},
	}
	t := p.timing
	m.ProfileSegmentationTime = &t
	for _, s := range segs {
		o := p.segments[s.SegmentID]
		m.SegmentedProfileCounter[s.SegmentID] = o.qualifying
		m.SegmentedProfileByNamespaceCounter[s.SegmentID] = o.namespaces
		m.SegmentedProfileByStatusCounter[s.SegmentID] = map[string]int64{"realized": o.qualifying, "exited": o.exits}
		m.TotalProfilesByMergePolicy[o.policy] = p.byPolicy[o.policy]
		m.TotalProfiles = max(m.TotalProfiles, p.byPolicy[o.policy])
	}
	return m
}

// check reports why segments cannot be evaluated, if they cannot.
func (r *segmentJobs) check(c Caller, segs []segmentJobEntry) error {
	for _, s := range segs {
		if _, err := parseExpression(s.Segment.Expression); err != nil {
			return fmt.Errorf("segment %s: %w", s.SegmentID, err)
		}
		if _, err := r.policies.get(c, s.Segment.MergePolicyID); err != nil {
			return fmt.Errorf("merge policy %s of segment %s: %w", s.Segment.MergePolicyID, s.SegmentID, err)
		}
	}
	return nil
}

// failJob ends a started job FAILED with err.
func (r *segmentJobs) failJob(c Caller, id string, err error) {
	ended := r.now().UnixMilli()
	if _, uerr := r.jobs.update(c, id, func(j *SegmentJob) bool {
		if finished(j.Status) {
			return false
		}
		j.Status = jobFailed
		j.Errors = append(j.Errors, segmentJobError{Code: "0100-500", Msg: err.Error()})
		j.Metrics.TotalTime.end(ended)
		return true
	}); uerr != nil {
		r.log.Error().Err(uerr).Str("segment_job", id).Msg("failing segment job")
	}
}

// evaluate runs segments, one pass per merge policy, and publishes their
// memberships. Segments that use others of the pass through inSegment
// come after them; a segment using one evaluated under another merge
// policy reads its memberships from before the pass. A segment listed
// twice (by two jobs) is evaluated once, as the later entry (of the newer
// job) has it: the definition may have changed between the two.
func (r *segmentJobs) evaluate(ctx context.Context, c Caller, entries []segmentJobEntry) (passResult, error) {
	res := passResult{segments: map[string]segmentOutcome{}, byPolicy: map[string]int64{}}
	byPolicy := map[string][]evalSegment{}
	deps := map[string][]string{}
	for _, s := range slices.Backward(entries) {
		if _, dup := deps[s.SegmentID]; dup {
			continue
		}
		q, err := parseExpression(s.Segment.Expression)
		if err != nil {
			return res, fmt.Errorf("segment %s: %w", s.SegmentID, err)
		}
		byPolicy[s.Segment.MergePolicyID] = append(byPolicy[s.Segment.MergePolicyID], evalSegment{id: s.SegmentID, q: q})
		deps[s.SegmentID] = pql.Analyze(q).Segments
	}
	order, err := pql.DependencyOrder(deps)
	if err != nil {
		return res, err
	}
	rank := map[string]int{}
	for i, id := range order {
		rank[id] = i
	}
	view := r.members.view(c)
	schema := r.profiles.schema(c)
	now := r.now()
	res.timing.StartTimeInMs = now.UnixMilli()
	results := map[string]*segmentMembers{}
	for _, polID := range slices.Sorted(maps.Keys(byPolicy)) {
		segs := byPolicy[polID]
		slices.SortFunc(segs, func(a, b evalSegment) int { return rank[a.id] - rank[b.id] })
		pol, err := r.policies.get(c, polID)
		if err != nil {
			return res, fmt.Errorf("merge policy %s: %w", polID, err)
		}
		pass, err := newSegmentPass(schema, pol.rule(), segs, view, true)
		if err != nil {
			return res, err
		}
		found, err := pass.run(ctx, r.profiles, c, now, scanOptions{})
		if err != nil {
			return res, err
		}
		res.byPolicy[polID] = int64(found.info.Total)
		for i, s := range segs {
			next, exits := view[s.id].next(found.members[i], now.UnixMicro())
			results[s.id] = next
			res.segments[s.id] = segmentOutcome{
				policy: polID, qualifying: int64(len(found.members[i])), exits: int64(exits), namespaces: found.namespaces[i],
			}
		}
	}
	res.timing.end(r.now().UnixMilli())
	if err := ctx.Err(); err != nil {
		return res, err
	}
	// Durable before visible, visible before SUCCEEDED.
	r.membersMu.Lock()
	defer r.membersMu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(results)) {
		if err := saveMembers(&r.membersDirs, c, id, results[id]); err != nil {
			return res, err
		}
	}
	r.members.publish(c, results)
	return res, nil
}

// membersDir is where memberships live under the data directory.
func membersDir(dataDir string) string { return filepath.Join(dataDir, "memberships") }
