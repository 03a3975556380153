package ups

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// scanOptions say how a parallel scan runs.
type scanOptions struct {
	// Parts is how many contiguous ranges the persons are cut into (at
	// least Workers; more gives finer progress and smaller export files).
	// Zero: four per worker.
	Parts int
	// Workers is how many goroutines scan; zero: GOMAXPROCS.
	Workers int
	// Sample, when in (0, 1), visits each person with that probability,
	// decided by a hash of Seed and the person's number: a uniform
	// Bernoulli sample, the same for the same seed and store.
	Sample float64
	Seed   uint64
	// Progress, when set, counts the persons visited so far.
	Progress *atomic.Int64
	// Total, when set, receives the number of persons before the scan
	// starts (estimates report progress against it).
	Total *atomic.Int64
	// Skip, when set, is asked about each person's identity (see
	// scanPerson.Identity) before anything of it is decoded: true leaves
	// the person out. An export of a segment's members reads only them.
	// It is called from several goroutines.
	Skip func(identity uint32) bool
	// PartDone, when set, is called once a part's persons have all been
	// handed over, from the goroutine that scanned it; an error stops the
	// scan.
	PartDone func(part int) error
}

// scanInfo is what a finished scan saw.
type scanInfo struct {
	Total   int // persons in the scope
	Visited int // persons handed to fn (all of them unless sampled)
}

// scanPerson is the Profile of a parallel scan plus where it sits.
type scanPerson struct {
	Profile
	// Person is its index in the grouping (stable until the next batch).
	Person uint32
	// Identity is the number of the identity shown as its id: what
	// segment memberships are keyed by.
	Identity uint32

	sc *scopeStore
	g  *grouping
}

// scan calls fn for every merged profile of the caller's scope, as spec
// says, from several goroutines: persons are cut into opt.Parts
// contiguous ranges, and the calls of one part come from one goroutine,
// in person order. fn must not keep p, nor call the store (the scan holds
// its read lock). The first error stops the scan and is returned; so is
// ctx's error when it is cancelled.
func (s *profileStore) scan(ctx context.Context, c Caller, spec scanSpec, opt scanOptions, fn func(part int, p *scanPerson) error) (scanInfo, error) {
	var info scanInfo
	err := s.withGrouping(c, spec.rule, func(sc *scopeStore, g *grouping) error {
		var err error
		info, err = scanGrouping(ctx, sc, g, spec, opt, fn)
		return err
	})
	if err == nil {
		err = ctx.Err()
	}
	return info, err
}

// withGrouping calls fn with the caller's scope and its persons under
// rule, under the store's read lock: nothing fn reads changes until it
// returns. fn is not called when the scope is empty.
func (s *profileStore) withGrouping(c Caller, rule mergeRule, fn func(sc *scopeStore, g *grouping) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]
	if !ok {
		return nil
	}
	g := sc.cachedGrouping(rule)
	g.cols.setBudget(s.columnBudget)
	return fn(sc, g)
}

// scanGrouping is scan over one grouping, under the store's read lock.
func scanGrouping(ctx context.Context, sc *scopeStore, g *grouping, spec scanSpec, opt scanOptions, fn func(part int, p *scanPerson) error) (scanInfo, error) {
	n := len(g.persons)
	if opt.Total != nil {
		opt.Total.Store(int64(n))
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parts := opt.Parts
	if parts <= 0 {
		parts = 4 * workers
	}
	parts = max(1, min(parts, n))
	var threshold uint64 = math.MaxUint64
	sampled := opt.Sample > 0 && opt.Sample < 1
	if sampled {
		threshold = uint64(opt.Sample * math.MaxUint64)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, visited atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, parts) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := newMaterializer(sc)
			p := scanPerson{sc: sc, g: g}
			for {
				part := int(next.Add(1) - 1)
				if part >= parts || ctx.Err() != nil {
					return
				}
				lo, hi := part*n/parts, (part+1)*n/parts
				seen := 0
				for i := lo; i < hi; i++ {
					if sampled && mix64(opt.Seed^uint64(i)) > threshold {
						continue
					}
					if opt.Skip != nil && opt.Skip(g.persons[i].key) {
						continue
					}
					if seen++; seen&1023 == 0 {
						if ctx.Err() != nil {
							return
						}
						if opt.Progress != nil {
							opt.Progress.Add(1024)
						}
					}
					if err := m.person(g, i, spec, &p.Profile); err != nil {
						cancel(err)
						return
					}
					p.Person = uint32(i)
					p.Identity = g.persons[i].key
					if err := fn(part, &p); err != nil {
						cancel(err)
						return
					}
				}
				visited.Add(int64(seen))
				if opt.Progress != nil {
					opt.Progress.Add(int64(seen & 1023))
				}
				if opt.PartDone != nil {
					if err := opt.PartDone(part); err != nil {
						cancel(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return scanInfo{}, err
	}
	return scanInfo{Total: n, Visited: int(visited.Load())}, nil
}

// mix64 is SplitMix64's finalizer: a fast, well-spread hash of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// personNamespaces calls fn with each distinct identity namespace of
// person i of g (of its fragments and of its events' identities): what
// segment jobs, exports and previews count profiles by (nsCounter).
func personNamespaces(sc *scopeStore, g *grouping, i uint32, fn func(ns string)) {
	pr := g.persons[i]
	var seen [4]uint64 // namespace codes met, as a bitset
	add := func(id uint32) {
		c := sc.ids.ns[id]
		if c != otherNamespace {
			if seen[c/64]&(1<<(c%64)) != 0 {
				return
			}
			seen[c/64] |= 1 << (c % 64)
		}
		fn(sc.ids.namespace(id))
	}
	for _, fi := range g.frags[pr.fragStart:pr.fragEnd] {
		for _, id := range sc.frags[fi].identities {
			add(id)
		}
	}
	for _, b := range g.blocks[pr.blockStart:pr.blockEnd] {
		add(sc.blocks[b].identity)
	}
}

// identityCount is how many identities the caller's scope has numbered.
func (s *profileStore) identityCount(c Caller) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]; ok {
		return sc.ids.len()
	}
	return 0
}
