package pql

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Columnar evaluation. Most segment conditions are a boolean combination
// of tests on single attributes: homeAddress.countryCode = "US",
// person.name.lastName.startsWith("S"), inSegment(...), and counts or sums
// of xEvent filtered by such tests and a time window. A store that keeps
// those attributes by column (dictionary coded) can evaluate them without
// building any profile: a test on one attribute is evaluated once per
// distinct value, by the row evaluator itself (so both agree by
// construction), and then looked up per row; and, or and not are bitmap
// operations; event counts and sums run over the event columns.
//
// CompileColumns accepts only queries of that shape; the others are
// evaluated row by row (Compile).

// Columns is a store laid out by column, as a ColumnPlan reads it. Rows
// are persons, numbered from 0; their events are the rows of the event
// columns, person i's being rows EventOffsets[i] to EventOffsets[i+1].
// Implementations may build columns on first use; they are called from
// one goroutine before evaluation starts.
type Columns interface {
	// Persons is the number of persons.
	Persons() int
	// ProfileColumn returns the scalar profile attribute at the dotted
	// path (as Schema.ScalarPath resolves it), one row per person.
	ProfileColumn(path string) (*Column, error)
	// EventColumn returns the scalar event attribute at the dotted path,
	// one row per event.
	EventColumn(path string) (*Column, error)
	// Events returns every event's timestamp (microseconds), in rows, and
	// the offsets of each person's events (Persons()+1 of them).
	Events() (times []int64, offsets []uint32, err error)
	// Segment returns the members of a segment slot (Options.SegmentSlot)
	// as a bitmap by person: bit i%64 of word i/64.
	Segment(slot int) ([]uint64, error)
}

// Prefetcher is implemented by Columns that build several columns at
// once more cheaply than one by one: Run first hands Prefetch every
// attribute the plan reads (event nil when it reads no events).
type Prefetcher interface {
	Prefetch(profile, event []string) error
}

// Column is one scalar attribute, dictionary coded: row r holds
// Values[Codes[r]], or Values[Small[r]] when Small is set (at most 256
// distinct values). Values[0] is null (the attribute is absent).
type Column struct {
	Values []Value
	Codes  []uint32
	Small  []uint8

	// tables caches, by condition, the condition's result for each value
	// (for conditions that do not depend on the time): a store that keeps
	// its columns evaluates a segment's conditions once.
	tables sync.Map
}

// Len is the number of rows.
func (c *Column) Len() int {
	if c.Small != nil {
		return len(c.Small)
	}
	return len(c.Codes)
}

// ScalarPath resolves a dotted path of the profile (event false) or of
// ExperienceEvents (event true) to the field indexes that lead to it,
// when it names a scalar attribute (boolean, number, string, timestamp)
// reached through objects only.
func (s *Schema) ScalarPath(path string, event bool) ([]int, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.scalarPathLocked(path, event)
}

// ColumnPlan is a query compiled for Columns. It is immutable and safe
// for concurrent use.
type ColumnPlan struct {
	root    colNode
	atoms   []*colAtom
	events  []*colEvents
	chains  bool // some chain reads the events
	binds   []func(time.Time) specBounds
	maxWork int64
}

// ErrNotColumnar is returned by CompileColumns for a query it cannot
// evaluate by column.
var ErrNotColumnar = errors.New("pql: query is not columnar")

