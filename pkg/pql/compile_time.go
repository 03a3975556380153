package pql

import (
	"math"
	"slices"
	"time"
)

const (
	usPerMs   = int64(1000)
	usPerSec  = 1000 * usPerMs
	usPerMin  = 60 * usPerSec
	usPerHour = 60 * usPerMin
	usPerDay  = 24 * usPerHour
)

// interval is [lo, hi) in microseconds.
type interval struct{ lo, hi int64 }

// specBounds are the instants an occurs test compares a timestamp with,
// computed once per runner when the time is now-relative or constant.
type specBounds struct {
	lo, hi int64 // the reference interval (On, Dir, Between)
	b, b2  int64 // Offset: the boundary N units away, and one unit further
	ref    int64 // Offset: the reference instant
}

// shift moves t by n units: fixed lengths up to weeks, calendar arithmetic
// (UTC) from months up. Results saturate instead of overflowing.
func shift(t int64, n int64, u Unit) int64 {
	var per int64
	switch u {
	case UnitMillisecond:
		per = usPerMs
	case UnitSecond:
		per = usPerSec
	case UnitMinute:
		per = usPerMin
	case UnitHour:
		per = usPerHour
	case UnitDay:
		per = usPerDay
	case UnitWeek:
		per = 7 * usPerDay
	default:
		years := map[Unit]int64{UnitMonth: 0, UnitYear: 1, UnitDecade: 10, UnitCentury: 100, UnitMillennium: 1000}[u]
		if n > 100000 || n < -100000 {
			if n > 0 {
				return math.MaxInt64
			}
			return math.MinInt64
		}
		tt := time.UnixMicro(t).UTC()
		if u == UnitMonth {
			tt = tt.AddDate(0, int(n), 0)
		} else {
			tt = tt.AddDate(int(n*years), 0, 0)
		}
		return tt.UnixMicro()
	}
	d := satMul(n, per)
	s := t + d
	if d > 0 && s < t {
		return math.MaxInt64
	}
	if d < 0 && s > t {
		return math.MinInt64
	}
	return s
}

