package pql

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// prjReference is an independent model of a projection: v (laid out by
// the object type t) with every field no path reaches nulled out, found by
// field names. A path keeps the field it names whole, and a field whose
// type (through arrays) is not an object whole when a path goes below it;
// arrays are looked through; a "" path keeps everything. Objects end
// sized to their last non-null field, as decoded objects are.
func prjReference(t *Type, v Value, paths []string) Value {
	if slices.Contains(paths, "") {
		return v
	}
	return binTrim(prjKeep(t, v, paths))
}

func prjKeep(t *Type, v Value, paths []string) Value {
	for t != nil && t.Kind == TypeArray {
		t = t.Elem
	}
	switch {
	case v.kind == KindArray:
		out := make([]Value, len(v.list))
		for i, e := range v.list {
			out[i] = prjKeep(t, e, paths)
		}
		return Array(out)
	case v.kind != KindObject || t == nil || t.Kind != TypeObject:
		return v
	}
	out := make([]Value, len(v.list))
	for i, f := range v.list {
		name := t.FieldName(i)
		whole := false
		var below []string
		for _, p := range paths {
			switch {
			case p == name:
				whole = true
			case strings.HasPrefix(p, name+"."):
				below = append(below, strings.TrimPrefix(p, name+"."))
			}
		}
		et := t.FieldType(i)
		for et != nil && et.Kind == TypeArray {
			et = et.Elem
		}
		switch {
		case whole, len(below) > 0 && (et == nil || et.Kind != TypeObject):
			out[i] = f
		case len(below) > 0:
			out[i] = prjKeep(t.FieldType(i), f, below)
		}
	}
	return Object(out)
}

var prjProfilePaths = [][]string{
	nil,
	{},
	{""},
	{"person.name.firstName"},
	{"homeAddress"},
	{"identityMap.ECID"},
	{"identityMap"},
	{"person.name", "person.name.firstName"},
	{"person", "person.name.firstName"},
	{"person.name.firstName", "person.birthYear", "person.name.lastName"},
	{"loyalty.points", "homeAddress.city", "_id"},
	{"_id", ""},
	{"nope"},
	{"person.nope"},
	{"person.name.firstName.deeper"},
	{"segmentMembership.ups.seg-1.status"},
	{"orders.items.sku"},
	{"orders.id", "orders.items"},
	{"matrix", "tags"},
	{"stats.negZero", "stats.min", "zLast"},
	{"essay"},
	{"consents.marketing.sms.val", "consents.collect"},
}

var prjEventPaths = [][]string{
	nil,
	{""},
	{"productListItems.SKU"},
	{"productListItems"},
	{"productListItems.SKU", "productListItems.priceTotal", "eventType"},
	{"timestamp", "eventType"},
	{"web.webPageDetails.URL", "commerce.order.priceTotal"},
	{"identityMap.ECID"},
	{"metrics.commerce.abandons.value"},
	{"commerce"},
	{"nope.x", "productListItems.nope"},
	{"zz"},
}

// TestProjectionDecodesSelectedFieldsOnly: decoding with a projection gives
// the value with every unselected field nulled out, with inline and with
// numbered strings.
func TestProjectionDecodesSelectedFieldsOnly(t *testing.T) {
	s, profiles, events := binRecords(t)
	dict := NewDict()
	for _, mode := range []struct {
		name string
		enc  Encoder
		dec  Decoder
	}{{"inline", Encoder{}, Decoder{}}, {"dict", Encoder{Dict: dict}, Decoder{Dict: dict}}} {
		check := func(kind string, typ *Type, values []Value, paths []string, p *Projection) {
			for i, v := range values {
				data := mode.enc.Append(nil, v)
				got, rest, err := mode.dec.Decode(data, p)
				if err != nil || len(rest) != 0 {
					t.Errorf("%s: %s %d projected to %q: %v, %d bytes left", mode.name, kind, i, paths, err, len(rest))
					continue
				}
				want := prjReference(typ, v, paths)
				if d := binDiff(got, want); d != "" {
					t.Errorf("%s: %s %d projected to %q: %s\n got %s\nwant %s", mode.name, kind, i, paths, d, got, want)
				}
			}
		}
		for _, paths := range prjProfilePaths {
			check("profile", s.Profile(), profiles, paths, s.ProfileProjection(paths))
		}
		for _, paths := range prjEventPaths {
			check("event", s.Event(), events, paths, s.EventProjection(paths))
		}
	}
}