// CompileColumns compiles q for evaluation over Columns. It fails with
// ErrNotColumnar (wrapped, saying which part) unless the query is a
// boolean combination (and, or, not) of:
//   - a condition reading one scalar profile attribute;
//   - inSegment of an id Options.SegmentSlot knows;
//   - xEvent[cond] as a condition, or its count(), or its sum, min, max
//     or average of one scalar event attribute, compared with a number;
//
// where cond is in turn a boolean combination of conditions reading one
// scalar event attribute (not _id nor timestamp) and of "timestamp
// occurs ..." against constant times (now, today, date(...), ...).
//
// A query the row evaluator would reject still fails with its errors:
// CompileColumns is meant to be called after Compile.
func CompileColumns(q *Query, opts Options) (*ColumnPlan, error) {
	if opts.Schema == nil {
		return nil, ErrNoSchema
	}
	cc := &colCompiler{c: newCompiler(q, opts), opts: opts}
	opts.Schema.mu.RLock()
	root := cc.cond(q.Root, false)
	opts.Schema.mu.RUnlock()
	if cc.err != nil {
		return nil, cc.err
	}
	if len(cc.c.errs) > 0 {
		return nil, cc.c.errs
	}
	maxWork := opts.MaxWork
	if maxWork <= 0 {
		maxWork = DefaultMaxWork
	}
	return &ColumnPlan{root: root, atoms: cc.atoms, events: cc.events, chains: cc.chains, binds: cc.c.binds, maxWork: maxWork}, nil
}

type colCompiler struct {
	c      *compiler // time tests and their bounds
	opts   Options
	atoms  []*colAtom
	events []*colEvents
	chains bool
	err    error
}

func (cc *colCompiler) fail(n Node, why string) colNode {
	if cc.err == nil {
		cc.err = fmt.Errorf("%w: %s: %s", ErrNotColumnar, Format(n), why)
	}
	return colConst(false)
}

// cond compiles a condition on persons, or on events when event is set.
func (cc *colCompiler) cond(n Node, event bool) colNode {
	switch n := n.(type) {
	case *Binary:
		switch n.Op {
		case "and", "or":
			return &colBool{or: n.Op == "or", x: cc.cond(n.X, event), y: cc.cond(n.Y, event)}
		case "=", "!=", "<", "<=", ">", ">=":
			if !event {
				if agg, ok := cc.aggregate(n); ok {
					return agg
				}
			}
		}
	case *Unary:
		if n.Op == "not" {
			return &colNot{x: cc.cond(n.X, event)}
		}
	case *Call:
		if n.Name == "inSegment" {
			if event {
				return cc.fail(n, "inSegment inside an event filter")
			}
			return cc.segment(n)
		}
	case *Filter:
		if !event && cc.isEvents(n.X) {
			return cc.eventsOf(n, "exists", nil, opGt, Int(0))
		}
	case *Occurs:
		if event {
			if f, ok := n.X.(*Field); ok && f.Name == "timestamp" && isImplicit(f.X) {
				return cc.timeTest(n, &n.Spec)
			}
		}
	case *Chain:
		if !event {
			return cc.chain(n)
		}
	}
	return cc.atom(n, event)
}

// isEvents reports whether n is the profile's xEvent.
func (cc *colCompiler) isEvents(n Node) bool {
	f, ok := n.(*Field)
	if !ok || f.Name != "xEvent" {
		return false
	}
	switch x := f.X.(type) {
	case *Implicit:
		return true
	case *Param:
		return x.Index == 1
	}
	return false
}

func (cc *colCompiler) segment(n *Call) colNode {
	if len(n.Args) != 1 || cc.opts.SegmentSlot == nil {
		return cc.fail(n, "inSegment without a slot")
	}
	lit, ok := n.Args[0].(*Literal)
	if !ok || lit.Kind != LitString {
		return cc.fail(n, "inSegment of a non-literal")
	}
	slot, ok := cc.opts.SegmentSlot(lit.Str)
	if !ok {
		return cc.fail(n, "inSegment of a segment without a slot")
	}
	return colSegment(slot)
}

