package ups

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/pql"
)

// previews is the preview runs of every org and sandbox. They live in
// memory only: a preview is a question asked now, of the profiles of now,
// and the Platform forgets them too. A finished run is kept for ttl after
// it finished, and at most perScope runs per sandbox, so memory stays
// bounded; a run keeps the identity numbers of at most keep qualifying
// profiles (a few bytes each), not their strings.
type previews struct {
	store   *profileStore
	members *memberships
	now     func() time.Time
	log     zerolog.Logger

	// Knobs, which a run copies when it is made. Tests change them.
	sampling samplingRule
	keep     int           // qualifying profiles kept per run, for paging
	ttl      time.Duration // how long a finished run is kept
	perScope int           // runs kept per sandbox
	workers  int           // scan goroutines; 0: GOMAXPROCS
	parts    int           // ranges the persons are cut into
	seed     func() uint64 // a run's sampling seed; requests call it concurrently
	// visit, when set, is called after each profile a run reads, with
	// the profiles its part has read: tests hold a run there.
	visit func(ctx context.Context, partRead int64)

	// slots bounds the runs that scan at once (a scan uses every CPU);
	// the others wait, NEW.
	slots  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	scopes map[scopeKey]map[string]*previewRun // by previewQueryId
	closed bool
}

// Defaults of the knobs.
const (
	previewKeep        = 100_000
	previewTTL         = time.Hour
	previewsPerScope   = 32
	previewParts       = 64
	previewConcurrency = 2
	// maxPreviewIdentities bounds the identities a preview lists per
	// profile (endCustomerIds).
	maxPreviewIdentities = 32
)

// errTooManyPreviews: every run the sandbox may keep is still running.
var errTooManyPreviews = errors.New("too many previews running")

// errPreviewsClosed: ups is shutting down and starts no preview.
var errPreviewsClosed = errors.New("ups is shutting down")

// errPreviewNotFound is also what another org's or sandbox's preview looks
// like.
var errPreviewNotFound = errors.New("preview not found")

func newPreviews(store *profileStore, members *memberships, now func() time.Time, log zerolog.Logger) *previews {
	ctx, cancel := context.WithCancel(context.Background())
	return &previews{
		store:    store,
		members:  members,
		now:      now,
		log:      log,
		sampling: platformSampling,
		keep:     previewKeep,
		ttl:      previewTTL,
		perScope: previewsPerScope,
		parts:    previewParts,
		seed:     randomSeed,
		slots:    make(chan struct{}, previewConcurrency),
		ctx:      ctx,
		cancel:   cancel,
		scopes:   map[scopeKey]map[string]*previewRun{},
	}
}

// randomSeed is a fresh sampling seed. It must be well mixed: the scan
// XORs it with person numbers.
func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.LittleEndian.Uint64(b[:])
}

// close cancels every run and waits for them. It may be called more than
// once.
func (ps *previews) close() {
	ps.mu.Lock()
	ps.closed = true
	ps.mu.Unlock()
	ps.cancel()
	ps.wg.Wait()
}

// previewRun is one preview: the query, its progress and, once ready, its
// result.
type previewRun struct {
	key     previewKey
	caller  Caller
	created time.Time    // also the evaluation time of the query
	pass    *segmentPass // the compiled query (plans[0], spec); sets the inSegment bits of memberships from segment jobs
	cancel  context.CancelFunc
	// The knobs of previews, as they were when the run was made.
	sampling samplingRule
	seed     uint64
	keep     int
	workers  int
	visit    func(ctx context.Context, partRead int64)

	// Progress, readable while the run scans.
	total    atomic.Int64 // persons in the sandbox
	expected atomic.Int64 // persons the run will read, on average
	counts   []partCount  // by scan part

	mu       sync.Mutex
	state    string
	failure  string
	finished time.Time
	result   *previewResult
}

// partCount is the progress of one scan part: one goroutine writes it.
// Padded to a cache line so parts on different CPUs do not share one.
type partCount struct {
	read, matched atomic.Int64
	_             [48]byte
}

