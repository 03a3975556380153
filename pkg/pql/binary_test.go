package pql

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Profiles and ExperienceEvents as `segflow gen` writes them, then
// hand-made edge cases: nulls everywhere (trailing ones included), empty
// objects and arrays, nested arrays of objects, maps, extreme numbers,
// -0, long strings and timestamps before 1970.
var binProfileRecords = []string{
	`{"_id":"8625a287-3518-dd9d-9217-1318ae7dab81","identityMap":{"ECID":[{"id":"14835568034197558277783339150535208995","authenticatedState":"ambiguous","primary":true}],"Email":[{"id":"jaydenking1@example.org","authenticatedState":"authenticated","primary":false}],"CRMID":[{"id":"CRM0498703870","authenticatedState":"authenticated","primary":false}]},"person":{"name":{"firstName":"Jayden","lastName":"King"},"birthDate":"1989-07-13","birthYear":1989,"gender":"male"},"personalEmail":{"address":"jaydenking1@example.org"},"mobilePhone":{"number":"+12156658918"},"homeAddress":{"street1":"7150 Park Pl","city":"Philadelphia","stateProvince":"US-PA","postalCode":"19154","country":"United States","countryCode":"US"},"loyalty":{"tier":"bronze","points":1996,"joinDate":"2024-12-09"},"consents":{"collect":{"val":"y"},"marketing":{"email":{"val":"y"},"sms":{"val":"n"}}}}`,
	`{"_id":"4b826ec1-a847-59cf-6e94-060f0fa8798b","identityMap":{"ECID":[{"id":"10326127323015880261338741815906382954","authenticatedState":"ambiguous","primary":true}],"Email":[{"id":"wei.hernandez2@example.com","authenticatedState":"authenticated","primary":false}]},"person":{"name":{"firstName":"Wei","lastName":"Hernandez"},"birthDate":"1989-05-04","birthYear":1989,"gender":"male"},"personalEmail":{"address":"wei.hernandez2@example.com"},"mobilePhone":{"number":"+17137238652"},"homeAddress":{"street1":"5121 2nd Dr","city":"Houston","stateProvince":"US-TX","postalCode":"77056","country":"United States","countryCode":"US"},"consents":{"collect":{"val":"y"},"marketing":{"email":{"val":"n"},"sms":{"val":"n"}}}}`,
	`{"_id":"f8ddb91f-7a60-1103-12f8-a7345d66368c","identityMap":{"ECID":[{"id":"15948758444940452120245021275977128171","authenticatedState":"ambiguous","primary":true}],"Email":[{"id":"riccardor3@example.net","authenticatedState":"authenticated","primary":false}],"Phone":[{"id":"+393927170245","authenticatedState":"authenticated","primary":false}]},"person":{"name":{"firstName":"Riccardo","lastName":"Rossi"},"birthDate":"1992-01-18","birthYear":1992,"gender":"male"},"personalEmail":{"address":"riccardor3@example.net"},"mobilePhone":{"number":"+393927170245"},"homeAddress":{"street1":"Via Marconi 22","city":"Milano","stateProvince":"IT-MI","postalCode":"20122","country":"Italy","countryCode":"IT"},"loyalty":{"tier":"silver","points":8232,"joinDate":"2021-11-11"},"consents":{"collect":{"val":"y"},"marketing":{"email":{"val":"y"},"sms":{"val":"n"}}}}`,
	`{"_id":"74dbb2a7-3076-b9bb-ee53-de92d701fb4d","identityMap":{"ECID":[{"id":"18381194380718105902058078450164327899","authenticatedState":"ambiguous","primary":true}],"Email":[{"id":"ryan_thompson4@example.com","authenticatedState":"authenticated","primary":false}],"CRMID":[{"id":"CRM0498703873","authenticatedState":"authenticated","primary":false}],"Phone":[{"id":"+12152736330","authenticatedState":"authenticated","primary":false}]},"person":{"name":{"firstName":"Ryan","lastName":"Thompson"},"birthDate":"1995-01-10","birthYear":1995,"gender":"male"},"personalEmail":{"address":"ryan_thompson4@example.com"},"mobilePhone":{"number":"+12152736330"},"homeAddress":{"street1":"4393 Meadow Blvd","city":"Philadelphia","stateProvince":"US-PA","postalCode":"19152","country":"United States","countryCode":"US"},"consents":{"collect":{"val":"y"},"marketing":{"email":{"val":"y"},"sms":{"val":"n"}}}}`,
	// Edge cases.
	`{"_id":"edge-1","person":{"name":{"firstName":"Zoë","lastName":"` + strings.Repeat("Ö", 100) + `"},"birthDate":"1900-01-01","birthYear":-1,"gender":null},` +
		`"homeAddress":{},"loyalty":{"points":9223372036854775807,"tier":null},` +
		`"stats":{"min":-9223372036854775808,"max":9223372036854775807,"zero":0,"negZero":-0.0,"big":1.7976931348623157e308,"tiny":5e-324,"neg":-12.5,"half":0.5},` +
		`"tags":["a","",null,"c"],"matrix":[[1,2],[],[3]],"cube":[[[1]],[[2,3],[]],[]],` +
		`"orders":[{"id":"o1","items":[{"sku":"A","qty":1},{"sku":"B","qty":2,"notes":null}]},{"id":"o2","items":[]},{},{"id":null}],` +
		`"segmentMembership":{"ups":{"seg-1":{"status":"realized","lastQualificationTime":"2026-01-01T00:00:00Z"},"seg-2":{"status":"exited"},"seg-3":null}},` +
		`"_repo":{"createDate":"1900-02-28T12:34:56.789Z","modifyDate":"9999-12-31T23:59:59.999999Z"},` +
		`"identityMap":{"ECID":[{"id":"1","primary":true}],"":[],"Email":[{"authenticatedState":null,"primary":false}]},` +
		`"zLast":null}`,
	`{"_id":"edge-2"}`,
	`{}`,
	`{"_id":null,"homeAddress":{"city":null},"person":{"name":{}},"zLast":null}`,
	`{"_id":"edge-long","bio":"` + strings.Repeat("b", 200) + `","essay":"` + strings.Repeat("e", 20000) + `","zLast":"` + strings.Repeat("z", 127) + `"}`,
	`{"_id":"edge-3","zLast":"yes","stats":{"half":1e-3},"matrix":[],"tags":[],"orders":[{"items":[{"notes":"n","qty":-0.0}]}]}`,
}