// periodStart is the start of the calendar period of unit u holding t
// (UTC; weeks start on Monday, as ISO 8601 has them).
func periodStart(t int64, u Unit) int64 {
	tt := time.UnixMicro(t).UTC()
	y, m, _ := tt.Date()
	switch u {
	case UnitMillisecond:
		return t - mod(t, usPerMs)
	case UnitSecond:
		return t - mod(t, usPerSec)
	case UnitMinute:
		return t - mod(t, usPerMin)
	case UnitHour:
		return t - mod(t, usPerHour)
	case UnitDay:
		return t - mod(t, usPerDay)
	case UnitWeek:
		day := t - mod(t, usPerDay)
		back := (int64(tt.Weekday()) + 6) % 7
		return day - back*usPerDay
	case UnitMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	case UnitYear:
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	case UnitDecade:
		return time.Date(y-y%10, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	case UnitCentury:
		return time.Date(y-y%100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	default:
		return time.Date(y-y%1000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	}
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

func dayOf(t int64) interval {
	lo := periodStart(t, UnitDay)
	return interval{lo, lo + usPerDay}
}

// constTime reports whether a TimeRef can be resolved once per runner, and
// returns how.
func (c *compiler) constTime(t TimeRef) (func(now int64) interval, bool) {
	switch t.Kind {
	case TimeNow:
		return func(now int64) interval { return interval{now, now + 1} }, true
	case TimeToday:
		return func(now int64) interval { return dayOf(now) }, true
	case TimeYesterday:
		return func(now int64) interval { return dayOf(now - usPerDay) }, true
	case TimeTomorrow:
		return func(now int64) interval { return dayOf(now + usPerDay) }, true
	case TimeThis, TimeLast, TimeNext:
		delta := map[TimeKind]int64{TimeThis: 0, TimeLast: -1, TimeNext: 1}[t.Kind]
		u := t.Unit
		return func(now int64) interval {
			lo := shift(periodStart(now, u), delta, u)
			return interval{lo, shift(lo, 1, u)}
		}, true
	}
	if call, ok := t.X.(*Call); ok && call.Name == "date" && isConstDate(call) {
		// Constant arguments only: evaluating others needs a subject.
		e := c.expr(call)
		if v := e.eval(nil); v.kind == KindTime {
			day := dayOf(int64(v.num))
			return func(int64) interval { return day }, true
		}
	}
	return nil, false
}

func isConstDate(call *Call) bool {
	for _, a := range call.Args {
		if _, ok := a.(*Literal); !ok {
			return false
		}
	}
	return true
}

// timeRef compiles a TimeRef evaluated per subject (a timestamp attribute
// or a computed date): an instant, or a day for date(...).
func (c *compiler) timeRef(t TimeRef) func(*frame) (interval, bool) {
	if k, ok := c.constTime(t); ok {
		return func(f *frame) (interval, bool) { return k(f.now), true }
	}
	x := c.expr(t.X)
	c.wantTime(t.X, x.typ)
	call, _ := t.X.(*Call)
	isDate := call != nil && call.Name == "date"
	return func(f *frame) (interval, bool) {
		v := x.eval(f)
		if v.kind == KindArray { // a path through an array: its first value
			if len(v.list) == 0 {
				return interval{}, false
			}
			v = v.list[0]
		}
		us, ok := asMicros(v)
		if !ok {
			return interval{}, false
		}
		if isDate {
			return dayOf(us), true
		}
		return interval{us, us + 1}, true
	}
}

// bounds turns a reference interval into the bounds a spec compares with.
func bounds(s *OccursSpec, iv interval, on bool) specBounds {
	b := specBounds{lo: iv.lo, hi: iv.hi, ref: iv.lo}
	if on && iv.hi-iv.lo <= 1 {
		day := dayOf(iv.lo) // "on" an instant means on its day
		b.lo, b.hi = day.lo, day.hi
	}
	if s.Form == OccursOffset {
		n := s.N
		if s.Dir == "before" {
			n = -n
		}
		b.b = shift(iv.lo, n, s.Unit)
		b.b2 = shift(b.b, 1, s.Unit)
	}
	return b
}

// holdsFn returns the test of a timestamp against bounds for the spec's
// form, direction and operator, chosen once at compile time. See doc.go.
func (s *OccursSpec) holdsFn() func(b *specBounds, ts int64) bool {
	switch s.Form {
	case OccursOn, OccursBetween:
		return func(b *specBounds, ts int64) bool { return b.lo <= ts && ts < b.hi }
	case OccursDir:
		if s.Dir == "before" {
			return func(b *specBounds, ts int64) bool { return ts < b.lo }
		}
		return func(b *specBounds, ts int64) bool { return ts >= b.hi }
	}
	if s.Dir == "before" {
		// The unit after the boundary, but never past the reference's end:
		// with calendar clamping one month after 3 March can be 3 April.
		inUnit := func(b *specBounds, ts int64) bool { return b.b <= ts && ts < b.b2 && ts < b.hi }
		switch s.Op {
		case "<":
			return func(b *specBounds, ts int64) bool { return b.b < ts && ts <= b.ref }
		case "<=":
			return func(b *specBounds, ts int64) bool { return b.b <= ts && ts <= b.ref }
		case ">":
			return func(b *specBounds, ts int64) bool { return ts < b.b }
		case ">=":
			return func(b *specBounds, ts int64) bool { return ts <= b.b }
		case "!=":
			return func(b *specBounds, ts int64) bool { return ts <= b.ref && !inUnit(b, ts) }
		}
		return inUnit
	}
	inUnit := func(b *specBounds, ts int64) bool { return b.b <= ts && ts < b.b2 && ts >= b.ref }
	switch s.Op { // after, from
	case "<":
		return func(b *specBounds, ts int64) bool { return b.ref <= ts && ts < b.b }
	case "<=":
		return func(b *specBounds, ts int64) bool { return b.ref <= ts && ts <= b.b }
	case ">":
		return func(b *specBounds, ts int64) bool { return ts > b.b }
	case ">=":
		return func(b *specBounds, ts int64) bool { return ts >= b.b }
	case "!=":
		return func(b *specBounds, ts int64) bool { return ts >= b.ref && !inUnit(b, ts) }
	}
	return inUnit
}

// timeTest compiles an occurs specification to a test on a timestamp.
func (c *compiler) timeTest(s *OccursSpec) func(*frame, int64) bool {
	spec := *s
	on := spec.Form == OccursOn
	holds := spec.holdsFn()
	if spec.Form == OccursBetween {
		k1, ok1 := c.constTime(spec.T)
		k2, ok2 := c.constTime(spec.T2)
		if ok1 && ok2 {
			slot := len(c.binds)
			c.binds = append(c.binds, func(now time.Time) specBounds {
				us := now.UnixMicro()
				return specBounds{lo: k1(us).lo, hi: k2(us).hi}
			})
			return func(f *frame, ts int64) bool { return holds(&f.bounds[slot], ts) }
		}
		t1, t2 := c.timeRef(spec.T), c.timeRef(spec.T2)
		return func(f *frame, ts int64) bool {
			a, ok1 := t1(f)
			b, ok2 := t2(f)
			return ok1 && ok2 && a.lo <= ts && ts < b.hi
		}
	}
	if k, ok := c.constTime(spec.T); ok {
		slot := len(c.binds)
		c.binds = append(c.binds, func(now time.Time) specBounds { return bounds(&spec, k(now.UnixMicro()), on) })
		return func(f *frame, ts int64) bool { return holds(&f.bounds[slot], ts) }
	}
	ref := c.timeRef(spec.T)
	return func(f *frame, ts int64) bool {
		iv, ok := ref(f)
		if !ok {
			return false
		}
		b := bounds(&spec, iv, on)
		return holds(&b, ts)
	}
}

// occurs compiles X occurs SPEC; on an array it holds when some element's
// time does.
func (c *compiler) occurs(n *Occurs) func(*frame) bool {
	x := c.expr(n.X)
	c.wantTime(n.X, x.typ)
	if isType(x.typ, TypeTime) && n.Spec.Form != OccursBetween {
		if k, ok := c.constTime(n.Spec.T); ok {
			// The common shape, a timestamp field against a now-relative
			// window: one closure, bounds computed once per runner.
			spec := n.Spec
			holds := spec.holdsFn()
			slot := len(c.binds)
			on := spec.Form == OccursOn
			c.binds = append(c.binds, func(now time.Time) specBounds { return bounds(&spec, k(now.UnixMicro()), on) })
			ref := c.refOf(x)
			return func(f *frame) bool {
				v := ref(f)
				return v != nil && v.kind == KindTime && holds(&f.bounds[slot], int64(v.num))
			}
		}
	}
	test := c.timeTest(&n.Spec)
	xe := x.eval
	if isType(x.typ, TypeTime) {
		ref := c.refOf(x)
		return func(f *frame) bool {
			v := ref(f)
			return v != nil && v.kind == KindTime && test(f, int64(v.num))
		}
	}
	return func(f *frame) bool {
		v := xe(f)
		if v.kind == KindArray {
			for _, e := range v.list {
				if us, ok := asMicros(e); ok && test(f, us) {
					return true
				}
			}
			return false
		}
		us, ok := asMicros(v)
		return ok && test(f, us)
	}
}

type timedIndex struct {
	t int64
	i int32
}

type cstep struct {
	what, where func(*frame) bool
	when        func(*frame, int64) bool
	count       int64
}

// chain compiles chain(xEvent, timestamp, [steps]): the events, in time
// order, hold each step in turn; a step with COUNT(n) needs n matching
// events, all after the previous step's last one. Matching is greedy
// (earliest events first), which finds a match whenever one exists.
func (c *compiler) chain(n *Chain) func(*frame) bool {
	src := c.expr(n.Source)
	et := elemType(src.typ)
	timeGet, _ := c.accessor(et, n.TimeField, n.At)
	if timeGet == nil {
		return func(*frame) bool { return false }
	}
	steps := make([]cstep, len(n.Steps))
	c.withScope(et, func() {
		for i, st := range n.Steps {
			steps[i].what = c.cond(st.What)
			if st.Where != nil {
				steps[i].where = c.cond(st.Where)
			}
			if st.When != nil {
				steps[i].when = c.timeTest(st.When)
			}
			steps[i].count = max(st.Count, 1)
		}
	})
	slot := c.norders
	c.norders++
	timeIdx := -1
	if et != nil && et.Kind == TypeObject {
		timeIdx, _, _ = et.Lookup(n.TimeField)
	}
	timeOf := func(e Value) (int64, bool) {
		if timeIdx >= 0 {
			if v := e.field(timeIdx); v.kind == KindTime {
				return int64(v.num), true
			}
		}
		return asMicros(timeGet(e))
	}
	// run matches the steps against events in the order given; it reports
	// false for sorted when it meets an event earlier than the one before.
	run := func(f *frame, list []Value, order []timedIndex) (matched, sorted bool) {
		step, seen := 0, int64(0)
		prev := int64(math.MinInt64)
		top := f.enter()
		defer f.pop()
		n := len(list)
		if order != nil {
			n = len(order)
		}
		for k := 0; k < n; k++ {
			var e Value
			var ts int64
			if order != nil {
				e, ts = list[order[k].i], order[k].t
			} else {
				var ok bool
				e = list[k]
				if ts, ok = timeOf(e); !ok {
					continue
				}
				if ts < prev {
					return false, false
				}
				prev = ts
			}
			st := &steps[step]
			if st.when != nil && !st.when(f, ts) {
				continue
			}
			f.scopes[top] = e
			if !st.what(f) || st.where != nil && !st.where(f) {
				continue
			}
			seen++
			if seen == st.count {
				step, seen = step+1, 0
				if step == len(steps) {
					return true, true
				}
			}
		}
		return false, true
	}
	return func(f *frame) bool {
		list := elems(src.eval(f))
		if !f.spend(len(list) * len(steps)) {
			return false
		}
		// Events normally arrive in time order: match in one pass and sort
		// only when they do not.
		if matched, sorted := run(f, list, nil); sorted {
			return matched
		}
		order := f.orders[slot][:0]
		for i, e := range list {
			if us, ok := timeOf(e); ok {
				order = append(order, timedIndex{us, int32(i)})
			}
		}
		slices.SortStableFunc(order, func(a, b timedIndex) int { return cmpInt(a.t, b.t) })
		f.orders[slot] = order
		matched, _ := run(f, list, order)
		return matched
	}
}
