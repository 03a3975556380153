package pql

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// subjectColumns lays out subjects by column, as a store would.
type subjectColumns struct {
	schema   *Schema
	subjects []Subject
	segments map[int][]uint64
	fetched  []string // columns asked for
}

func (c *subjectColumns) Persons() int { return len(c.subjects) }

func (c *subjectColumns) column(path string, event bool) (*Column, error) {
	c.fetched = append(c.fetched, fmt.Sprintf("%v:%s", event, path))
	idx, ok := c.schema.ScalarPath(path, event)
	if !ok {
		return nil, fmt.Errorf("no scalar %s", path)
	}
	var b ColumnBuilder
	at := func(v Value) Value {
		for _, i := range idx {
			v = v.Index(i)
		}
		return v
	}
	for _, s := range c.subjects {
		if !event {
			b.Add(at(s.Profile))
			continue
		}
		for _, e := range s.Events {
			b.Add(at(e))
		}
	}
	// Split and join again, so ConcatColumns is exercised too.
	col := b.Column()
	if col.Len() < 2 {
		return col, nil
	}
	half := col.Len() / 2
	var x, y ColumnBuilder
	for r := range col.Len() {
		if r < half {
			x.Add(col.value(r))
		} else {
			y.Add(col.value(r))
		}
	}
	return ConcatColumns([]*Column{x.Column(), y.Column()}), nil
}

func (c *subjectColumns) ProfileColumn(path string) (*Column, error) { return c.column(path, false) }
func (c *subjectColumns) EventColumn(path string) (*Column, error)   { return c.column(path, true) }

func (c *subjectColumns) Events() ([]int64, []uint32, error) {
	ts, _, _ := c.schema.EventField("timestamp")
	var times []int64
	offsets := []uint32{0}
	for _, s := range c.subjects {
		for _, e := range s.Events {
			times = append(times, e.Index(ts).Micros())
		}
		offsets = append(offsets, uint32(len(times)))
	}
	return times, offsets, nil
}

func (c *subjectColumns) Segment(slot int) ([]uint64, error) {
	if bm, ok := c.segments[slot]; ok {
		return bm, nil
	}
	return nil, fmt.Errorf("no slot %d", slot)
}