var binEventRecords = []string{
	`{"_id":"5c90f1d4-d2fb-c076-3ab6-0ddf0b16d0eb","timestamp":"2026-01-15T21:35:27.898Z","eventType":"web.webpagedetails.pageViews","identityMap":{"ECID":[{"id":"14835568034197558277783339150535208995","authenticatedState":"ambiguous","primary":true}]},"web":{"webPageDetails":{"name":"Home","URL":"https://shop.example.com/","pageViews":{"value":1}}}}`,
	`{"_id":"5c90f1d4-d2fb-c076-4928-025d3a2ddffa","timestamp":"2026-01-15T21:36:37.378Z","eventType":"commerce.productViews","identityMap":{"ECID":[{"id":"14835568034197558277783339150535208995","authenticatedState":"ambiguous","primary":true}]},"web":{"webPageDetails":{"name":"Linen Button-Down Shirt","URL":"https://shop.example.com/p/ap-2009"}},"productListItems":[{"SKU":"AP-2009","name":"Linen Button-Down Shirt","quantity":1,"priceTotal":54.99,"currencyCode":"USD"}],"commerce":{"productViews":{"value":1}}}`,
	`{"_id":"5c90f1d4-d2fb-c076-575e-1c9894f02ff9","timestamp":"2026-09-12T01:20:28.543Z","eventType":"commerce.productListAdds","identityMap":{"ECID":[{"id":"14835568034197558277783339150535208995","authenticatedState":"ambiguous","primary":true}]},"web":{"webPageDetails":{"name":"Cast Iron Skillet","URL":"https://shop.example.com/p/hk-4002"}},"productListItems":[{"SKU":"HK-4002","name":"Cast Iron Skillet","quantity":1,"priceTotal":34.99,"currencyCode":"USD"}],"commerce":{"productListAdds":{"value":1}}}`,
	`{"_id":"5c90f1d4-d2fb-c076-001d-b2360bfb6601","timestamp":"2026-09-12T02:40:42.318Z","eventType":"commerce.productListRemovals","identityMap":{"ECID":[{"id":"14835568034197558277783339150535208995","authenticatedState":"ambiguous","primary":true}]},"web":{"webPageDetails":{"name":"Cart","URL":"https://shop.example.com/cart"}},"productListItems":[{"SKU":"HK-4002","name":"Cast Iron Skillet","quantity":1,"priceTotal":34.99,"currencyCode":"USD"}],"commerce":{"productListRemovals":{"value":1},"cartAbandons":{"value":1}},"metrics":{"commerce":{"abandons":{"value":1}}}}`,
	`{"_id":"dfcc1c5c-e6bf-ed1e-217c-55d5b99e2648","timestamp":"2026-10-26T16:49:59.638Z","eventType":"commerce.checkouts","identityMap":{"ECID":[{"id":"05094197448092539651697494735050001506","authenticatedState":"ambiguous","primary":true}]},"web":{"webPageDetails":{"name":"Checkout","URL":"https://shop.example.com/checkout"}},"productListItems":[{"SKU":"EL-3002","name":"True Wireless Earbuds","quantity":2,"priceTotal":259.98,"currencyCode":"USD"},{"SKU":"EL-3007","name":"USB-C Fast Charger","quantity":1,"priceTotal":29.99,"currencyCode":"USD"}],"commerce":{"checkouts":{"value":1}}}`,
	`{"_id":"dfcc1c5c-e6bf-ed1e-0e66-be7893bd0ecb","timestamp":"2026-10-26T16:52:02.779Z","eventType":"commerce.purchases","identityMap":{"ECID":[{"id":"05094197448092539651697494735050001506","authenticatedState":"ambiguous","primary":true}]},"web":{"webPageDetails":{"name":"Order Confirmation","URL":"https://shop.example.com/checkout/confirmation"}},"productListItems":[{"SKU":"EL-3002","name":"True Wireless Earbuds","quantity":2,"priceTotal":259.98,"currencyCode":"USD"},{"SKU":"EL-3007","name":"USB-C Fast Charger","quantity":1,"priceTotal":29.99,"currencyCode":"USD"}],"commerce":{"order":{"purchaseID":"5296571a6927bd5f","priceTotal":289.97,"currencyCode":"USD"},"purchases":{"value":1}}}`,
	// Edge cases: epoch milliseconds, items with nulls and no fields, an
	// empty product list, a long URL.
	`{"_id":"edge-e1","timestamp":1700000000000,"eventType":"x","productListItems":[{"SKU":"A","quantity":0},{"SKU":"B","priceTotal":-0.0},{},{"SKU":null}],"web":{"webPageDetails":{"URL":"https://shop.example.com/?q=` + strings.Repeat("%20", 60) + `"}}}`,
	`{"_id":"edge-e2","timestamp":"1969-12-31T23:59:59.999999Z","productListItems":[],"commerce":{},"zz":null}`,
	`{"timestamp":null}`,
}

// binRecords decodes the records into a fresh XDM schema.
func binRecords(tb testing.TB) (s *Schema, profiles, events []Value) {
	tb.Helper()
	s = NewXDMSchema()
	for _, r := range binProfileRecords {
		v, err := s.DecodeProfile([]byte(r))
		if err != nil {
			tb.Fatalf("DecodeProfile(%.80s): %v", r, err)
		}
		profiles = append(profiles, v)
	}
	for _, r := range binEventRecords {
		v, err := s.DecodeEvent([]byte(r))
		if err != nil {
			tb.Fatalf("DecodeEvent(%.80s): %v", r, err)
		}
		events = append(events, v)
	}
	return s, profiles, events
}

// binDiff compares a and b strictly: the same kinds, number bits (so -0
// is not 0), strings and list lengths, recursively. It returns where they
// first differ, or "".
func binDiff(a, b Value) string {
	var at []int
	msg := binDiffAt(a, b, &at)
	if msg == "" {
		return ""
	}
	return binPath(at) + ": " + msg
}

func binPath(at []int) string {
	var sb strings.Builder
	sb.WriteString("$")
	for _, i := range at {
		fmt.Fprintf(&sb, "[%d]", i)
	}
	return sb.String()
}

func binDiffAt(a, b Value, at *[]int) string {
	switch {
	case a.kind != b.kind:
		return fmt.Sprintf("kind %s, want %s", a.kind, b.kind)
	case a.num != b.num:
		return fmt.Sprintf("%s (bits %#x), want %s (bits %#x)", a, a.num, b, b.num)
	case a.str != b.str:
		return fmt.Sprintf("string %.40q, want %.40q", a.str, b.str)
	case len(a.list) != len(b.list):
		return fmt.Sprintf("%s has %d list entries, want %d", a.kind, len(a.list), len(b.list))
	}
	for i := range a.list {
		*at = append(*at, i)
		if d := binDiffAt(a.list[i], b.list[i], at); d != "" {
			return d
		}
		*at = (*at)[:len(*at)-1]
	}
	return ""
}

// binTrim returns a copy of v whose objects are sized to their last
// non-null field, as decoding records makes them.
func binTrim(v Value) Value {
	if v.list == nil {
		return v
	}
	list := make([]Value, len(v.list))
	for i, e := range v.list {
		list[i] = binTrim(e)
	}
	if v.kind == KindObject {
		for len(list) > 0 && list[len(list)-1].kind == KindNull {
			list = list[:len(list)-1]
		}
	}
	v.list = list
	return v
}

// binUntight returns where v holds an object with a trailing null, or "".
func binUntight(v Value) string {
	var at []int
	var walk func(v Value) bool
	walk = func(v Value) bool {
		if v.kind == KindObject && len(v.list) > 0 && v.list[len(v.list)-1].kind == KindNull {
			return true
		}
		for i, e := range v.list {
			at = append(at, i)
			if walk(e) {
				return true
			}
			at = at[:len(at)-1]
		}
		return false
	}
	if walk(v) {
		return binPath(at)
	}
	return ""
}

// binCheckRoundTrip encodes v twice, decodes each back with a nil
// projection and checks it is the same, strictly, and that the bytes after
// it are left. Inline, both encodings are the same bytes; with a Dict, the
// first sighting of a string writes it inline and the second numbers it
// (Dict.Admit), so both forms are checked. It returns the last encoding.
func binCheckRoundTrip(t *testing.T, name string, enc *Encoder, dec *Decoder, v Value) []byte {
	t.Helper()
	first := enc.Append(nil, v)
	buf := enc.Append(nil, v)
	if enc.Dict == nil && !bytes.Equal(buf, first) {
		t.Errorf("%s: encoding twice gives different bytes", name)
	}
	for _, b := range [][]byte{first, buf} {
		data := append(append([]byte{}, b...), 0xEE, 0xEF)
		got, rest, err := dec.Decode(data, nil)
		if err != nil {
			t.Errorf("%s: Decode: %v", name, err)
			continue
		}
		if !Equal(got, binTrim(v)) { // objects come back sized to their last non-null field
			t.Errorf("%s: Decode(Append(v)) = %s\nwant %s", name, got, v)
		}
		if d := binDiff(got, binTrim(v)); d != "" {
			t.Errorf("%s: decoded structure differs: %s", name, d)
		}
		if !bytes.Equal(rest, []byte{0xEE, 0xEF}) {
			t.Errorf("%s: Decode left %x, want eeef", name, rest)
		}
		if rest, err := Skip(data); err != nil || !bytes.Equal(rest, []byte{0xEE, 0xEF}) {
			t.Errorf("%s: Skip = %x, %v; want eeef", name, rest, err)
		}
	}
	return buf
}

