package pql

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
var prjQueries = append(slices.Clone(prjFieldQueries), prjWholeQueries...)

// prjFieldQueries read fields of the profile and events, never a whole
// profile or event.
var prjFieldQueries = []string{
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
	// groupBy and map: the groups are events, and what the lambdas read
	// of them is read.
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal)))`,
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal))).get("commerce.purchases") > 100`,
	`xEvent[timestamp occurs < 400 days before now].groupBy(eventType).map((K, G) => mapEntry(K, {"count": G.count(), "sum": G.sum(commerce.order.priceTotal)}))`,
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.productListItems.SKU.distinct()))`,
	`xEvent.groupBy(web.webPageDetails.name).map((K, G) => mapEntry(K, G.max(timestamp)))`,
	`xEvent.groupBy(eventType).get("commerce.checkouts").productListItems.priceTotal.sum() > 100`,
	`xEvent.groupBy(eventType).values().commerce.order.priceTotal`,
	`xEvent.groupBy(eventType).keys()`,
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.head().web.webPageDetails.URL))`,
	`xEvent.map(productListItems.count()).sum() > 2`,
	`xEvent.map((E) => E.commerce.order.priceTotal).max()`,
	`xEvent.productListItems.map(priceTotal * quantity).sum()`,
	`xEvent.filter((E) => E.eventType.startsWith("commerce")).web.webPageDetails.name`,
	`xEvent.exists(eventType = "commerce.purchases")`,
	`xEvent.topN(timestamp, 2).eventType`,
	`xEvent.bottomN(timestamp, 1).head().web.webPageDetails.URL`,
	`xEvent.average(productListItems.priceTotal) > 10`,
	`identityMap.map((K, V) => mapEntry(K, V.count()))`,
	`identityMap.values().id.count()`,
	`segmentMembership.ups.get("seg-1").status`,
	// inSegment reads segmentMembership (without Options.SegmentSlot).
	`inSegment("seg-1")`,
	`homeAddress.countryCode = "US" or inSegment("seg-1")`,
	`inSegment("seg-1") and chain(xEvent, timestamp, [A: WHAT(eventType = "x")])`,
	// Chains.
	`chain(xEvent, timestamp, [A: WHAT(eventType.startsWith("commerce")) WHERE(productListItems[SKU = "HK-4002"]) COUNT(2), B: WHAT(commerce.purchases.value > 0) WHEN(< 60 days before now)])`,
	`chain(xEvent, timestamp, [A: WHAT(web.webPageDetails.name = "Home"), B: WHAT(^.homeAddress.city = "Philadelphia")])`,
}