func columnarSchema(t testing.TB) *Schema {
	s := NewXDMSchema()
	for path, typ := range map[string]*Type{
		"homeAddress.countryCode": StringType,
		"person.name.lastName":    StringType,
		"loyalty.points":          NumberType,
		"loyalty.tier":            StringType,
		"active":                  BoolType,
		"tags":                    ArrayOf(StringType),
	} {
		if err := s.DeclareProfile(path, typ); err != nil {
			t.Fatal(err)
		}
	}
	for path, typ := range map[string]*Type{
		"commerce.order.priceTotal": NumberType,
		"web.name":                  StringType,
	} {
		if err := s.DeclareEvent(path, typ); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// set puts v at the dotted path of an object laid out by t.
func set(t *Type, obj Value, path string, v Value) Value {
	list := obj.list
	if list == nil {
		list = make([]Value, t.NumFields())
	}
	name, rest, deep := strings.Cut(path, ".")
	i, ft, _ := t.Lookup(name)
	if deep {
		list[i] = set(ft, list[i], rest, v)
	} else {
		list[i] = v
	}
	return Object(list)
}

func randomSubjects(s *Schema, rng *rand.Rand, n int, now time.Time) ([]Subject, []uint64) {
	countries := []string{"US", "FR", "DE", "us", ""}
	names := []string{"Smith", "smith", "Jones", "Sánchez", "S", ""}
	tiers := []string{"gold", "platinum", "silver", "Gold"}
	types := []string{"commerce.purchases", "commerce.productViews", "web.webpagedetails.pageViews"}
	subjects := make([]Subject, n)
	members := make([]uint64, (n+63)/64)
	for i := range subjects {
		var p Value
		maybe := func(path string, v Value) {
			if rng.IntN(5) > 0 {
				p = set(s.profile, p, path, v)
			}
		}
		maybe("homeAddress.countryCode", String(countries[rng.IntN(len(countries))]))
		maybe("person.name.lastName", String(names[rng.IntN(len(names))]))
		if rng.IntN(2) == 0 {
			maybe("loyalty.points", Int(int64(rng.IntN(40000))-100))
		} else {
			maybe("loyalty.points", Double(rng.Float64()*40000))
		}
		maybe("loyalty.tier", String(tiers[rng.IntN(len(tiers))]))
		maybe("active", Bool(rng.IntN(2) == 0))
		maybe("person.birthDate", Micros(now.AddDate(-20-rng.IntN(50), 0, -rng.IntN(365)).UnixMicro()))
		maybe("tags", Array([]Value{String("a")}))
		subjects[i].Profile = p
		for range rng.IntN(8) {
			var e Value
			e = set(s.event, e, "_id", String(fmt.Sprint(rng.Int64())))
			e = set(s.event, e, "timestamp", Micros(now.Add(-time.Duration(rng.IntN(60*24))*time.Hour).UnixMicro()))
			if rng.IntN(6) > 0 {
				e = set(s.event, e, "eventType", String(types[rng.IntN(len(types))]))
			}
			switch rng.IntN(3) {
			case 0:
				e = set(s.event, e, "commerce.order.priceTotal", Double(float64(rng.IntN(40000))/100))
			case 1:
				e = set(s.event, e, "commerce.order.priceTotal", Int(int64(rng.IntN(300))))
			}
			if rng.IntN(2) == 0 {
				e = set(s.event, e, "web.name", String(names[rng.IntN(len(names))]))
			}
			subjects[i].Events = append(subjects[i].Events, e)
		}
		if rng.IntN(3) == 0 {
			members[i/64] |= 1 << (i % 64)
			subjects[i].Segments = InSegment(nil, 0)
		}
	}
	return subjects, members
}

var (
	profileAtoms = []string{
		`homeAddress.countryCode = "US"`, `homeAddress.countryCode != "US"`,
		`person.name.lastName.startsWith("S")`, `person.name.lastName.endsWith("h", false)`,
		`person.name.lastName.contains("mit")`, `person.name.lastName like "S%"`,
		`loyalty.points >= 20000`, `loyalty.points < 100.5`, `loyalty.points = 5`, `loyalty.points != 5`,
		`loyalty.tier in ["gold", "platinum"]`, `loyalty.tier notIn ["gold"]`,
		`person.birthDate occurs between date(1980, 1, 1) and date(1989, 12, 31)`,
		`person.birthDate occurs > 40 years before now`, `person.birthDate < date(1970, 1, 1)`,
		`homeAddress.countryCode.isNull()`, `loyalty.tier.isNotNull()`, `active = true`, `active`,
		`not active`, `true`, `false`, `(P) => P.loyalty.points > 3`, `currentMonth() > 0`, `inSegment("s1")`,
		`loyalty.points / 2 > 1000`,
	}
	eventAtoms = []string{
		`eventType = "commerce.purchases"`, `eventType != "commerce.purchases"`,
		`eventType.startsWith("commerce")`, `timestamp occurs <= 30 days before now`,
		`timestamp occurs between date(2020, 1, 1) and now`, `timestamp occurs > 7 days before now`,
		`timestamp occurs on today`, `timestamp occurs this month`,
		`commerce.order.priceTotal > 100`, `commerce.order.priceTotal.isNull()`,
		`web.name.startsWith("S")`, `true`,
	}
	aggregates = []string{"count()", "sum(commerce.order.priceTotal)", "min(commerce.order.priceTotal)",
		"max(commerce.order.priceTotal)", "average(commerce.order.priceTotal)"}
	testCmpOps = []string{"=", "!=", "<", "<=", ">", ">="}
	// notColumnar are shapes CompileColumns leaves to the row evaluator.
	notColumnar = []string{
		`homeAddress.countryCode = person.name.lastName`,
		`xEvent[eventType = "x"].count() > loyalty.points`,
		`xEvent[timestamp.getMonth() = 3].count() > 0`,
		`xEvent[_id = "x"].count() > 0`,
		`xEvent[eventType = ^.homeAddress.countryCode].count() > 0`,
		`chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN(after ^.person.birthDate)])`,
		`chain(xEvent, _id, [A: WHAT(eventType = "a")])`,
		`chain(xEvent, timestamp, [A: WHAT(eventType = ^.homeAddress.countryCode)])`,
		`tags.count() > 0`,
		`xEvent.count() > 2`,
		`inSegment("unknown")`,
		`xEvent[eventType = "x"].sum(commerce.order) > 1`,
	}
)

// randomBool combines what leaf makes with not, and and or, depth deep
// at most.
func randomBool(rng *rand.Rand, depth int, leaf func() string) string {
	if depth == 0 || rng.IntN(3) == 0 {
		return leaf()
	}
	sub := func() string { return randomBool(rng, depth-1, leaf) }
	switch rng.IntN(3) {
	case 0:
		return "not (" + sub() + ")"
	case 1:
		return "(" + sub() + ") and (" + sub() + ")"
	}
	return "(" + sub() + ") or (" + sub() + ")"
}

func randomEventCond(rng *rand.Rand, depth int) string {
	return randomBool(rng, depth, func() string { return eventAtoms[rng.IntN(len(eventAtoms))] })
}

func randomChain(rng *rand.Rand) string {
	var steps []string
	for i := range 1 + rng.IntN(3) {
		step := fmt.Sprintf("S%d: WHAT(%s)", i, randomEventCond(rng, 1))
		if rng.IntN(2) == 0 {
			step += " WHERE(" + eventAtoms[rng.IntN(len(eventAtoms))] + ")"
		}
		if rng.IntN(2) == 0 {
			step += " WHEN(" + []string{"<= 30 days before now", "today", "between date(2026, 1, 1) and now", "> 3 days before now"}[rng.IntN(4)] + ")"
		}
		if rng.IntN(3) == 0 {
			step += fmt.Sprintf(" COUNT(%d)", 1+rng.IntN(3))
		}
		steps = append(steps, step)
	}
	return "chain(xEvent, timestamp, [" + strings.Join(steps, ", ") + "])"
}

func randomCond(rng *rand.Rand, depth int) string {
	return randomBool(rng, depth, func() string {
		switch rng.IntN(5) {
		case 3:
			return randomChain(rng)
		case 0:
			return "xEvent[" + randomEventCond(rng, 2) + "]"
		case 1:
			agg := aggregates[rng.IntN(len(aggregates))]
			k := []string{"0", "2", "100", "150.5", "-1"}[rng.IntN(5)]
			op := testCmpOps[rng.IntN(len(testCmpOps))]
			if rng.IntN(4) == 0 {
				return k + " " + op + " xEvent[" + randomEventCond(rng, 2) + "]." + agg
			}
			return "xEvent[" + randomEventCond(rng, 2) + "]." + agg + " " + op + " " + k
		}
		return profileAtoms[rng.IntN(len(profileAtoms))]
	})
}

// TestColumnPlanMatchesRows checks that columnar evaluation selects
// exactly the subjects the row evaluator does, on random queries of the
// columnar shapes over random profiles with missing fields, mixed number
// kinds and events.
func TestColumnPlanMatchesRows(t *testing.T) {
	s := columnarSchema(t)
	now := time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	subjects, members := randomSubjects(s, rng, 1200, now)
	slot := func(id string) (int, bool) { return 0, id == "s1" }
	opts := Options{Schema: s, SegmentSlot: slot}
	var queries []string
	queries = append(queries, profileAtoms...)
	for _, e := range eventAtoms {
		queries = append(queries, "xEvent["+e+"]", "xEvent["+e+"].count() > 1")
	}
	for range 300 {
		queries = append(queries, randomCond(rng, 3))
	}
	for range 80 {
		queries = append(queries, randomChain(rng))
	}
	mixed := 0 // queries that select some subjects but not all
	for _, text := range queries {
		q, err := Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		plan, err := Compile(q, opts)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		cp, err := CompileColumns(q, opts)
		if err != nil {
			t.Fatalf("%s: not columnar: %v", text, err)
		}
		cols := &subjectColumns{schema: s, subjects: subjects, segments: map[int][]uint64{0: members}}
		got, err := cp.Run(context.Background(), cols, now, 3)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		run := plan.NewRunner(now)
		matched := 0
		for i := range subjects {
			want, err := run.Match(&subjects[i])
			if err != nil {
				t.Fatal(err)
			}
			if want {
				matched++
			}
			if have := got[i/64]&(1<<(i%64)) != 0; have != want {
				t.Fatalf("%s: subject %d: columnar %v, rows %v\nprofile %v\nevents %v", text, i, have, want, subjects[i].Profile, subjects[i].Events)
			}
		}
		if len(got) != (len(subjects)+63)/64 || (len(subjects)%64 != 0 && got[len(got)-1]>>(len(subjects)%64) != 0) {
			t.Fatalf("%s: bits set past the last person", text)
		}
		if matched > 0 && matched < len(subjects) {
			mixed++
		}
	}
	if mixed < len(queries)*2/3 {
		t.Fatalf("only %d of %d queries tell subjects apart: the data or the queries are too uniform", mixed, len(queries))
	}
	t.Logf("%d queries, %d selecting some but not all of %d subjects", len(queries), mixed, len(subjects))
}

// TestColumnPlanRejects checks that other shapes are left to the row
// evaluator, with ErrNotColumnar.
func TestColumnPlanRejects(t *testing.T) {
	s := columnarSchema(t)
	opts := Options{Schema: s, SegmentSlot: func(id string) (int, bool) { return 0, id == "s1" }}
	for _, text := range notColumnar {
		q, err := Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if _, err := CompileColumns(q, opts); !errors.Is(err, ErrNotColumnar) {
			t.Errorf("%s: got %v, want ErrNotColumnar", text, err)
		}
	}
}

// TestColumnPlanReadsOnlyItsColumns checks that a plan asks the store for
// the columns its query reads and no others.
func TestColumnPlanReadsOnlyItsColumns(t *testing.T) {
	s := columnarSchema(t)
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	subjects, _ := randomSubjects(s, rand.New(rand.NewPCG(3, 4)), 10, now)
	q, err := Parse(`homeAddress.countryCode = "US" and xEvent[eventType = "commerce.purchases"].sum(commerce.order.priceTotal) > 10`)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := CompileColumns(q, Options{Schema: s})
	if err != nil {
		t.Fatal(err)
	}
	cols := &subjectColumns{schema: s, subjects: subjects}
	if _, err := cp.Run(context.Background(), cols, now, 1); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cols.fetched, " ")
	want := "true:commerce.order.priceTotal false:homeAddress.countryCode true:eventType"
	if got != want {
		t.Fatalf("columns read: %s, want %s", got, want)
	}
}

// FuzzColumnPlan: a query CompileColumns accepts selects exactly the
// subjects the row evaluator does (the random subjects of
// TestColumnPlanMatchesRows, a few hundred of them); one it refuses
// fails with ErrNotColumnar or the row compiler's errors.
func FuzzColumnPlan(f *testing.F) {
	for _, q := range append(append(append([]string{}, profileAtoms...), eventAtoms...), notColumnar...) {
		f.Add(q)
	}
	f.Add(`xEvent[eventType = "commerce.purchases" and timestamp occurs <= 30 days before now].count() > 2 or not active`)
	f.Add(`chain(xEvent, timestamp, [A: WHAT(eventType = "commerce.purchases") COUNT(2), B: WHAT(web.name.startsWith("S")) WHEN(today)])`)
	f.Add(`3 <= xEvent[commerce.order.priceTotal > 10].average(commerce.order.priceTotal)`)
	s := columnarSchema(f)
	now := time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC)
	subjects, members := randomSubjects(s, rand.New(rand.NewPCG(9, 10)), 300, now)
	opts := Options{Schema: s, SegmentSlot: func(id string) (int, bool) { return 0, id == "s1" }, MaxWork: 1 << 16}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := Parse(text)
		if err != nil {
			return
		}
		plan, err := Compile(q, opts)
		if err != nil {
			return
		}
		cp, err := CompileColumns(q, opts)
		if err != nil {
			var ce CheckErrors
			if !errors.Is(err, ErrNotColumnar) && !errors.As(err, &ce) {
				t.Fatalf("%s: %v", text, err)
			}
			return
		}
		cols := &subjectColumns{schema: s, subjects: subjects, segments: map[int][]uint64{0: members}}
		got, err := cp.Run(context.Background(), cols, now, 2)
		run := plan.NewRunner(now)
		for i := range subjects {
			want, rerr := run.Match(&subjects[i])
			if rerr != nil {
				return // over the work budget: both may stop anywhere
			}
			if err != nil {
				t.Fatalf("%s: columnar failed (%v) where rows did not", text, err)
			}
			if have := got[i/64]&(1<<(i%64)) != 0; have != want {
				t.Fatalf("%s: subject %d: columnar %v, rows %v", text, i, have, want)
			}
		}
	})
}
