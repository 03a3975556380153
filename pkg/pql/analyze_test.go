package pql

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type evAnalyzeCase struct {
	query    string
	profile  []string
	event    []string
	events   bool
	segments []string
	now      bool
}

var evAnalyzeCases = []evAnalyzeCase{
	{`homeAddress.country = "US"`, []string{"homeAddress.country"}, nil, false, nil, false},
	{`homeAddress.country in ["US"] and person.age > 1`, []string{"homeAddress.country", "person.age"}, nil, false, nil, false},
	{`xEvent[eventType = "addToCart"].count() > 2`, nil, []string{"eventType"}, true, nil, false},
	{`xEvent.count() > 0`, nil, nil, true, nil, false},
	{`xEvent.metrics.commerce.abandons.value > 0`, nil, []string{"metrics.commerce.abandons.value"}, true, nil, false},
	// Filters: the condition's paths are below the filtered array.
	{`orders[price > 6].storeId`, []string{"orders.price", "orders.storeId"}, nil, false, nil, false},
	{`xEvent[productListItems[SKU = "PS" or ^^.person.gender = "female"]].count()`, []string{"person.gender"}, []string{"productListItems.SKU"}, true, nil, false},
	{`xEvent[timestamp occurs before ^.lastSeen].count()`, []string{"lastSeen"}, []string{"timestamp"}, true, nil, false},
	{`orders.topN(price, 2).head().id`, []string{"orders.id", "orders.price"}, nil, false, nil, false},
	// A path covers what is below it.
	{`orders.count() > 1 and orders.storeId = "s1" or orders = 1`, []string{"orders"}, nil, false, nil, false},
	// Counting the elements of an array reads which there are: any path
	// below it keeps them all.
	{`orders.count() > 1 and orders.storeId = "s1"`, []string{"orders.storeId"}, nil, false, nil, false},
	{`orders.count() > 1`, []string{"orders"}, nil, false, nil, false},
	{`orders.items.count() > 1 and orders.count() > 2`, []string{"orders.items"}, nil, false, nil, false},
	{`identityMap.get("email").id`, []string{"identityMap.email.id"}, nil, false, nil, false},
	{`identityMap.keys()`, []string{"identityMap"}, nil, false, nil, false},
	// Quantifier and comprehension variables stand for elements.
	{`exists O from orders where O.price > 20, I from O.items where I.qty >= 1`, []string{"orders.items.qty", "orders.price"}, nil, false, nil, false},
	{`exists E from xEvent where E.eventType = "x"`, nil, []string{"eventType"}, true, nil, false},
	{`select var1 from xEvent where var1._experience.analytics.endUser.firstWeb.webPageDetails.isHomePage = true`,
		nil, []string{"_experience.analytics.endUser.firstWeb.webPageDetails.isHomePage"}, true, nil, false},
	{`sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD"`,
		nil, []string{"commerce.order.currencyCode", "commerce.order.priceTotal"}, true, nil, false},
	{`count O over O from orders`, []string{"orders"}, nil, false, nil, false},
	// Chains read their time field.
	{`chain(xEvent, timestamp, [A: WHAT(eventType = "cart") WHEN(< 8 days before now)])`, nil, []string{"eventType", "timestamp"}, true, nil, true},
	{`chain(xEvent, timestamp, [A: WHAT(eventType = "a"), B: WHAT(eventType = "b") WHERE(commerce.order.priceTotal > 1)])`,
		nil, []string{"commerce.order.priceTotal", "eventType", "timestamp"}, true, nil, false},
	{`chain(xEvent, timestamp, [A: WHAT(eventType = "a" and ^.homeAddress.country = "US")])`, []string{"homeAddress.country"}, []string{"eventType", "timestamp"}, true, nil, false},
	// let: the variable stands for its value.
	{`let S = (orders.sum(price)) in (S > 40)`, []string{"orders.price"}, nil, false, nil, false},
	{`let E = (xEvent) in (E[eventType = "a"].count() > 1)`, nil, []string{"eventType"}, true, nil, false},
	{`let A = (homeAddress) in (A.country = "US")`, []string{"homeAddress.country"}, nil, false, nil, false},
	{`let A = (homeAddress) in (A = workAddress)`, []string{"homeAddress", "workAddress"}, nil, false, nil, false},
	{`let A = (homeAddress) in (true)`, nil, nil, false, nil, false},
	// Lambdas and $1 are the profile.
	{`(P) => P.homeAddress.country = P.workAddress.country`, []string{"homeAddress.country", "workAddress.country"}, nil, false, nil, false},
	{`$1.person.age > 1`, []string{"person.age"}, nil, false, nil, false},
	{`orders.filter((o) => o.storeId = "s1").count()`, []string{"orders.storeId"}, nil, false, nil, false},
	{`let P = ($1) in (P.xEvent[eventType = "a"].count())`, nil, []string{"eventType"}, true, nil, false},
	// Segments, sorted and distinct. Without a slot for the id the plan
	// reads the profile's segmentMembership.
	{`inSegment("b") and inSegment("a") or inSegment("b")`, []string{"segmentMembership"}, nil, false, []string{"a", "b"}, false},
	{`homeAddress.countryCode = "US" and inSegment("existing segment")`, []string{"homeAddress.countryCode", "segmentMembership"}, nil, false, []string{"existing segment"}, false},
	{`segmentMembership.ups.get("x").status = "realized" or inSegment("x")`, []string{"segmentMembership"}, nil, false, []string{"x"}, false},
	{`inSegment("s") and chain(xEvent, timestamp, [A: WHAT(eventType = "a")])`, []string{"segmentMembership"}, []string{"eventType", "timestamp"}, true, []string{"s"}, false},
	// Time.
	{`person.birthMonth = currentMonth()`, []string{"person.birthMonth"}, nil, false, nil, true},
	{`currentYear() - person.birthYear > 20`, []string{"person.birthYear"}, nil, false, nil, true},
	{`t occurs today`, []string{"t"}, nil, false, nil, true},
	{`t occurs last week`, []string{"t"}, nil, false, nil, true},
	{`t occurs on date(2024, 1, 1)`, []string{"t"}, nil, false, nil, false},
	{`t occurs between date(2024, 1, 1) and date(2024, 2, 1)`, []string{"t"}, nil, false, nil, false},
	{`t occurs between date(2024, 1, 1) and now`, []string{"t"}, nil, false, nil, true},
	{`t occurs before lastSeen`, []string{"lastSeen", "t"}, nil, false, nil, false},
	{`xEvent[timestamp occurs < 7 days before now and eventType = "download"].groupBy(product).map((K, G) => mapEntry(K, G.count()))`,
		nil, []string{"eventType", "product", "timestamp"}, true, nil, true},
	// groupBy's groups are elements of what it groups; the lambdas of map
	// read them.
	{`xEvent[timestamp occurs < 7 days before now and eventType = "download"].groupBy(product).map((K, G) => mapEntry(K, {"count": G.count(), "sum": G.sum(commerce.order.priceTotal)}))`,
		nil, []string{"commerce.order.priceTotal", "eventType", "product", "timestamp"}, true, nil, true},
	{`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal))).get("commerce.purchases") > 100`,
		nil, []string{"commerce.order.priceTotal", "eventType"}, true, nil, false},
	{`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.max(timestamp)))`, nil, []string{"eventType", "timestamp"}, true, nil, false},
	{`xEvent.groupBy(eventType).map((K, G) => G.head().web.name)`, nil, []string{"eventType", "web.name"}, true, nil, false},
	{`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, web.name))`, nil, []string{"eventType", "web.name"}, true, nil, false},
	{`xEvent.groupBy(eventType).get("a").commerce.order.priceTotal.sum()`, nil, []string{"commerce.order.priceTotal", "eventType"}, true, nil, false},
	{`xEvent.groupBy(eventType).purchases.commerce.order.priceTotal.sum()`, nil, []string{"commerce.order.priceTotal", "eventType"}, true, nil, false},
	{`xEvent.groupBy(eventType).values().web.name`, nil, []string{"eventType", "web.name"}, true, nil, false},
	{`xEvent.groupBy(eventType).keys()`, nil, []string{"eventType"}, true, nil, false},
	{`xEvent.groupBy(eventType).count()`, nil, []string{"eventType"}, true, nil, false},
	{`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G))`, nil, []string{""}, true, nil, false},
	{`orders.groupBy(storeId)`, []string{"orders"}, nil, false, nil, false},
	{`identityMap.map((K, V) => mapEntry(K, V.id))`, []string{"identityMap"}, nil, false, nil, false},
	// The other functions with a per-element argument.
	{`orders.map(price).sum()`, []string{"orders.price"}, nil, false, nil, false},
	{`orders.map((o) => o.items.count()).max()`, []string{"orders.items"}, nil, false, nil, false},
	{`orders.map(1).count()`, []string{"orders"}, nil, false, nil, false},
	{`orders.filter(price > 5).storeId`, []string{"orders.price", "orders.storeId"}, nil, false, nil, false},
	{`orders.exists(price > 5)`, []string{"orders.price"}, nil, false, nil, false},
	{`orders.exists()`, []string{"orders"}, nil, false, nil, false},
	{`orders.exists((o) => o.items.exists(qty > 1))`, []string{"orders.items.qty"}, nil, false, nil, false},
	{`orders.min((o) => o.price) < 5 and orders.average(price) > 1`, []string{"orders.price"}, nil, false, nil, false},
	{`orders.sum()`, []string{"orders"}, nil, false, nil, false},
	{`orders.bottomN(price, 1).head().storeId`, []string{"orders.price", "orders.storeId"}, nil, false, nil, false},
	{`orders.distinct().count()`, []string{"orders"}, nil, false, nil, false},
	{`orders.storeId.distinct().count()`, []string{"orders.storeId"}, nil, false, nil, false},
	{`orders.head().storeId`, []string{"orders.storeId"}, nil, false, nil, false},
	{`orders.includes(orders.head())`, []string{"orders"}, nil, false, nil, false},
	{`forall O from orders where O.price > 1`, []string{"orders.price"}, nil, false, nil, false},
	{`count O over O from orders where O.price > 1`, []string{"orders.price"}, nil, false, nil, false},
	{`max O.price over O from orders`, []string{"orders.price"}, nil, false, nil, false},
	{`chain(orders.filter(price > 1), storeId, [A: WHAT(items.count() > 0)])`, []string{"orders.items", "orders.price", "orders.storeId"}, nil, false, nil, false},
	// Whole objects used as values: returned or compared whole. "" is the
	// whole profile or event.
	{`xEvent[eventType = "addToCart"]`, nil, []string{""}, true, nil, false},
	{`xEvent.head()`, nil, []string{""}, true, nil, false},
	{`let E = (xEvent) in (E)`, nil, []string{""}, true, nil, false},
	{`xEvent.productListItems`, nil, []string{"productListItems"}, true, nil, false},
	{`exists E from xEvent where E = $1.xEvent.head()`, nil, []string{""}, true, nil, false},
	{`$1`, []string{""}, nil, false, nil, false},
	{`(P) => P`, []string{""}, nil, false, nil, false},
	{`(P) => P.homeAddress`, []string{"homeAddress"}, nil, false, nil, false},
	{`orders[price > 6]`, []string{"orders"}, nil, false, nil, false},
	{`if(person.age > 1, homeAddress, workAddress.country)`, []string{"homeAddress", "person.age", "workAddress.country"}, nil, false, nil, false},
	{`{"home": homeAddress, "n": orders.count()}`, []string{"homeAddress", "orders"}, nil, false, nil, false},
	{`{"home": homeAddress}.home.country`, []string{"homeAddress.country"}, nil, false, nil, false},
	{`[homeAddress, workAddress].count()`, []string{"homeAddress", "workAddress"}, nil, false, nil, false},
	{`homeAddress = workAddress`, []string{"homeAddress", "workAddress"}, nil, false, nil, false},
	// A name a dotted path cannot spell: what holds it is read whole.
	{"`a.b` = 1", []string{""}, nil, false, nil, false},
	{"homeAddress.`a.b` = 1", []string{"homeAddress"}, nil, false, nil, false},
	{`identityMap.get("a.b").id`, []string{"identityMap"}, nil, false, nil, false},
	{`date(person.birthYear, 1, 1) < lastSeen`, []string{"lastSeen", "person.birthYear"}, nil, false, nil, false},
}