// prjWholeQueries use whole events and whole objects: as results, compared
// whole, or as the bit of the query that returns them.
var prjWholeQueries = []string{
	`xEvent[eventType = "commerce.purchases"]`,
	`xEvent.head()`,
	`xEvent[productListItems[SKU = "EL-3002"]].distinct().count()`,
	`xEvent[eventType = "commerce.checkouts"].productListItems`,
	`xEvent.productListItems.distinct().count()`,
	`xEvent.groupBy(eventType)`,
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G))`,
	`let E = (xEvent[commerce.order.priceTotal > 0]) in (E)`,
	`if(homeAddress.countryCode = "US", homeAddress, consents)`,
	`{"address": homeAddress, "events": xEvent.count()}`,
	`$1`,
	`(P) => P.loyalty`,
	`orders.topN(id, 2)`,
	`orders.head()`,
	`homeAddress = $1.homeAddress`,
	`exists E from xEvent where E = $1.xEvent.head()`,
	`xEvent[identityMap.ECID.id in ["14835568034197558277783339150535208995"]].identityMap`,
	`[homeAddress.city, person.name.firstName]`,
	`person.name.map((N) => N.firstName)`,
	`let P = ($1) in (P.xEvent.count())`,
	`select O from orders where O.items.count() = 0`,
	`forall O from orders where O.id.isNotNull()`,
	`orders.filter(true).count()`,
	`orders.map(1).count()`,
	`orders.exists()`,
	`orders.isNull() or matrix.count() = 3`,
	`sum X.qty over X from orders.items where X.sku = "A"`,
}

// prjGap is a known difference between what Analyze reports and what a
// plan reads, so the query evaluates differently on projected values.
type prjGap struct {
	match bool // Match differs too, not only Eval
	why   string
}

// prjGaps are the known gaps, by query. The tests check that each still
// shows, so the list stays true. There are none: add one here (and its
// query to prjGapQueries) only with the reason it cannot be closed.
var prjGaps = map[string]prjGap{}

// prjGapQueries are realistic queries that fall in a known gap.
var prjGapQueries []string

// prjEval evaluates plan on subj and on subj encoded and decoded through
// the projections of info's paths.
func prjEval(s *Schema, plan *Plan, info Info, subj *Subject, now time.Time, enc Encoder, dec *Decoder) (fullMatch, cutMatch bool, full, part Value, err error) {
	pp, ep := s.ProfileProjection(info.ProfilePaths), s.EventProjection(info.EventPaths)
	dec.Reset()
	cut := &Subject{Segments: subj.Segments}
	if cut.Profile, _, err = dec.Decode(enc.Append(nil, subj.Profile), pp); err != nil {
		return
	}
	for _, e := range subj.Events {
		v, _, err := dec.Decode(enc.Append(nil, e), ep)
		if err != nil {
			return false, false, Value{}, Value{}, err
		}
		cut.Events = append(cut.Events, v)
	}
	r := plan.NewRunner(now)
	fullMatch, err1 := r.Match(subj)
	cutMatch, err2 := r.Match(cut)
	full, err3 := r.Eval(subj)
	part, err4 := r.Eval(cut)
	return fullMatch, cutMatch, full, part, errors.Join(err1, err2, err3, err4)
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
		fullMatch, cutMatch, full, part, err := prjEval(s, plan, info, subj, now, enc, dec)
		if err != nil {
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

// prjSubjects are binRecords' profiles, each with every event in time
// order.
func prjSubjects(t testing.TB) (*Schema, []*Subject) {
	s, profiles, events := binRecords(t)
	sorted := slices.Clone(events)
	tsIdx, _, _ := s.EventField("timestamp")
	slices.SortStableFunc(sorted, func(a, b Value) int { return cmpInt(a.Index(tsIdx).Micros(), b.Index(tsIdx).Micros()) })
	var subjects []*Subject
	for _, p := range profiles {
		subjects = append(subjects, &Subject{Profile: p, Events: sorted})
	}
	return s, subjects
}

var prjNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// TestProjectionQueriesEvaluateTheSame: a plan gives the same result on
// values decoded with the projections of the paths Analyze reports as on
// the whole values.
func TestProjectionQueriesEvaluateTheSame(t *testing.T) {
	s, subjects := prjSubjects(t)
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
		for i, subj := range subjects {
			n, m := prjCheckQueries(t, s, subj, queries, prjNow, mode.enc, dec, seen)
			if n != len(queries) {
				t.Errorf("%s profile %d: %d of %d queries evaluated", mode.name, i, n, len(queries))
			}
			matched += m
		}
		if total := len(queries) * len(subjects); matched == 0 || matched == total {
			t.Errorf("%s: %d of %d evaluations match: the queries do not tell profiles apart", mode.name, matched, total)
		}
		for _, q := range prjGapQueries {
			if !seen[q] {
				t.Errorf("%s: the known gap of %s (%s) no longer shows: update prjGaps", mode.name, q, prjGaps[q].why)
			}
		}
	}
}

// TestProjectionQueriesReadLittle: projection is worth it. The realistic
// queries that only read fields report neither the whole profile nor whole
// events.
func TestProjectionQueriesReadLittle(t *testing.T) {
	for _, query := range prjFieldQueries {
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		info := Analyze(q)
		if slices.Contains(info.ProfilePaths, "") || slices.Contains(info.EventPaths, "") {
			t.Errorf("%s: reads a whole profile or event: profile %q, events %q", query, info.ProfilePaths, info.EventPaths)
		}
	}
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

// prjOddQueries are queries no one would write, over binRecords, that
// take values through every corner of the language: whole objects in
// literals and out of them, maps of the data and maps the query builds,
// xEvent on variables, functions given values they do not expect.
var prjOddQueries = []string{
	`let P = (max V over V from [$1]) in (P.xEvent[eventType = "commerce.purchases"].count())`,
	`let P = ($1.max()) in (P.xEvent[eventType = "commerce.purchases"].count())`,
	`let P = (orders.max($1)) in (P.xEvent.eventType)`,
	`let P = (-$1) in (P.xEvent.eventType)`,
	`$1.head().xEvent`,
	`identityMap.map((K, V) => K)`,
	`identityMap.map((K, V) => V.id)`,
	`segmentMembership.ups.map((K, V) => mapEntry(K, V.status))`,
	`orders.map((a, b) => a.homeAddress.city)`,
	`orders.filter((a, b) => a.xEvent[eventType = "x"].count() > 0).count()`,
	`{"a": $1}.a.homeAddress`,
	`mapEntry("k", xEvent).k.eventType`,
	`{"e": xEvent}.values().eventType`,
	`[xEvent.head(), $1][eventType = "commerce.purchases"]`,
	`[xEvent.head(), $1][eventType = "commerce.purchases"].count()`,
	`xEvent.groupBy(eventType).map((K, G) => G.groupBy(productListItems.SKU.head()).map((K2, G2) => mapEntry(K2, G2.commerce.order.priceTotal.sum())))`,
	`chain(xEvent.filter(eventType.startsWith("commerce")), timestamp, [A: WHAT(productListItems.count() > 0)])`,
	`chain(orders, id, [A: WHAT(id = "o1")])`,
	`xEvent[timestamp occurs before ^.xEvent.head().timestamp].count()`,
	`(P) => P`,
	`count V over V from xEvent`,
	`select V from xEvent where V`,
	`xEvent.head() = xEvent.tail`,
	`xEvent.head() = $1.xEvent.head()`,
	`homeAddress.count()`,
	`person.isNull()`,
	`xEvent.productListItems.head()`,
	`xEvent.web.count()`,
	`xEvent.map(web).count()`,
	`xEvent.map(commerce.order).count()`,
	`xEvent.commerce.count()`,
	`orders.items.count()`,
	`orders.map(items).count()`,
	`orders[items].id`,
	`identityMap.count()`,
	`identityMap.ECID.count()`,
	`segmentMembership.count()`,
	`identityMap.Email[authenticatedState = "authenticated"].count()`,
	`identityMap.values().count()`,
	`identityMap.keys().count()`,
	`xEvent.identityMap.ECID.primary`,
	`xEvent.groupBy(identityMap.ECID.id.head()).keys()`,
	`xEvent.groupBy(eventType).count()`,
	`xEvent.groupBy(eventType).map((K, G) => K)`,
	`xEvent.groupBy(eventType).map((K, G) => G.count())`,
	`xEvent.groupBy(commerce).map((K, G) => K)`,
	`orders.groupBy(items).map((K, G) => K)`,
	`xEvent.topN(commerce, 2)`,
	`xEvent.topN(commerce.order.priceTotal, 2).count()`,
	`xEvent.max(commerce)`,
	`xEvent.sum()`,
	`orders.sum()`,
	`orders.distinct().id`,
	`xEvent.productListItems.distinct().SKU`,
	`orders.intersection(orders).id`,
	`orders.includes(orders.head())`,
	`xEvent.filter(true).count()`,
	`xEvent.filter(true).web`,
	`if(homeAddress.city = "Philadelphia", xEvent, orders).count()`,
	`if(homeAddress.city = "Philadelphia", xEvent.head(), homeAddress).city`,
	`let X = (xEvent) in (X)`,
	`let X = (homeAddress) in (X.city.count())`,
	`exists E from xEvent where E.commerce, I from E.productListItems where I`,
	`forall E from xEvent where E.commerce`,
	`sum E.commerce.order.priceTotal over E from xEvent where E.commerce`,
	`(xEvent.map((E) => E.web))`,
	`xEvent.map((E) => ^.homeAddress)`,
	`xEvent[productListItems.map(SKU).count() > 1].count()`,
	`orders[^.homeAddress].count()`,
	`xEvent.timestamp.getYear()`,
	`xEvent.timestamp occurs last year`,
	`xEvent[timestamp occurs between ^.person.birthDate and now].count()`,
	"`_id`.count()",
	`_repo.map((K, V) => V)`,
	`consents.map((K, V) => V)`,
	`consents.get(homeAddress.countryCode)`,
	`consents.keys()`,
	`consents.values()`,
	`identityMap.get(homeAddress.countryCode)`,
	`{"a": homeAddress, "b": 1}.count()`,
	`{"a": homeAddress, "b": 1}.keys()`,
	`{"a": homeAddress, "b": 1}.values().count()`,
	`{"a": homeAddress}.map((K, V) => V.city)`,
	`{"a": xEvent}.map((K, V) => V.eventType)`,
	`{"a": xEvent}.map((K, V) => eventType)`,
	`mapEntry(homeAddress.city, xEvent.eventType)`,
	`mapEntry(homeAddress.city, 1).count()`,
	`[homeAddress, person.name].count()`,
	`[homeAddress.city, homeAddress.nope].count()`,
	`[orders, tags].count()`,
	`[orders, tags].id`,
}

// TestProjectionOddQueries: the odd queries evaluate the same on
// projected values as on whole values.
func TestProjectionOddQueries(t *testing.T) {
	s, subjects := prjSubjects(t)
	for _, query := range prjOddQueries {
		diff, ok := prjRandomCheck(s, subjects, query, Encoder{}, &Decoder{})
		if !ok {
			t.Errorf("%s does not compile", query)
		}
		if diff != "" {
			t.Errorf("%s: %s", query, diff)
		}
	}
}

// prjRandomCheck compiles query and compares its evaluations on the
// subjects, whole and projected. It returns a description of the first
// difference, "" when there is none, and whether the query compiled.
func prjRandomCheck(s *Schema, subjects []*Subject, query string, enc Encoder, dec *Decoder) (diff string, compiled bool) {
	q, err := Parse(query)
	if err != nil {
		return "", false
	}
	plan, err := Compile(q, Options{Schema: s, MaxWork: 1 << 18})
	if err != nil {
		return "", false
	}
	info := Analyze(q)
	for i, subj := range subjects {
		fullMatch, cutMatch, full, part, err := prjEval(s, plan, info, subj, prjNow, enc, dec)
		switch {
		case err != nil:
			// Over the work budget: nothing to compare.
		case fullMatch != cutMatch:
			return fmt.Sprintf("profile %d: Match %v whole, %v projected to profile %q, events %q", i, fullMatch, cutMatch, info.ProfilePaths, info.EventPaths), true
		case !Equal(full, part):
			return fmt.Sprintf("profile %d: Eval %.300s whole, %.300s projected to profile %q, events %q", i, full, part, info.ProfilePaths, info.EventPaths), true
		}
	}
	return "", true
}

// TestProjectionRandomQueries: random queries (prjGen) evaluate the same
// on values projected to the paths Analyze reports as on whole values.
func TestProjectionRandomQueries(t *testing.T) {
	s, subjects := prjSubjects(t)
	n := 4000
	if testing.Short() {
		n = 500
	}
	g := &prjGen{r: rand.New(rand.NewPCG(7, 11)), s: s}
	var enc Encoder
	dec := &Decoder{}
	compiled, failed := 0, 0
	for range n {
		query := g.query()
		if _, err := Parse(query); err != nil {
			t.Fatalf("the generator wrote %s: %v", query, err)
		}
		diff, ok := prjRandomCheck(s, subjects, query, enc, dec)
		if ok {
			compiled++
		}
		if diff != "" {
			failed++
			if failed <= 20 {
				t.Errorf("%s: %s", query, diff)
			}
		}
	}
	if failed > 20 {
		t.Errorf("... %d queries in all differ", failed)
	}
	if compiled < n/2 {
		t.Errorf("only %d of %d random queries compiled", compiled, n)
	}
}

// FuzzProjection: whatever compiles evaluates the same on values
// projected to the paths Analyze reports as on whole values.
func FuzzProjection(f *testing.F) {
	for _, q := range prjQueries {
		f.Add(q)
	}
	for _, q := range fuzzEvalSeeds {
		f.Add(q)
	}
	s, subjects := prjSubjects(f)
	g := &prjGen{r: rand.New(rand.NewPCG(3, 5)), s: s}
	for range 50 {
		f.Add(g.query())
	}
	f.Fuzz(func(t *testing.T, query string) {
		if diff, _ := prjRandomCheck(s, subjects, query, Encoder{}, &Decoder{}); diff != "" {
			t.Errorf("%s: %s", query, diff)
		}
	})
}

// prjGen writes random queries over a schema, loosely typed so that most
// paths exist: FuzzEval's kind of query, with every construct that moves
// values around (filters, per-element arguments and lambdas, groupBy and
// map, let, quantifiers, comprehensions, chains, ^, $1, literals holding
// values) and results that are whole objects.
type prjGen struct {
	r      *rand.Rand
	s      *Schema
	scopes []*Type // implicit parameters, innermost last
	vars   []prjVar
	nvars  int
}

type prjVar struct {
	name string
	t    *Type
}

func (g *prjGen) query() string {
	g.scopes = []*Type{g.s.Profile()}
	g.vars = nil
	if g.r.IntN(3) == 0 {
		return g.cond(4)
	}
	q, _ := g.value(4)
	return q
}

func (g *prjGen) one(options ...string) string { return options[g.r.IntN(len(options))] }

func prjElem(t *Type) *Type {
	for t != nil && t.Kind == TypeArray {
		t = t.Elem
	}
	return t
}

// field picks a field of (the elements of) t, now and then one that is
// not there.
func (g *prjGen) field(t *Type) (string, *Type) {
	t = prjElem(t)
	switch {
	case t != nil && t.Kind == TypeObject && t.NumFields() > 0 && g.r.IntN(16) > 0:
		i := g.r.IntN(t.NumFields())
		return t.FieldName(i), t.FieldType(i)
	case t != nil && t.Kind == TypeMap:
		return g.one("ECID", "Email", "ups", "seg-1", "seg-2", "status", "id", ""), t.Elem
	case t == nil && g.r.IntN(8) > 0:
		// A value of unknown type: a name found somewhere.
		return g.one("eventType", "timestamp", "SKU", "priceTotal", "commerce", "order", "city", "countryCode", "id", "status", "ECID", "a", "b"), nil
	}
	return g.one("nope", "id", "value", "SKU"), nil
}

// steps adds up to n field steps to x, while there are fields to step to.
func (g *prjGen) steps(x string, t *Type, n int) (string, *Type) {
	for range g.r.IntN(n + 1) {
		if et := prjElem(t); et != nil && et.Kind != TypeObject && et.Kind != TypeMap && g.r.IntN(8) > 0 {
			break
		}
		name, ft := g.field(t)
		x, t = x+"."+memberName(name), ft
	}
	return x, t
}

func (g *prjGen) newVar(t *Type) string {
	g.nvars++
	name := fmt.Sprintf("Vq%d", g.nvars)
	g.vars = append(g.vars, prjVar{name, t})
	return name
}

func (g *prjGen) dropVars(n int) { g.vars = g.vars[:len(g.vars)-n] }

func (g *prjGen) scoped(t *Type, fn func()) {
	g.scopes = append(g.scopes, prjElem(t))
	fn()
	g.scopes = g.scopes[:len(g.scopes)-1]
}

// path is a field path from one of the names in scope, or one of them.
func (g *prjGen) path() (string, *Type) {
	switch k := g.r.IntN(10); {
	case k < 5:
		name, t := g.field(g.scopes[len(g.scopes)-1])
		return g.steps(ident(name), t, 3)
	case k == 5:
		return g.steps("$1", g.s.Profile(), 3)
	case k == 6:
		return g.steps("xEvent", ArrayOf(g.s.Event()), 3)
	case k == 7 && len(g.vars) > 0:
		v := g.vars[g.r.IntN(len(g.vars))]
		return g.steps(v.name, v.t, 3)
	case k == 8 && len(g.scopes) > 1:
		up := 1 + g.r.IntN(len(g.scopes)-1)
		name, t := g.field(g.scopes[len(g.scopes)-1-up])
		return g.steps(strings.Repeat("^", up)+"."+memberName(name), t, 2)
	}
	name, t := g.field(g.scopes[len(g.scopes)-1])
	return g.steps(ident(name), t, 2)
}

func (g *prjGen) literal() string {
	return g.one(`1`, `0`, `2`, `2.5`, `-3`, `1989`, `1000`, `"a"`, `"US"`, `"Philadelphia"`, `"y"`, `"PS"`, `"A"`, `"EL-3002"`, `"HK-4002"`,
		`"commerce.purchases"`, `"commerce.checkouts"`, `"realized"`, `true`, `false`, `date(2026, 1, 15)`, `"2026-09-12"`)
}

// elemArg is a per-element argument on elements of t: a value or a
// condition, bare or as a one-parameter lambda.
func (g *prjGen) elemArg(t *Type, d int, isCond bool) string {
	var out string
	g.scoped(t, func() {
		lam := ""
		if g.r.IntN(3) == 0 {
			lam = g.newVar(prjElem(t))
			defer g.dropVars(1)
		}
		if isCond {
			out = g.cond(d)
		} else {
			out, _ = g.value(d)
		}
		if lam != "" {
			out = "(" + lam + ") => " + out
		}
	})
	return out
}

// value is an expression and its type, when known.
func (g *prjGen) value(d int) (string, *Type) {
	if d <= 0 {
		if g.r.IntN(4) == 0 {
			return g.literal(), nil
		}
		return g.path()
	}
	switch g.r.IntN(16) {
	case 0, 1, 2:
		return g.path()
	case 3:
		return g.literal(), nil
	case 4: // a filter
		x, t := g.value(d - 1)
		var c string
		g.scoped(t, func() { c = g.cond(d - 1) })
		return "(" + x + ")[" + c + "]", ArrayOf(prjElem(t))
	case 5, 6, 7: // a method
		return g.method(d)
	case 8: // groupBy then map over the groups
		x, t := g.value(d - 1)
		key := g.elemArg(t, d-1, false)
		k, grp := g.newVar(StringType), g.newVar(ArrayOf(prjElem(t)))
		var body string
		g.scoped(t, func() {
			agg, _ := g.value(d - 2)
			switch g.r.IntN(6) {
			case 0:
				body = "mapEntry(" + k + ", " + grp + ".count())"
			case 1:
				body = "mapEntry(" + k + ", " + grp + ".sum(" + agg + "))"
			case 2:
				body = `mapEntry(` + k + `, {"count": ` + grp + `.count(), "v": ` + grp + `.max(` + agg + `)})`
			case 3:
				body = grp
			case 4:
				body = "mapEntry(" + k + ", " + grp + ")"
			default:
				body = agg
			}
		})
		g.dropVars(2)
		out := "(" + x + ").groupBy(" + key + ").map((" + k + ", " + grp + ") => " + body + ")"
		switch g.r.IntN(4) {
		case 0:
			out += `.get("commerce.purchases")`
		case 1:
			out += ".values()"
		}
		return out, nil
	case 9:
		a, t := g.value(d - 1)
		b, _ := g.value(d - 1)
		return "if(" + g.cond(d-1) + ", " + a + ", " + b + ")", t
	case 10: // values in literals, then read back
		a, _ := g.value(d - 1)
		b, _ := g.value(d - 1)
		x := g.one("mapEntry(\"a\", "+a+")", `{"a": `+a+`, "b": `+b+`}`, "["+a+", "+b+"]")
		return g.steps("("+x+")", nil, 2)
	case 11: // let
		v, t := g.value(d - 1)
		name := g.newVar(t)
		body, bt := g.value(d - 1)
		g.dropVars(1)
		return "(let " + name + " = (" + v + ") in (" + body + "))", bt
	case 12: // a comprehension
		src, t := g.value(d - 1)
		name := g.newVar(prjElem(t))
		e, _ := g.value(d - 1)
		out := g.one("sum", "count", "min", "max", "average") + " (" + e + ") over " + name + " from " + src
		if g.r.IntN(2) == 0 {
			out += " where " + g.cond(d-1)
		}
		g.dropVars(1)
		return "(" + out + ")", nil
	case 13: // a lambda on the profile
		name := g.newVar(g.s.Profile())
		body, t := g.value(d - 1)
		g.dropVars(1)
		return "((" + name + ") => " + body + ")", t
	case 14:
		a, _ := g.value(d - 1)
		b, _ := g.value(d - 1)
		return "(" + a + " " + g.one("+", "-", "*", "/") + " " + b + ")", nil
	}
	return "(" + g.cond(d-1) + ")", BoolType
}

func (g *prjGen) method(d int) (string, *Type) {
	x, t := g.value(d - 1)
	x = "(" + x + ")"
	et := prjElem(t)
	switch g.r.IntN(20) {
	case 0:
		return x + ".count()", NumberType
	case 1:
		return x + ".head()", et
	case 2:
		return x + ".distinct()", ArrayOf(et)
	case 3:
		return x + "." + g.one("sum", "average", "min", "max") + "()", nil
	case 4, 5:
		return x + "." + g.one("sum", "average", "min", "max") + "(" + g.elemArg(t, d-1, false) + ")", nil
	case 6:
		return x + ".filter(" + g.elemArg(t, d-1, true) + ")", ArrayOf(et)
	case 7:
		if g.r.IntN(2) == 0 {
			return x + ".exists()", BoolType
		}
		return x + ".exists(" + g.elemArg(t, d-1, true) + ")", BoolType
	case 8:
		return x + ".map(" + g.elemArg(t, d-1, false) + ")", nil
	case 9:
		return x + ".groupBy(" + g.elemArg(t, d-1, false) + ")", nil
	case 10:
		return x + "." + g.one("topN", "bottomN") + "(" + g.elemArg(t, d-1, false) + ", " + g.one("1", "2", "5") + ")", ArrayOf(et)
	case 11:
		name, ft := g.field(t)
		return x + ".get(" + quote(name) + ")", ft
	case 12:
		return x + "." + g.one("keys", "values", "isNull", "isNotNull", "getYear", "getMonth") + "()", nil
	case 13:
		y, _ := g.value(d - 1)
		return x + "." + g.one("intersection", "intersects", "subsetOf", "supersetOf", "includes") + "(" + y + ")", nil
	case 14: // a map over a map's entries
		k, v := g.newVar(StringType), g.newVar(nil)
		var body string
		g.scoped(nil, func() {
			body = g.one(k, v, "mapEntry("+k+", "+v+")", "mapEntry("+k+", "+v+".count())")
			if g.r.IntN(2) == 0 {
				b, _ := g.value(d - 2)
				body = "mapEntry(" + k + ", " + b + ")"
			}
		})
		g.dropVars(2)
		return x + ".map((" + k + ", " + v + ") => " + body + ")", nil
	}
	return g.path()
}

func (g *prjGen) timeRef() string {
	return g.one("now", "today", "yesterday", "this month", "last week", "date(2026, 1, 15)")
}

func (g *prjGen) spec() string {
	switch g.r.IntN(4) {
	case 0:
		return g.one("<", "<=", ">", ">=", "=", "!=") + " " + g.one("1", "7", "30", "365") + " " + g.one("days", "hours", "months", "years") + " " + g.one("before", "after") + " " + g.timeRef()
	case 1:
		return g.one("before", "after") + " " + g.timeRef()
	case 2:
		return "between date(2026, 1, 1) and " + g.timeRef()
	}
	return g.timeRef()
}

// cond is a condition.
func (g *prjGen) cond(d int) string {
	if d <= 0 {
		x, _ := g.path()
		return x + " " + g.one("=", "!=", ">", "<") + " " + g.literal()
	}
	switch g.r.IntN(16) {
	case 0, 1:
		x, _ := g.value(d - 1)
		y := g.literal()
		if g.r.IntN(3) == 0 {
			y, _ = g.value(d - 1)
		}
		return "(" + x + ") " + g.one("=", "!=", "<", "<=", ">", ">=") + " (" + y + ")"
	case 2:
		x, _ := g.value(d - 1)
		return "(" + x + ") " + g.one("in", "notIn") + " [" + g.literal() + ", " + g.literal() + "]"
	case 3:
		return "(" + g.cond(d-1) + ") " + g.one("and", "or") + " (" + g.cond(d-1) + ")"
	case 4:
		return "not (" + g.cond(d-1) + ")"
	case 5:
		x, _ := g.value(d - 1)
		return "(" + x + ")." + g.one("startsWith", "contains", "doesNotContain", "equals", "endsWith") + "(" + g.one(`"a"`, `"e"`, `"C"`, `"1"`) + g.one("", ", false") + ")"
	case 6, 7: // a quantifier
		src, t := g.value(d - 1)
		name := g.newVar(prjElem(t))
		kw := g.one("exists", "forall", "select")
		out := kw + " " + name + " from " + src
		n := 1
		if kw == "select" {
			out += " where " + g.cond(d-1)
		} else {
			if g.r.IntN(4) > 0 {
				out += " where " + g.cond(d-1)
			}
			if g.r.IntN(3) == 0 {
				inner, it := g.steps(name, prjElem(t), 2)
				name2 := g.newVar(prjElem(it))
				n++
				out += ", " + name2 + " from " + inner + " where " + g.cond(d-1)
			}
		}
		g.dropVars(n)
		return "(" + out + ")"
	case 8: // a chain
		var steps []string
		g.scoped(g.s.Event(), func() {
			for i := range 1 + g.r.IntN(3) {
				st := fmt.Sprintf("S%d: WHAT(%s)", i, g.cond(d-1))
				if g.r.IntN(3) == 0 {
					st += " WHERE(" + g.cond(d-1) + ")"
				}
				if g.r.IntN(3) == 0 {
					st += " WHEN(" + g.spec() + ")"
				}
				if g.r.IntN(4) == 0 {
					st += " COUNT(2)"
				}
				steps = append(steps, st)
			}
		})
		return "chain(xEvent, timestamp, [" + strings.Join(steps, ", ") + "])"
	case 9:
		x, _ := g.path()
		return x + " occurs " + g.spec()
	case 10:
		return `inSegment(` + g.one(`"seg-1"`, `"seg-2"`, `"s1"`, `"nope"`) + `)`
	case 11:
		x, _ := g.value(d - 1)
		return "(" + x + ") like " + g.one(`"%a%"`, `"A%"`, `"%.com"`)
	}
	x, _ := g.value(d - 1)
	return x
}

// TestProjectionDottedNames: a field whose name has a dot cannot be named
// by a dotted path; what holds it is read whole.
func TestProjectionDottedNames(t *testing.T) {
	s := NewXDMSchema()
	subj, err := evDecode(s, `{"a.b": 1, "home": {"x.y": "z", "w": 2}, "m": {"k.1": {"v": 3}}}`, `{"timestamp": "2026-01-01T00:00:00Z", "e.t": "x"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{"`a.b` = 1", "home.`x.y` = \"z\"", `home.get("x.y") = "z"`, `m.get("k.1").count() = 1`, "xEvent.`e.t` = \"x\"", "xEvent[`e.t` = \"x\"].count() > 0"} {
		diff, ok := prjRandomCheck(s, []*Subject{subj}, query, Encoder{}, &Decoder{})
		if !ok {
			t.Fatalf("%s does not compile", query)
		}
		if diff != "" {
			t.Errorf("%s: %s", query, diff)
		}
		q, _ := Parse(query)
		plan, _ := Compile(q, Options{Schema: s})
		if ok, err := plan.NewRunner(prjNow).Match(subj); !ok || err != nil {
			t.Errorf("%s does not match: %v", query, err)
		}
	}
}
