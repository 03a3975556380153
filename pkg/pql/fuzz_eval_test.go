package pql

import (
	"errors"
	"testing"
	"time"
)

// fuzzEvalSeeds are queries over the fuzzEvalFixture fields.
var fuzzEvalSeeds = []string{
	`homeAddress.country = "US"`,
	`xEvent[timestamp occurs < 7 days before now].count() > 1`,
	`xEvent[productListItems[SKU = "PS" or ^^.person.gender = "female"]]`,
	`chain(xEvent, timestamp, [A: WHAT(eventType = "a") COUNT(2), B: WHAT(eventType = "b") WHEN(today)])`,
	`exists E from xEvent where E.commerce.order.priceTotal > 5, I from E.productListItems: I.SKU = "PS"`,
	`let S = (sum X.commerce.order.priceTotal over X from xEvent) in (S / 0 > 1)`,
	`xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.count()))`,
	`person.tags.topN(length, 2).head() notIn [1, "a", date(2020, 1, 1)]`,
	`identityMap.ECID.id.matches("^1") and inSegment("s1")`,
	`(P) => P.person.name like "A%_" or not (P.person.birthDate occurs this year)`,
}

// fuzzEvalFixture is a schema and a subject with a bit of everything.
func fuzzEvalFixture(t testing.TB) (*Schema, *Subject) {
	t.Helper()
	s := NewXDMSchema()
	p, err := s.DecodeProfile([]byte(`{"homeAddress":{"country":"US"},"person":{"gender":"female","name":"Ann","birthDate":"1990-02-03","tags":[{"length":3},{"length":1}]},
		"identityMap":{"ECID":[{"id":"123","primary":true}]},"segmentMembership":{"ups":{"s1":{"status":"realized"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var events []Value
	for _, e := range []string{
		`{"_id":"1","timestamp":"2026-11-20T10:00:00Z","eventType":"a","productListItems":[{"SKU":"PS"}],"commerce":{"order":{"priceTotal":10}}}`,
		`{"_id":"2","timestamp":"2026-11-27T10:00:00Z","eventType":"a"}`,
		`{"_id":"3","timestamp":"2026-11-28T09:00:00Z","eventType":"b","commerce":{"order":{"priceTotal":2.5}}}`,
	} {
		v, err := s.DecodeEvent([]byte(e))
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, v)
	}
	return s, &Subject{Profile: p, Events: events}
}

// FuzzEval: whatever parses either fails to compile with CheckErrors or
// evaluates without panicking, within the work budget.
func FuzzEval(f *testing.F) {
	for _, q := range fuzzEvalSeeds {
		f.Add(q)
	}
	schema, subject := fuzzEvalFixture(f)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, text string) {
		q, err := Parse(text)
		if err != nil {
			return
		}
		plan, err := Compile(q, Options{Schema: schema, MaxWork: 1 << 16})
		if err != nil {
			var ce CheckErrors
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) error is %T, want CheckErrors: %v", text, err, err)
			}
			return
		}
		r := plan.NewRunner(now)
		_, errMatch := r.Match(subject)
		_, errEval := r.Eval(subject)
		for _, err := range []error{errMatch, errEval} {
			if err != nil && !errors.Is(err, ErrLimit) {
				t.Fatalf("evaluating %q: %v", text, err)
			}
		}
	})
}

func TestEvalSeedsEvaluate(t *testing.T) {
	schema, subject := fuzzEvalFixture(t)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, text := range fuzzEvalSeeds {
		q, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		plan, err := Compile(q, Options{Schema: schema})
		if err != nil {
			t.Fatalf("Compile(%q): %v", text, err)
		}
		if w := plan.Warnings(); len(w) > 0 {
			t.Errorf("Compile(%q) warns: %v", text, w)
		}
		if _, err := plan.NewRunner(now).Eval(subject); err != nil {
			t.Errorf("Eval(%q): %v", text, err)
		}
	}
}