func TestAnalyze(t *testing.T) {
	env := evSetup(t)
	for _, c := range evAnalyzeCases {
		q, err := Parse(c.query)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.query, err)
			continue
		}
		info := Analyze(q)
		evCheckInfo(t, c, info)
		// Plan.Info is the same.
		plan, err := Compile(q, Options{Schema: env.schema})
		if err != nil {
			t.Errorf("Compile(%q): %v", c.query, err)
			continue
		}
		evCheckInfo(t, c, plan.Info())
	}
}

func evCheckInfo(t *testing.T, c evAnalyzeCase, info Info) {
	t.Helper()
	if !slices.Equal(info.ProfilePaths, c.profile) {
		t.Errorf("%s: ProfilePaths = %q, want %q", c.query, info.ProfilePaths, c.profile)
	}
	if !slices.Equal(info.EventPaths, c.event) {
		t.Errorf("%s: EventPaths = %q, want %q", c.query, info.EventPaths, c.event)
	}
	if info.ReadsEvents != c.events {
		t.Errorf("%s: ReadsEvents = %v, want %v", c.query, info.ReadsEvents, c.events)
	}
	if !slices.Equal(info.Segments, c.segments) {
		t.Errorf("%s: Segments = %q, want %q", c.query, info.Segments, c.segments)
	}
	if info.UsesNow != c.now {
		t.Errorf("%s: UsesNow = %v, want %v", c.query, info.UsesNow, c.now)
	}
}