// aggregate compiles xEvent[...].count() (or sum, min, max, average of an
// event attribute) compared with a number literal, either way round.
func (cc *colCompiler) aggregate(n *Binary) (colNode, bool) {
	op := cmpOpByName[n.Op]
	m, lit := n.X, n.Y
	if _, ok := m.(*Literal); ok {
		m, lit = n.Y, n.X
		op = flip(op)
	}
	method, ok := m.(*Method)
	if !ok {
		return nil, false
	}
	l, ok := lit.(*Literal)
	if !ok || (l.Kind != LitInt && l.Kind != LitDouble) {
		return nil, false
	}
	k := Int(l.Int)
	if l.Kind == LitDouble {
		k = Double(l.Float)
	}
	fl, ok := method.X.(*Filter)
	if !ok || !cc.isEvents(fl.X) {
		return nil, false
	}
	switch method.Name {
	case "count":
		if len(method.Args) != 0 {
			return nil, false
		}
		return cc.eventsOf(fl, "count", nil, op, k), true
	case "sum", "min", "max", "average":
		if len(method.Args) != 1 {
			return nil, false
		}
		path, ok := implicitPath(method.Args[0])
		if !ok {
			return cc.fail(method, "aggregate of something other than an event attribute"), true
		}
		if _, ok := cc.opts.Schema.scalarPathLocked(path, true); !ok {
			return cc.fail(method, "aggregate of a non-scalar event attribute"), true
		}
		return cc.eventsOf(fl, method.Name, &path, op, k), true
	}
	return nil, false
}