// TestProjectionShapes pins a few projections down by hand.
func TestProjectionShapes(t *testing.T) {
	s, profiles, events := binRecords(t)
	if p := s.ProfileProjection([]string{"homeAddress", ""}); p != nil {
		t.Errorf(`a "" path selects everything: want a nil projection`)
	}
	if p := s.EventProjection([]string{""}); p != nil {
		t.Errorf(`a "" path selects everything: want a nil projection`)
	}
	idx := func(typ *Type, path string) []int {
		var out []int
		for _, name := range strings.Split(path, ".") {
			for typ.Kind == TypeArray {
				typ = typ.Elem
			}
			i, ft, ok := typ.Lookup(name)
			if !ok {
				t.Fatalf("no field %s", path)
			}
			out = append(out, i)
			typ = ft
		}
		return out
	}
	get := func(v Value, path []int) Value {
		for _, i := range path {
			v = v.Index(i)
		}
		return v
	}
	var dec Decoder
	var enc Encoder

	// person.name.firstName: the profile holds person, which holds name,
	// which holds firstName only.
	p := s.ProfileProjection([]string{"person.name.firstName"})
	first := idx(s.Profile(), "person.name.firstName")
	v, _, err := dec.Decode(enc.Append(nil, profiles[0]), p)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != first[0]+1 || v.Index(first[0]).Len() != first[1]+1 || get(v, first[:2]).Len() != first[2]+1 {
		t.Errorf("person.name.firstName: %s", v)
	}
	if got := get(v, first); got.Str() != "Jayden" {
		t.Errorf("person.name.firstName = %s, want Jayden", got)
	}
	// Field tells the same.
	sub, ok := p.Field(first[0])
	if !ok || sub == nil {
		t.Fatalf("Field(person) = %v, %v; want a projection within it", sub, ok)
	}
	if _, ok := p.Field(first[0] + 1); ok {
		t.Error("Field(after person) is kept")
	}
	if _, ok := p.Field(1000); ok {
		t.Error("Field(1000) is kept")
	}
	sub, ok = sub.Field(first[1])
	if !ok || sub == nil {
		t.Fatalf("Field(name) = %v, %v", sub, ok)
	}
	if sub, ok := sub.Field(first[2]); !ok || sub != nil {
		t.Errorf("Field(firstName) = %v, %v; want nil (whole), true", sub, ok)
	}
	var none *Projection
	if sub, ok := none.Field(3); !ok || sub != nil {
		t.Errorf("nil projection: Field = %v, %v; want nil, true", sub, ok)
	}

	// identityMap.ECID: a map is kept whole.
	p = s.ProfileProjection([]string{"identityMap.ECID"})
	im := idx(s.Profile(), "identityMap")
	v, _, err = dec.Decode(enc.Append(nil, profiles[0]), p)
	if err != nil {
		t.Fatal(err)
	}
	if d := binDiff(v.Index(im[0]), profiles[0].Index(im[0])); d != "" || v.Len() != im[0]+1 {
		t.Errorf("identityMap.ECID: %s %s", d, v)
	}
	if sub, ok := p.Field(im[0]); !ok || sub != nil {
		t.Errorf("Field(identityMap) = %v, %v; want whole", sub, ok)
	}

	// productListItems.SKU: every item is kept, with its SKU only.
	p = s.EventProjection([]string{"productListItems.SKU"})
	sku := idx(s.Event(), "productListItems.SKU")
	v, _, err = dec.Decode(enc.Append(nil, events[4]), p)
	if err != nil {
		t.Fatal(err)
	}
	items := v.Index(sku[0])
	if items.Kind() != KindArray || items.Len() != 2 {
		t.Fatalf("productListItems.SKU: items %s", items)
	}
	for i, it := range items.Elems() {
		if it.Len() != sku[1]+1 || it.Index(sku[1]).Kind() != KindString {
			t.Errorf("item %d: %s", i, it)
		}
	}
	// Items without a SKU stay as empty objects: counts do not change.
	v, _, err = dec.Decode(enc.Append(nil, events[6]), p)
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Index(sku[0]).Len(); n != events[6].Index(sku[0]).Len() {
		t.Errorf("edge event: %d items projected, %d in the event", n, events[6].Index(sku[0]).Len())
	}

	// Unknown paths select nothing: an empty object.
	for _, paths := range [][]string{{"nope"}, {}, nil} {
		v, _, err = dec.Decode(enc.Append(nil, profiles[0]), s.ProfileProjection(paths))
		if err != nil || v.Kind() != KindObject || v.Len() != 0 {
			t.Errorf("%q: %s %v, want an empty object", paths, v, err)
		}
	}
}

