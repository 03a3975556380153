package ups

import (
	"cmp"
	"slices"
	"strings"

	"github.com/segflow/segflow/pkg/pql"
)

// mergeRule is what the store needs of a merge policy.
type mergeRule struct {
	// Graph is "none" (fragments merge only on the same primary identity)
	// or "pdg" (fragments sharing any identity are one person, transitively).
	Graph string
	// Attribute is "timestampOrdered" (the most recently ingested fragment
	// wins per attribute) or "dataSetPrecedence" (Order decides; datasets
	// not in Order are left out).
	Attribute string
	Order     []string
}

func (r mergeRule) key() string {
	return r.Graph + "\x00" + r.Attribute + "\x00" + strings.Join(r.Order, "\x00")
}

// rule is what the profile store needs of a merge policy.
func (p MergePolicy) rule() mergeRule {
	return mergeRule{Graph: p.IdentityGraph, Attribute: p.AttributeMerge, Order: p.Order}
}

// scanSpec says what of each profile a scan materializes: the merge rule,
// and projections of the profile and its events (nil: all of it). A
// segment job passes what pql.Analyze says its queries read.
type scanSpec struct {
	rule     mergeRule
	profile  *pql.Projection
	events   *pql.Projection
	noEvents bool
}

// Profile is one merged profile, as a scan hands it over: valid only
// until the callback returns.
type Profile struct {
	Subject pql.Subject
	key     identityKey
}

// ID returns the profile's identity as "namespace:id": the primary
// identity of its highest-priority fragment, or of its events.
func (p *Profile) ID() string {
	ns, id, _ := cutIdentity(p.key)
	return ns + ":" + id
}

// grouping is the persons of a scope under one merge rule: fragments
// that merge and the identities whose events they own. Flat slices, so
// a million persons cost a few allocations.
type grouping struct {
	persons []person
	// keys is each person's key alone: listing a segment's members
	// reads it, a fifth of the memory of persons.
	keys   []uint32
	frags  []uint32 // fragment numbers, per person in merge order
	blocks []uint32 // event block numbers, per person
	// cols holds the persons' attributes by column, as segments need them.
	cols *columns
}

type person struct {
	key                  uint32 // identity shown as the profile's id
	fragStart, fragEnd   uint32
	blockStart, blockEnd uint32
}