func TestBinaryRoundTripRecords(t *testing.T) {
	_, profiles, events := binRecords(t)
	values := append(append([]Value{}, profiles...), events...)
	for i, v := range values {
		if at := binUntight(v); at != "" {
			t.Fatalf("record %d: decode left a trailing null at %s", i, at)
		}
	}
	dict := NewDict()
	for _, mode := range []struct {
		name string
		enc  Encoder
		dec  Decoder
	}{
		{"inline", Encoder{}, Decoder{}},
		{"dict", Encoder{Dict: dict}, Decoder{Dict: dict}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for i, v := range values {
				buf := binCheckRoundTrip(t, fmt.Sprintf("record %d", i), &mode.enc, &mode.dec, v)
				got, _, err := mode.dec.Decode(buf, nil)
				if err == nil {
					if at := binUntight(got); at != "" {
						t.Errorf("record %d: decoded object with a trailing null at %s", i, at)
					}
				}
			}
		})
	}
	if dict.Len() == 0 {
		t.Error("dict mode numbered no strings")
	}
}

// TestBinaryDictStringsAreSmaller: numbering strings shrinks records that
// repeat them and decodes to the same strings.
func TestBinaryDictStringsAreSmaller(t *testing.T) {
	_, _, events := binRecords(t)
	dict := NewDict()
	enc := Encoder{Dict: dict}
	var inline, numbered int
	for _, v := range events[:6] {
		inline += len((&Encoder{}).Append(nil, v))
		numbered += len(enc.Append(nil, v))
	}
	if numbered >= inline {
		t.Errorf("events take %d bytes with a Dict, %d inline", numbered, inline)
	}
	id, ok := dict.Lookup("14835568034197558277783339150535208995")
	if !ok || dict.String(id) != "14835568034197558277783339150535208995" {
		t.Errorf("the ECID is not in the dict: %d %v", id, ok)
	}
}

func TestBinaryRoundTripScalarsAndShapes(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	obj := func(fields ...Value) Value { return Object(fields) }
	values := map[string]Value{
		"null":          Null(),
		"false":         Bool(false),
		"true":          Bool(true),
		"int 0":         Int(0),
		"int -1":        Int(-1),
		"int 63":        Int(63),
		"int 64":        Int(64),
		"int -64":       Int(-64),
		"int -65":       Int(-65),
		"int max":       Int(math.MaxInt64),
		"int min":       Int(math.MinInt64),
		"double 0":      Double(0),
		"double -0":     Double(math.Copysign(0, -1)),
		"double max":    Double(math.MaxFloat64),
		"double tiny":   Double(math.SmallestNonzeroFloat64),
		"double -inf":   Double(math.Inf(-1)),
		"double 0.1":    Double(0.1),
		"string empty":  String(""),
		"string nul":    String("a\x00b\xff"),
		"string 127":    String(long(127)),
		"string 128":    String(long(128)),
		"string 16384":  String(long(16384)),
		"time 0":        Micros(0),
		"time min":      Micros(math.MinInt64),
		"time max":      Micros(math.MaxInt64),
		"time -1":       Micros(-1),
		"array empty":   Array(nil),
		"array nulls":   Array([]Value{Null(), Int(1), Null()}),
		"array mixed":   Array([]Value{Int(1), Double(1.5), String("s"), Bool(true), Micros(5), Array(nil), obj(), Map(nil, nil)}),
		"array nested":  Array([]Value{Array([]Value{Array([]Value{obj(Int(1), Null(), obj(String("deep")))})})}),
		"object empty":  obj(),
		"object gaps":   obj(Null(), Null(), Int(3), Null(), String("five")),
		"object one":    obj(Null(), Null(), Null(), Bool(false)),
		"object arrays": obj(Array([]Value{obj(String("a")), obj(), obj(Null(), Int(2))}), Array(nil)),
		"map empty":     Map(nil, nil),
		"map":           Map([]string{"ECID", "", "Email"}, []Value{Array([]Value{obj(String("1"), String("ambiguous"), Bool(true))}), Array(nil), Null()}),
		"map of maps":   Map([]string{"ups"}, []Value{Map([]string{"s1", "s2"}, []Value{obj(String("realized"), Micros(1)), obj(String("exited"))})}),
		"map dup keys":  Map([]string{"k", "k"}, []Value{Int(1), Int(2)}),
		"map long key":  Map([]string{long(300)}, []Value{String(long(300))}),
		// Doubles that have a short decimal form, and some that do not.
		"double 54.99":     Double(54.99),
		"double 523.69":    Double(523.69),
		"double -0.5":      Double(-0.5),
		"double 1e-5":      Double(1e-5),
		"double 0.1+0.2":   Double(0.1 + 0.2),
		"double 2^53":      Double(1 << 53),
		"double -2^53-2":   Double(-(1 << 53) - 2),
		"double 1.5e15":    Double(1.5e15),
		"double 12345.678": Double(12345.678),
		"double 1e300":     Double(1e300),
		// UUIDs, which have a 16-byte form when lowercase, and strings
		// that look like them.
		"uuid":           String("8625a287-3518-dd9d-9217-1318ae7dab81"),
		"uuid upper":     String("8625A287-3518-DD9D-9217-1318AE7DAB81"),
		"uuid zero":      String("00000000-0000-0000-0000-000000000000"),
		"uuid bad hex":   String("8625a287-3518-dd9d-9217-1318ae7dab8g"),
		"uuid bad dash":  String("8625a2873-518-dd9d-9217-1318ae7dab81"),
		"uuid 35":        String("8625a287-3518-dd9d-9217-1318ae7dab8"),
		"uuid no dashes": String("8625a2873518dd9d92171318ae7dab81abcd"),
		"uuid map key":   Map([]string{"8625a287-3518-dd9d-9217-1318ae7dab81"}, []Value{String("ffffffff-ffff-ffff-ffff-ffffffffffff")}),
		"uuid non-ascii": String("8625a287-3518-dd9d-9217-1318ae7daé"),
		// Objects on both sides of the narrow (bitmap) form's width.
		"object 8":          obj(Int(0), Int(1), Int(2), Int(3), Int(4), Int(5), Int(6), Int(7)),
		"object 8 sparse":   obj(Null(), Null(), Null(), Null(), Null(), Null(), Null(), Int(7)),
		"object 9":          obj(Int(0), Int(1), Int(2), Int(3), Int(4), Int(5), Int(6), Int(7), Int(8)),
		"object 9 sparse":   obj(Null(), Null(), Null(), Null(), Null(), Null(), Null(), Null(), Int(8)),
		"object 9 trailing": obj(Int(0), Null(), Null(), Null(), Null(), Null(), Null(), Int(7), Null()),
		"object 200":        Object(append(make([]Value, 199), String("last"))),
	}
	dict := NewDict()
	for name, v := range values {
		binCheckRoundTrip(t, name+" inline", &Encoder{}, &Decoder{}, v)
		binCheckRoundTrip(t, name+" dict", &Encoder{Dict: dict}, &Decoder{Dict: dict}, v)
	}
}

