package pql

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sbTypeDiff compares two types field by field: kinds, element types,
// field names and order. It returns where they first differ, or "".
func sbTypeDiff(at string, a, b *Type) string {
	switch {
	case a == nil || b == nil:
		if a != b {
			return at + ": one type is nil"
		}
		return ""
	case a.Kind != b.Kind:
		return fmt.Sprintf("%s: %s, want %s", at, a.Kind, b.Kind)
	case a.Kind == TypeArray || a.Kind == TypeMap:
		return sbTypeDiff(at+"[]", a.Elem, b.Elem)
	case a.Kind == TypeObject:
		if a.NumFields() != b.NumFields() {
			return fmt.Sprintf("%s: %d fields, want %d", at, a.NumFields(), b.NumFields())
		}
		for i := range a.NumFields() {
			if a.FieldName(i) != b.FieldName(i) {
				return fmt.Sprintf("%s: field %d is %q, want %q", at, i, a.FieldName(i), b.FieldName(i))
			}
			if j, _, ok := a.Lookup(a.FieldName(i)); !ok || j != i {
				return fmt.Sprintf("%s: Lookup(%q) = %d, %v; want %d", at, a.FieldName(i), j, ok, i)
			}
			if d := sbTypeDiff(at+"."+a.FieldName(i), a.FieldType(i), b.FieldType(i)); d != "" {
				return d
			}
		}
	}
	return ""
}

func sbMarshal(t *testing.T, s *Schema) []byte {
	t.Helper()
	data, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sbUnmarshal(t *testing.T, data []byte) *Schema {
	t.Helper()
	s := NewSchema()
	if err := s.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaBinaryRoundTrip: an unmarshalled schema has the same paths and
// layouts, marshals to the same bytes, reads values encoded under the
// original the same way, and goes on learning fields as the original does.
func TestSchemaBinaryRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name   string
		schema func(t *testing.T) *Schema
	}{
		{"empty", func(*testing.T) *Schema { return NewSchema() }},
		{"xdm", func(*testing.T) *Schema { return NewXDMSchema() }},
		{"records", func(t *testing.T) *Schema { s, _, _ := binRecords(t); return s }},
		{"examples", func(t *testing.T) *Schema { s := evExampleSchema(t); evExampleSubject(t, s); return s }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.schema(t)
			data := sbMarshal(t, s)
			u := sbUnmarshal(t, data)
			if !slices.Equal(u.Paths(), s.Paths()) {
				t.Errorf("Paths differ:\n got %q\nwant %q", u.Paths(), s.Paths())
			}
			if d := sbTypeDiff("profile", u.Profile(), s.Profile()); d != "" {
				t.Error(d)
			}
			if d := sbTypeDiff("event", u.Event(), s.Event()); d != "" {
				t.Error(d)
			}
			if again := sbMarshal(t, u); !bytes.Equal(again, data) {
				t.Error("marshalling the unmarshalled schema gives other bytes")
			}
			// Both learn the same new fields at the same indexes.
			for _, rec := range []string{
				`{"_id":"new","person":{"nick":{"n":"x"},"shoeSize":44},"brandNew":{"x":[{"y":1}]},"identityMap":{"ECID":[{"id":"e","extra":1}]}}`,
				`{"zLast":"z","orders":[{"items":[{"sku":"S","colour":"red"}]}]}`,
			} {
				a, errA := s.DecodeProfile([]byte(rec))
				b, errB := u.DecodeProfile([]byte(rec))
				if errA != nil || errB != nil {
					if (errA == nil) != (errB == nil) {
						t.Errorf("%s: %v on the original, %v unmarshalled", rec, errA, errB)
					}
					continue
				}
				if d := binDiff(b, a); d != "" {
					t.Errorf("%s decodes differently: %s", rec, d)
				}
			}
			if !slices.Equal(u.Paths(), s.Paths()) {
				t.Errorf("after learning, Paths differ:\n got %q\nwant %q", u.Paths(), s.Paths())
			}
		})
	}
}

