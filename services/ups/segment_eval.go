package ups

import (
	"context"
	"fmt"
	"math/bits"
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

// segmentPass evaluates segments over every profile of a scope. Segments
// come in dependency order (pql.DependencyOrder): a segment that uses
// another of the pass through inSegment sees, for each profile, the
// result just computed for it. inSegment ids outside the pass read the
// memberships of the last segment job (view).
//
// A segment of the shapes pql.CompileColumns takes is evaluated by
// column, the others in one parallel pass that materializes the profiles
// (and their events when one of them reads events).
type segmentPass struct {
	segs     []evalSegment
	plans    []*pql.Plan       // every segment's row plan
	columnar []*pql.ColumnPlan // nil for the segments evaluated by row
	external []*segmentMembers // by slot - len(segs)
	spec     scanSpec          // what the row segments read
}

// newSegmentPass compiles segs against schema for one merge rule; by
// column where it can when byColumn is set.
func newSegmentPass(schema *pql.Schema, rule mergeRule, segs []evalSegment, view membershipView, byColumn bool) (*segmentPass, error) {
	p := &segmentPass{segs: segs, spec: scanSpec{rule: rule, noEvents: true}}
	slots := map[string]int{}
	for i, s := range segs {
		slots[s.id] = i
	}
	for _, s := range segs {
		for _, id := range pql.Analyze(s.q).Segments {
			if _, ok := slots[id]; ok {
				continue
			}
			if m, ok := view[id]; ok {
				slots[id] = len(segs) + len(p.external)
				p.external = append(p.external, m)
			}
		}
	}
	slot := func(id string) (int, bool) {
		i, ok := slots[id]
		return i, ok
	}
	p.plans = make([]*pql.Plan, len(segs))
	p.columnar = make([]*pql.ColumnPlan, len(segs))
	// A columnar segment can use the segments before it only if they are
	// columnar too: their results are bitmaps before any row is scanned.
	colSlot := func(id string) (int, bool) {
		i, ok := slots[id]
		if ok && i < len(segs) && p.columnar[i] == nil {
			return 0, false
		}
		return i, ok
	}
	var profilePaths, eventPaths []string
	for i, s := range segs {
		plan, err := pql.Compile(s.q, pql.Options{Schema: schema, SegmentSlot: slot})
		if err != nil {
			return nil, fmt.Errorf("segment %s: %w", s.id, err)
		}
		p.plans[i] = plan
		if byColumn {
			if cp, err := pql.CompileColumns(s.q, pql.Options{Schema: schema, SegmentSlot: colSlot}); err == nil {
				p.columnar[i] = cp
				continue
			}
		}
		info := plan.Info()
		profilePaths = append(profilePaths, info.ProfilePaths...)
		if info.ReadsEvents {
			p.spec.noEvents = false
			eventPaths = append(eventPaths, info.EventPaths...)
		}
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

// passColumns are a grouping's columns plus the segments of a pass, as
// bitmaps by person.
type passColumns struct {
	*columns
	pass     *segmentPass
	segments map[int][]uint64
}

func (c *passColumns) Segment(slot int) ([]uint64, error) {
	if bm, ok := c.segments[slot]; ok {
		return bm, nil
	}
	if slot < len(c.pass.segs) {
		return nil, fmt.Errorf("ups: segment %s used before it is evaluated", c.pass.segs[slot].id)
	}
	bm := c.members(c.pass.external[slot-len(c.pass.segs)])
	c.segments[slot] = bm
	return bm, nil
}

// run evaluates the pass at now.
func (p *segmentPass) run(ctx context.Context, store *profileStore, c Caller, now time.Time, opt scanOptions) (evalResult, error) {
	res := evalResult{members: make([][]uint32, len(p.segs)), namespaces: make([]map[string]int64, len(p.segs))}
	err := store.withGrouping(c, p.spec.rule, func(sc *scopeStore, g *grouping) error {
		cols := &passColumns{columns: g.cols, pass: p, segments: map[int][]uint64{}}
		rows := false
		for i, cp := range p.columnar {
			if cp == nil {
				rows = true
				continue
			}
			bm, err := cp.Run(ctx, cols, now, opt.Workers)
			if err != nil {
				return fmt.Errorf("segment %s: %w", p.segs[i].id, err)
			}
			cols.segments[i] = bm
			if res.members[i], res.namespaces[i], err = bitmapMembers(sc, g, bm); err != nil {
				return err
			}
		}
		res.info = scanInfo{Total: len(g.persons), Visited: len(g.persons)}
		if !rows {
			return nil
		}
		info, err := p.scanRows(ctx, sc, g, cols.segments, now, opt, &res)
		res.info = info
		return err
	})
	if err != nil {
		return evalResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return evalResult{}, err
	}
	for i := range p.segs {
		if res.namespaces[i] == nil {
			res.namespaces[i] = map[string]int64{}
		}
	}
	return res, nil
}

// bitmapMembers returns the shown identities of the persons of a bitmap,
// ascending, and their count by namespace.
func bitmapMembers(sc *scopeStore, g *grouping, bm []uint64) ([]uint32, map[string]int64, error) {
	counter, err := newNSCounter(sc, g)
	if err != nil {
		return nil, nil, err
	}
	n := 0
	for _, w := range bm {
		n += bits.OnesCount64(w)
	}
	members := make([]uint32, 0, n)
	for wi, w := range bm {
		for w != 0 {
			i := uint32(wi*64 + bits.TrailingZeros64(w))
			w &= w - 1
			members = append(members, g.keys[i])
			counter.add(i)
		}
	}
	if !slices.IsSorted(members) {
		slices.Sort(members)
	}
	ns := map[string]int64{}
	counter.addTo(ns)
	return members, ns, nil
}

// scanRows evaluates the row segments of the pass in one parallel scan,
// with the columnar segments' results (by slot) visible to inSegment.
func (p *segmentPass) scanRows(ctx context.Context, sc *scopeStore, g *grouping, done map[int][]uint64, now time.Time, opt scanOptions, res *evalResult) (scanInfo, error) {
	if opt.Parts <= 0 {
		opt.Parts = 64
	}
	type partResult struct {
		members    [][]uint32
		namespaces []*nsCounter
		bits       []uint64 // reused for each profile's Subject.Segments
	}
	var inPass []int // columnar segments of the pass
	for i, cp := range p.columnar {
		if cp != nil {
			inPass = append(inPass, i)
		}
	}
	parts := make([]partResult, opt.Parts)
	runners := make([][]*pql.Runner, opt.Parts)
	info, err := scanGrouping(ctx, sc, g, p.spec, opt, func(part int, sp *scanPerson) error {
		pr := &parts[part]
		rs := runners[part]
		if rs == nil {
			// A part is scanned by one goroutine: its runners are its own.
			rs = make([]*pql.Runner, len(p.plans))
			for i, plan := range p.plans {
				if p.columnar[i] == nil {
					rs[i] = plan.NewRunner(now)
				}
			}
			runners[part] = rs
			pr.members = make([][]uint32, len(p.plans))
			pr.namespaces = make([]*nsCounter, len(p.plans))
		}
		bits := p.externalBits(pr.bits, sp.Identity)
		for _, i := range inPass {
			if bm := done[i]; bm[sp.Person/64]&(1<<(sp.Person%64)) != 0 {
				bits = pql.InSegment(bits, i)
			}
		}
		sp.Subject.Segments = bits
		pr.bits = bits
		for i, r := range rs {
			if r == nil {
				continue
			}
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
			if pr.namespaces[i] == nil {
				var err error
				if pr.namespaces[i], err = newNSCounter(sc, g); err != nil {
					return err
				}
			}
			pr.namespaces[i].add(sp.Person)
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	for i, cp := range p.columnar {
		if cp != nil {
			continue
		}
		ns := map[string]int64{}
		var all []uint32
		for _, pr := range parts {
			if pr.members == nil {
				continue
			}
			all = append(all, pr.members[i]...)
			pr.namespaces[i].addTo(ns)
		}
		if !slices.IsSorted(all) {
			slices.Sort(all)
		}
		res.members[i] = all
		res.namespaces[i] = ns
	}
	return info, nil
}