// TestBinaryObjectsDecodeSizedToLastPresentField: an object with trailing
// nulls (Merge or a hand-made Object can make one) decodes sized to its
// last non-null field, as records decode; Equal tells them apart, so
// this is a visible change that queries cannot see (a field past the end
// reads as null).
func TestBinaryObjectsDecodeSizedToLastPresentField(t *testing.T) {
	for _, c := range []struct{ in, want Value }{
		{Object([]Value{Int(1), Null(), Null()}), Object([]Value{Int(1)})},
		{Object([]Value{Null(), Null()}), Object(nil)},
		{Object([]Value{Null(), Object([]Value{Null()}), Null()}), Object([]Value{Null(), Object(nil)})},
		{Array([]Value{Object([]Value{String("a"), Null()})}), Array([]Value{Object([]Value{String("a")})})},
		{Map([]string{"k"}, []Value{Object([]Value{Null(), Bool(true), Null()})}), Map([]string{"k"}, []Value{Object([]Value{Null(), Bool(true)})})},
	} {
		got, _, err := (&Decoder{}).Decode((&Encoder{}).Append(nil, c.in), nil)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if d := binDiff(got, c.want); d != "" {
			t.Errorf("%s decodes to %s: %s", c.in, got, d)
		}
	}
}

// binSized returns a container of kind k whose encoded content (after its
// tag and size) is exactly n bytes, checking its header says so.
func binSized(t *testing.T, k Kind, n int) Value {
	t.Helper()
	for l := max(0, n-8); l <= n; l++ {
		s := String(strings.Repeat("s", l))
		var v Value
		switch k {
		case KindArray:
			v = Array([]Value{s})
		case KindObject:
			v = Object([]Value{Null(), s})
		case KindMap:
			v = Map([]string{"k"}, []Value{s})
		}
		buf := (&Encoder{}).Append(nil, v)
		size, w := binary.Uvarint(buf[1:])
		if w <= 0 || int(size) != len(buf)-1-w {
			t.Fatalf("%s of %d bytes: the header says %d (varint of %d bytes), the content is %d bytes", k, n, size, w, len(buf)-1-max(w, 0))
		}
		if int(size) == n {
			if want := len(binary.AppendUvarint(nil, size)); w != want {
				t.Errorf("%s of %d bytes: the size takes %d bytes, want %d", k, n, w, want)
			}
			return v
		}
	}
	t.Fatalf("no %s of exactly %d bytes", k, n)
	return Value{}
}

// TestBinaryContainerSizeBoundaries: the size of an array, object or map
// takes one byte up to 127 bytes of content, then closeSized moves the
// content to make room: check the sizes where the varint grows, alone and
// nested so that inner moves happen inside outer containers.
func TestBinaryContainerSizeBoundaries(t *testing.T) {
	dict := NewDict()
	for _, k := range []Kind{KindArray, KindObject, KindMap} {
		for _, n := range []int{1<<7 - 2, 1<<7 - 1, 1 << 7, 1<<7 + 1, 1<<14 - 1, 1 << 14, 1<<14 + 1, 1<<21 - 1, 1 << 21} {
			if n > 1<<20 && k != KindArray {
				continue // one kind is enough for the 3-to-4-byte size (and it is slow)
			}
			v := binSized(t, k, n)
			name := fmt.Sprintf("%s of %d bytes", k, n)
			binCheckRoundTrip(t, name, &Encoder{}, &Decoder{}, v)
			if n > 1<<20 {
				continue
			}
			binCheckRoundTrip(t, name+" in an array", &Encoder{}, &Decoder{}, Array([]Value{Int(1), v, v, String("after")}))
			binCheckRoundTrip(t, name+" in an object", &Encoder{}, &Decoder{}, Object([]Value{v, Null(), Array([]Value{v}), Int(7)}))
			binCheckRoundTrip(t, name+" in a map", &Encoder{}, &Decoder{}, Map([]string{"a", "b"}, []Value{v, Object([]Value{v})}))
			binCheckRoundTrip(t, name+" dict", &Encoder{Dict: dict}, &Decoder{Dict: dict}, Object([]Value{v, Null(), Array([]Value{v})}))
		}
	}
	// One level per size class, each moving its content when closed.
	deep := String(strings.Repeat("d", 1<<21))
	for range 4 {
		deep = Object([]Value{Array([]Value{Map([]string{"k"}, []Value{deep})}), String(strings.Repeat("p", 100))})
	}
	binCheckRoundTrip(t, "deeply nested", &Encoder{}, &Decoder{}, deep)
}

// TestBinaryDecoderKeepsEarlierValues: without Reset, values decoded
// earlier stay valid while the decoder fills and replaces its slab.
func TestBinaryDecoderKeepsEarlierValues(t *testing.T) {
	_, profiles, events := binRecords(t)
	values := append(append([]Value{}, profiles...), events...)
	var enc Encoder
	var dec Decoder
	var got []Value
	var want []Value
	for range 50 {
		for _, v := range values {
			d, _, err := dec.Decode(enc.Append(nil, v), nil)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
			want = append(want, v)
		}
	}
	for i := range got {
		if d := binDiff(got[i], want[i]); d != "" {
			t.Fatalf("value %d changed after later decodes: %s", i, d)
		}
	}
	// After Reset the slab is reused: decoding still works.
	dec.Reset()
	for _, v := range values {
		d, _, err := dec.Decode(enc.Append(nil, v), nil)
		if err != nil || binDiff(d, v) != "" {
			t.Fatalf("after Reset: %v %s", err, binDiff(d, v))
		}
	}
}

// TestBinaryDecodeStringsAliasData documents that inline strings point
// into the data given to Decode: it must not change while they are used.
func TestBinaryDecodeStringsAliasData(t *testing.T) {
	data := (&Encoder{}).Append(nil, String("abc"))
	v, _, err := (&Decoder{}).Decode(data, nil)
	if err != nil || v.Str() != "abc" {
		t.Fatal(v, err)
	}
	data[len(data)-1] = 'X'
	if v.Str() != "abX" {
		t.Errorf("decoded string is %q after changing the data: it is copied, the doc says it aliases", v.Str())
	}
}

// TestBinaryEveryPrefixIsCorrupt: a value cut short anywhere does not
// decode or skip, and nothing panics.
func TestBinaryEveryPrefixIsCorrupt(t *testing.T) {
	s, profiles, events := binRecords(t)
	p := s.ProfileProjection([]string{"person.name.firstName", "identityMap"})
	ep := s.EventProjection([]string{"productListItems.SKU"})
	dict := NewDict()
	for _, mode := range []struct {
		name string
		enc  Encoder
	}{{"inline", Encoder{}}, {"dict", Encoder{Dict: dict}}} {
		for i, v := range append(append([]Value{}, profiles...), events...) {
			buf := mode.enc.Append(nil, v)
			if len(buf) > 4000 {
				continue // quadratic: the long-string records are covered by others
			}
			proj := p
			if i >= len(profiles) {
				proj = ep
			}
			dec := Decoder{Dict: dict}
			for n := range len(buf) {
				dec.Reset()
				for _, pr := range []*Projection{nil, proj} {
					if _, _, err := dec.Decode(buf[:n], pr); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("%s record %d cut to %d of %d bytes: Decode err = %v, want ErrCorrupt", mode.name, i, n, len(buf), err)
					}
				}
				if _, err := Skip(buf[:n]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s record %d cut to %d of %d bytes: Skip err = %v", mode.name, i, n, len(buf), err)
				}
			}
		}
	}
}