// TestAnalyzeLoadsEnough evaluates queries on profiles cut down to the
// paths Analyze reports: the result must not change.
func TestAnalyzeLoadsEnough(t *testing.T) {
	env := evSetup(t)
	p1 := env.subject(t, "p1")
	for _, query := range []string{
		`orders[price > 6].storeId`,
		`person.favoriteColors.intersects(["blue"]) and homeAddress.country = "US"`,
		`let S = (orders.sum(price)) in (S > 40)`,
		`exists O from orders where O.price > 20, I from O.items where I.qty >= 1`,
		`forall O from orders where O.price > 1`,
		`count O over O from orders`,
		`(P) => P.homeAddress.stateProvince = P.workAddress.stateProvince`,
		`identityMap.get("email").id`,
		`orders.groupBy(storeId).map((K, G) => mapEntry(K, G.sum(price)))`,
		`orders.groupBy(storeId).map((K, G) => mapEntry(K, G))`,
		`orders.groupBy(storeId).get("s1").price`,
		`orders.map(price * 2)`,
		`orders.topN(price, 2)`,
		`orders.topN(price, 2).storeId`,
		`orders.distinct().count()`,
		`$1`,
		`(P) => P.orders.head()`,
		`{"o": orders}.o.price`,
		`if(orders.count() > 1, homeAddress, workAddress)`,
	} {
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		info := Analyze(q)
		cut := &Subject{Profile: evKeepPaths(env.schema.Profile(), p1.Profile, info.ProfilePaths), Events: p1.Events}
		full := evRun(t, query, p1, evNow, Options{})
		part := evRun(t, query, cut, evNow, Options{})
		if full.String() != part.String() {
			t.Errorf("%s: %s on the whole profile, %s on %q", query, full, part, info.ProfilePaths)
		}
	}
}

