package pql

import (
	"errors"
	"strings"
	"testing"
)

// evCheck parses query and checks it against the fixtures' schema.
func evCheck(t *testing.T, query string) error {
	t.Helper()
	q, err := Parse(query)
	if err != nil {
		t.Fatalf("Parse(%q): %v", query, err)
	}
	return Check(q, evSetup(t).schema)
}

func TestCheckProblems(t *testing.T) {
	for _, c := range []struct {
		query string
		want  []string // parts of the first error's message
		line  int
		col   int
	}{
		// Unknown fields name the field and suggest a close one.
		{`person.nmae = "x"`, []string{`unknown field "nmae"`, `did you mean "name"?`}, 1, 8},
		{`homeAdress.country = "US"`, []string{`"homeAdress"`, `did you mean "homeAddress"?`}, 1, 1},
		{`xEvent.eventTyp = "x"`, []string{`"eventTyp"`, `did you mean "eventType"?`}, 1, 8},
		{`orders[prise > 1]`, []string{`"prise"`, `did you mean "price"?`}, 1, 8},
		{`xEvent[productListItems[SKUs = "PS"]]`, []string{`"SKUs"`, `did you mean "SKU"?`}, 1, 25},
		{"person.age > 1 and\n  person.gendr = \"f\"", []string{`"gendr"`, `did you mean "gender"?`}, 2, 10},
		{`exists O from orders where O.stor = "s1"`, []string{`"stor"`}, 1, 30},
		// Type mismatches: a string field compared with a number, and so on.
		{`person.name = 5`, []string{"type mismatch", "person.name", "string", "number"}, 1, 13},
		{`person.name != 5`, []string{"type mismatch", "person.name"}, 1, 13},
		{`homeAddress.country < 10`, []string{"type mismatch", "homeAddress.country"}, 1, 21},
		{`person.age = "38"`, []string{"type mismatch", "person.age", "number", "string"}, 1, 12},
		{`person.vip = "true"`, []string{"type mismatch", "person.vip", "boolean"}, 1, 12},
		{`orders.storeId = 3`, []string{"type mismatch", "orders.storeId"}, 1, 16},
		// A string function on a number.
		{`person.age.startsWith("3")`, []string{"person.age", "number", "startsWith works on strings"}, 1, 12},
		{`person.height.contains("1", false)`, []string{"person.height", "contains works on strings"}, 1, 15},
		{`orders.price.equals("10")`, []string{"orders.price", "equals works on strings"}, 1, 14},
		// Arithmetic on strings, dates of booleans.
		{`person.age + "x"`, []string{`"x" is a string, not a number`}, 1, 14},
		{`-person.name`, []string{"person.name is a string, not a number"}, 1, 9},
		{`person.vip.getMonth()`, []string{"person.vip is a boolean, not a timestamp"}, 1, 8},
		// What Compile rejects, Check reports too.
		{`person.name.matches("(")`, []string{"invalid regular expression"}, 1, 21},
		{`$2.x`, []string{"$2 is not bound"}, 1, 1},
	} {
		err := evCheck(t, c.query)
		if err == nil {
			t.Errorf("Check(%q) = nil, want an error", c.query)
			continue
		}
		var ces CheckErrors
		if !errors.As(err, &ces) || len(ces) == 0 {
			t.Errorf("Check(%q) returned %T, want CheckErrors", c.query, err)
			continue
		}
		first := ces[0]
		for _, w := range c.want {
			if !strings.Contains(first.Msg, w) {
				t.Errorf("Check(%q): %q does not mention %q", c.query, first.Msg, w)
			}
		}
		if first.Pos.Line != c.line || first.Pos.Col != c.col {
			t.Errorf("Check(%q): error at %d:%d, want %d:%d", c.query, first.Pos.Line, first.Pos.Col, c.line, c.col)
		}
		if !strings.Contains(first.Snippet, "^") || !strings.Contains(err.Error(), first.Msg) {
			t.Errorf("Check(%q): no snippet with a caret in %q", c.query, err)
		}
	}
}

func TestCheckNoSuggestion(t *testing.T) {
	err := evCheck(t, `person.zzzzzzzzz = 1`)
	if err == nil || !strings.Contains(err.Error(), `unknown field "zzzzzzzzz"`) {
		t.Fatalf("Check: %v", err)
	}
	if strings.Contains(err.Error(), "did you mean") {
		t.Errorf("Check suggested a name for a field nothing is close to: %v", err)
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	err := evCheck(t, `person.nmae = "x" and person.age.startsWith("3") or person.name = 5`)
	var ces CheckErrors
	if !errors.As(err, &ces) {
		t.Fatalf("Check: %v", err)
	}
	if len(ces) != 3 {
		t.Fatalf("Check found %d problems, want 3: %v", len(ces), err)
	}
	for i, want := range []string{`"nmae"`, "startsWith", "type mismatch"} {
		found := false
		for _, ce := range ces {
			found = found || strings.Contains(ce.Msg, want)
		}
		if !found {
			t.Errorf("problem %d (%s) missing from %v", i, want, err)
		}
	}
}

func TestCheckGoodQueries(t *testing.T) {
	for _, query := range []string{
		`person.name = "John Smith" and orders.count() > 1`,
		`homeAddress.country in ["US", "CA"] or person.age >= 21`,
		`person.name.startsWith("J", false) and person.email.matches("@gmail\.com$")`,
		`lastSeen > "2024-01-01" and lastSeen < 1710061200000 and lastSeen occurs < 7 days before now`,
		`person.birthDate.getMonth() = currentMonth()`,
		`xEvent[eventType = "commerce.purchases" and timestamp occurs this month].count() > 0`,
		`xEvent[productListItems[SKU = "PS" and ^^.person.gender = "female"]]`,
		`exists E from xEvent where E.eventType = "x", P from E.productListItems where P.SKU = "PS"`,
		`sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD"`,
		`chain(xEvent, timestamp, [A: WHAT(eventType = "cart") WHEN(< 8 days before now), B: WHAT(eventType = "purchase") COUNT(2)])`,
		`(P) => P.homeAddress.stateProvince = P.workAddress.stateProvince`,
		`let S = (orders.sum(price)) in (S > 40 and S < 41)`,
		`identityMap.email.id = "x" and identityMap.keys().includes("ECID")`,
		`orders.groupBy(storeId).map((K, G) => mapEntry(K, G.count()))`,
		`inSegment("seg-realized") and not inSegment("seg-exited")`,
		`if(person.age > 30, "old", "young")`,
		`person.name like "J%"`,
	} {
		if err := evCheck(t, query); err != nil {
			t.Errorf("Check(%q) = %v, want nil", query, err)
		}
	}
}

func TestCheckEmptySchema(t *testing.T) {
	q, err := Parse(`person.name = "x"`)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(q, NewSchema())
	if err == nil || !strings.Contains(err.Error(), `unknown field "person"`) {
		t.Errorf("Check against an empty schema = %v, want unknown field \"person\"", err)
	}
}

// TestCheckMatchesWarnings checks that what Check reports as a type or
// field problem is what Compile tolerates as Plan.Warnings.
func TestCheckMatchesWarnings(t *testing.T) {
	for _, query := range []string{`person.nmae = "x"`, `person.name = 5`, `person.age.startsWith("3")`} {
		plan := evCompile(t, query, Options{})
		err := evCheck(t, query)
		if err == nil || len(plan.Warnings()) == 0 || plan.Warnings().Error() != err.Error() {
			t.Errorf("%s: Check = %v, Warnings = %v", query, err, plan.Warnings())
		}
	}
}