// binSizedBytes builds a container: tag, the size of content, content.
func binSizedBytes(tag byte, content ...[]byte) []byte {
	c := bytes.Join(content, nil)
	return append(binary.AppendUvarint([]byte{tag}, uint64(len(c))), c...)
}

func binUv(x uint64) []byte { return binary.AppendUvarint(nil, x) }

// TestBinaryCorruptInputs are hand-made encodings that must fail with
// ErrCorrupt, whether decoded whole, projected or skipped.
func TestBinaryCorruptInputs(t *testing.T) {
	str := func(s string) []byte { return append(append([]byte{tagString}, binUv(uint64(len(s)))...), s...) }
	cases := map[string][]byte{
		"empty":                   {},
		"unknown tag":             {200},
		"tag 255":                 {255},
		"same outside a column":   {tagSame},
		"int without varint":      {tagInt},
		"int varint overflow":     append([]byte{tagInt}, bytes.Repeat([]byte{0xff}, 10)...),
		"int varint unterminated": {tagInt, 0x80, 0x80},
		"double short":            {tagDouble, 1, 2, 3, 4, 5, 6, 7},
		"string short":            append([]byte{tagString, 5}, "abcd"...),
		"string huge length":      append([]byte{tagString}, binUv(math.MaxUint64)...),
		"dict string no dict":     {tagDictString, 0},
		"time short":              {tagTime, 0xff},
		"array size past end":     {tagArray, 5, 1, tagNull},
		"array size huge":         append([]byte{tagArray}, binUv(math.MaxUint64)...),
		"array count too big":     binSizedBytes(tagArray, binUv(3), []byte{tagNull, tagNull}),
		"array size too small":    {tagArray, 2, 2, tagNull, tagNull},
		"array content too short": binSizedBytes(tagArray, binUv(1), []byte{tagNull, tagNull}),
		"array element bad":       binSizedBytes(tagArray, binUv(1), []byte{200}),
		"array of same":           binSizedBytes(tagArray, binUv(1), []byte{tagSame}),
		"object no header":        binSizedBytes(tagObject),
		"object index past width": binSizedBytes(tagObject, binUv(2), binUv(1), binUv(2), []byte{tagTrue}),
		"object index repeated":   binSizedBytes(tagObject, binUv(3), binUv(2), binUv(1), []byte{tagTrue}, binUv(1), []byte{tagTrue}),
		"object index decreasing": binSizedBytes(tagObject, binUv(3), binUv(2), binUv(2), []byte{tagTrue}, binUv(1), []byte{tagTrue}),
		"object present too many": binSizedBytes(tagObject, binUv(3), binUv(9), binUv(0), []byte{tagTrue}),
		"object missing value":    binSizedBytes(tagObject, binUv(3), binUv(1), binUv(0)),
		"object width huge":       binSizedBytes(tagObject, binUv(math.MaxInt32+1), binUv(0)),
		"object trailing bytes":   binSizedBytes(tagObject, binUv(1), binUv(1), binUv(0), []byte{tagTrue, tagTrue}),
		"object bad field":        binSizedBytes(tagObject, binUv(1), binUv(1), binUv(0), []byte{tagSame}),
		"map key not a string":    binSizedBytes(tagMap, binUv(1), []byte{tagInt, 2, tagTrue}),
		"map key null":            binSizedBytes(tagMap, binUv(1), []byte{tagNull, tagTrue}),
		"map count too big":       binSizedBytes(tagMap, binUv(2), str("k"), []byte{tagTrue}),
		"map value missing":       binSizedBytes(tagMap, binUv(1), str("k")),
		"map key cut":             binSizedBytes(tagMap, binUv(1), []byte{tagString, 9, 'a'}),
		"nested size lies":        binSizedBytes(tagArray, binUv(1), []byte{tagArray, 9, 1, tagNull}),
		"decimal no digits":       {tagDecimal},
		"decimal digits too many": {tagDecimal, 6, 2},
		"decimal digits 255":      {tagDecimal, 255, 2},
		"decimal no mantissa":     {tagDecimal, 2},
		"uuid short":              append([]byte{tagUUID}, make([]byte, 15)...),
		"uuid map key short":      binSizedBytes(tagMap, binUv(1), append([]byte{tagUUID}, make([]byte, 15)...)),
		"narrow no header":        binSizedBytes(tagNarrowObject),
		"narrow no bitmap":        binSizedBytes(tagNarrowObject, []byte{2}),
		"narrow width 9":          binSizedBytes(tagNarrowObject, []byte{9, 1, tagTrue}),
		"narrow bit past width":   binSizedBytes(tagNarrowObject, []byte{2, 4, tagTrue}),
		"narrow value missing":    binSizedBytes(tagNarrowObject, []byte{2, 3, tagTrue}),
		"narrow trailing bytes":   binSizedBytes(tagNarrowObject, []byte{2, 1, tagTrue, tagTrue}),
		"narrow bad field":        binSizedBytes(tagNarrowObject, []byte{1, 1, tagSame}),
	}
	someProjection := &Projection{fields: []*Projection{all, nil, all}}
	for name, data := range cases {
		for _, p := range []*Projection{nil, someProjection} {
			if v, rest, err := (&Decoder{}).Decode(data, p); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: Decode(%x, %v) = %s, %x, %v; want ErrCorrupt", name, data, p != nil, v, rest, err)
			}
		}
	}
	// Dict numbers must be in range.
	dict := NewDict()
	dict.Add("zero")
	if _, _, err := (&Decoder{Dict: dict}).Decode([]byte{tagDictString, 1}, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("dict number past the end: %v", err)
	}
	if v, _, err := (&Decoder{Dict: dict}).Decode([]byte{tagDictString, 0}, nil); err != nil || v.Str() != "zero" {
		t.Errorf("dict number 0: %s %v", v, err)
	}
	// Skip does not look inside: only what it must cross has to be sound.
	for name, data := range map[string][]byte{
		"empty": {}, "unknown tag": {200}, "int short": {tagInt}, "double short": {tagDouble, 1},
		"uuid short": {tagUUID, 1, 2}, "decimal short": {tagDecimal}, "decimal no mantissa": {tagDecimal, 2},
		"string short": {tagString, 3, 'a'}, "dict short": {tagDictString, 0x80}, "container past end": {tagMap, 3, 0},
		"container size huge": append([]byte{tagObject}, binUv(math.MaxUint64)...),
	} {
		if _, err := Skip(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Skip %s (%x): %v, want ErrCorrupt", name, data, err)
		}
	}
}

// TestBinaryObjectWidthIsBounded: the memory Decode takes is bounded by
// the data it reads, wide objects included: a width is only a claim (an
// object of 3000 fields using its last takes a few bytes), so object()
// sizes a wide object by the fields really present. The fuzzer found 7
// corrupt bytes that used to allocate 2.6 GB.
func TestBinaryObjectWidthIsBounded(t *testing.T) {
	for _, data := range [][]byte{
		binSizedBytes(tagObject, binUv(1<<20), binUv(0)), // 1M fields claimed, none present
		binSizedBytes(tagObject, binUv(1<<30), binUv(1), binUv(3), []byte{tagTrue}),
		{0x09, 0x05, 0xdd, 0x9d, 0x92, 0x17, 0x00}, // the fuzzer's
	} {
		checkAllocBound(t, data)
	}
	// A legitimate wide object keeps its fields where they were.
	list := make([]Value, 3001)
	list[3000] = Int(7)
	enc := (&Encoder{}).Append(nil, Object(list))
	v, _, err := (&Decoder{}).Decode(enc, nil)
	if err != nil || v.Len() != 3001 || v.Index(3000).Int() != 7 {
		t.Fatalf("a 3001-field object came back as %v (%v)", v, err)
	}
}