// flip is op with its operands swapped: 2 < x is x > 2.
func flip(op cmpOp) cmpOp {
	switch op {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return op
}

// implicitPath returns the dotted path of a chain of fields from the
// implicit parameter.
func implicitPath(n Node) (string, bool) {
	var parts []string
	for {
		switch x := n.(type) {
		case *Field:
			parts = append(parts, x.Name)
			n = x.X
			continue
		case *Implicit:
			if len(parts) == 0 {
				return "", false
			}
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
			return strings.Join(parts, "."), true
		}
		return "", false
	}
}

func (cc *colCompiler) eventsOf(fl *Filter, fn string, value *string, op cmpOp, k Value) colNode {
	e := &colEvents{fn: fn, op: op, k: k, filter: cc.cond(fl.Cond, true), id: len(cc.events)}
	if value != nil {
		e.value = *value
	}
	cc.events = append(cc.events, e)
	return e
}

// timeTest compiles an occurs specification on the event timestamp
// against constant times (n is the node, for errors).
func (cc *colCompiler) timeTest(n Node, spec *OccursSpec) colNode {
	switch spec.Form {
	case OccursBetween:
		_, ok1 := cc.c.constTime(spec.T)
		_, ok2 := cc.c.constTime(spec.T2)
		if !ok1 || !ok2 {
			return cc.fail(n, "a time window that is not constant")
		}
	default:
		if _, ok := cc.c.constTime(spec.T); !ok {
			return cc.fail(n, "a time window that is not constant")
		}
	}
	return &colTime{test: cc.c.timeTest(spec)}
}

// chain compiles chain(xEvent, timestamp, [steps]): each step's WHAT,
// WHERE and WHEN become one event condition.
func (cc *colCompiler) chain(n *Chain) colNode {
	if !cc.isEvents(n.Source) || n.TimeField != "timestamp" {
		return cc.fail(n, "a chain over something other than xEvent by timestamp")
	}
	ch := &colChain{}
	for _, st := range n.Steps {
		cond := cc.cond(st.What, true)
		if st.Where != nil {
			cond = &colBool{x: cond, y: cc.cond(st.Where, true)}
		}
		if st.When != nil {
			cond = &colBool{x: cond, y: cc.timeTest(n, st.When)}
		}
		ch.steps = append(ch.steps, cond)
		ch.counts = append(ch.counts, max(st.Count, 1))
	}
	cc.chains = true
	return ch
}

// atom compiles a condition that reads one scalar attribute: it is
// evaluated by the row evaluator once per distinct value of its column.
func (cc *colCompiler) atom(n Node, event bool) colNode {
	schema := cc.opts.Schema
	var q *Query
	var info Info
	if event {
		q = &Query{Root: &Filter{X: &Field{X: &Implicit{}, Name: "xEvent"}, Cond: n}}
		info = Analyze(&Query{Root: &Method{X: q.Root, Name: "count"}})
		if len(info.ProfilePaths) > 0 {
			return cc.fail(n, "an event condition reading the profile")
		}
	} else {
		q = &Query{Root: n}
		info = Analyze(q)
		if info.ReadsEvents {
			return cc.fail(n, "a condition on events of another shape")
		}
	}
	if len(info.Segments) > 0 {
		return cc.fail(n, "inSegment inside a condition")
	}
	paths := info.ProfilePaths
	if event {
		paths = info.EventPaths
	}
	a := &colAtom{event: event, query: q, schema: schema, id: len(cc.atoms), key: Format(n), usesNow: info.UsesNow}
	switch len(paths) {
	case 0: // a constant
	case 1:
		if event && (paths[0] == "_id" || paths[0] == "timestamp") {
			return cc.fail(n, "a condition on "+paths[0])
		}
		idx, ok := schema.scalarPathLocked(paths[0], event)
		if !ok {
			return cc.fail(n, "not a scalar attribute: "+paths[0])
		}
		a.path, a.idx = paths[0], idx
	default:
		return cc.fail(n, "a condition reading several attributes")
	}
	// The atom's own row plan, compiled later (Compile takes the schema's
	// lock, which this compiler holds).
	cc.atoms = append(cc.atoms, a)
	return a
}

// scalarPathLocked is ScalarPath for callers that hold s.mu.
func (s *Schema) scalarPathLocked(path string, event bool) ([]int, bool) {
	t := s.profile
	if event {
		t = s.event
	}
	var idx []int
	for name := range strings.SplitSeq(path, ".") {
		if t.Kind != TypeObject {
			return nil, false
		}
		i, ft, ok := t.Lookup(name)
		if !ok {
			return nil, false
		}
		idx = append(idx, i)
		t = ft
	}
	switch t.Kind {
	case TypeBool, TypeNumber, TypeString, TypeTime:
		return idx, len(idx) > 0
	}
	return nil, false
}

// colNode evaluates a condition over rows lo to hi (persons, or events
// inside an event filter), setting bit j of out (whole words, all
// written) when row lo+j holds.
type colNode interface {
	eval(w *colWorker, lo, hi int, out []uint64) error
}

type colConst bool

func (c colConst) eval(_ *colWorker, lo, hi int, out []uint64) error {
	fill(out, hi-lo, bool(c))
	return nil
}

// fill sets the first n bits of out to v and the rest to zero.
func fill(out []uint64, n int, v bool) {
	var word uint64
	if v {
		word = ^uint64(0)
	}
	for i := range out {
		out[i] = word
	}
	trim(out, n)
}

// trim clears the bits of out past the first n.
func trim(out []uint64, n int) {
	if r := n % 64; r != 0 && len(out) > 0 {
		out[len(out)-1] &= 1<<r - 1
	}
}

type colBool struct {
	or   bool
	x, y colNode
}

func (b *colBool) eval(w *colWorker, lo, hi int, out []uint64) error {
	if err := b.x.eval(w, lo, hi, out); err != nil {
		return err
	}
	tmp := w.get(len(out))
	defer w.put(len(out))
	if err := b.y.eval(w, lo, hi, tmp); err != nil {
		return err
	}
	if b.or {
		for i := range out {
			out[i] |= tmp[i]
		}
	} else {
		for i := range out {
			out[i] &= tmp[i]
		}
	}
	return nil
}

type colNot struct{ x colNode }

func (n *colNot) eval(w *colWorker, lo, hi int, out []uint64) error {
	if err := n.x.eval(w, lo, hi, out); err != nil {
		return err
	}
	for i := range out {
		out[i] = ^out[i]
	}
	trim(out, hi-lo)
	return nil
}

type colSegment int

func (s colSegment) eval(w *colWorker, lo, hi int, out []uint64) error {
	members := w.run.segments[int(s)]
	// Person ranges start on a word.
	for i := range out {
		out[i] = 0
		if j := lo/64 + i; j < len(members) {
			out[i] = members[j]
		}
	}
	trim(out, hi-lo)
	return nil
}

// colAtom is a condition on one attribute (or none: a constant).
type colAtom struct {
	event   bool
	path    string // "" for a constant
	idx     []int
	query   *Query // the condition as a query on a profile or its events
	schema  *Schema
	id      int    // index in colRun.tables
	key     string // the condition's text, for Column.tables
	usesNow bool
}

func (a *colAtom) eval(w *colWorker, lo, hi int, out []uint64) error {
	table := w.run.tables[a.id]
	col := w.run.atomCols[a.id]
	if col == nil {
		fill(out, hi-lo, table[0])
		return nil
	}
	clear(out)
	if col.Small != nil {
		for j, c := range col.Small[lo:hi] {
			if table[c] {
				out[j/64] |= 1 << (j % 64)
			}
		}
		return nil
	}
	for j, c := range col.Codes[lo:hi] {
		if table[c] {
			out[j/64] |= 1 << (j % 64)
		}
	}
	return nil
}

// colTime is "timestamp occurs ..." against constant times, per event.
type colTime struct {
	test func(*frame, int64) bool
}

func (t *colTime) eval(w *colWorker, lo, hi int, out []uint64) error {
	clear(out)
	for j, ts := range w.run.times[lo:hi] {
		if t.test(&w.frame, ts) {
			out[j/64] |= 1 << (j % 64)
		}
	}
	return nil
}

// colEvents is an aggregate of a person's filtered events compared with
// a constant.
type colEvents struct {
	fn     string // exists, count, sum, min, max, average
	value  string // the attribute of sum, min, max, average
	filter colNode
	op     cmpOp
	k      Value
	id     int // index in colRun.values
}

func (e *colEvents) eval(w *colWorker, lo, hi int, out []uint64) error {
	off := w.run.offsets
	elo, ehi := int(off[lo]), int(off[hi])
	n := (ehi - elo + 63) / 64
	bm := w.get(n)
	defer w.put(n)
	if err := e.filter.eval(w, elo, ehi, bm); err != nil {
		return err
	}
	col := w.run.values[e.id]
	clear(out)
	for p := lo; p < hi; p++ {
		s, t := int(off[p])-elo, int(off[p+1])-elo
		if int64(t-s) > w.run.plan.maxWork {
			return fmt.Errorf("%w: evaluation visited more than %d elements", ErrLimit, w.run.plan.maxWork)
		}
		var ok bool
		switch e.fn {
		case "exists":
			ok = anyBit(bm, s, t)
		case "count":
			ok = compareScalar(e.op, Int(int64(countBits(bm, s, t))), e.k)
		default:
			var acc accumulator
			for r := s; r < t; r++ {
				if bm[r/64]&(1<<(r%64)) != 0 {
					acc.addAll(col.value(elo + r))
				}
			}
			ok = compareScalar(e.op, acc.result(e.fn), e.k)
		}
		if ok {
			j := p - lo
			out[j/64] |= 1 << (j % 64)
		}
	}
	return nil
}

// colChain is chain(xEvent, timestamp, [steps]), evaluated as the row
// evaluator does: over the person's events in time order (stable, so
// events of one instant keep their order), greedily.
type colChain struct {
	steps  []colNode // each step's condition, per event
	counts []int64
}

func (ch *colChain) eval(w *colWorker, lo, hi int, out []uint64) error {
	off, times := w.run.offsets, w.run.times
	elo, ehi := int(off[lo]), int(off[hi])
	n := (ehi - elo + 63) / 64
	bms := make([][]uint64, len(ch.steps))
	for i, st := range ch.steps {
		bms[i] = w.get(n)
		if err := st.eval(w, elo, ehi, bms[i]); err != nil {
			return err
		}
	}
	defer w.put(n * len(ch.steps))
	clear(out)
	for p := lo; p < hi; p++ {
		s, t := int(off[p])-elo, int(off[p+1])-elo
		if int64(t-s)*int64(len(ch.steps)) > w.run.plan.maxWork {
			return fmt.Errorf("%w: evaluation visited more than %d elements", ErrLimit, w.run.plan.maxWork)
		}
		order := w.order[:0]
		for r := s + 1; r < t; r++ {
			if times[elo+r] < times[elo+r-1] {
				// Events of several identities: put them in time order.
				for k := s; k < t; k++ {
					order = append(order, timedIndex{times[elo+k], int32(k)})
				}
				slices.SortStableFunc(order, func(a, b timedIndex) int { return cmpInt(a.t, b.t) })
				break
			}
		}
		w.order = order
		step, seen := 0, int64(0)
		for k := range t - s {
			r := s + k
			if len(order) > 0 {
				r = int(order[k].i)
			}
			if bms[step][r/64]&(1<<(r%64)) == 0 {
				continue
			}
			if seen++; seen == ch.counts[step] {
				step, seen = step+1, 0
				if step == len(ch.steps) {
					j := p - lo
					out[j/64] |= 1 << (j % 64)
					break
				}
			}
		}
	}
	return nil
}

func (c *Column) value(r int) Value {
	if c.Small != nil {
		return c.Values[c.Small[r]]
	}
	return c.Values[c.Codes[r]]
}

// countBits counts the set bits s to t-1 of bm.
func countBits(bm []uint64, s, t int) int {
	n := 0
	for s < t {
		w := s / 64
		word := bm[w] >> (s % 64)
		take := min(64-s%64, t-s)
		if take < 64 {
			word &= 1<<take - 1
		}
		n += bits.OnesCount64(word)
		s += take
	}
	return n
}

// anyBit reports whether any of the bits s to t-1 of bm is set.
func anyBit(bm []uint64, s, t int) bool { return countBits(bm, s, t) > 0 }

// colRun is one evaluation's data: the columns and the per-value tables
// of every atom.
type colRun struct {
	plan     *ColumnPlan
	tables   [][]bool  // by atom: does the condition hold for each value
	atomCols []*Column // by atom; nil for constants
	values   []*Column // by colEvents: the aggregated attribute
	times    []int64
	offsets  []uint32
	segments map[int][]uint64
}

// colWorker is one goroutine's scratch: a stack of bitmaps and a frame
// holding the time bounds.
type colWorker struct {
	run   *colRun
	stack []uint64
	top   int
	frame frame
	order []timedIndex // chain scratch
}

func (w *colWorker) get(n int) []uint64 {
	if w.top+n > len(w.stack) {
		// Earlier slices stay valid: they keep the old array.
		w.stack = make([]uint64, max(2*len(w.stack), w.top+n))
	}
	s := w.stack[w.top : w.top+n : w.top+n]
	w.top += n
	return s
}

func (w *colWorker) put(n int) { w.top -= n }

// colChunk is how many persons a worker evaluates at a time: a multiple
// of 64, so chunks start on a word of the result.
const colChunk = 1 << 14

// Run evaluates the plan at now over cols, on up to workers goroutines
// (0: GOMAXPROCS), and returns the persons that qualify as a bitmap.
func (p *ColumnPlan) Run(ctx context.Context, cols Columns, now time.Time, workers int) ([]uint64, error) {
	n := cols.Persons()
	r := &colRun{plan: p, segments: map[int][]uint64{}}
	if err := p.prepare(r, cols, now); err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([]uint64, (n+63)/64)
	chunks := (n + colChunk - 1) / colChunk
	now = now.UTC()
	bounds := make([]specBounds, len(p.binds))
	for i, b := range p.binds {
		bounds[i] = b(now)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for wi := range min(workers, max(chunks, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &colWorker{run: r}
			w.frame.now, w.frame.nowT, w.frame.bounds = now.UnixMicro(), now, bounds
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks || ctx.Err() != nil {
					return
				}
				lo, hi := c*colChunk, min((c+1)*colChunk, n)
				if err := p.root.eval(w, lo, hi, out[lo/64:(hi+63)/64]); err != nil {
					errs[wi] = err
					next.Store(int64(chunks))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// prepare fetches the columns and evaluates each atom on every distinct
// value of its column.
func (p *ColumnPlan) prepare(r *colRun, cols Columns, now time.Time) error {
	r.tables = make([][]bool, len(p.atoms))
	r.atomCols = make([]*Column, len(p.atoms))
	r.values = make([]*Column, len(p.events))
	if pf, ok := cols.(Prefetcher); ok {
		var profile, event []string
		if len(p.events) > 0 || p.chains {
			event = []string{}
		}
		for _, a := range p.atoms {
			switch {
			case a.path == "":
			case a.event:
				event = append(event, a.path)
			default:
				profile = append(profile, a.path)
			}
		}
		for _, e := range p.events {
			if e.value != "" {
				event = append(event, e.value)
			}
		}
		if err := pf.Prefetch(profile, event); err != nil {
			return err
		}
	}
	if len(p.events) > 0 || p.chains {
		var err error
		if r.times, r.offsets, err = cols.Events(); err != nil {
			return err
		}
		if len(r.offsets) != cols.Persons()+1 {
			return fmt.Errorf("pql: %d event offsets for %d persons", len(r.offsets), cols.Persons())
		}
	}
	for _, e := range p.events {
		if e.value == "" {
			continue
		}
		c, err := cols.EventColumn(e.value)
		if err != nil {
			return err
		}
		r.values[e.id] = c
	}
	var segErr error
	var walk func(n colNode)
	walk = func(n colNode) {
		switch n := n.(type) {
		case *colBool:
			walk(n.x)
			walk(n.y)
		case *colNot:
			walk(n.x)
		case *colChain:
			for _, st := range n.steps {
				walk(st)
			}
		case *colEvents:
			walk(n.filter)
		case colSegment:
			if _, ok := r.segments[int(n)]; !ok {
				bm, err := cols.Segment(int(n))
				segErr = errors.Join(segErr, err)
				r.segments[int(n)] = bm
			}
		}
	}
	walk(p.root)
	if segErr != nil {
		return segErr
	}
	for _, a := range p.atoms {
		var values []Value
		var col *Column
		if a.path == "" {
			values = []Value{{}}
		} else {
			var err error
			if a.event {
				col, err = cols.EventColumn(a.path)
			} else {
				col, err = cols.ProfileColumn(a.path)
			}
			if err != nil {
				return err
			}
			r.atomCols[a.id] = col
			values = col.Values
		}
		if col != nil && !a.usesNow {
			if t, ok := col.tables.Load(a.key); ok {
				r.tables[a.id] = t.([]bool)
				continue
			}
		}
		table, err := a.table(values, now)
		if err != nil {
			return err
		}
		r.tables[a.id] = table
		if col != nil && !a.usesNow {
			col.tables.Store(a.key, table)
		}
	}
	return nil
}

// table evaluates the atom on each value, in parallel for long columns.
func (a *colAtom) table(values []Value, now time.Time) ([]bool, error) {
	plan, err := Compile(a.query, Options{Schema: a.schema})
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(values))
	const chunk = 4096
	chunks := (len(values) + chunk - 1) / chunk
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := plan.NewRunner(now)
			var s Subject
			leaf := a.skeleton(&s)
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks || failed.Load() != nil {
					return
				}
				for i := c * chunk; i < min((c+1)*chunk, len(values)); i++ {
					if leaf != nil {
						*leaf = values[i]
					}
					ok, err := run.Match(&s)
					if err != nil {
						failed.Store(&err)
						return
					}
					out[i] = ok
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return nil, *err
	}
	return out, nil
}

// skeleton makes s a profile, or a profile with one event, with objects
// down to the atom's attribute, and returns where the attribute goes.
func (a *colAtom) skeleton(s *Subject) *Value {
	a.schema.mu.RLock()
	defer a.schema.mu.RUnlock()
	t := a.schema.profile
	if a.event {
		t = a.schema.event
	}
	root := make([]Value, t.NumFields())
	if a.event {
		s.Events = []Value{Object(root)}
	} else {
		s.Profile = Object(root)
	}
	if len(a.idx) == 0 {
		return nil
	}
	list := root
	for _, i := range a.idx[:len(a.idx)-1] {
		t = t.FieldType(i)
		child := make([]Value, t.NumFields())
		list[i] = Object(child)
		list = child
	}
	return &list[a.idx[len(a.idx)-1]]
}