// TestAnalyzeQuantifierSource: a quantifier whose variable is not used in
// a condition still reads its source, to know whether it has elements.
func TestAnalyzeQuantifierSource(t *testing.T) {
	env := evSetup(t)
	p1 := env.subject(t, "p1")
	var bugs []string
	for _, query := range []string{`exists O from orders`, `select O from orders`, `exists O from orders where true`, `not (forall O from orders where false)`} {
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		info := Analyze(q)
		cut := &Subject{Profile: evKeepPaths(env.schema.Profile(), p1.Profile, info.ProfilePaths)}
		full := evRun(t, query, p1, evNow, Options{})
		part := evRun(t, query, cut, evNow, Options{})
		if full.String() != "true" {
			t.Errorf("%s on p1 = %s, want true", query, full)
		}
		if !slices.Contains(info.ProfilePaths, "orders") || part.String() != full.String() {
			bugs = append(bugs, fmt.Sprintf("Analyze(%s).ProfilePaths = %q; on p1 cut down to them the query is %s, not %s",
				query, info.ProfilePaths, part, full))
		}
	}
	if len(bugs) > 0 {
		t.Error("a quantifier's source is not among the paths read:\n" + strings.Join(bugs, "\n"))
	}
}

// evKeepPaths returns obj with only the fields on (or below) the dotted
// paths; maps are kept whole or dropped, and "" keeps everything.
func evKeepPaths(t *Type, obj Value, paths []string) Value {
	if obj.Kind() != KindObject || t == nil || t.Kind != TypeObject || slices.Contains(paths, "") {
		return obj
	}
	fields := make([]Value, obj.Len())
	for i := range fields {
		name := t.FieldName(i)
		var below []string
		whole := false
		for _, p := range paths {
			switch {
			case p == name:
				whole = true
			case strings.HasPrefix(p, name+"."):
				below = append(below, strings.TrimPrefix(p, name+"."))
			}
		}
		v := obj.Index(i)
		ft := t.FieldType(i)
		switch {
		case whole:
			fields[i] = v
		case len(below) == 0:
		case ft.Kind == TypeObject:
			fields[i] = evKeepPaths(ft, v, below)
		case ft.Kind == TypeArray && ft.Elem != nil && ft.Elem.Kind == TypeObject:
			elems := make([]Value, 0, v.Len())
			for _, e := range v.Elems() {
				elems = append(elems, evKeepPaths(ft.Elem, e, below))
			}
			fields[i] = Array(elems)
		default:
			fields[i] = v
		}
	}
	return Object(fields)
}

