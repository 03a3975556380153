package pql

import (
	"fmt"
	"time"
)

// DefaultMaxWork is the default evaluation budget per subject: the number
// of array elements a query may visit for one profile before it is stopped.
const DefaultMaxWork = 1 << 22

// Subject is what a query is evaluated against: one merged profile, its
// ExperienceEvents and, optionally, its segment memberships.
type Subject struct {
	// Profile is an object laid out by the Schema's profile type.
	Profile Value
	// Events are objects laid out by the Schema's event type, in ascending
	// timestamp order (chain relies on the order).
	Events []Value
	// Segments is a bitset of segment memberships indexed by the slots
	// Options.SegmentSlot gives. inSegment ids without a slot are read from
	// the profile's segmentMembership instead.
	Segments []uint64
}

// InSegment sets the membership bit of slot in a Segments bitset, growing it.
func InSegment(bits []uint64, slot int) []uint64 {
	for len(bits) <= slot/64 {
		bits = append(bits, 0)
	}
	bits[slot/64] |= 1 << (slot % 64)
	return bits
}

// Plan is a compiled query. It is immutable and safe for concurrent use;
// evaluate it through a Runner, one per goroutine.
type Plan struct {
	query   *Query
	eval    func(*frame) Value
	pred    func(*frame) bool
	typ     *Type
	nvars   int
	nbufs   int
	norders int
	binds   []func(now time.Time) specBounds
	maxWork int64
	info    Info
	warns   CheckErrors
}

// Query returns the query the plan was compiled from.
func (p *Plan) Query() *Query { return p.query }

// Info reports what the query reads.
func (p *Plan) Info() Info { return p.info }

// Warnings are the problems Check would report (unknown fields, type
// mismatches) that Compile tolerated: such parts evaluate to null.
func (p *Plan) Warnings() CheckErrors { return p.warns }

// ResultType is the static type of the query's result (nil if unknown).
func (p *Plan) ResultType() *Type { return p.typ }

// Runner evaluates a Plan at one instant. It reuses its scratch space
// between subjects, so evaluating a simple predicate allocates nothing.
// A Runner is not safe for concurrent use.
type Runner struct {
	plan *Plan
	f    frame
}

// NewRunner returns a runner that evaluates the plan with now as the
// current time: now, today, this week and currentMonth() derive from it.
func (p *Plan) NewRunner(now time.Time) *Runner {
	now = now.UTC()
	r := &Runner{plan: p}
	f := &r.f
	f.now = now.UnixMicro()
	f.nowT = now
	f.vars = make([]Value, p.nvars)
	f.bufs = make([][]Value, p.nbufs)
	f.orders = make([][]timedIndex, p.norders)
	f.bounds = make([]specBounds, len(p.binds))
	for i, b := range p.binds {
		f.bounds[i] = b(now)
	}
	f.scopes = make([]Value, 0, 16)
	return r
}

// Match reports whether the subject qualifies: the query's result is true
// (or a non-empty array). It fails only when the evaluation budget runs out.
func (r *Runner) Match(s *Subject) (bool, error) {
	f := r.reset(s)
	ok := r.plan.pred(f)
	if f.work < 0 {
		return false, r.workErr()
	}
	return ok, nil
}

// Eval returns the query's value for the subject (for computed attributes
// and tests). The result is the caller's: it shares nothing with the runner
// except the subject's own data.
func (r *Runner) Eval(s *Subject) (Value, error) {
	f := r.reset(s)
	v := r.plan.eval(f)
	if f.work < 0 {
		return Value{}, r.workErr()
	}
	return v.clone(), nil
}

func (r *Runner) reset(s *Subject) *frame {
	f := &r.f
	f.subject = s
	f.events = Value{kind: KindArray, list: s.Events}
	f.scopes = append(f.scopes[:0], s.Profile)
	f.work = r.plan.maxWork
	return f
}

func (r *Runner) workErr() error {
	return fmt.Errorf("%w: evaluation visited more than %d elements", ErrLimit, r.plan.maxWork)
}

// frame is the mutable state of one evaluation.
type frame struct {
	subject *Subject
	events  Value
	scopes  []Value // implicit parameters, innermost last; scopes[0] is the profile
	vars    []Value // bound variables by slot
	bufs    [][]Value
	bounds  []specBounds
	now     int64
	nowT    time.Time
	work    int64
	orders  [][]timedIndex // chain scratch, by chain
}

// spend charges n units of work and reports whether the budget still holds.
func (f *frame) spend(n int) bool {
	f.work -= int64(n)
	return f.work >= 0
}

func (f *frame) push(v Value) { f.scopes = append(f.scopes, v) }

// enter pushes a scope to be filled in by the caller's loop and returns
// its index.
func (f *frame) enter() int {
	f.scopes = append(f.scopes, Value{})
	return len(f.scopes) - 1
}

func (f *frame) pop() { f.scopes = f.scopes[:len(f.scopes)-1] }
