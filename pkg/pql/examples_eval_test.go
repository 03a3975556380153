package pql

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// The documented examples of testdata/pql-examples.txt, evaluated on the
// fixture testdata/profile.json with its events testdata/events.json at
// evNow (Wednesday 2024-03-13T15:30:00Z).
//
// Results are shown by evShow: objects with an _id as #id, other objects
// as {field: value} with their non-null fields in name order.

// evExampleWant is the reasoned result of each example on the fixture.
var evExampleWant = map[string]string{
	// homeAddress and workAddress are both in CA.
	`homeAddress.stateProvince = workAddress.stateProvince`:                              `true`,
	`$1.homeAddress.stateProvince = $1.homeAddress.stateProvince`:                        `true`,
	`(Profile) => Profile.homeAddress.stateProvince = Profile.workAddress.stateProvince`: `true`,
	`homeAddress.countryISO = "CA"`:                                                      `true`,
	`homeAddress.countryISO != "CA"`:                                                     `false`,
	`homeAddress.countryISO = "CA" and person.birthYear = 1985`:                          `true`,
	`not (homeAddress.countryISO = "CA")`:                                                `false`,
	`if (homeAddress.countryISO = "CA", 1, 2)`:                                           `1`,
	// person.birthMonth is 3.
	`person.birthMonth in [3, 6, 9]`:    `true`,
	`person.birthMonth notIn [3, 6, 9]`: `false`,
	// favoriteColors: red, blue, yellow.
	`person.favoriteColors.intersects(["red", "blue", "green"])`: `true`,
	// person1 has green, red, blue, purple; person2 blue, green, red, red:
	// the intersection is green, red, blue, the same set.
	`person1.favoriteColors.intersection(person2.favoriteColors) = ["red", "blue", "green"]`: `true`,
	// Paris, Rome within Paris, Rome, Oslo.
	`person.favoriteCities.subsetOf(person.visitedCities)`: `true`,
	`person.eatenFoods.supersetOf(["sushi", "pizza"])`:     `true`,
	`person.favoriteColors.includes("red")`:                `true`,
	// person.orders' stores: s1, s2, s1.
	`person.orders.storeId.distinct().count() > 1`: `true`,
	// orders: o1 (s1, 10), o2 (s2, 40), o3 (s1, 25).
	`orders.groupBy(storeId)`: `{"s1": [#o1, #o3], "s2": [#o2]}`,
	// person is one object: a one-element array, and age 30 >= 21.
	`person.filter(age >= 21)`: `[{age: 30, birthMonth: 3, birthYear: 1985, birthdate: 1985-06-15T00:00:00Z, ` +
		`birthday: 1993-03-10T00:00:00Z, eatenFoods: ["sushi", "pizza", "tacos"], emailAddress: "joe2010@gmail.com", ` +
		`favoriteCities: ["Paris", "Rome"], favoriteColors: ["red", "blue", "yellow"], gender: "female", ` +
		`name: "Joe Bloggs", orders: [{storeId: "s1"}, {storeId: "s2"}, {storeId: "s1"}], ` +
		`visitedCities: ["Paris", "Rome", "Oslo"]}]`,
	`orders.topN(price, 5)`:          `[#o2, #o3, #o1]`,
	`orders.bottomN(price, 5)`:       `[#o1, #o3, #o2]`,
	`orders.topN(price, 5).head()`:   `#o2`,
	`orders.count()`:                 `3`,
	`orders.sum(order.price)`:        `75`,
	`orders.average(order.price)`:    `25`,
	`orders.min(order.price)`:        `10`,
	`orders.max(order.price)`:        `40`,
	`city like "%es%"`:               `true`, // Brest
	`person.name.startsWith("Joe")`:  `true`, // Joe Bloggs
	`person.name.equals("John")`:     `false`,
	`person.name.notEqualTo("John")`: `true`,
	// "Joe Bloggs" does not start with john, in any case.
	`person.name.matches("(?i)^John")`: `false`,
	// person.emailAddress is joe2010@gmail.com.
	`person.emailAddress.endsWith(".com")`:                        `true`,
	`person.emailAddress.contains("2010@gm")`:                     `true`,
	`emailAddress.regexGroup("@(\w+)", 1)`:                        `"example"`, // joe@example.org
	`identityMap.get("example@example.com")`:                      `[{id: "u-1", primary: true}]`,
	`identityMap.keys()`:                                          `["ECID", "example@example.com"]`,
	`identityMap.values()`:                                        `[{id: "ecid-1"}, {id: "u-1", primary: true}]`,
	`person.birthMonth = currentMonth()`:                          `true`, // March
	`person.birthdate.getMonth() = 6`:                             `true`, // 1985-06-15
	`person.birthday.getYear() in [1991, 1992, 1993, 1994, 1995]`: `true`, // 1993-03-10
	`product.sale.getDayOfMonth() <= 15`:                          `true`, // the 10th
	// product.saleDate is Friday 2024-03-08T12:00: last week runs from
	// Monday 4 to Sunday 10 March.
	`product.saleDate occurs last week`:                                     `true`,
	`product.saleDate occurs between date(2015, 1, 8) and date(2017, 7, 1)`: `false`,
	// Three hours before now is the hour from 12:30 to 13:30 today.
	`product.saleDate occurs = 3 hours before now`: `false`,
	// The birthday is an instant in 1993, not 10 March 2024.
	`person.birthday occurs = 3 days before today`: `false`,
	// X.timestamp is 2024-03-11T08:00, after 2024-03-10T15:30.
	`X.timestamp occurs <= 3 days before now`: `true`,
	// x3 has the only PS item; x3 and x10 have items at all (the person is
	// female, so the second filter keeps every event with an item).
	`xEvent[productListItems[SKU="PS"]]`:                              `[#x3]`,
	`xEvent[productListItems[SKU="PS" or ^^.person.gender="female"]]`: `[#x3, #x10]`,
	// x3: item price 60 and a PS item. Not every event has an item price.
	`exists E from xEvent where (E.commerce.item.price > 50), I from E.productListItems where I.SKU = "PS"`: `true`,
	`forall E from xEvent where (E.commerce.item.price > 50), I from E.productListItems where I.SKU = "PS"`: `false`,
	// USD orders: x3 30 + x10 150 = 180.
	`let S = (sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD") in (S > 100 and S < 1000)`: `true`,
	// x3 has abandons 1.
	`xEvent.metrics.commerce.abandons.value > 0`: `true`,
	// x6 is a home page.
	`select var1 from xEvent where var1._experience.analytics.endUser.firstWeb.webPageDetails.isHomePage = true`: `true`,
	`chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart")])`:                                               `true`,
	// There are home page views.
	`not(chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView")]))`: `false`,
	// x3 (10 March) is within 8 days.
	`homeAddress.countryCode = "US" and chain(xEvent, timestamp, [X: WHAT(eventType = "addToCart") WHEN(< 8 days before now)])`: `true`,
	// Home page views in the last 24 hours: x5, x7, x9, x11; x1 is older.
	`chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView") WHEN(< 24 hours before now) COUNT(5) ] )`: `false`,
	// x3's map holds an active entry.
	`chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart") WHERE(externalSegmentMapProperty.values().exists(stringProperty="active"))])`: `true`,
	// "existing segment" has the status existing.
	`homeAddress.countryCode = "US" and inSegment("existing segment")`: `true`,
	// x10 "Commerce.Checkouts" today, compared case-insensitively.
	`CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(today)])`: `true`,
	`homeAddress.country.equals("Canada", false)`:                                                     `true`, // CANADA
	// workAddress.country is "us"; x8 (emailClicked, 09:00) then x10
	// (checkout, 11:00), both today.
	`workAddress.country.equals("US", false) and CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("directMarketing.emailClicked", false)) WHEN(today), C1: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(today)])`: `true`,
	// e3be6d7f... is realized; x10 is 4.5 hours old.
	`inSegment("e3be6d7f-1727-401f-a41e-c296b45f607a") and CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(<= 24 hours before now)])`: `true`,
	// 9e16... is exited.
	`inSegment("e3be...") and inSegment("9e16...")`: `false`,
	// Image downloads in the last 7 days: x2 and x6 (x4 is a video).
	`xEvent[(timestamp occurs < 7 days before now) and eventType="download" and contentType = "image"].count()`: `2`,
	// Since 2024-03-06T15:30: x2 12, x3 30, x6 20 and x10 150 (checkouts 1)
	// pass; x4 (8) does not.
	`xEvent[(commerce.checkouts.value > 0.0 or commerce.purchases.value > 1.0 or commerce.order.priceTotal >= 10.0) and (timestamp occurs <= 7 days before now)].sum(commerce.order.priceTotal)`: `212`,
	// Downloads in the last 7 days: x2 (p1, 12), x4 (p2, 8), x6 (p1, 20).
	`xEvent[(timestamp occurs < 7 days before now) and eventType="download"].groupBy(product).map((K, G) => mapEntry(K, G.count()))`:                                                     `{"p1": 2, "p2": 1}`,
	`xEvent[(timestamp occurs < 7 days before now) and eventType="download"].groupBy(product).map((K, G) => mapEntry(K, {"count": G.count(), "sum": G.sum(commerce.order.priceTotal)}))`: `{"p1": {"count": 2, "sum": 32}, "p2": {"count": 1, "sum": 8}}`,
	`if(homeAddress.countryCode in ["US","MX","CA"], "NA", "ROW")`:                                                                                                                       `"NA"`,
	`if(person.gender = "female", 60, 65)`: `60`,
	`person.birthYear >= 2000`:             `false`,
}