// previewResult is what a finished run found.
type previewResult struct {
	total, read, matched int64
	estimate             sizeEstimate
	namespaces           []namespaceCount // matched in the sample, by namespace
	ids                  identityView     // resolves the identity numbers below
	// profiles holds, per qualifying profile kept (in person order), the
	// number k of its identities, then their k numbers, the one shown as
	// its id first. starts[i] is where profile i begins.
	profiles []uint32
	starts   []int
}

// namespaceCount is how many qualifying profiles have an identity in a
// namespace.
type namespaceCount struct {
	namespace string
	count     int64
}

// previewStatus is a consistent reading of a run.
type previewStatus struct {
	state, failure                 string
	total, expected, read, matched int64
	result                         *previewResult
}

func (r *previewRun) status() previewStatus {
	r.mu.Lock()
	st := previewStatus{state: r.state, failure: r.failure, result: r.result}
	r.mu.Unlock()
	if res := st.result; res != nil {
		st.total, st.expected, st.read, st.matched = res.total, res.read, res.read, res.matched
		return st
	}
	st.total, st.expected = r.total.Load(), r.expected.Load()
	// Matched before read: a part counts a profile read before it counts
	// it matched, so this order never shows more matched than read.
	for i := range r.counts {
		st.matched += r.counts[i].matched.Load()
	}
	for i := range r.counts {
		st.read += r.counts[i].read.Load()
	}
	return st
}

// start compiles q for the caller's sandbox and starts a run of it under
// rule. Errors are *badRequestError (the query cannot be evaluated) or
// errTooManyPreviews.
func (ps *previews) start(c Caller, q *pql.Query, rule mergeRule) (*previewRun, error) {
	r, err := ps.prepare(c, q, rule)
	if err != nil {
		return nil, err
	}
	return r, ps.launch(r)
}

// prepare compiles q for the caller's sandbox into a run under rule, NEW.
func (ps *previews) prepare(c Caller, q *pql.Query, rule mergeRule) (*previewRun, error) {
	// Compiled as a segment job compiles it: inSegment ids with
	// memberships from a segment job read them, the others the profile's
	// own segmentMembership.
	pass, err := newSegmentPass(ps.store.schema(c), rule, []evalSegment{{id: "preview", q: q}}, ps.members.view(c), false)
	if err != nil {
		return nil, badRequestf("predicateExpression cannot be evaluated: %v", errors.Unwrap(err))
	}
	now := ps.now()
	r := &previewRun{
		key:      previewKey{App: previewApp(c), QueryID: newPolicyID(), Execution: 0},
		caller:   c,
		created:  now,
		pass:     pass,
		counts:   make([]partCount, max(1, ps.parts)),
		state:    previewNew,
		sampling: ps.sampling,
		seed:     ps.seed(),
		keep:     ps.keep,
		workers:  ps.workers,
		visit:    ps.visit,
	}
	return r, nil
}

// launch registers r and starts it; errTooManyPreviews if the sandbox
// keeps as many runs as it may, all still going.
func (ps *previews) launch(r *previewRun) error {
	ctx, cancel := context.WithCancel(ps.ctx)
	r.cancel = cancel
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		cancel()
		return errPreviewsClosed
	}
	// Sweep every sandbox: one that is never asked again must not keep
	// its runs.
	now := ps.now()
	for k, runs := range ps.scopes {
		if ps.sweep(runs, now); len(runs) == 0 {
			delete(ps.scopes, k)
		}
	}
	k := scopeKey{r.caller.Org, r.caller.Sandbox}
	runs := ps.scopes[k]
	if runs == nil {
		runs = map[string]*previewRun{}
		ps.scopes[k] = runs
	}
	if len(runs) >= ps.perScope && !ps.evictOldest(runs) {
		cancel()
		return errTooManyPreviews
	}
	runs[r.key.QueryID] = r
	ps.wg.Add(1)
	go ps.run(ctx, r)
	return nil
}

// sweep drops the runs that finished more than ttl ago. Under ps.mu.
func (ps *previews) sweep(runs map[string]*previewRun, now time.Time) {
	for id, r := range runs {
		r.mu.Lock()
		expired := !r.finished.IsZero() && now.Sub(r.finished) > ps.ttl
		r.mu.Unlock()
		if expired {
			delete(runs, id)
		}
	}
}