// TestProjectionBuiltBeforeSchemaGrows: a projection built when the schema
// was smaller still decodes values with fields added since (it leaves them
// out), and one that named a field still unknown leaves it out too.
func TestProjectionBuiltBeforeSchemaGrows(t *testing.T) {
	s := NewXDMSchema()
	old, err := s.DecodeProfile([]byte(`{"_id":"a","person":{"name":{"firstName":"Ann"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := s.ProfileProjection([]string{"person.name.firstName", "person.name.middle", "later"})
	v, err := s.DecodeProfile([]byte(`{"_id":"b","person":{"name":{"firstName":"Bob","middle":"M","zz":"z"},"age":3},"later":1,"zz":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	var dec Decoder
	for _, x := range []Value{old, v} {
		got, _, err := dec.Decode((&Encoder{}).Append(nil, x), p)
		if err != nil {
			t.Fatal(err)
		}
		want := prjReference(s.Profile(), x, []string{"person.name.firstName"})
		if d := binDiff(got, want); d != "" {
			t.Errorf("%s: %s\n got %s\nwant %s", x, d, got, want)
		}
	}
}

// prjQueries are realistic queries over binRecords' profiles and events.
var prjQueries = []string{
	`homeAddress.countryCode = "US"`,
	`person.name.firstName.startsWith("J")`,
	`loyalty.tier = "silver" or loyalty.points > 5000`,
	`person.birthYear < 1990 and homeAddress.city = "Philadelphia"`,
	`consents.marketing.email.val = "y" and consents.marketing.sms.val = "n"`,
	`identityMap.keys()`,
	`identityMap.get("Email").id`,
	`xEvent[eventType = "commerce.purchases"].count() > 0`,
	`xEvent[productListItems[SKU = "EL-3002"]].count()`,
	`xEvent[eventType = "commerce.purchases"].sum(commerce.order.priceTotal)`,
	`chain(xEvent, timestamp, [A: WHAT(eventType = "commerce.productListAdds"), B: WHAT(eventType = "commerce.checkouts")])`,
	`xEvent[timestamp occurs < 365 days before now].count()`,
	`exists E from xEvent where E.web.webPageDetails.URL.contains("/cart")`,
	`xEvent[productListItems[quantity > 1]].count() > 0`,
	`xEvent.metrics.commerce.abandons.value > 0`,
	`xEvent.productListItems.SKU.distinct()`,
	`count E over E from xEvent where E.productListItems.count() > 1`,
	`xEvent[commerce.productViews.value > 0].productListItems.name`,
	`orders.items.sku.distinct().count() > 1 or stats.negZero = 0`,
	`person.name.lastName.matches("^Ö+$") or _repo.createDate.getYear() < 1950`,
}

// prjGap is a known difference between what Analyze reports and what a
// plan reads, so the query evaluates differently on projected values.
type prjGap struct {
	match bool // Match differs too, not only Eval
	why   string
}

// prjGaps are the known gaps, by query. The tests check that each still
// shows, so the list stays true.
var prjGaps = map[string]prjGap{
	// The result is whole events, and Analyze records no path for them
	// (it records the paths read to compute a result, not the result):
	// the events come back projected. Match is unaffected.
	`xEvent[productListItems[SKU="PS"]]`:                              {false, "returns whole events"},
	`xEvent[productListItems[SKU="PS" or ^^.person.gender="female"]]`: {false, "returns whole events"},
	// Without Options.SegmentSlot, inSegment reads the profile's
	// segmentMembership, which Analyze does not list in ProfilePaths.
	`homeAddress.countryCode = "US" and inSegment("existing segment")`: {true, "inSegment reads segmentMembership"},
	`inSegment("e3be6d7f-1727-401f-a41e-c296b45f607a") and CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(<= 24 hours before now)])`: {true, "inSegment reads segmentMembership"},
	// Analyze loses the origin of groupBy's groups: fields read from G in
	// the map lambda are not recorded (commerce.order.priceTotal here).
	`xEvent[(timestamp occurs < 7 days before now) and eventType="download"].groupBy(product).map((K, G) => mapEntry(K, {"count": G.count(), "sum": G.sum(commerce.order.priceTotal)}))`: {false, "groupBy groups lose their origin"},
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal)))`:                                                                                             {false, "groupBy groups lose their origin"},
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal))).get("commerce.purchases") > 100`:                                                             {true, "groupBy groups lose their origin"},
}