// evExampleSchema declares the fields whose type JSON cannot tell:
// timestamps and the map of the chain example.
func evExampleSchema(t *testing.T) *Schema {
	t.Helper()
	s := NewXDMSchema()
	for _, p := range []string{"person.birthdate", "person.birthday", "product.sale", "product.saleDate", "X.timestamp"} {
		if err := s.DeclareProfile(p, TimeType); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeclareEvent("externalSegmentMapProperty", MapOf(ObjectOf(FieldDef{"stringProperty", StringType}))); err != nil {
		t.Fatal(err)
	}
	return s
}

// evExampleSubject decodes testdata/profile.json and testdata/events.json.
func evExampleSubject(t *testing.T, s *Schema) *Subject {
	t.Helper()
	profile, err := os.ReadFile("testdata/profile.json")
	if err != nil {
		t.Fatal(err)
	}
	eventsJSON, err := os.ReadFile("testdata/events.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(eventsJSON, &raw); err != nil {
		t.Fatal(err)
	}
	events := make([]string, len(raw))
	for i, r := range raw {
		events[i] = string(r)
	}
	subj, err := evDecode(s, string(profile), events...)
	if err != nil {
		t.Fatal(err)
	}
	return subj
}

func TestExamplesEval(t *testing.T) {
	schema := evExampleSchema(t)
	subj := evExampleSubject(t, schema)
	examples := loadExamples(t)
	if len(examples) < 70 {
		t.Fatalf("only %d examples", len(examples))
	}
	used := map[string]bool{}
	for _, ex := range examples {
		want, ok := evExampleWant[ex.expr]
		used[ex.expr] = true
		q, err := Parse(ex.expr)
		if err != nil {
			t.Errorf("line %d (§7 #%s): Parse(%s): %v", ex.line, ex.ref, ex.expr, err)
			continue
		}
		plan, err := Compile(q, Options{Schema: schema})
		if err != nil {
			t.Errorf("line %d (§7 #%s): Compile(%s): %v", ex.line, ex.ref, ex.expr, err)
			continue
		}
		// The fixture holds every field the examples use.
		if w := plan.Warnings(); len(w) > 0 {
			t.Errorf("line %d (§7 #%s): %s: warnings: %v", ex.line, ex.ref, ex.expr, w)
		}
		r := plan.NewRunner(evNow)
		v, err := r.Eval(subj)
		if err != nil {
			t.Errorf("line %d (§7 #%s): Eval(%s): %v", ex.line, ex.ref, ex.expr, err)
			continue
		}
		matched, err := r.Match(subj)
		if err != nil {
			t.Errorf("line %d (§7 #%s): Match(%s): %v", ex.line, ex.ref, ex.expr, err)
			continue
		}
		if matched != v.truthy() {
			t.Errorf("line %d (§7 #%s): %s: Match = %v, Eval = %s", ex.line, ex.ref, ex.expr, matched, v)
		}
		got := evShow(v, plan.ResultType())
		if !ok {
			t.Errorf("line %d (§7 #%s): no expected result for %s (got %s)", ex.line, ex.ref, ex.expr, got)
			continue
		}
		if got != want {
			t.Errorf("line %d (§7 #%s): %s\n got %s\nwant %s", ex.line, ex.ref, ex.expr, got, want)
		}
	}
	for expr := range evExampleWant {
		if !used[expr] {
			t.Errorf("expected result for %s, which is not an example", expr)
		}
	}
}

// evShow renders v for the example expectations: like Value.String, but
// objects are shown with their field names (t is v's static type).
func evShow(v Value, t *Type) string {
	switch v.Kind() {
	case KindObject:
		if t == nil || t.Kind != TypeObject {
			return v.String()
		}
		if i, _, ok := t.Lookup("_id"); ok && v.Index(i).Kind() == KindString {
			return "#" + v.Index(i).Str()
		}
		var names []string
		for i := 0; i < t.NumFields() && i < v.Len(); i++ {
			if !v.Index(i).IsNull() {
				names = append(names, t.FieldName(i))
			}
		}
		slices.Sort(names)
		parts := make([]string, len(names))
		for k, name := range names {
			i, ft, _ := t.Lookup(name)
			parts[k] = name + ": " + evShow(v.Index(i), ft)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case KindArray:
		var et *Type
		if t != nil && t.Kind == TypeArray {
			et = t.Elem
		}
		parts := make([]string, v.Len())
		for i, e := range v.Elems() {
			parts[i] = evShow(e, et)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case KindMap:
		var et *Type
		if t != nil && t.Kind == TypeMap {
			et = t.Elem
		}
		parts := make([]string, v.Len())
		for i := range parts {
			k, e := v.Entry(i)
			b, _ := json.Marshal(k)
			parts[i] = string(b) + ": " + evShow(e, et)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return v.String()
}

// TestExamplesEvalOtherProfile evaluates every example on an empty profile
// with no events: nothing may fail, and the results follow the null rules.
func TestExamplesEvalOtherProfile(t *testing.T) {
	schema := evExampleSchema(t)
	evExampleSubject(t, schema) // learn the fields
	empty, err := evDecode(schema, `{"_id": "nobody"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		`homeAddress.countryISO != "CA"`:                                  `false`,
		`not (homeAddress.countryISO = "CA")`:                             `true`,
		`if (homeAddress.countryISO = "CA", 1, 2)`:                        `2`,
		`person.favoriteCities.subsetOf(person.visitedCities)`:            `true`, // null is an empty set
		`person.birthMonth notIn [3, 6, 9]`:                               `false`,
		`person.name.notEqualTo("John")`:                                  `false`,
		`orders.count()`:                                                  `0`,
		`orders.sum(order.price)`:                                         `0`,
		`orders.average(order.price)`:                                     `null`,
		`orders.max(order.price)`:                                         `null`,
		`orders.topN(price, 5).head()`:                                    `null`,
		`identityMap.keys()`:                                              `null`,
		`xEvent[productListItems[SKU="PS"]]`:                              `[]`,
		`orders.groupBy(storeId)`:                                         `{}`,
		`person.filter(age >= 21)`:                                        `[]`,
		`orders.topN(price, 5)`:                                           `[]`,
		`orders.bottomN(price, 5)`:                                        `[]`,
		`orders.min(order.price)`:                                         `null`,
		`emailAddress.regexGroup("@(\w+)", 1)`:                            `null`,
		`identityMap.get("example@example.com")`:                          `null`,
		`identityMap.values()`:                                            `null`,
		`xEvent[productListItems[SKU="PS" or ^^.person.gender="female"]]`: `[]`,
		`xEvent[(commerce.checkouts.value > 0.0 or commerce.purchases.value > 1.0 or commerce.order.priceTotal >= 10.0) and (timestamp occurs <= 7 days before now)].sum(commerce.order.priceTotal)`: `0`,
		`xEvent[(timestamp occurs < 7 days before now) and eventType="download"].groupBy(product).map((K, G) => mapEntry(K, {"count": G.count(), "sum": G.sum(commerce.order.priceTotal)}))`:         `{}`,
		`if(homeAddress.countryCode in ["US","MX","CA"], "NA", "ROW")`:                                                                   `"ROW"`,
		`if(person.gender = "female", 60, 65)`:                                                                                           `65`,
		`not(chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView")]))`:                                                           `true`,
		`forall E from xEvent where (E.commerce.item.price > 50), I from E.productListItems where I.SKU = "PS"`:                          `true`,
		`xEvent[(timestamp occurs < 7 days before now) and eventType="download" and contentType = "image"].count()`:                      `0`,
		`xEvent[(timestamp occurs < 7 days before now) and eventType="download"].groupBy(product).map((K, G) => mapEntry(K, G.count()))`: `{}`,
	}
	for _, ex := range loadExamples(t) {
		q, err := Parse(ex.expr)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Compile(q, Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		v, err := plan.NewRunner(evNow).Eval(empty)
		if err != nil {
			t.Errorf("%s: %v", ex.expr, err)
			continue
		}
		w, ok := want[ex.expr]
		if !ok {
			w = "false" // every other example is a condition that fails on nothing
			if v.Kind() != KindBool {
				t.Errorf("%s on an empty profile = %s, want a boolean", ex.expr, v)
				continue
			}
		}
		if got := evShow(v, plan.ResultType()); got != w {
			t.Errorf("%s on an empty profile = %s, want %s", ex.expr, got, w)
		}
	}
}