// evictOldest drops the finished run that was created first; false if
// every run is still going. Under ps.mu.
func (ps *previews) evictOldest(runs map[string]*previewRun) bool {
	var oldest *previewRun
	for _, r := range runs {
		r.mu.Lock()
		done := !r.finished.IsZero()
		r.mu.Unlock()
		if done && (oldest == nil || r.created.Before(oldest.created)) {
			oldest = r
		}
	}
	if oldest == nil {
		return false
	}
	delete(runs, oldest.key.QueryID)
	return true
}

// get returns the caller's run of previewId id, or errPreviewNotFound.
func (ps *previews) get(c Caller, id string) (*previewRun, error) {
	k, ok := parsePreviewID(id)
	if !ok {
		return nil, errPreviewNotFound
	}
	return ps.lookup(c, k)
}

// lookup returns the caller's run of k, or errPreviewNotFound.
func (ps *previews) lookup(c Caller, k previewKey) (*previewRun, error) {
	if k.App != previewApp(c) {
		return nil, errPreviewNotFound
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	runs := ps.scopes[scopeKey{c.Org, c.Sandbox}]
	ps.sweep(runs, ps.now())
	r, ok := runs[k.QueryID]
	if !ok || r.key != k {
		return nil, errPreviewNotFound
	}
	return r, nil
}

// remove cancels and forgets the caller's run of previewId id.
func (ps *previews) remove(c Caller, id string) error {
	r, err := ps.get(c, id)
	if err != nil {
		return err
	}
	ps.mu.Lock()
	runs := ps.scopes[scopeKey{c.Org, c.Sandbox}]
	_, ok := runs[r.key.QueryID]
	delete(runs, r.key.QueryID)
	ps.mu.Unlock()
	if !ok {
		return errPreviewNotFound // removed meanwhile
	}
	r.cancel()
	return nil
}

// run waits for a slot, scans and publishes the result.
func (ps *previews) run(ctx context.Context, r *previewRun) {
	defer ps.wg.Done()
	defer r.cancel()
	select {
	case ps.slots <- struct{}{}:
	case <-ctx.Done():
		r.finish(nil, ctx.Err(), ps.now())
		return
	}
	defer func() { <-ps.slots }()
	r.mu.Lock()
	r.state = previewRunning
	r.mu.Unlock()
	start := time.Now()
	res, err := ps.execute(ctx, r)
	r.finish(res, err, ps.now())
	var ev *zerolog.Event
	if err != nil && ctx.Err() == nil {
		ev = ps.log.Warn().Err(err)
	} else {
		ev = ps.log.Info()
	}
	ev = ev.Str("preview_query", r.key.QueryID).Str("org", r.caller.Org).Str("sandbox", r.caller.Sandbox).Dur("took", time.Since(start))
	if res != nil {
		ev = ev.Int64("total", res.total).Int64("read", res.read).Int64("matched", res.matched).Int64("estimate", res.estimate.Size)
	}
	ev.Msg("preview run finished")
}

// finish publishes the outcome of a run.
func (r *previewRun) finish(res *previewResult, err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = now
	switch {
	case err == nil:
		r.state, r.result = previewReady, res
	case errors.Is(err, context.Canceled):
		r.state, r.failure = previewFailed, "The preview was cancelled."
	default:
		r.state, r.failure = previewFailed, err.Error()
	}
}

// partState is a scan part's own state: one goroutine at a time uses it.
type partState struct {
	runner   *pql.Runner
	bits     []uint64
	ns       *nsCounter
	ids      identityView // set with runner
	kept     int
	profiles []uint32
}

// execute scans the caller's profiles, sampled as r.sampling says, and
// works out the result.
func (ps *previews) execute(ctx context.Context, r *previewRun) (*previewResult, error) {
	c := r.caller
	// The sampling rate depends on the population, which the scan only
	// counts once started: count first (this groups the persons, which
	// the scan then finds cached). Should a batch land in between, the
	// statistics still use the scan's own count.
	n := ps.store.previewPopulation(c, r.pass.spec.rule)
	rate := r.sampling.rate(n)
	r.total.Store(int64(n))
	r.expected.Store(expectedRows(n, rate))
	states := make([]partState, len(r.counts))
	opt := scanOptions{Parts: len(r.counts), Workers: r.workers, Sample: rate, Seed: r.seed, Total: &r.total}
	info, err := ps.store.scan(ctx, c, r.pass.spec, opt, func(part int, sp *scanPerson) error {
		st, cnt := &states[part], &r.counts[part]
		if st.runner == nil {
			st.runner = r.pass.plans[0].NewRunner(r.created)
			var err error
			if st.ns, err = newNSCounter(sp.sc, sp.g); err != nil {
				return err
			}
			// The table does not change during the scan (it holds the
			// store's read lock), and a view stays valid after it.
			st.ids = sp.sc.ids.view()
		}
		bits := r.pass.externalBits(st.bits, sp.Identity)
		st.bits = bits
		sp.Subject.Segments = bits
		ok, err := st.runner.Match(&sp.Subject)
		if err != nil {
			return fmt.Errorf("evaluating profile %s: %w", sp.ID(), err)
		}
		read := cnt.read.Add(1)
		if ok {
			cnt.matched.Add(1)
			st.ns.add(sp.Person)
			if st.kept < r.keep {
				st.profiles = sp.appendPreviewIdentities(st.profiles)
				st.kept++
			}
		}
		if r.visit != nil {
			r.visit(ctx, read)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &previewResult{total: int64(info.Total)}
	byNS := map[string]int64{}
	for i := range states {
		st := &states[i]
		res.read += r.counts[i].read.Load()
		res.matched += r.counts[i].matched.Load()
		st.ns.addTo(byNS)
		if st.runner != nil && st.ids.len() > res.ids.len() {
			res.ids = st.ids
		}
		// Parts are contiguous ranges in person order: taken in order,
		// the profiles kept are the first ones, deterministically.
		for j := 0; j < len(st.profiles) && len(res.starts) < r.keep; {
			res.starts = append(res.starts, len(res.profiles))
			end := j + 1 + int(st.profiles[j])
			res.profiles = append(res.profiles, st.profiles[j:end]...)
			j = end
		}
	}
	if res.read != int64(info.Visited) {
		return nil, fmt.Errorf("preview scan: %d profiles counted, the scan visited %d", res.read, info.Visited)
	}
	for ns, k := range byNS {
		res.namespaces = append(res.namespaces, namespaceCount{ns, k})
	}
	slices.SortFunc(res.namespaces, func(a, b namespaceCount) int { return cmp.Compare(a.namespace, b.namespace) })
	res.estimate = estimateSize(res.total, res.read, res.matched)
	return res, nil
}

// previewPopulation is the number of persons of the caller's scope under
// rule. It groups them if no scan has since the last batch, and leaves
// the grouping cached for the scan that follows.
func (s *profileStore) previewPopulation(c Caller, rule mergeRule) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]
	if !ok {
		return 0
	}
	return len(sc.cachedGrouping(rule).persons)
}

// appendPreviewIdentities appends the person's distinct identity numbers
// (of its fragments and of its events' identities, at most
// maxPreviewIdentities) to dst, preceded by their count, the one shown as
// its id first.
func (p *scanPerson) appendPreviewIdentities(dst []uint32) []uint32 {
	at := len(dst)
	dst = append(dst, 0, p.Identity)
	add := func(id uint32) {
		if len(dst)-at-1 >= maxPreviewIdentities || slices.Contains(dst[at+1:], id) {
			return
		}
		dst = append(dst, id)
	}
	pr := p.g.persons[p.Person]
	for _, fi := range p.g.frags[pr.fragStart:pr.fragEnd] {
		for _, id := range p.sc.frags[fi].identities {
			add(id)
		}
	}
	for _, b := range p.g.blocks[pr.blockStart:pr.blockEnd] {
		add(p.sc.blocks[b].identity)
	}
	dst[at] = uint32(len(dst) - at - 1)
	return dst
}

// profileAt returns the identities of kept profile i as keys, the shown
// one first.
func (res *previewResult) profileAt(i int) []identityKey {
	s := res.starts[i]
	k := int(res.profiles[s])
	out := make([]identityKey, k)
	for j, n := range res.profiles[s+1 : s+1+k] {
		out[j] = identityKey(res.ids.key(n))
	}
	return out
}