func checkAllocBound(t *testing.T, data []byte) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := (&Decoder{}).Decode(data, nil)
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; err == nil && grown > 1<<20 {
		t.Errorf("decoding %d bytes allocated %d MB", len(data), grown>>20)
	}
}

// TestBinaryProjectionSkipsUnreadFields: what a projection leaves out is
// skipped, not decoded: a corrupt unread field goes unnoticed (the size
// around it is sound), and the decoder allocates for read fields only.
func TestBinaryProjectionSkipsUnreadFields(t *testing.T) {
	bad := binSizedBytes(tagArray, binUv(1), []byte{200}) // an array holding an unknown tag
	data := binSizedBytes(tagObject, binUv(2), binUv(2), binUv(0), []byte{tagInt, 4}, binUv(1), bad)
	if _, _, err := (&Decoder{}).Decode(data, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("whole: %v, want ErrCorrupt", err)
	}
	v, rest, err := (&Decoder{}).Decode(data, &Projection{fields: []*Projection{all}})
	if err != nil || len(rest) != 0 {
		t.Fatalf("projected to field 0: %v, rest %x", err, rest)
	}
	if d := binDiff(v, Object([]Value{Int(2)})); d != "" {
		t.Errorf("projected to field 0: %s", d)
	}
}

// binColumn writes vs with a ColumnEncoder after prefix.
func binColumn(enc *Encoder, prefix []byte, vs []Value) []byte {
	c := ColumnEncoder{Enc: enc}
	c.Reset(prefix)
	for _, v := range vs {
		c.Append(v)
	}
	return c.Bytes()
}

// binColumnWant is the column encoding built independently: a value
// identical to the one before (same kinds all through) is a repeat without
// being encoded; any other is encoded in turn (by enc, which must be in
// the state the column's encoder was in: with a Dict, a twin fed the same
// values), and is a repeat too if its encoding is the run's. Each run is
// written once, then tagSame and the number of repeats.
func binColumnWant(enc *Encoder, vs []Value) []byte {
	var out, head []byte
	var prev Value
	repeats := 0
	flush := func() {
		if repeats > 0 {
			out = binary.AppendUvarint(append(out, tagSame), uint64(repeats))
			repeats = 0
		}
	}
	for i, v := range vs {
		if i > 0 && identical(v, prev) {
			repeats++
			continue
		}
		prev = v
		e := enc.Append(nil, v)
		if i > 0 && bytes.Equal(e, head) {
			repeats++
			continue
		}
		flush()
		out, head = append(out, e...), e
	}
	flush()
	return out
}

func TestBinaryColumnEncoder(t *testing.T) {
	s, profiles, events := binRecords(t)
	// A profile's events repeat their identityMap, page and currency.
	im, imType, _ := s.EventField("identityMap")
	if imType.Kind != TypeMap {
		t.Fatal("identityMap is not a map")
	}
	a, b := events[1].Index(im), events[4].Index(im)
	column := []Value{a, a, a, b, b, a, Null(), Null(), String("USD"), String("USD"), events[5], events[5], profiles[0], Int(1), Double(1), Double(1)}
	for range 300 { // a run whose count takes two bytes
		column = append(column, String("page"))
	}
	column = append(column, Int(7), Int(7)) // a run at the end, written by Bytes
	dict := NewDict()
	for _, mode := range []struct {
		name       string
		enc, model Encoder
	}{{"inline", Encoder{}, Encoder{}}, {"dict", Encoder{Dict: dict}, Encoder{Dict: NewDict()}}} {
		t.Run(mode.name, func(t *testing.T) {
			buf := binColumn(&mode.enc, []byte{0xAB}, column)
			if buf[0] != 0xAB {
				t.Fatal("the column overwrote the bytes before it")
			}
			if want := binColumnWant(&mode.model, column); !bytes.Equal(buf[1:], want) {
				t.Fatalf("column of %d bytes, want %d:\n got %x\nwant %x", len(buf)-1, len(want), buf[1:], want)
			}
			buf = append(buf, 0xCD) // what comes after is left
			dec := Decoder{Dict: dict}
			out := make([]Value, len(column))
			rest, err := dec.DecodeColumn(buf[1:], len(column), nil, out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rest, []byte{0xCD}) {
				t.Errorf("DecodeColumn left %x, want cd", rest)
			}
			for i := range column {
				if d := binDiff(out[i], column[i]); d != "" {
					t.Errorf("value %d: %s", i, d)
				}
			}
			// Skip walks the column a value or a run at a time.
			data, steps := buf[1:len(buf)-1], 0
			for len(data) > 0 {
				if data, err = Skip(data); err != nil {
					t.Fatalf("Skip step %d: %v", steps, err)
				}
				steps++
			}
			if steps >= len(column) {
				t.Errorf("Skip took %d steps over %d values with runs", steps, len(column))
			}
			// Asking for more values than the column holds, or for a
			// number that ends within a run: corrupt.
			for _, n := range []int{len(column) + 1, 100} {
				if _, err := dec.DecodeColumn(buf[1:len(buf)-1], n, nil, make([]Value, n)); !errors.Is(err, ErrCorrupt) {
					t.Errorf("DecodeColumn of %d values from a column of %d: %v", n, len(column), err)
				}
			}
		})
	}
}

// TestBinaryColumnEncoderReuse: Reset starts a new column, and Bytes may
// be called between Appends.
func TestBinaryColumnEncoderReuse(t *testing.T) {
	var enc Encoder
	c := ColumnEncoder{Enc: &enc}
	c.Reset(nil)
	c.Append(Int(1))
	c.Append(Int(1))
	first := slices.Clone(c.Bytes())
	c.Append(Int(1))
	c.Append(Int(2))
	out := make([]Value, 4)
	if _, err := (&Decoder{}).DecodeColumn(c.Bytes(), 4, nil, out); err != nil {
		t.Fatalf("Bytes then Append: %v", err)
	}
	for i, want := range []Value{Int(1), Int(1), Int(1), Int(2)} {
		if binDiff(out[i], want) != "" {
			t.Errorf("Bytes then Append: value %d = %s", i, out[i])
		}
	}
	c.Reset(nil)
	c.Append(Int(1))
	if got := c.Bytes(); !bytes.Equal(got, (&Encoder{}).Append(nil, Int(1))) {
		t.Errorf("after Reset: %x", got)
	}
	if !bytes.Equal(first, binColumnWant(&Encoder{}, []Value{Int(1), Int(1)})) {
		t.Errorf("first column %x", first)
	}
}

// TestBinaryDecodeColumnProjected: a projected column is each value
// projected, repeats included.
func TestBinaryDecodeColumnProjected(t *testing.T) {
	s, _, events := binRecords(t)
	paths := []string{"eventType", "productListItems.SKU"}
	p := s.EventProjection(paths)
	column := []Value{events[1], events[1], events[4], events[5], events[5], events[5], events[0]}
	buf := binColumn(&Encoder{}, nil, column)
	out := make([]Value, len(column))
	var dec Decoder
	if _, err := dec.DecodeColumn(buf, len(column), p, out); err != nil {
		t.Fatal(err)
	}
	for i, v := range column {
		want := prjReference(s.Event(), v, paths)
		if d := binDiff(out[i], want); d != "" {
			t.Errorf("value %d: %s", i, d)
		}
	}
}

