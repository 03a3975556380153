package ups

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segflow/segflow/pkg/pql"
)

// evalSegment is one segment to evaluate: its id and parsed query.
type evalSegment struct {
	id string
	q  *pql.Query
}

// evalResult is what one pass over the profiles found.
type evalResult struct {
	info scanInfo
	// members[i] are the identities (scanPerson.Identity) of the profiles
	// that qualify for segment i, ascending.
	members [][]uint32
	// namespaces[i] counts the qualifying profiles of segment i by each
	// identity namespace they have.
	namespaces []map[string]int64
}

// segmentPass evaluates segments over every profile of a scope in one
// parallel pass. Segments come in dependency order (pql.DependencyOrder):
// a segment that uses another of the pass through inSegment sees, for
// each profile, the result just computed for it. inSegment ids outside
// the pass read the memberships of the last segment job (view).
type segmentPass struct {
	segs     []evalSegment
	plans    []*pql.Plan
	external []*segmentMembers // by slot - len(segs)
	spec     scanSpec
}

// newSegmentPass compiles segs against schema for one merge rule.
func newSegmentPass(schema *pql.Schema, rule mergeRule, segs []evalSegment, view membershipView) (*segmentPass, error) {
	p := &segmentPass{segs: segs, spec: scanSpec{rule: rule, noEvents: true}}
	slots := map[string]int{}
	for i, s := range segs {
		slots[s.id] = i
	}
	var profilePaths, eventPaths []string
	for _, s := range segs {
		info := pql.Analyze(s.q)
		for _, id := range info.Segments {
			if _, ok := slots[id]; ok {
				continue
			}
			if m, ok := view[id]; ok {
				slots[id] = len(segs) + len(p.external)
				p.external = append(p.external, m)
			}
		}
		profilePaths = append(profilePaths, info.ProfilePaths...)
		if info.ReadsEvents {
			p.spec.noEvents = false
			eventPaths = append(eventPaths, info.EventPaths...)
		}
	}
	slot := func(id string) (int, bool) {
		i, ok := slots[id]
		return i, ok
	}
	for _, s := range segs {
		plan, err := pql.Compile(s.q, pql.Options{Schema: schema, SegmentSlot: slot})
		if err != nil {
			return nil, fmt.Errorf("segment %s: %w", s.id, err)
		}
		p.plans = append(p.plans, plan)
	}
	p.spec.profile = schema.ProfileProjection(profilePaths)
	if !p.spec.noEvents {
		p.spec.events = schema.EventProjection(eventPaths)
	}
	return p, nil
}

// externalBits sets, in bits (reused, cleared first), the slots of the
// segments outside the pass that the profile of identity is a member of.
func (p *segmentPass) externalBits(bits []uint64, identity uint32) []uint64 {
	bits = bits[:0]
	clear(bits[:cap(bits)])
	for j, m := range p.external {
		if st, _ := m.get(identity); st.qualified() {
			bits = pql.InSegment(bits, len(p.segs)+j)
		}
	}
	return bits
}

// run evaluates the pass at now.
func (p *segmentPass) run(ctx context.Context, store *profileStore, c Caller, now time.Time, opt scanOptions) (evalResult, error) {
	if opt.Parts <= 0 {
		opt.Parts = 64
	}
	type partResult struct {
		members    [][]uint32
		namespaces []map[string]int64
		bits       []uint64 // reused for each profile's Subject.Segments
	}
	parts := make([]partResult, opt.Parts)
	runners := make([][]*pql.Runner, opt.Parts)
	info, err := store.scan(ctx, c, p.spec, opt, func(part int, sp *scanPerson) error {
		pr := &parts[part]
		rs := runners[part]
		if rs == nil {
			// A part is scanned by one goroutine: its runners are its own.
			for _, plan := range p.plans {
				rs = append(rs, plan.NewRunner(now))
			}
			runners[part] = rs
			pr.members = make([][]uint32, len(p.plans))
			pr.namespaces = make([]map[string]int64, len(p.plans))
		}
		bits := p.externalBits(pr.bits, sp.Identity)
		sp.Subject.Segments = bits
		pr.bits = bits
		for i, r := range rs {
			ok, err := r.Match(&sp.Subject)
			if err != nil {
				return fmt.Errorf("segment %s, profile %s: %w", p.segs[i].id, sp.ID(), err)
			}
			if !ok {
				continue
			}
			sp.Subject.Segments = pql.InSegment(sp.Subject.Segments, i)
			pr.bits = sp.Subject.Segments
			pr.members[i] = append(pr.members[i], sp.Identity)
			ns := pr.namespaces[i]
			if ns == nil {
				ns = map[string]int64{}
				pr.namespaces[i] = ns
			}
			sp.Namespaces(func(n string) { ns[n]++ })
		}
		return nil
	})
	if err != nil {
		return evalResult{}, err
	}
	res := evalResult{info: info, members: make([][]uint32, len(p.plans)), namespaces: make([]map[string]int64, len(p.plans))}
	for i := range p.plans {
		ns := map[string]int64{}
		var all []uint32
		for _, pr := range parts {
			if pr.members == nil {
				continue
			}
			all = append(all, pr.members[i]...)
			for k, v := range pr.namespaces[i] {
				ns[k] += v
			}
		}
		slices.Sort(all)
		res.members[i] = all
		res.namespaces[i] = ns
	}
	return res, nil
}