// groupPersons merges fragments into persons. Under "pdg" every identity
// of a fragment links it to others, transitively; under "none" only the
// primary identity does. Events join the person of their identity, or
// make an event-only person.
func groupPersons(sc *scopeStore, rule mergeRule) *grouping {
	rank := map[uint32]int{}
	for i, d := range rule.Order {
		if id, ok := sc.dsIndex[d]; ok {
			if _, dup := rank[id]; !dup {
				rank[id] = i
			}
		}
	}
	byRank := rule.Attribute == "dataSetPrecedence"
	n := sc.ids.len()
	parent := make([]uint32, n)
	for i := range parent {
		parent[i] = uint32(i)
	}
	find := func(x uint32) uint32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	known := make([]bool, n)
	kept := make([]uint32, 0, len(sc.frags))
	for i, f := range sc.frags {
		if byRank {
			if _, ok := rank[f.dataset]; !ok {
				continue
			}
		}
		kept = append(kept, uint32(i))
		known[f.identities[0]] = true
		if rule.Graph != "pdg" {
			continue
		}
		for _, id := range f.identities[1:] {
			known[id] = true
			a, b := find(f.identities[0]), find(id)
			if a != b {
				// The smaller number is the root: deterministic.
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	// Each fragment and block belongs to its root identity; persons are
	// the roots that own something, in root number order. Members are
	// laid out per person by counting sort: linear, where sorting a
	// million members by person took most of the grouping.
	fragRoot := make([]uint32, len(kept))
	for i, fi := range kept {
		fragRoot[i] = find(sc.frags[fi].identities[0])
	}
	blockRoot := make([]uint32, len(sc.blocks))
	for b, blk := range sc.blocks {
		root := blk.identity
		if known[root] {
			root = find(root)
		}
		blockRoot[b] = root
	}
	personOf := make([]int32, n)
	for i := range personOf {
		personOf[i] = -1
	}
	for _, r := range fragRoot {
		personOf[r] = 0
	}
	for _, r := range blockRoot {
		personOf[r] = 0
	}
	var g grouping
	for id, p := range personOf {
		if p == 0 {
			personOf[id] = int32(len(g.persons))
			g.persons = append(g.persons, person{key: uint32(id)})
		} else {
			personOf[id] = -1
		}
	}
	// layout places items by their roots' persons, setting each person's
	// range with rng.
	layout := func(items []uint32, roots []uint32, rng func(*person) (*uint32, *uint32)) []uint32 {
		counts := make([]uint32, len(g.persons)+1)
		for _, r := range roots {
			counts[personOf[r]+1]++
		}
		for i := 1; i < len(counts); i++ {
			counts[i] += counts[i-1]
		}
		for i := range g.persons {
			start, end := rng(&g.persons[i])
			*start, *end = counts[i], counts[i+1]
		}
		out := make([]uint32, len(roots))
		for i, r := range roots {
			p := personOf[r]
			item := uint32(i)
			if items != nil {
				item = items[i]
			}
			out[counts[p]] = item
			counts[p]++
		}
		return out
	}
	g.frags = layout(kept, fragRoot, func(p *person) (*uint32, *uint32) { return &p.fragStart, &p.fragEnd })
	g.blocks = layout(nil, blockRoot, func(p *person) (*uint32, *uint32) { return &p.blockStart, &p.blockEnd })
	// Merge order within a person: dataset rank, then newest first.
	for i := range g.persons {
		p := &g.persons[i]
		fs := g.frags[p.fragStart:p.fragEnd]
		slices.SortFunc(fs, func(a, b uint32) int {
			fa, fb := &sc.frags[a], &sc.frags[b]
			if byRank {
				if c := cmp.Compare(rank[fa.dataset], rank[fb.dataset]); c != 0 {
					return c
				}
			}
			return cmp.Compare(fb.seq, fa.seq)
		})
		if len(fs) > 0 {
			p.key = sc.frags[fs[0]].identities[0]
		}
	}
	g.keys = make([]uint32, len(g.persons))
	for i, p := range g.persons {
		g.keys[i] = p.key
	}
	return &g
}

// each calls fn with every merged profile of the caller's scope, as spec
// says, in a deterministic order, until fn returns false. The Profile and
// its Values are reused: fn must not keep them, nor call the store (it
// runs under the store's read lock).
func (s *profileStore) each(c Caller, spec scanSpec, fn func(*Profile) bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]
	if !ok {
		return nil
	}
	g := sc.cachedGrouping(spec.rule)
	m := newMaterializer(sc)
	var p Profile
	for i := range g.persons {
		if err := m.person(g, i, spec, &p); err != nil {
			return err
		}
		if !fn(&p) {
			return nil
		}
	}
	return nil
}

// cachedGrouping returns the grouping of rule for this version of the
// scope. Scans fill the cache under the store's read lock, so it has a
// lock of its own; apply empties it.
func (sc *scopeStore) cachedGrouping(rule mergeRule) *grouping {
	key := rule.key()
	sc.groupsMu.Lock()
	defer sc.groupsMu.Unlock()
	if g, ok := sc.groups[key]; ok {
		return g
	}
	g := groupPersons(sc, rule)
	g.cols = newColumns(sc, g)
	if sc.groups == nil {
		sc.groups = map[string]*grouping{}
	}
	sc.groups[key] = g
	return g
}

// materializer turns persons into Subjects, reusing its memory.
type materializer struct {
	sc     *scopeStore
	lay    eventLayout
	dec    pql.Decoder
	events eventReader
	frags  []pql.Value
	list   []pql.Value
	sorted []timedEvent
}

type timedEvent struct {
	ts int64
	v  pql.Value
}

func newMaterializer(sc *scopeStore) *materializer {
	m := &materializer{sc: sc, lay: layoutOf(sc.schema)}
	m.dec.Dict = sc.pdict
	return m
}

func (m *materializer) person(g *grouping, i int, spec scanSpec, out *Profile) error {
	p := g.persons[i]
	m.dec.Reset()
	m.events.reset()
	out.key = identityKey(m.sc.ids.key(p.key))
	out.Subject = pql.Subject{}
	m.frags = m.frags[:0]
	for _, fi := range g.frags[p.fragStart:p.fragEnd] {
		v, _, err := m.dec.Decode(m.sc.frags[fi].data, spec.profile)
		if err != nil {
			return err
		}
		m.frags = append(m.frags, v)
	}
	switch len(m.frags) {
	case 0:
	case 1:
		out.Subject.Profile = m.frags[0]
	default:
		out.Subject.Profile = pql.Merge(m.frags...)
	}
	if spec.noEvents {
		return nil
	}
	events := m.list[:0]
	m.events.ts = m.events.ts[:0]
	for _, b := range g.blocks[p.blockStart:p.blockEnd] {
		var err error
		if events, err = m.events.read(m.sc.blocks[b].data, spec.events, m.lay, m.sc.dict, events); err != nil {
			return err
		}
	}
	if p.blockEnd-p.blockStart > 1 {
		// Events of several identities: put them in one time order.
		m.sorted = m.sorted[:0]
		for j, v := range events {
			m.sorted = append(m.sorted, timedEvent{m.events.ts[j], v})
		}
		slices.SortStableFunc(m.sorted, func(a, b timedEvent) int { return cmp.Compare(a.ts, b.ts) })
		for j := range m.sorted {
			events[j] = m.sorted[j].v
		}
	}
	m.list = events
	out.Subject.Events = events
	return nil
}