// prjCheckQueries evaluates each query on subj and on subj encoded and
// decoded through the projections of the paths Analyze gives: Match and
// Eval must agree, except for the known prjGaps. It returns how many
// queries it evaluated and how many matched the whole subject, and adds
// the known gaps it saw to gapsSeen.
func prjCheckQueries(t *testing.T, s *Schema, subj *Subject, queries []string, now time.Time, enc Encoder, dec *Decoder, gapsSeen map[string]bool) (n, matched int) {
	t.Helper()
	for _, query := range queries {
		q, err := Parse(query)
		if err != nil {
			t.Errorf("Parse(%s): %v", query, err)
			continue
		}
		plan, err := Compile(q, Options{Schema: s})
		if err != nil {
			t.Errorf("Compile(%s): %v", query, err)
			continue
		}
		if w := plan.Warnings(); len(w) > 0 {
			t.Errorf("%s: warnings %v", query, w)
		}
		info := Analyze(q)
		pp, ep := s.ProfileProjection(info.ProfilePaths), s.EventProjection(info.EventPaths)
		dec.Reset()
		cut := &Subject{Segments: subj.Segments}
		if cut.Profile, _, err = dec.Decode(enc.Append(nil, subj.Profile), pp); err != nil {
			t.Fatal(err)
		}
		for _, e := range subj.Events {
			v, _, err := dec.Decode(enc.Append(nil, e), ep)
			if err != nil {
				t.Fatal(err)
			}
			cut.Events = append(cut.Events, v)
		}
		r := plan.NewRunner(now)
		fullMatch, err1 := r.Match(subj)
		cutMatch, err2 := r.Match(cut)
		full, err3 := r.Eval(subj)
		part, err4 := r.Eval(cut)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		n++
		if fullMatch {
			matched++
		}
		gap, known := prjGaps[query]
		matchOK, evalOK := fullMatch == cutMatch, Equal(full, part)
		switch {
		case !matchOK && !(known && gap.match):
			t.Errorf("%s: Match %v on the whole subject, %v projected to profile %q, events %q", query, fullMatch, cutMatch, info.ProfilePaths, info.EventPaths)
		case !evalOK && !known:
			t.Errorf("%s: Eval %s on the whole subject, %s projected to profile %q, events %q", query, full, part, info.ProfilePaths, info.EventPaths)
		case known && (!matchOK || !evalOK):
			gapsSeen[query] = true
		}
	}
	return n, matched
}

// TestProjectionQueriesEvaluateTheSame: a plan gives the same result on
// values decoded with the projections of the paths Analyze reports as on
// the whole values.
func TestProjectionQueriesEvaluateTheSame(t *testing.T) {
	s, profiles, events := binRecords(t)
	// One subject per profile, with every event in time order.
	sorted := slices.Clone(events)
	tsIdx, _, _ := s.EventField("timestamp")
	slices.SortStableFunc(sorted, func(a, b Value) int { return cmpInt(a.Index(tsIdx).Micros(), b.Index(tsIdx).Micros()) })
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	queries := append(slices.Clone(prjQueries), prjGapQueries...)
	dict := NewDict()
	for _, mode := range []struct {
		name string
		enc  Encoder
		dict *Dict
	}{{"inline", Encoder{}, nil}, {"dict", Encoder{Dict: dict}, dict}} {
		dec := &Decoder{Dict: mode.dict}
		seen := map[string]bool{}
		matched := 0
		for i, p := range profiles {
			subj := &Subject{Profile: p, Events: sorted}
			n, m := prjCheckQueries(t, s, subj, queries, now, mode.enc, dec, seen)
			if n != len(queries) {
				t.Errorf("%s profile %d: %d of %d queries evaluated", mode.name, i, n, len(queries))
			}
			matched += m
		}
		if total := len(queries) * len(profiles); matched == 0 || matched == total {
			t.Errorf("%s: %d of %d evaluations match: the queries do not tell profiles apart", mode.name, matched, total)
		}
		for _, q := range prjGapQueries {
			if !seen[q] {
				t.Errorf("%s: the known gap of %s (%s) no longer shows: update prjGaps", mode.name, q, prjGaps[q].why)
			}
		}
	}
}

// prjGapQueries are realistic queries that fall in a known gap.
var prjGapQueries = []string{
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal)))`,
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal))).get("commerce.purchases") > 100`,
}

// TestProjectionDocumentedExamplesEvaluateTheSame runs every documented
// example (testdata/pql-examples.txt) on the example fixture, whole and
// projected. The fixture shows every known gap of prjGaps that is an
// example.
func TestProjectionDocumentedExamplesEvaluateTheSame(t *testing.T) {
	s := evExampleSchema(t)
	subj := evExampleSubject(t, s)
	var queries []string
	for _, ex := range loadExamples(t) {
		queries = append(queries, ex.expr)
	}
	seen := map[string]bool{}
	if n, _ := prjCheckQueries(t, s, subj, queries, evNow, Encoder{}, &Decoder{}, seen); n != len(queries) {
		t.Errorf("only %d of %d examples evaluated", n, len(queries))
	}
	for q, gap := range prjGaps {
		if slices.Contains(queries, q) && !seen[q] {
			t.Errorf("the known gap of %s (%s) no longer shows: update prjGaps", q, gap.why)
		}
	}
}