// TestSchemaBinaryValuesEvaluateTheSame: values encoded under a schema,
// decoded after a restart with the unmarshalled schema, give the same
// query results with plans compiled against it.
func TestSchemaBinaryValuesEvaluateTheSame(t *testing.T) {
	s, profiles, events := binRecords(t)
	tsIdx, _, _ := s.EventField("timestamp")
	slices.SortStableFunc(events, func(a, b Value) int { return cmpInt(a.Index(tsIdx).Micros(), b.Index(tsIdx).Micros()) })
	dict := NewDict()
	enc := Encoder{Dict: dict}
	var stored [][]byte
	for _, v := range append(slices.Clone(profiles), events...) {
		stored = append(stored, enc.Append(nil, v))
	}
	u := sbUnmarshal(t, sbMarshal(t, s))
	dec := Decoder{Dict: dict}
	var loaded []Value
	for _, b := range stored {
		v, _, err := dec.Decode(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, v)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, query := range append(slices.Clone(prjQueries), prjGapQueries...) {
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		before, err := Compile(q, Options{Schema: s})
		if err != nil {
			t.Fatal(err)
		}
		after, err := Compile(q, Options{Schema: u})
		if err != nil {
			t.Fatal(err)
		}
		if len(after.Warnings()) != len(before.Warnings()) {
			t.Errorf("%s: warnings %v against the unmarshalled schema, %v before", query, after.Warnings(), before.Warnings())
		}
		rb, ra := before.NewRunner(now), after.NewRunner(now)
		for i := range profiles {
			want, err1 := rb.Eval(&Subject{Profile: profiles[i], Events: events})
			got, err2 := ra.Eval(&Subject{Profile: loaded[i], Events: loaded[len(profiles):]})
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if d := binDiff(got, want); d != "" {
				t.Errorf("%s on profile %d: %s after the round trip, %s before (%s)", query, i, got, want, d)
			}
		}
	}
}

// TestSchemaUnmarshalReplaces: UnmarshalBinary replaces what the schema
// held; a failed one leaves it as it was.
func TestSchemaUnmarshalReplaces(t *testing.T) {
	s, _, _ := binRecords(t)
	data := sbMarshal(t, s)
	target := NewXDMSchema()
	if _, err := target.DecodeProfile([]byte(`{"onlyHere":1}`)); err != nil {
		t.Fatal(err)
	}
	before := target.Paths()
	if err := target.UnmarshalBinary(data[:len(data)-1]); err == nil {
		t.Fatal("a truncated schema unmarshals")
	}
	if !slices.Equal(target.Paths(), before) {
		t.Error("a failed UnmarshalBinary changed the schema")
	}
	if err := target.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(target.Paths(), s.Paths()) {
		t.Error("UnmarshalBinary did not replace the schema")
	}
}

// TestSchemaUnmarshalCorrupt: corrupt schemas fail with an error, never a
// panic: every cut, every byte changed, and hand-made cases.
func TestSchemaUnmarshalCorrupt(t *testing.T) {
	s, _, _ := binRecords(t)
	data := sbMarshal(t, s)
	for n := range len(data) {
		if err := NewSchema().UnmarshalBinary(data[:n]); err == nil {
			t.Fatalf("cut to %d of %d bytes: no error", n, len(data))
		}
	}
	for i := range data {
		for _, b := range []byte{0, 5, 8, 0xff, data[i] + 1} {
			bad := slices.Clone(data)
			bad[i] = b
			u := NewSchema()
			if err := u.UnmarshalBinary(bad); err == nil {
				// Some changes still decode (a name's letter, a scalar
				// kind): what decodes must marshal back the same.
				if again := sbMarshal(t, u); !bytes.Equal(again, bad) {
					sbUnmarshal(t, again) // must at least load
				}
			}
		}
	}
	obj := func(fields ...string) []byte { // fields: name, then an encoded type
		b := []byte{byte(TypeObject), byte(len(fields) / 2)}
		for i := 0; i < len(fields); i += 2 {
			b = append(append(append(b, byte(len(fields[i]))), fields[i]...), fields[i+1]...)
		}
		return b
	}
	empty := string(obj())
	str := string([]byte{byte(TypeString)})
	cases := map[string][]byte{
		"empty":               {},
		"version 0":           append([]byte{0}, empty+empty...),
		"version 2":           append([]byte{2}, empty+empty...),
		"no event type":       append([]byte{1}, empty...),
		"trailing bytes":      append([]byte{1}, empty+empty+"x"...),
		"profile not object":  append([]byte{1}, str+empty...),
		"event not object":    append([]byte{1}, empty+str...),
		"unknown kind":        append([]byte{1}, string(obj("a", "\x63"))+empty...),
		"duplicate field":     append([]byte{1}, string(obj("a", str, "a", str))+empty...),
		"name past the end":   append([]byte{1, byte(TypeObject), 1, 50}, "abc"...),
		"field count too big": append([]byte{1, byte(TypeObject), 0xff, 0xff, 0xff, 0xff, 0x0f}, "\x01a\x03"...),
		"array without elem":  append([]byte{1}, string(obj("a", string([]byte{byte(TypeArray)})))...),
		"varint overflow":     append([]byte{1, byte(TypeObject)}, bytes.Repeat([]byte{0xff}, 11)...),
		"too deep":            append(append([]byte{1}, bytes.Repeat([]byte{byte(TypeArray)}, maxTypeDepth+10)...), byte(TypeString)),
	}
	for name, b := range cases {
		err := NewSchema().UnmarshalBinary(b)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := NewSchema().UnmarshalBinary(cases["trailing bytes"]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing bytes: %v, want ErrCorrupt", err)
	}
}

// sbNested returns a record nesting objects n deep: {"a":{"a":...1}}.
func sbNested(n int) string {
	return strings.Repeat(`{"a":`, n) + `1` + strings.Repeat(`}`, n)
}

// TestSchemaBinaryDeepRecords: a schema learned from deeply nested records
// (encoding/json accepts 10000 levels) marshals and unmarshals; a store
// that snapshots its schema must be able to load the snapshot.
func TestSchemaBinaryDeepRecords(t *testing.T) {
	for _, depth := range []int{MaxDepth + 5, 10000} {
		s := NewSchema()
		v, err := s.DecodeProfile([]byte(sbNested(depth)))
		if err != nil {
			t.Fatalf("depth %d: DecodeProfile: %v", depth, err)
		}
		data := sbMarshal(t, s)
		u := NewSchema()
		if err := u.UnmarshalBinary(data); err != nil {
			t.Errorf("depth %d: the schema marshals but does not unmarshal: %v", depth, err)
			continue
		}
		got, _, err := (&Decoder{}).Decode((&Encoder{}).Append(nil, v), nil)
		if err != nil || binDiff(got, v) != "" {
			t.Errorf("depth %d: the value does not round trip: %v", depth, err)
		}
	}
}

// TestSchemaCloneLeavesOriginal: what a clone learns (new fields at every
// level, settled "any" fields and element types, fields of the identity
// objects NewXDMSchema shares between profiles and events) changes neither
// the original's paths nor its types.
func TestSchemaCloneLeavesOriginal(t *testing.T) {
	s, _, _ := binRecords(t)
	if _, err := s.DecodeProfile([]byte(`{"anyField":null,"emptyList":[],"emptyObj":{},"maps":{"ups":null}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecodeEvent([]byte(`{"eventAny":null,"productListItems":[{"SKU":"a","later":null}]}`)); err != nil {
		t.Fatal(err)
	}
	paths, data := s.Paths(), sbMarshal(t, s)
	c := s.Clone()
	if !slices.Equal(c.Paths(), paths) || !bytes.Equal(sbMarshal(t, c), data) {
		t.Fatal("the clone differs from the original")
	}
	for _, rec := range []string{
		`{"brandNew":1,"person":{"name":{"middleName":"M"},"shoeSize":44}}`,
		`{"anyField":"now a string","emptyList":[{"x":1}],"emptyObj":{"y":true}}`,
		`{"orders":[{"items":[{"colour":"red"}],"newOrderField":1}]}`,
		`{"identityMap":{"ECID":[{"id":"1","newIdentityField":"x"}]}}`,
		`{"segmentMembership":{"ups":{"s":{"status":"realized","newMembershipField":2}}}}`,
	} {
		if _, err := c.DecodeProfile([]byte(rec)); err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
	}
	for _, rec := range []string{
		`{"eventAny":[1,2],"productListItems":[{"later":"x","newItemField":1}],"newTop":{"a":"b"}}`,
		`{"identityMap":{"Email":[{"id":"e","eventIdentityField":1}]}}`,
	} {
		if _, err := c.DecodeEvent([]byte(rec)); err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
	}
	if slices.Equal(c.Paths(), paths) {
		t.Fatal("the clone learnt nothing")
	}
	if got := s.Paths(); !slices.Equal(got, paths) {
		t.Errorf("the original's paths changed:\n got %q\nwant %q", got, paths)
	}
	if !bytes.Equal(sbMarshal(t, s), data) {
		t.Error("the original's types changed")
	}
	// And the other way round: what the original learns after the clone
	// is not in the clone.
	cpaths := c.Paths()
	if _, err := s.DecodeProfile([]byte(`{"onlyInOriginal":{"x":1},"person":{"name":{"onlyInOriginal":"y"}}}`)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Paths(), cpaths) {
		t.Error("the original learning a field changed the clone")
	}
}

// TestSchemaCloneKeepsPlansValid: plans compiled against the original read
// values the clone decodes (with fields the original does not know) the
// same as values the original decodes: the clone only adds fields.
func TestSchemaCloneKeepsPlansValid(t *testing.T) {
	s, _, _ := binRecords(t)
	c := s.Clone()
	profile := `{"_id":"p","aNewField":{"deep":[1,2]},"person":{"name":{"firstName":"Jayden","zNew":"z"},"birthYear":1989},"homeAddress":{"countryCode":"US","city":"Philadelphia","aNew":1},"loyalty":{"tier":"silver","points":9000},"consents":{"marketing":{"email":{"val":"y"},"sms":{"val":"n"}}},"identityMap":{"Email":[{"id":"a@b.c","newIdentityField":1}]}}`
	event := `{"_id":"e","timestamp":"2026-11-01T00:00:00Z","eventType":"commerce.purchases","aNewEventField":true,"commerce":{"order":{"priceTotal":120.5,"newOrderField":1}},"productListItems":[{"SKU":"EL-3002","quantity":2,"newItemField":"x"}],"web":{"webPageDetails":{"URL":"https://shop.example.com/cart"}}}`
	fromClone, err := evDecode(c, profile, event)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, query := range prjQueries {
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		old, err := Compile(q, Options{Schema: s})
		if err != nil {
			t.Fatal(err)
		}
		cur, err := Compile(q, Options{Schema: c})
		if err != nil {
			t.Fatal(err)
		}
		want, err1 := cur.NewRunner(now).Eval(fromClone)
		got, err2 := old.NewRunner(now).Eval(fromClone)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if d := binDiff(got, want); d != "" {
			t.Errorf("%s: the original's plan gives %s, the clone's %s (%s)", query, got, want, d)
		}
	}
}

// TestSchemaCloneConcurrentWithDecoding: cloning while another goroutine
// decodes records into the original (run with -race).
func TestSchemaCloneConcurrentWithDecoding(t *testing.T) {
	s := NewXDMSchema()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if _, err := s.DecodeProfile(fmt.Appendf(nil, `{"f%d":{"g%d":[{"h":%d}]},"identityMap":{"ECID":[{"id":"x","k%d":1}]}}`, i, i, i, i%5)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 50 {
		c := s.Clone()
		if _, err := c.DecodeProfile([]byte(`{"cloneOnly":1}`)); err != nil {
			t.Fatal(err)
		}
		_ = c.Paths()
	}
	wg.Wait()
	for _, p := range s.Paths() {
		if strings.HasPrefix(p, "cloneOnly") {
			t.Fatal("a clone's field reached the original")
		}
	}
}