func TestDependencyOrder(t *testing.T) {
	for _, c := range []struct {
		name string
		deps map[string][]string
		want []string
	}{
		{"chain", map[string][]string{"a": {"b"}, "b": {"c"}, "c": nil}, []string{"c", "b", "a"}},
		{"independent in id order", map[string][]string{"z": nil, "y": nil, "x": nil}, []string{"x", "y", "z"}},
		{"dependencies first, then id order", map[string][]string{"z": nil, "y": nil, "x": {"z"}}, []string{"z", "x", "y"}},
		{"diamond", map[string][]string{"top": {"l", "r"}, "l": {"base"}, "r": {"base"}, "base": nil}, []string{"base", "l", "r", "top"}},
		{"used ids in id order", map[string][]string{"a": {"d", "c", "b"}, "b": nil, "c": nil, "d": nil}, []string{"b", "c", "d", "a"}},
		{"external ids ignored", map[string][]string{"a": {"ext"}, "b": {"a", "other"}}, []string{"a", "b"}},
		{"duplicates", map[string][]string{"a": {"b", "b"}, "b": nil}, []string{"b", "a"}},
		{"empty", map[string][]string{}, []string{}},
	} {
		for i := 0; i < 20; i++ { // map iteration order must not matter
			got, err := DependencyOrder(c.deps)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if len(got) != len(c.want) || (len(got) > 0 && !slices.Equal(got, c.want)) {
				t.Fatalf("%s: DependencyOrder = %q, want %q", c.name, got, c.want)
			}
		}
	}
}

func TestDependencyOrderCycles(t *testing.T) {
	for _, c := range []struct {
		name string
		deps map[string][]string
		want []string
	}{
		{"two", map[string][]string{"a": {"b"}, "b": {"a"}}, []string{"a", "b", "a"}},
		{"self", map[string][]string{"a": {"a"}}, []string{"a", "a"}},
		{"entered from outside", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"b"}}, []string{"b", "c", "b"}},
		{"three", map[string][]string{"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": nil}, []string{"x", "y", "z", "x"}},
	} {
		for i := 0; i < 20; i++ {
			got, err := DependencyOrder(c.deps)
			var ce *CycleError
			if !errors.As(err, &ce) {
				t.Fatalf("%s: DependencyOrder = %q, %v; want a *CycleError", c.name, got, err)
			}
			if !slices.Equal(ce.Cycle, c.want) {
				t.Fatalf("%s: cycle %q, want %q", c.name, ce.Cycle, c.want)
			}
			if got != nil {
				t.Errorf("%s: order %q returned with the error", c.name, got)
			}
			if msg := err.Error(); !strings.Contains(msg, strings.Join(c.want, " -> ")) {
				t.Errorf("%s: message %q does not show the cycle", c.name, msg)
			}
		}
	}
}

// TestDependencyOrderFromQueries orders segments by the inSegment ids
// their queries use.
func TestDependencyOrderFromQueries(t *testing.T) {
	queries := map[string]string{
		"vip":      `inSegment("buyers") and inSegment("loyal")`,
		"buyers":   `xEvent[eventType = "commerce.purchases"].count() > 0`,
		"loyal":    `inSegment("buyers") and inSegment("external-1")`,
		"everyone": `true`,
	}
	deps := map[string][]string{}
	for id, text := range queries {
		q, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		deps[id] = Analyze(q).Segments
	}
	got, err := DependencyOrder(deps)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"buyers", "everyone", "loyal", "vip"}; !slices.Equal(got, want) {
		t.Errorf("DependencyOrder = %q, want %q", got, want)
	}
}