// TestBinaryDecodeColumnCorrupt: runs must repeat something, count at
// least one and stay within the column.
func TestBinaryDecodeColumnCorrupt(t *testing.T) {
	for name, c := range map[string]struct {
		data []byte
		n    int
	}{
		"run of 0":            {[]byte{tagTrue, tagSame, 0}, 2},
		"run past the column": {[]byte{tagTrue, tagSame, 3}, 3},
		"run count cut":       {[]byte{tagTrue, tagSame}, 2},
		"run count overflow":  {append([]byte{tagTrue, tagSame}, bytes.Repeat([]byte{0xff}, 10)...), 2},
		"value cut":           {[]byte{tagInt}, 1},
		"too few values":      {[]byte{tagTrue}, 2},
	} {
		if _, err := (&Decoder{}).DecodeColumn(c.data, c.n, nil, make([]Value, c.n)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	// A column that starts with a run (ColumnEncoder never writes one)
	// repeats null.
	out := make([]Value, 2)
	rest, err := (&Decoder{}).DecodeColumn([]byte{tagSame, 2, 7}, 2, nil, out)
	if err != nil || !out[0].IsNull() || !out[1].IsNull() || !bytes.Equal(rest, []byte{7}) {
		t.Errorf("leading run: %v %v %x %v", out[0], out[1], rest, err)
	}
}

// TestBinaryDoublesRoundTripBitForBit: every double decodes to the same
// bits, whether the encoder finds a short decimal form for it or not:
// prices in cents and mills, powers of ten, integers near 2^53, and
// random bit patterns (NaNs and infinities included).
func TestBinaryDoublesRoundTripBitForBit(t *testing.T) {
	var fs []float64
	for k := -200000; k <= 200000; k += 7 {
		fs = append(fs, float64(k)/100, float64(k)/1000, float64(k)/100000, float64(k)*1e9)
	}
	for e := -320; e <= 308; e++ {
		fs = append(fs, math.Pow(10, float64(e)), -math.Pow(10, float64(e)), 3*math.Pow(10, float64(e)))
	}
	for d := -5.0; d <= 5; d++ {
		fs = append(fs, 1<<53+d, -(1<<53)+d, 1<<63+d*1024)
	}
	x := uint64(0x9E3779B97F4A7C15)
	for range 100000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		fs = append(fs, math.Float64frombits(x))
	}
	var enc Encoder
	var dec Decoder
	short := 0
	var buf []byte
	for _, f := range fs {
		buf = enc.Append(buf[:0], Double(f))
		if len(buf) < 9 {
			short++
		}
		v, rest, err := dec.Decode(buf, nil)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%v: %v, %d bytes left", f, err, len(rest))
		}
		if v.Kind() != KindDouble || math.Float64bits(v.Float()) != math.Float64bits(f) {
			t.Fatalf("%v (bits %#x) decodes to %s (bits %#x)", f, math.Float64bits(f), v, v.num)
		}
		dec.Reset()
	}
	if short == 0 {
		t.Error("no double took the short decimal form")
	}
}

// TestBinaryCompactForms pins the forms the format documents: prices in a
// few bytes, lowercase UUIDs in 17, narrow objects with a bitmap.
func TestBinaryCompactForms(t *testing.T) {
	var enc Encoder
	for _, c := range []struct {
		v   Value
		max int
	}{
		{Double(54.99), 4},
		{Double(0.5), 3},
		{Double(1), 3},
		{String("8625a287-3518-dd9d-9217-1318ae7dab81"), 17},
		{Object([]Value{Int(1), Null(), Null(), Null(), Null(), Null(), Null(), Int(2)}), 8},
	} {
		if n := len(enc.Append(nil, c.v)); n > c.max {
			t.Errorf("%s takes %d bytes, want at most %d", c.v, n, c.max)
		}
	}
}

// binApply projects a decoded value with p, structurally: what Decode
// with p gives, up to objects' trailing nulls. Arrays pass p to their
// elements, maps are kept whole.
func binApply(v Value, p *Projection) Value {
	switch {
	case p == nil:
		return v
	case v.kind == KindArray:
		out := make([]Value, len(v.list))
		for i, e := range v.list {
			out[i] = binApply(e, p)
		}
		return Array(out)
	case v.kind != KindObject:
		return v
	}
	out := make([]Value, len(v.list))
	for i, f := range v.list {
		if sub, ok := p.Field(i); ok {
			out[i] = binApply(f, sub)
		}
	}
	return Object(out)
}

// binFuzzDict is the Dict the fuzz decoder resolves numbers with: more
// than 128 strings, so numbers take one or two bytes.
func binFuzzDict() *Dict {
	d := NewDict()
	for i := range 300 {
		d.Add("d" + fmt.Sprint(i))
	}
	return d
}

// binFuzzProjections are projections of every shape: by hand, and from
// the records' schema.
func binFuzzProjections(tb testing.TB) []*Projection {
	s, _, _ := binRecords(tb)
	return []*Projection{
		{},
		{fields: []*Projection{all}},
		{fields: []*Projection{nil, all, {fields: []*Projection{nil, all}}}},
		{fields: []*Projection{{fields: []*Projection{{}}}, nil, nil, nil, nil, nil, nil, nil, nil, all}},
		s.ProfileProjection([]string{"person.name.firstName", "identityMap.ECID", "orders.items.sku"}),
		s.EventProjection([]string{"productListItems.SKU", "eventType"}),
	}
}

