package pql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/services/ups/gen"
)

// kdWarm is the record the case schema learns from, so that it has fields
// of every kind: numbers, strings, booleans, nested objects, arrays of
// scalars, objects and arrays, and "any" slots (nul seen only as null,
// empty seen only as an empty array).
const kdWarm = `{"a":1,"b":"x","c":true,"n":{"x":1,"y":{"z":"s"}},"arr":[1.5],"tags":["t"],
	"objs":[{"k":1,"s":"x"}],"nul":null,"empty":[],"deep":{"l":[[{"m":1}]]},"mixed":{"q":null}}`

func kdTestSchema(tb testing.TB) *Schema {
	tb.Helper()
	s := NewXDMSchema()
	if _, err := s.DecodeProfile([]byte(kdWarm)); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.DecodeEvent([]byte(`{"_id":"e","timestamp":"2024-01-01T00:00:00Z","eventType":"v","commerce":{"order":{"priceTotal":1.5}},"productListItems":[{"SKU":"a","quantity":1}]}`)); err != nil {
		tb.Fatal(err)
	}
	return s
}

// kdCases are records for the case schema with what DecodeKnownProfile
// must return: "" for a Value, "schema" for ErrSchemaChange, "syntax" for
// malformed input, else the *TypeError's message.
var kdCases = []struct{ in, want string }{
	{`{}`, ""},
	{" \t\r\n{ } \n", ""},
	{`{"a":1,"b":"x","c":false}`, ""},
	{`{"b":"x"}`, ""},
	{`{"a":null,"b":null}`, ""},
	{`{"a":null,"nul":null,"empty":null}`, ""},
	{`{"n":{"y":{"z":"deep"}},"a":2}`, ""},
	{`{"n":{}}`, ""},
	{`{"n":{"x":null}}`, ""},

	// Numbers.
	{`{"a":0}`, ""},
	{`{"a":-0}`, ""},
	{`{"a":-0.0}`, ""},
	{`{"a":1.0}`, ""},
	{`{"a":1e3}`, ""},
	{`{"a":1E+3}`, ""},
	{`{"a":1e-3}`, ""},
	{`{"a":0.1}`, ""},
	{`{"a":9223372036854775807}`, ""},
	{`{"a":9223372036854775808}`, ""},
	{`{"a":-9223372036854775808}`, ""},
	{`{"a":-9223372036854775809}`, ""},
	{`{"a":99999999999999999999}`, ""},
	{`{"a":1234567890123456789012345678901234567890}`, ""},
	{`{"a":1e-400}`, ""},
	{`{"a":1e400}`, "a: expected number, got a number"},
	{`{"a":-1e400}`, "a: expected number, got a number"},
	{`{"arr":[1,2.5,-3e2,null]}`, ""},

	// Strings and escapes.
	{`{"b":""}`, ""},
	{`{"b":"a\"b\\c\/d\b\f\n\r\tz"}`, ""},
	{`{"b":"\u0041\u00e9\u20ac\ud83d\ude00"}`, ""},
	{`{"b":"\ud800"}`, ""},
	{`{"b":"\udc00"}`, ""},
	{`{"b":"\ud800\u0041"}`, ""},
	{`{"b":"\ud800\ud800\udc00"}`, ""},
	{`{"b":"\ud800x"}`, ""},
	{`{"b":"\ud800\\u0041"}`, ""},
	{`{"b":"\udbff\udfff"}`, ""},
	{`{"b":"\uD83D\uDE00"}`, ""},
	{"{\"b\":\"h\u00e9llo \u20ac \U0001F600\"}", ""},
	{"{\"b\":\"\xff\xfe\"}", ""},
	{"{\"b\":\"a\xe2\x82b\"}", ""},
	{"{\"b\":\"\xed\xa0\x80\"}", ""},
	{"{\"b\":\"\xc0\xaf\x7f\"}", ""},
	{"{\"b\":\"\xf4\x90\x80\x80\"}", ""},
	{`{"\u0061":1}`, ""},
	{`{"\u0061":"x"}`, `a: expected number, got a string`},
	{"{\"b\xff\":1}", "schema"},

	// Timestamps.
	{`{"person":{"birthDate":"2024-02-29"}}`, ""},
	{`{"person":{"birthDate":"0000-01-01"}}`, ""},
	{`{"person":{"birthDate":"1988-08-16T10:20:30Z"}}`, ""},
	{`{"person":{"birthDate":"1988-08-16T10:20:30.1Z"}}`, ""},
	{`{"person":{"birthDate":"1988-08-16T10:20:30.123456789Z"}}`, ""},
	{`{"person":{"birthDate":"1988-08-16T10:20:30.1234567891234Z"}}`, ""},
	{`{"person":{"birthDate":"1969-12-31T23:59:59.9999999Z"}}`, ""},
	{`{"person":{"birthDate":"1988-08-16T10:20:30+01:00"}}`, ""},
	{`{"person":{"birthDate":"1988-08-16T10:20:30.5-05:30"}}`, ""},
	{`{"person":{"birthDate":"9999-12-31T23:59:59.999999Z"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04:05"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04:05.123"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04:05+0100"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04:05Z"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04Z"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04+01:00"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02 03:04:05"}}`, ""},
	{`{"person":{"birthDate":"2024-01-02T03:04:05,5Z"}}`, ""},
	{`{"person":{"birthDate":"2024\u002d01-02"}}`, ""},
	{`{"person":{"birthDate":"2023-02-29"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "2023-02-29"`},
	{`{"person":{"birthDate":"2024-13-01"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "2024-13-01"`},
	{`{"person":{"birthDate":"2024-01-02T24:00:00Z"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "2024-01-02T24:00:00Z"`},
	{`{"person":{"birthDate":"2024-01-02T03:04:60Z"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "2024-01-02T03:04:60Z"`},
	{`{"person":{"birthDate":"2024-01-02t03:04:05z"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "2024-01-02t03:04:05z"`},
	{`{"person":{"birthDate":"2024-01-02T03:04:05.Z"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "2024-01-02T03:04:05.Z"`},
	{`{"person":{"birthDate":"2024-01-02T03:04:05+24:00"}}`, ""},
	{`{"person":{"birthDate":"-123-01-01"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "-123-01-01"`},
	{`{"person":{"birthDate":"someday"}}`, `person.birthDate: expected an ISO 8601 date or date-time, got "someday"`},
	{`{"person":{"birthDate":""}}`, `person.birthDate: expected an ISO 8601 date or date-time, got ""`},
	{`{"person":{"birthDate":"a\nb\u00e9\ud800"}}`, "person.birthDate: expected an ISO 8601 date or date-time, got \"a\\nbé\uFFFD\""},
	{`{"person":{"birthDate":1700000000000}}`, ""},
	{`{"person":{"birthDate":-1}}`, ""},
	{`{"person":{"birthDate":1.7e12}}`, ""},
	{`{"person":{"birthDate":1.5}}`, ""},
	{`{"person":{"birthDate":1e300}}`, "person.birthDate: expected epoch milliseconds within ±292,000 years, got a number out of range"},
	{`{"person":{"birthDate":9223372036854775807}}`, "person.birthDate: expected epoch milliseconds within ±292,000 years, got a number out of range"},
	{`{"person":{"birthDate":9223372036854775808}}`, "person.birthDate: expected epoch milliseconds within ±292,000 years, got a number out of range"},
	{`{"person":{"birthDate":1e400}}`, `person.birthDate: expected timestamp, got a number`},
	{`{"person":{"birthDate":true}}`, `person.birthDate: expected timestamp, got a boolean`},
	{`{"person":{"birthDate":["2024-01-01"]}}`, `person.birthDate: expected timestamp, got an array`},
	{`{"person":{"birthDate":{}}}`, `person.birthDate: expected timestamp, got an object`},
	{`{"_repo":{"createDate":"2024-01-01T00:00:00Z","modifyDate":null}}`, ""},

	// Maps.
	{`{"identityMap":{"ECID":[{"id":"1","primary":true},null,{"id":"2","authenticatedState":"ambiguous"}],"Email":[],"CRMID":null}}`, ""},
	{`{"identityMap":{}}`, ""},
	{`{"identityMap":{"ECID":{"id":"1"}}}`, `identityMap.ECID: expected array of object, got an object`},
	{`{"identityMap":{"ECID":[{"id":1}]}}`, `identityMap.ECID[0].id: expected string, got a number`},
	{`{"identityMap":{"ECID":[null,{"primary":"yes"}]}}`, `identityMap.ECID[1].primary: expected boolean, got a string`},
	{`{"identityMap":{"b":[{"id":1}],"a":[{"id":2}]}}`, `identityMap.a[0].id: expected string, got a number`},
	{`{"identityMap":{"a":[{"id":1}],"a":[{"id":"x"}]}}`, ""},
	{`{"identityMap":{"a":[{"id":"x"}],"a":[{"id":1}]}}`, `identityMap.a[0].id: expected string, got a number`},
	{`{"identityMap":{"a":[{"id":"x"}],"b":[{"id":"y"}],"a":[{"id":"z"}]}}`, ""},
	{`{"identityMap":{"":[{"id":1}]}}`, `identityMap[0].id: expected string, got a number`},
	{`{"identityMap":{"":5}}`, `identityMap: expected array of object, got a number`},
	{`{"identityMap":{"x.y":[{"id":1}]}}`, `identityMap.x.y[0].id: expected string, got a number`},
	{`{"identityMap":{"\u00e9":[{"id":"1"}],"e":[{"id":"2"}],"\ud800":[]}}`, ""},
	{`{"identityMap":{"ECID":[{"id":"1","extra":1}]}}`, "schema"},
	{`{"identityMap":{"ECID":[{"id":"1","extra":null}]}}`, "schema"},
	{`{"identityMap":{"b":[{"new":1}],"a":[{"id":2}]}}`, `identityMap.a[0].id: expected string, got a number`},
	{`{"identityMap":{"a":[{"new":1}],"b":[{"id":2}]}}`, `identityMap.b[0].id: expected string, got a number`},
	{`{"identityMap":[]}`, `identityMap: expected map of array of object, got an array`},
	{`{"segmentMembership":{"ups":{"seg1":{"status":"realized","lastQualificationTime":"2024-01-01T00:00:00Z"},"seg0":{"status":"exited"},"seg2":null}}}`, ""},
	{`{"segmentMembership":{"ups":{"seg1":{"status":"realized","lastQualificationTime":"yesterday"}}}}`, `segmentMembership.ups.seg1.lastQualificationTime: expected an ISO 8601 date or date-time, got "yesterday"`},
	{`{"segmentMembership":{"ups":{"seg1":{"status":"realized","other":1}}}}`, "schema"},
	{`{"segmentMembership":{"ups":5}}`, `segmentMembership.ups: expected map of object, got a number`},

	// Duplicate keys: the last one counts.
	{`{"a":1,"a":2}`, ""},
	{`{"a":"x","a":2}`, ""},
	{`{"a":2,"a":"x"}`, `a: expected number, got a string`},
	{`{"a":1,"a":null}`, ""},
	{`{"b":"x","a":1,"b":null}`, ""},
	{`{"n":{"x":1},"n":{"y":{"z":"s"}}}`, ""},
	{`{"n":{"x":"bad"},"n":{"x":2}}`, ""},
	{`{"n":{"x":"bad"},"a":"bad","n":{"x":2}}`, `a: expected number, got a string`},
	{`{"nul":1,"nul":null}`, ""},
	{`{"nul":null,"nul":1}`, "schema"},
	{`{"zz":1,"zz":1}`, "schema"},
	{`{"a":"x","a":"y"}`, `a: expected number, got a string`},

	// Arrays.
	{`{"objs":[]}`, ""},
	{`{"objs":[null,{"k":1},null,{"s":"x"},{}]}`, ""},
	{`{"objs":[null,null]}`, ""},
	{`{"objs":[{"k":1},{"k":"x"}]}`, `objs[1].k: expected number, got a string`},
	{`{"objs":[null,{"k":"x"}]}`, `objs[1].k: expected number, got a string`},
	{`{"objs":[1]}`, `objs[0]: expected object, got a number`},
	{`{"objs":[{"new":1}]}`, "schema"},
	{`{"objs":[{"k":"x"},{"new":1}]}`, `objs[0].k: expected number, got a string`},
	{`{"objs":[{"new":1},{"k":"x"}]}`, `objs[1].k: expected number, got a string`},
	{`{"objs":[{"k":"x"},{"k":"y"}]}`, `objs[0].k: expected number, got a string`},
	{`{"objs":[{"k":"x"},[1,}]}`, "syntax"},
	{`{"tags":["a",null,"b"]}`, ""},
	{`{"tags":"x"}`, `tags: expected array of string, got a string`},
	{`{"deep":{"l":[[{"m":1},null],[],null]}}`, ""},
	{`{"deep":{"l":[[{"m":"x"}]]}}`, `deep.l[0][0].m: expected number, got a string`},
	{`{"deep":{"l":[[],[null,{"m":1},{"m":[]}]]}}`, `deep.l[1][2].m: expected number, got an array`},

	// Fields the schema has not seen, or seen only as null.
	{`{"nul":null}`, ""},
	{`{"nul":1}`, "schema"},
	{`{"nul":{}}`, "schema"},
	{`{"empty":[]}`, ""},
	{`{"empty":[null,null]}`, ""},
	{`{"empty":[1]}`, "schema"},
	{`{"mixed":{"q":"s"}}`, "schema"},
	{`{"unknown":null}`, "schema"},
	{`{"unknown":[1,{"x":[]}]}`, "schema"},
	{`{"n":{"new":1}}`, "schema"},
	{`{"n":{"new":1},"a":"x"}`, `a: expected number, got a string`},
	{`{"a":"x","n":{"new":1}}`, `a: expected number, got a string`},
	{`{"n":{"new":1,"x":"s"}}`, `n.x: expected number, got a string`},

	// Mismatched kinds.
	{`{"a":"1"}`, `a: expected number, got a string`},
	{`{"a":true}`, `a: expected number, got a boolean`},
	{`{"a":[1]}`, `a: expected number, got an array`},
	{`{"a":{"b":1}}`, `a: expected number, got an object`},
	{`{"b":1}`, `b: expected string, got a number`},
	{`{"b":false}`, `b: expected string, got a boolean`},
	{`{"c":"true"}`, `c: expected boolean, got a string`},
	{`{"c":0}`, `c: expected boolean, got a number`},
	{`{"n":1}`, `n: expected object, got a number`},
	{`{"n":[]}`, `n: expected object, got an array`},
	{`{"n":{"y":{"z":5}}}`, `n.y.z: expected string, got a number`},
	{`{"n":{"y":[]}}`, `n.y: expected object, got an array`},
	{`{"arr":{}}`, `arr: expected array of number, got an object`},

	// Malformed JSON, and input that is not one object.
	{``, "syntax"},
	{` `, "syntax"},
	{`{`, "syntax"},
	{`}`, "syntax"},
	{`{"a"}`, "syntax"},
	{`{"a":}`, "syntax"},
	{`{"a":1,}`, "syntax"},
	{`{,"a":1}`, "syntax"},
	{`{"a":1 "b":2}`, "syntax"},
	{`{"a":01}`, "syntax"},
	{`{"a":1.}`, "syntax"},
	{`{"a":.5}`, "syntax"},
	{`{"a":-}`, "syntax"},
	{`{"a":1e}`, "syntax"},
	{`{"a":1e+}`, "syntax"},
	{`{"a":+1}`, "syntax"},
	{`{"a":0x1}`, "syntax"},
	{`{"a":NaN}`, "syntax"},
	{`{"a":tru}`, "syntax"},
	{`{"a":nul}`, "syntax"},
	{`{"a":nulls}`, "syntax"},
	{`{"c":True}`, "syntax"},
	{`{'a':1}`, "syntax"},
	{`{a:1}`, "syntax"},
	{`{"a":1}}`, "syntax"},
	{`{"a":1} x`, "syntax"},
	{`{"a":1}{}`, "syntax"},
	{`{"a":1}` + "\x00", "syntax"},
	{`null`, "syntax"},
	{` null `, "syntax"},
	{`[]`, "syntax"},
	{`[{"a":1}]`, "syntax"},
	{`1`, "syntax"},
	{`"x"`, "syntax"},
	{`true`, "syntax"},
	{"{\"b\":\"a\x01\"}", "syntax"},
	{"{\"b\":\"a\tb\"}", "syntax"},
	{`{"b":"\q"}`, "syntax"},
	{`{"b":"\'"}`, "syntax"},
	{`{"b":"\u12"}`, "syntax"},
	{`{"b":"\u12g4"}`, "syntax"},
	{`{"b":"x`, "syntax"},
	{`{"b":"x\`, "syntax"},
	{`{"b":"x"`, "syntax"},
	{"\xef\xbb\xbf{}", "syntax"},
	{"{\"a\":1\xa0}", "syntax"},
	{`{"a":"x}`, "syntax"},
	{`{"a":"1",}`, "syntax"},
	{`{"zz":[1,}`, "syntax"},
	{`{"zz":{"a" 1}}`, "syntax"},
	{`{"nul":[1,2,}`, "syntax"},
	{`{"n":{"new":1},}`, "syntax"},
	{`{"b":1} trailing`, "syntax"},
	{`{"zz":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`, "schema"},
	{`{"zz":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "syntax"},
	{`{"zz":` + strings.Repeat(`{"a":`, 9999) + "1" + strings.Repeat("}", 9999) + `}`, "schema"},
	{`{"zz":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}`, "syntax"},
}

func TestDecodeKnownCases(t *testing.T) {
	s := kdTestSchema(t)
	for _, c := range kdCases {
		_, err := kdCheck(t, s, false, []byte(c.in))
		if got := kdOutcomeOf(err); got != c.want {
			t.Errorf("DecodeKnownProfile(%.200q) = %s, want %s", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`{"_id":"e1","timestamp":"2024-05-06T07:08:09.123Z","eventType":"commerce.purchases","commerce":{"order":{"priceTotal":10}}}`, ""},
		{`{"timestamp":1714979289123,"productListItems":[{"SKU":"a","quantity":2},null]}`, ""},
		{`{"timestamp":"soon"}`, `timestamp: expected an ISO 8601 date or date-time, got "soon"`},
		{`{"productListItems":[{"SKU":"a","quantity":"2"}]}`, `productListItems[0].quantity: expected number, got a string`},
		{`{"productListItems":[{"SKU":"a","name":"x"}]}`, "schema"},
		{`{"identityMap":{"ECID":[{"id":"1"}]}}`, ""},
		{`{"web":{}}`, "schema"},
	} {
		_, err := kdCheck(t, s, true, []byte(c.in))
		if got := kdOutcomeOf(err); got != c.want {
			t.Errorf("DecodeKnownEvent(%.200q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// Errors of the fast path read like the learning path's.
func TestDecodeKnownSyntaxErrors(t *testing.T) {
	s := kdTestSchema(t)
	for _, c := range []struct{ in, want string }{
		{`{"a":1,}`, "pql: decoding record: invalid character '}' looking for beginning of object key string"},
		{`{"a":1} x`, "pql: decoding record: invalid character 'x' after top-level value"},
		{`{"a":`, "pql: decoding record: unexpected end of JSON input"},
		{`[1]`, "pql: decoding record: json: cannot unmarshal array into Go value of type map[string]interface {}"},
		{`null`, "pql: decoding record: the record is null, not a JSON object"},
	} {
		_, err := s.DecodeKnownProfile([]byte(c.in))
		if err == nil || err.Error() != c.want {
			t.Errorf("DecodeKnownProfile(%q) = %v, want %s", c.in, err, c.want)
		}
	}
}

// Records as the generator writes them decode as the learning path
// decodes them, once the schema has learnt from them.
func TestDecodeKnownGenerated(t *testing.T) {
	profiles, events := kdGenerated(t, 200)
	s := NewXDMSchema()
	for _, l := range profiles {
		if _, err := s.DecodeProfile(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range events {
		if _, err := s.DecodeEvent(l); err != nil {
			t.Fatal(err)
		}
	}
	fp := kdFingerprint(s)
	for _, c := range []struct {
		lines [][]byte
		event bool
	}{{profiles, false}, {events, true}} {
		for _, l := range c.lines {
			fast, err := kdDecodeKnown(s, c.event, l)
			if err != nil {
				t.Fatalf("%v\n%s", err, l)
			}
			slow, err := kdDecodeSlow(s, c.event, l)
			if err != nil {
				t.Fatalf("%v\n%s", err, l)
			}
			if !kdIdentical(fast, slow) || !Equal(fast, slow) {
				t.Fatalf("fast %v\nslow %v\n%s", fast, slow, l)
			}
		}
	}
	if kdFingerprint(s) != fp {
		t.Fatal("the schema changed")
	}
	// And the differential check, on a schema that knows only some of it.
	part := NewXDMSchema()
	for _, l := range profiles[:5] {
		if _, err := part.DecodeProfile(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range events[:20] {
		if _, err := part.DecodeEvent(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range profiles[:50] {
		kdCheck(t, part, false, l)
	}
	for _, l := range events[:300] {
		kdCheck(t, part, true, l)
	}
}

// The fast path allocates the record's slab and its strings, nothing else.
func TestDecodeKnownAllocs(t *testing.T) {
	if testing.Short() || kdRace() {
		t.Skip("allocation counts (the race detector makes sync.Pool drop items)")
	}
	profiles, events := kdGenerated(t, 20)
	s := NewXDMSchema()
	for _, l := range profiles {
		s.DecodeProfile(l)
	}
	for _, l := range events {
		s.DecodeEvent(l)
	}
	for _, c := range []struct {
		line  []byte
		event bool
	}{{profiles[0], false}, {events[0], true}, {events[len(events)-1], true}} {
		n := testing.AllocsPerRun(100, func() {
			if _, err := kdDecodeKnown(s, c.event, c.line); err != nil {
				t.Fatal(err)
			}
		})
		if n > 2 {
			t.Errorf("%.80s…: %v allocations, want at most 2", c.line, n)
		}
	}
}

// Fast decodes run beside the learning path without races (go test -race).
func TestDecodeKnownConcurrent(t *testing.T) {
	profiles, _ := kdGenerated(t, 40)
	s := NewXDMSchema()
	for _, l := range profiles[:20] {
		if _, err := s.DecodeProfile(l); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i, l := range profiles {
				v, err := s.DecodeKnownProfile(l)
				if err != nil && err != ErrSchemaChange {
					t.Errorf("worker %d, profile %d: %v", w, i, err)
					return
				}
				if err == nil && v.Kind() != KindObject {
					t.Errorf("worker %d, profile %d: %v", w, i, v)
				}
			}
		})
	}
	for i, l := range profiles[20:] {
		if _, err := s.DecodeProfile(fmt.Appendf(nil, `{"extra%d":%d,%s`, i, i, l[1:])); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// Random records over the case schema's names, with every kind of value
// at every field, duplicates and nulls: what the fuzzer reaches slowly.
func TestDecodeKnownRandom(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 400
	}
	base := kdTestSchema(t)
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "n", "x", "y", "z", "arr", "tags", "objs", "k", "s", "nul", "empty", "deep", "l", "m",
		"mixed", "q", "identityMap", "ECID", "id", "primary", "segmentMembership", "ups", "status",
		"lastQualificationTime", "person", "birthDate", "_repo", "createDate", "new", `\u0061`, ""}
	scalars := []string{"null", "null", "true", "false", "0", "-0", "1", "1.5", "-2e3", "1e400", "9223372036854775808",
		`""`, `"x"`, `"2024-01-02"`, `"2024-01-02T03:04:05.678Z"`, `"2024-02-30"`, `"\ud800\u00e9"`, "\"\xff\"", "1700000000000"}
	var value func(b []byte, depth int) []byte
	value = func(b []byte, depth int) []byte {
		switch k := r.IntN(10); {
		case depth > 4 || k < 4:
			return append(b, scalars[r.IntN(len(scalars))]...)
		case k < 6:
			b = append(b, '[')
			for i := range r.IntN(4) {
				if i > 0 {
					b = append(b, ',')
				}
				b = value(b, depth+1)
			}
			return append(b, ']')
		default:
			return kdRandObject(b, depth, keys, value, r)
		}
	}
	for range n {
		data := kdRandObject(nil, 0, keys, value, r)
		kdCheck(t, base, false, data)
		s := kdClone(base)
		kdDecodeSlow(s, false, data)
		kdCheck(t, s, false, data)
	}
}

func kdRandObject(b []byte, depth int, keys []string, value func([]byte, int) []byte, r *rand.Rand) []byte {
	b = append(b, '{')
	for i := range r.IntN(5) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, keys[r.IntN(len(keys))]...)
		b = append(b, `":`...)
		b = value(b, depth+1)
	}
	return append(b, '}')
}

// Strings are scanned eight bytes at a time: every byte that needs a look,
// at every offset of the word, in values and keys.
func TestDecodeKnownStringBytes(t *testing.T) {
	s := kdTestSchema(t)
	for _, special := range []string{`\"`, `\\`, `\u00e9`, "\x01", "\x1f", "\x7f", "\x80", "\xff", "\xc3\xa9", "\xe2\x82\xac", "\xe2\x82", "\"x"} {
		for pre := range 20 {
			str := strings.Repeat("p", pre) + special + strings.Repeat("s", 20-pre)
			kdCheck(t, s, false, []byte(`{"b":"`+str+`"}`))
			kdCheck(t, s, false, []byte(`{"`+str+`":1}`))
			kdCheck(t, s, false, []byte(`{"identityMap":{"`+str+`":[{"id":"`+str+`"}]}}`))
		}
	}
}

// kdParseTime must agree with parseTime on every string, including those
// its fast path does not take.
func TestDecodeKnownParseTime(t *testing.T) {
	base := []string{
		"2024-02-29", "2023-02-29", "2024-04-31", "2024-00-10", "2024-01-00", "0000-02-29", "0100-02-29", "0400-02-29",
		"9999-12-31", "-999-01-01", "+999-01-01", "2024-1-01", "2024/01/01", "20240101xx", "2024-01-01 ",
		"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05.000000000000000001Z",
		"2024-01-02T03:04:05.99999999999Z", "2024-01-02T03:04:05.5+23:59", "2024-01-02T03:04:05.5-23:59",
		"2024-01-02T03:04:05+24:00", "2024-01-02T03:04:05+01:60", "2024-01-02T03:04:05+0100", "2024-01-02T03:04:05+01",
		"2024-01-02T03:04:05 Z", "2024-01-02T03:04:05z", "2024-01-02t03:04:05Z", "2024-01-02T3:04:05Z",
		"2024-01-02T03:04:05", "2024-01-02T03:04:05.1", "2024-01-02T03:04", "2024-01-02T03:04Z", "2024-01-02 03:04:05",
		"2024-01-02T03:04:05,123Z", "2024-01-02T23:59:59.999999999-00:00", "1969-12-31T23:59:59.9999995Z",
		"0000-01-01T00:00:00Z", "0000-01-01T00:00:00+01:00", "2024-02-30T00:00:00Z", "2024-01-02T03:04:05.1234567891234567890123Z",
	}
	seen := map[string]bool{}
	check := func(s string) {
		if seen[s] {
			return
		}
		seen[s] = true
		us, ok := kdParseTime([]byte(s))
		wus, wok := parseTime(s)
		if us != wus || ok != wok {
			t.Errorf("kdParseTime(%q) = %d, %v; parseTime gives %d, %v", s, us, ok, wus, wok)
		}
	}
	for _, s := range base {
		check(s)
		// Every one-character edit of the canonical forms.
		for i := range len(s) {
			for _, c := range []byte("09:-+.TZ ,x") {
				b := []byte(s)
				b[i] = c
				check(string(b))
			}
			check(s[:i] + s[i+1:])
		}
	}
}

// FuzzDecodeKnown checks the fast path against the learning path: on a
// schema that has learnt from the input (so most inputs need no change),
// and on one that has not.
func FuzzDecodeKnown(f *testing.F) {
	for _, c := range kdCases {
		if len(c.in) < 1000 {
			f.Add([]byte(c.in))
		}
	}
	profiles, events := kdGenerated(f, 3)
	for _, l := range profiles {
		f.Add(l)
	}
	for _, l := range events[:10] {
		f.Add(l)
	}
	base := kdTestSchema(f)
	check := func(t *testing.T, event bool, data []byte) {
		kdCheck(t, base, event, data)
		s := kdClone(base)
		kdDecodeSlow(s, event, data) // learn what can be learnt
		kdCheck(t, s, event, data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, false, data)
		check(t, true, data)
		// Most mutations of a record are not JSON; those that are, put at
		// fields of every type, test the type checks.
		if json.Valid(data) {
			for _, field := range []string{"a", "b", "c", "n", "arr", "objs", "deep", "nul", "empty", "identityMap", "segmentMembership", "person"} {
				check(t, false, fmt.Appendf(nil, `{"%s":%s}`, field, data))
			}
		}
	})
}

func kdRace() bool {
	bi, ok := debug.ReadBuildInfo()
	return ok && slices.ContainsFunc(bi.Settings, func(s debug.BuildSetting) bool { return s.Key == "-race" && s.Value == "true" })
}

func kdGenerated(tb testing.TB, n int) (profiles, events [][]byte) {
	tb.Helper()
	g, err := gen.New(gen.Config{Profiles: n, Seed: 7, Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		profiles = append(profiles, bytes.TrimSuffix(g.AppendProfile(nil, i), []byte("\n")))
		b, _ := g.AppendEvents(nil, i)
		for l := range bytes.Lines(b) {
			events = append(events, bytes.TrimSuffix(l, []byte("\n")))
		}
	}
	return profiles, events
}

func kdDecodeKnown(s *Schema, event bool, data []byte) (Value, error) {
	if event {
		return s.DecodeKnownEvent(data)
	}
	return s.DecodeKnownProfile(data)
}

func kdDecodeSlow(s *Schema, event bool, data []byte) (Value, error) {
	if event {
		return s.DecodeEvent(data)
	}
	return s.DecodeProfile(data)
}

func kdOutcomeOf(err error) string {
	var te *TypeError
	switch {
	case err == nil:
		return ""
	case err == ErrSchemaChange:
		return "schema"
	case errors.As(err, &te):
		return err.Error()
	}
	return "syntax"
}

// kdCheck decodes data with the fast path and the learning path, each on
// its own copy of s0, and fails t unless they agree:
//
//   - input that is not exactly one JSON object is an error (not a
//     *TypeError nor ErrSchemaChange); the learning path accepts trailing
//     data and a top-level null, which ingestion has rejected before;
//   - ErrSchemaChange only if the learning path changed the schema;
//   - a *TypeError only if the learning path returns one too, and, unless
//     it changed the schema, can return that very one (it visits an
//     object's fields in map order, so it is retried);
//   - else the identical Value, and the learning path must not have
//     changed the schema.
func kdCheck(t testing.TB, s0 *Schema, event bool, data []byte) (Value, error) {
	t.Helper()
	fp := kdFingerprint(s0)
	fs := kdClone(s0)
	fast, ferr := kdDecodeKnown(fs, event, data)
	if kdFingerprint(fs) != fp {
		t.Fatalf("%.200q: the fast path changed the schema", data)
	}
	ss := kdClone(s0)
	slow, serr := kdDecodeSlow(ss, event, data)
	changed := kdFingerprint(ss) != fp
	fte, _ := ferr.(*TypeError)
	ste, _ := serr.(*TypeError)
	first := bytes.TrimLeft(data, " \t\r\n")
	oneObject := json.Valid(data) && len(first) > 0 && first[0] == '{'
	switch {
	case !oneObject:
		if ferr == nil || fte != nil || ferr == ErrSchemaChange {
			t.Fatalf("%.200q is not one JSON object, but the fast path gives %v, %v", data, fast, ferr)
		}
	case serr != nil && ste == nil:
		t.Fatalf("%.200q: the learning path fails on a JSON object: %v", data, serr)
	case ferr == ErrSchemaChange:
		if !changed {
			t.Fatalf("%.200q: ErrSchemaChange, but the learning path gives %v, %v and keeps the schema", data, slow, serr)
		}
	case fte != nil:
		if ste == nil {
			t.Fatalf("%.200q: fast path %v, learning path %v, %v", data, ferr, slow, serr)
		}
		// When the record also needs a schema change, the learning path may
		// stop at an error under what it learnt first, never reaching ours.
		if *fte != *ste && !changed && !kdReproduces(s0, event, data, fte) {
			t.Fatalf("%.200q: fast path %v, learning path %v (and never the former)", data, ferr, serr)
		}
	case ferr != nil:
		t.Fatalf("%.200q: fast path %v, learning path %v, %v", data, ferr, slow, serr)
	case serr != nil || changed:
		t.Fatalf("%.200q: fast path %v, learning path %v (schema changed: %v)", data, fast, serr, changed)
	case !kdIdentical(fast, slow) || !Equal(fast, slow):
		t.Fatalf("%.200q:\nfast %v\nslow %v", data, fast, slow)
	}
	return fast, ferr
}

// kdReproduces runs the learning path until it returns want.
func kdReproduces(s0 *Schema, event bool, data []byte, want *TypeError) bool {
	for range 5000 {
		_, err := kdDecodeSlow(kdClone(s0), event, data)
		if te, ok := err.(*TypeError); ok && *te == *want {
			return true
		}
	}
	return false
}

// kdIdentical is stricter than Equal: same kinds, same bits, same shape.
func kdIdentical(a, b Value) bool {
	if a.kind != b.kind || a.num != b.num || a.str != b.str || len(a.list) != len(b.list) || (a.list == nil) != (b.list == nil) {
		return false
	}
	for i := range a.list {
		if !kdIdentical(a.list[i], b.list[i]) {
			return false
		}
	}
	return true
}

// kdClone deep-copies a schema, keeping types shared where they are
// (NewXDMSchema shares the identity type between profiles and events).
func kdClone(s *Schema) *Schema {
	s.mu.RLock()
	defer s.mu.RUnlock()
	memo := map[*Type]*Type{}
	var clone func(t *Type) *Type
	clone = func(t *Type) *Type {
		if t == nil || t == BoolType || t == NumberType || t == StringType || t == TimeType {
			return t
		}
		if c, ok := memo[t]; ok {
			return c
		}
		c := &Type{Kind: t.Kind}
		memo[t] = c
		c.Elem = clone(t.Elem)
		if t.names != nil {
			c.names = append([]string(nil), t.names...)
		}
		for _, ft := range t.types {
			c.types = append(c.types, clone(ft))
		}
		if t.index != nil {
			c.index = make(map[string]int, len(t.index))
			for k, v := range t.index {
				c.index[k] = v
			}
		}
		return c
	}
	return &Schema{profile: clone(s.profile), event: clone(s.event)}
}

// kdFingerprint describes every type of a schema, arrays and maps
// included (Paths stops at them).
func kdFingerprint(s *Schema) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	var walk func(t *Type)
	walk = func(t *Type) {
		switch {
		case t == nil:
			b.WriteString("nil")
		case t.Kind == TypeObject:
			b.WriteByte('{')
			for i, n := range t.names {
				fmt.Fprintf(&b, "%q:", n)
				walk(t.types[i])
				b.WriteByte(',')
			}
			b.WriteByte('}')
		case t.Kind == TypeArray || t.Kind == TypeMap:
			b.WriteString(t.Kind.String() + "(")
			walk(t.Elem)
			b.WriteByte(')')
		default:
			b.WriteString(t.Kind.String())
		}
	}
	walk(s.profile)
	b.WriteString(" / ")
	walk(s.event)
	return b.String()
}

// Numbers in timestamp fields are epoch milliseconds on both paths; a
// fraction keeps its microseconds and an overflow is a type error rather
// than a wrapped-around instant.
func TestDecodeEpochMillis(t *testing.T) {
	tests := []struct {
		json   string
		micros int64
		err    bool
	}{
		{`{"person":{"birthDate":1700000000000}}`, 1700000000000000, false},
		{`{"person":{"birthDate":1.5}}`, 1500, false},
		{`{"person":{"birthDate":-2}}`, -2000, false},
		{`{"person":{"birthDate":9223372036854775807}}`, 0, true},
		{`{"person":{"birthDate":1e300}}`, 0, true},
	}
	for _, tt := range tests {
		for name, decode := range map[string]func(*Schema, []byte) (Value, error){
			"slow": (*Schema).DecodeProfile,
			"fast": (*Schema).DecodeKnownProfile,
		} {
			s := NewXDMSchema()
			if _, err := s.DecodeProfile([]byte(`{"person":{}}`)); err != nil {
				t.Fatal(err)
			}
			v, err := decode(s, []byte(tt.json))
			if tt.err {
				var te *TypeError
				if !errors.As(err, &te) {
					t.Errorf("%s %s: %v, want a TypeError", name, tt.json, err)
				}
				continue
			}
			pi, _, _ := s.Profile().Lookup("person")
			bi, _, _ := s.Profile().FieldType(pi).Lookup("birthDate")
			if err != nil || v.Index(pi).Index(bi).Micros() != tt.micros {
				t.Errorf("%s %s: %v (%v), want %d µs", name, tt.json, v, err, tt.micros)
			}
		}
	}
}

// A KnownDecoder gives what DecodeKnownProfile gives, record after record
// on the same memory, and allocates nothing once warm.
func TestKnownDecoderReuse(t *testing.T) {
	s := kdTestSchema(t)
	var k KnownDecoder
	for _, c := range kdCases {
		want, werr := s.DecodeKnownProfile([]byte(c.in))
		got, gerr := k.Decode(s, []byte(c.in), false)
		if kdOutcomeOf(werr) != kdOutcomeOf(gerr) || werr == nil && (!Equal(got, want) || got.String() != want.String()) {
			t.Errorf("%.100q: KnownDecoder %v (%v), DecodeKnownProfile %v (%v)", c.in, got, gerr, want, werr)
		}
	}
	line := []byte(`{"person":{"name":{"firstName":"Ann"}},"homeAddress":{"city":"Paris"}}`)
	if _, err := s.DecodeProfile(line); err != nil {
		t.Fatal(err)
	}
	k.Decode(s, line, false)
	if kdRace() {
		return
	}
	if n := testing.AllocsPerRun(100, func() { k.Decode(s, line, false) }); n != 0 {
		t.Errorf("a warm KnownDecoder allocates %v times a record", n)
	}
}
