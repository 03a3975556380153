package ups

import (
	"cmp"
	"slices"
	"sync"

	"github.com/segflow/segflow/pkg/pql"
)

// profileStore holds the profile fragments and ExperienceEvents that batch
// ingestion applied, per org and sandbox. It is rebuilt at start by
// replaying the committed batches (see ingest.go), so it keeps nothing on
// disk of its own.
//
// This first layout keeps records as pql Values, keyed by identity. It is
// correct and simple; the memory and scan floors of a million profiles
// call for events laid out per profile by column (see the closing notes).
type profileStore struct {
	mu     sync.RWMutex
	scopes map[scopeKey]*scopeStore
}

type scopeKey struct{ org, sandbox string }

// scopeStore is one org and sandbox.
type scopeStore struct {
	schema *pql.Schema
	// fragments by dataset and primary identity: a newer record of the
	// same profile in the same dataset replaces the older one.
	fragments map[string]*fragment
	// events by _id: re-ingesting an event replaces it.
	events map[string]*event
}

// identityKey is "namespace\x00id": one identity of identityMap.
type identityKey string

func newIdentityKey(ns, id string) identityKey { return identityKey(ns + "\x00" + id) }

// fragment is one profile record of one dataset.
type fragment struct {
	dataset    string
	primary    identityKey
	identities []identityKey
	seq        uint64 // ingestion order: higher is newer
	value      pql.Value
}

// event is one ExperienceEvent.
type event struct {
	dataset    string
	id         string
	identities []identityKey
	timestamp  int64 // microseconds
	seq        uint64
	value      pql.Value
}

func newProfileStore() *profileStore {
	return &profileStore{scopes: map[scopeKey]*scopeStore{}}
}

// scope returns the store of an org and sandbox, creating it.
func (s *profileStore) scope(c Caller) *scopeStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := scopeKey{c.Org, c.Sandbox}
	sc, ok := s.scopes[k]
	if !ok {
		sc = &scopeStore{schema: pql.NewXDMSchema(), fragments: map[string]*fragment{}, events: map[string]*event{}}
		s.scopes[k] = sc
	}
	return sc
}

// apply adds a validated batch's records. Callers apply one batch at a
// time, in commit order.
func (s *profileStore) apply(c Caller, frags []*fragment, events []*event) {
	sc := s.scope(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range frags {
		sc.fragments[f.dataset+"\x00"+string(f.primary)] = f
	}
	for _, e := range events {
		sc.events[e.id] = e
	}
}

// counts reports how many fragments and events a scope holds.
func (s *profileStore) counts(c Caller) (fragments, events int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]
	if !ok {
		return 0, 0
	}
	return len(sc.fragments), len(sc.events)
}

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

// Profile is one merged profile: its identities and the subject the PQL
// evaluator reads.
type Profile struct {
	// ID is the profile's primary identity as "namespace:id".
	ID      string
	Subject pql.Subject
}

// each calls fn with every merged profile of the caller's scope under rule,
// in a deterministic order, until fn returns false. Profiles with events
// but no fragment (event-only profiles) are included. The subjects are
// packed and share nothing with the store.
func (s *profileStore) each(c Caller, rule mergeRule, fn func(*Profile) bool) {
	s.mu.RLock()
	sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]
	if !ok {
		s.mu.RUnlock()
		return
	}
	persons := sc.persons(rule)
	s.mu.RUnlock()
	for _, p := range persons {
		if !fn(p) {
			return
		}
	}
}

// Schema returns the scope's schema (for compiling queries against it).
func (s *profileStore) schema(c Caller) *pql.Schema { return s.scope(c).schema }

// persons groups fragments and events into merged profiles. Callers hold
// the read lock.
func (sc *scopeStore) persons(rule mergeRule) []*Profile {
	rank := map[string]int{}
	for i, d := range rule.Order {
		rank[d] = i
	}
	frags := make([]*fragment, 0, len(sc.fragments))
	for _, f := range sc.fragments {
		if rule.Attribute == "dataSetPrecedence" {
			if _, ok := rank[f.dataset]; !ok {
				continue
			}
		}
		frags = append(frags, f)
	}
	// Union-find over identities: under pdg every identity of a fragment
	// links it; under none only the primary one does.
	uf := newUnionFind()
	for _, f := range frags {
		if rule.Graph == "pdg" {
			for _, id := range f.identities[1:] {
				uf.union(f.identities[0], id)
			}
		}
		uf.find(f.primary)
	}
	groups := map[identityKey]*group{}
	groupOf := func(k identityKey) *group {
		root := uf.find(k)
		g, ok := groups[root]
		if !ok {
			g = &group{}
			groups[root] = g
		}
		return g
	}
	for _, f := range frags {
		g := groupOf(f.primary)
		g.frags = append(g.frags, f)
	}
	for _, e := range sc.events {
		// An event joins the profile of the first of its identities that a
		// profile has; otherwise it makes an event-only profile.
		target := e.identities[0]
		for _, id := range e.identities {
			if uf.has(id) {
				target = id
				break
			}
		}
		g := groupOf(target)
		g.events = append(g.events, e)
	}
	out := make([]*Profile, 0, len(groups))
	for root, g := range groups {
		out = append(out, g.profile(root, rule, rank))
	}
	slices.SortFunc(out, func(a, b *Profile) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

type group struct {
	frags  []*fragment
	events []*event
}

// profile merges a group's fragments by the rule and orders its events.
func (g *group) profile(root identityKey, rule mergeRule, rank map[string]int) *Profile {
	slices.SortFunc(g.frags, func(a, b *fragment) int {
		if rule.Attribute == "dataSetPrecedence" {
			if c := cmp.Compare(rank[a.dataset], rank[b.dataset]); c != 0 {
				return c
			}
		}
		return cmp.Compare(b.seq, a.seq) // newest first
	})
	values := make([]pql.Value, len(g.frags))
	for i, f := range g.frags {
		values[i] = f.value
	}
	slices.SortFunc(g.events, func(a, b *event) int {
		if c := cmp.Compare(a.timestamp, b.timestamp); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	events := make([]pql.Value, len(g.events))
	for i, e := range g.events {
		events[i] = e.value
	}
	id := root
	if len(g.frags) > 0 {
		id = g.frags[0].primary
	}
	ns, val, _ := cutIdentity(id)
	p := &Profile{ID: ns + ":" + val, Subject: pql.Subject{Profile: pql.Merge(values...), Events: events}}
	p.Subject.Pack()
	return p
}

func cutIdentity(k identityKey) (ns, id string, ok bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return string(k[:i]), string(k[i+1:]), true
		}
	}
	return "", string(k), false
}

// unionFind groups identities.
type unionFind struct{ parent map[identityKey]identityKey }

func newUnionFind() *unionFind { return &unionFind{parent: map[identityKey]identityKey{}} }

func (u *unionFind) has(k identityKey) bool {
	_, ok := u.parent[k]
	return ok
}

func (u *unionFind) find(k identityKey) identityKey {
	p, ok := u.parent[k]
	if !ok {
		u.parent[k] = k
		return k
	}
	if p == k {
		return k
	}
	root := u.find(p)
	u.parent[k] = root
	return root
}

func (u *unionFind) union(a, b identityKey) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if rb < ra { // the smaller key is the root: deterministic
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
}

// rule is what the profile store needs of a merge policy.
func (p MergePolicy) rule() mergeRule {
	return mergeRule{Graph: p.IdentityGraph, Attribute: p.AttributeMerge, Order: p.Order}
}