// binFuzzSeeds are encodings of the records (inline and numbered), a
// column, and the hand-made corrupt cases' shapes.
func binFuzzSeeds(tb testing.TB) [][]byte {
	_, profiles, events := binRecords(tb)
	var seeds [][]byte
	dict := binFuzzDict()
	for _, v := range append(append([]Value{}, profiles...), events...) {
		if b := (&Encoder{}).Append(nil, v); len(b) < 4000 {
			seeds = append(seeds, b)
		}
		if b := (&Encoder{Dict: dict}).Append(nil, v); len(b) < 4000 {
			seeds = append(seeds, b)
		}
	}
	// A column: its first byte is the count FuzzBinaryDecode reads.
	seeds = append(seeds, binColumn(&Encoder{}, []byte{6}, []Value{events[1], events[1], String("USD"), String("USD"), String("USD"), Null()}))
	seeds = append(seeds,
		binSizedBytes(tagObject, binUv(3), binUv(2), binUv(0), []byte{tagNull}, binUv(2), []byte{tagTrue}),
		binSizedBytes(tagNarrowObject, []byte{3, 5, tagNull, tagTrue}),
		binSizedBytes(tagMap, binUv(2), []byte{tagDictString, 0x81, 0x01, tagDecimal, 2, 0x7f}, []byte{tagString, 0, tagUUID}, make([]byte, 16)),
	)
	for _, s := range []*Schema{NewXDMSchema(), NewSchema()} {
		b, _ := s.MarshalBinary()
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzBinaryDecode feeds arbitrary bytes to everything that reads the
// binary form: Decode (whole and projected), DecodeColumn, Skip and
// Schema.UnmarshalBinary. None may panic or hang; errors are fine. When
// Decode succeeds:
//
//   - Skip ends the value where Decode does;
//   - every projection decodes it too (it reads less), to the whole value
//     projected;
//   - encoding it and decoding again gives it back, except that objects
//     come back sized to their last non-null field: arbitrary bytes can
//     hold a field that is present but null, which the encoder writes as
//     absent. So the invariant is Decode(Append(v)) == trim(v), strictly
//     (same kinds, number bits, strings and lengths), and Append of that
//     is a fixed point. Comparisons are structural, not Equal, because
//     NaN is not Equal to itself.
func FuzzBinaryDecode(f *testing.F) {
	for _, s := range binFuzzSeeds(f) {
		f.Add(s)
	}
	projections := binFuzzProjections(f)
	dict := binFuzzDict()
	// Re-encoding numbers strings in a Dict of its own, shared by the runs
	// (a Dict's Admit filter costs 8 MB).
	reDict := NewDict()
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := Decoder{Dict: dict}
		v, rest, err := dec.Decode(data, nil)
		srest, serr := Skip(data)
		if err == nil {
			if serr != nil || len(srest) != len(rest) {
				t.Fatalf("Decode leaves %d bytes, Skip %d (%v)", len(rest), len(srest), serr)
			}
			consumed := data[:len(data)-len(rest)]
			trimmed := binTrim(v)
			for _, enc := range []Encoder{{}, {Dict: reDict}} {
				b := enc.Append(nil, v)
				d2 := Decoder{Dict: enc.Dict}
				w, wrest, err := d2.Decode(b, nil)
				if err != nil || len(wrest) != 0 {
					t.Fatalf("re-encoded %s does not decode: %v", v, err)
				}
				if d := binDiff(w, trimmed); d != "" {
					t.Fatalf("re-encoded value decodes differently: %s\n got %s\nwant %s", d, w, trimmed)
				}
				if enc.Dict == nil && !bytes.Equal(enc.Append(nil, w), enc.Append(nil, trimmed)) {
					t.Fatalf("encoding is not a fixed point")
				}
			}
			for i, p := range projections {
				pv, prest, err := dec.Decode(consumed, p)
				if err != nil || len(prest) != 0 {
					t.Fatalf("projection %d: the whole value decodes but the projected one does not: %v, %d left", i, err, len(prest))
				}
				if d := binDiff(binTrim(pv), binTrim(binApply(v, p))); d != "" {
					t.Fatalf("projection %d: %s\n got %s\nwant %s", i, d, pv, binApply(v, p))
				}
			}
		} else {
			for _, p := range projections {
				dec.Decode(data, p) // must not panic
			}
		}
		dec.Reset()
		if len(data) > 0 {
			// The first byte picks the column's length and projection.
			n := int(data[0] % 16)
			out := make([]Value, n)
			var p *Projection
			if i := int(data[0] >> 4); i < len(projections) {
				p = projections[i]
			}
			if _, err := dec.DecodeColumn(data[1:], n, p, out); err == nil {
				col := binColumn(&Encoder{}, nil, out)
				again := make([]Value, n)
				r2, err := (&Decoder{}).DecodeColumn(col, n, nil, again)
				if err != nil || len(r2) != 0 {
					t.Fatalf("re-encoded column does not decode: %v", err)
				}
				for i := range out {
					if d := binDiff(again[i], binTrim(out[i])); d != "" {
						t.Fatalf("column value %d: %s", i, d)
					}
				}
			}
		}
		var s Schema
		if err := s.UnmarshalBinary(data); err == nil {
			b, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var u Schema
			if err := u.UnmarshalBinary(b); err != nil {
				t.Fatalf("a schema that unmarshalled marshals to bytes that do not: %v", err)
			}
			if b2, _ := u.MarshalBinary(); !bytes.Equal(b, b2) || !slices.Equal(s.Paths(), u.Paths()) {
				t.Fatal("schema marshalling is not a fixed point")
			}
		}
	})
}

// FuzzBinaryRoundTrip: a JSON record decoded with a fresh XDM schema
// encodes and decodes (inline and with a Dict) to a strictly equal value,
// decodes projected to what prjReference makes of it, and the schema
// round-trips through MarshalBinary.
func FuzzBinaryRoundTrip(f *testing.F) {
	for _, r := range append(append([]string{}, binProfileRecords...), binEventRecords...) {
		if len(r) < 4000 {
			f.Add([]byte(r))
		}
	}
	f.Add([]byte(`{"a":[[[{"b":[{"c":-0.0}]}]]],"identityMap":{"x":[{"id":"8625a287-3518-dd9d-9217-1318ae7dab81"}]}}`))
	pathSets := [][]string{{"person.name.firstName", "identityMap.ECID"}, {"a.b.c"}, {"productListItems.SKU", "_id"}, {"homeAddress"}}
	dict := NewDict() // shared by the runs: a Dict's Admit filter costs 8 MB
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewXDMSchema()
		v, err := s.DecodeProfile(data)
		if err != nil {
			return
		}
		if at := binUntight(v); at != "" {
			t.Fatalf("DecodeProfile made an object with a trailing null at %s", at)
		}
		for _, enc := range []Encoder{{}, {Dict: dict}, {Dict: dict}} {
			dec := Decoder{Dict: enc.Dict}
			b := enc.Append(nil, v)
			got, rest, err := dec.Decode(b, nil)
			if err != nil || len(rest) != 0 {
				t.Fatalf("Decode: %v, %d left", err, len(rest))
			}
			if d := binDiff(got, v); d != "" {
				t.Fatalf("round trip: %s", d)
			}
			if !binHasNaN(v) && !Equal(got, v) {
				t.Fatalf("round trip is not Equal: %s vs %s", got, v)
			}
			for _, paths := range pathSets {
				pv, _, err := dec.Decode(b, s.ProfileProjection(paths))
				if err != nil {
					t.Fatal(err)
				}
				if d := binDiff(pv, prjReference(s.Profile(), v, paths)); d != "" {
					t.Fatalf("projected to %q: %s", paths, d)
				}
			}
		}
		sb, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var u Schema
		if err := u.UnmarshalBinary(sb); err != nil {
			t.Fatalf("the learnt schema does not unmarshal: %v", err)
		}
		if !slices.Equal(u.Paths(), s.Paths()) {
			t.Fatal("schema round trip changes Paths")
		}
	})
}

// binHasNaN reports whether v holds a NaN double (JSON cannot, but keep
// the check honest).
func binHasNaN(v Value) bool {
	if v.kind == KindDouble && math.IsNaN(v.Float()) {
		return true
	}
	for _, e := range v.list {
		if binHasNaN(e) {
			return true
		}
	}
	return false
}

// BenchmarkBinary encodes and decodes a realistic profile and event
// (binRecords' first profile and a two-item checkout), whole and
// projected to two fields. Run with -cpu 1.
func BenchmarkBinary(b *testing.B) {
	s, profiles, events := binRecords(b)
	cases := []struct {
		name  string
		v     Value
		paths []string
		proj  func([]string) *Projection
	}{
		{"Profile", profiles[0], []string{"homeAddress.countryCode", "person.name.lastName"}, s.ProfileProjection},
		{"Event", events[4], []string{"eventType", "timestamp"}, s.EventProjection},
	}
	for _, c := range cases {
		for _, mode := range []struct {
			name string
			dict *Dict
		}{{"Inline", nil}, {"Dict", NewDict()}} {
			enc := Encoder{Dict: mode.dict}
			enc.Append(nil, c.v) // with a Dict, strings are numbered from their second sighting
			data := enc.Append(nil, c.v)
			b.Run("Encode/"+c.name+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				var buf []byte
				for b.Loop() {
					buf = enc.Append(buf[:0], c.v)
				}
				b.ReportMetric(float64(len(buf)), "bytes/value")
			})
			for _, d := range []struct {
				name string
				p    *Projection
			}{{"Decode", nil}, {"DecodeProjected", c.proj(c.paths)}} {
				b.Run(d.name+"/"+c.name+"/"+mode.name, func(b *testing.B) {
					b.ReportAllocs()
					dec := Decoder{Dict: mode.dict}
					for b.Loop() {
						dec.Reset()
						if _, _, err := dec.Decode(data, d.p); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
