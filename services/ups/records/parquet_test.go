package records

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type pqFlat struct {
	ID string `parquet:"_id"`
	N  int64  `parquet:"n"`
}

type pqAddress struct {
	City    string  `parquet:"city"`
	Country *string `parquet:"country,optional"`
}

type pqItem struct {
	SKU      string   `parquet:"SKU"`
	Quantity int32    `parquet:"quantity"`
	Price    float64  `parquet:"priceTotal"`
	Currency *string  `parquet:"currencyCode,optional"`
	Discount *float32 `parquet:"discount,optional"`
}

type pqRecord struct {
	ID       string            `parquet:"_id"`
	Age      int32             `parquet:"age"`
	Points   int64             `parquet:"points"`
	Score    float32           `parquet:"score"`
	Ratio    float64           `parquet:"ratio"`
	Active   bool              `parquet:"active"`
	Nick     *string           `parquet:"nick,optional"`
	Bonus    *int64            `parquet:"bonus,optional"`
	Seen     time.Time         `parquet:"seen,timestamp(microsecond)"`
	SeenMs   time.Time         `parquet:"seenMillis,timestamp(millisecond)"`
	SeenNs   time.Time         `parquet:"seenNanos,timestamp(nanosecond)"`
	LastSeen *time.Time        `parquet:"lastSeen,optional,timestamp(microsecond)"`
	Birth    int32             `parquet:"birthDate,date"` // days: v0.32.0 writes a time.Time tagged date wrong
	Home     pqAddress         `parquet:"homeAddress"`
	Work     *pqAddress        `parquet:"workAddress,optional"`
	Items    []pqItem          `parquet:"productListItems,list"`
	Tags     []string          `parquet:"tags,list"`
	Maybe    []*string         `parquet:"maybe,list" parquet-element:",optional"`
	Attrs    map[string]string `parquet:"attrs"`
	Counts   map[string]int64  `parquet:"counts"`
	Codes    []int32           `parquet:"codes"` // repeated, no LIST
	Raw      []byte            `parquet:"raw"`
}

func writeParquet[T any](t testing.TB, rows []T, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readParquet(t *testing.T, data []byte) ([]Record, []RowError, error) {
	t.Helper()
	return collect(t, func(fn func(Record) error) ([]RowError, error) {
		return ReadParquet(bytes.NewReader(data), int64(len(data)), fn)
	})
}

func ptr[T any](v T) *T { return &v }

func days(t time.Time) int32 { return int32(t.Unix() / 86400) }

func TestReadParquet(t *testing.T) {
	seen := time.Date(2024, 6, 18, 13, 56, 38, 174_123_000, time.UTC)
	in := []pqRecord{
		{
			ID: "p1", Age: -7, Points: 1 << 40, Score: 0.1, Ratio: 1e21, Active: true,
			Nick: ptr("Zoë"), Bonus: ptr(int64(0)),
			Seen: seen, SeenMs: seen.Truncate(time.Millisecond), SeenNs: seen.Add(456),
			LastSeen: ptr(seen.Add(-time.Hour)),
			Birth:    days(time.Date(1989, 9, 3, 0, 0, 0, 0, time.UTC)),
			Home:     pqAddress{City: "Dortmund", Country: ptr("DE")},
			Work:     &pqAddress{City: "Köln"},
			Items: []pqItem{
				{SKU: "FW-1001", Quantity: 1, Price: 119.99, Currency: ptr("EUR"), Discount: ptr(float32(2.5))},
				{SKU: "AC-7", Quantity: 3, Price: 0.000001},
			},
			Tags:   []string{"a", "", "ü"},
			Maybe:  []*string{ptr("x"), nil, ptr("y")},
			Attrs:  map[string]string{"k": "v", "ключ": "значение"},
			Counts: map[string]int64{"views": 12},
			Codes:  []int32{3, 1, 2},
			Raw:    []byte("raw\xffbytes"),
		},
		{
			ID:     "p2",
			Seen:   time.Unix(0, 0).UTC(),
			SeenNs: time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC), // near the least int64 nanoseconds
			Birth:  days(time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)),
			Home:   pqAddress{City: "London"},
			Items:  []pqItem{},
		},
	}
	data := writeParquet(t, in)
	recs, bad, err := readParquet(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 0 || len(recs) != 2 || recs[0].Row != 1 || recs[1].Row != 2 {
		t.Fatalf("records %v, errors %v", recs, bad)
	}
	n := func(s string) json.Number { return json.Number(s) }
	want := []map[string]any{
		{
			"_id": "p1", "age": n("-7"), "points": n("1099511627776"), "score": n("0.1"), "ratio": n("1e+21"), "active": true,
			"nick": "Zoë", "bonus": n("0"),
			"seen":        "2024-06-18T13:56:38.174123Z",
			"seenMillis":  "2024-06-18T13:56:38.174Z",
			"seenNanos":   "2024-06-18T13:56:38.174123456Z",
			"lastSeen":    "2024-06-18T12:56:38.174123Z",
			"birthDate":   "1989-09-03",
			"homeAddress": map[string]any{"city": "Dortmund", "country": "DE"},
			"workAddress": map[string]any{"city": "Köln"},
			"productListItems": []any{
				map[string]any{"SKU": "FW-1001", "quantity": n("1"), "priceTotal": n("119.99"), "currencyCode": "EUR", "discount": n("2.5")},
				map[string]any{"SKU": "AC-7", "quantity": n("3"), "priceTotal": n("0.000001")},
			},
			"tags":   []any{"a", "", "ü"},
			"maybe":  []any{"x", nil, "y"},
			"attrs":  map[string]any{"k": "v", "ключ": "значение"},
			"counts": map[string]any{"views": n("12")},
			"codes":  []any{n("3"), n("1"), n("2")},
			"raw":    "raw\ufffdbytes",
		},
		{
			"_id": "p2", "age": n("0"), "points": n("0"), "score": n("0"), "ratio": n("0"), "active": false,
			"seen":             "1970-01-01T00:00:00Z",
			"seenMillis":       "0001-01-01T00:00:00Z",
			"seenNanos":        "1677-09-21T00:12:44Z",
			"birthDate":        "2000-02-29",
			"homeAddress":      map[string]any{"city": "London"},
			"productListItems": []any{},
			"tags":             []any{},
			"maybe":            []any{},
			"attrs":            map[string]any{},
			"counts":           map[string]any{},
			"raw":              "",
		},
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Data, want[i]) {
			for k, v := range want[i] {
				if !reflect.DeepEqual(r.Data[k], v) {
					t.Errorf("row %d: %s = %#v, want %#v", r.Row, k, r.Data[k], v)
				}
			}
			for k, v := range r.Data {
				if _, ok := want[i][k]; !ok {
					t.Errorf("row %d: unexpected %s = %#v", r.Row, k, v)
				}
			}
		}
	}
}

// listGroup is a group annotated LIST whatever its shape, to write the
// legacy two-level lists older writers produce.
type listGroup struct{ parquet.Group }

func (listGroup) Type() parquet.Type { return parquet.List(parquet.Int(32)).Type() }

// TestReadParquetLevels writes rows value by value, with their levels, in
// the legacy and logical types a struct does not give.
func TestReadParquetLevels(t *testing.T) {
	schema := parquet.NewSchema("root", parquet.Group{
		"big":          parquet.Decimal(4, 30, parquet.FixedLenByteArrayType(16)),
		"dec":          parquet.Decimal(2, 10, parquet.Int64Type),
		"dec32":        parquet.Decimal(3, 9, parquet.Int32Type),
		"id":           parquet.UUID(),
		"legacy":       parquet.Optional(listGroup{parquet.Group{"element": parquet.Repeated(parquet.Int(32))}}),
		"legacyStruct": parquet.Optional(listGroup{parquet.Group{"array": parquet.Repeated(parquet.Group{"x": parquet.Int(32)})}}),
		"pairs":        parquet.Optional(parquet.Map(parquet.Int(32), parquet.Optional(parquet.String()))),
		"t":            parquet.Time(parquet.Millisecond),
		"tus":          parquet.Time(parquet.Microsecond),
		"ts96":         parquet.Leaf(parquet.Int96Type),
		"u":            parquet.Uint(32),
		"u64":          parquet.Uint(64),
		"enum":         parquet.Enum(),
		"js":           parquet.JSON(),
		"bools":        parquet.Repeated(parquet.Leaf(parquet.BooleanType)),
	})
	col := func(path ...string) int {
		leaf, ok := schema.Lookup(path...)
		if !ok {
			t.Fatalf("no column %v", path)
		}
		return leaf.ColumnIndex
	}
	at := func(v parquet.Value, rep, def int, path ...string) parquet.Value {
		return v.Level(rep, def, col(path...))
	}
	null := parquet.NullValue()

	big := make([]byte, 16) // -123456789012345678901234 in two's complement
	{
		var x [16]byte
		n := []byte{0x1a, 0x24, 0x9b, 0x1f, 0x10, 0xa0, 0x6c, 0x96, 0xaf, 0xf2} // 123456789012345678901234
		copy(x[16-len(n):], n)
		borrow := 1
		for i := 15; i >= 0; i-- {
			v := int(^x[i]) + borrow
			big[i], borrow = byte(v), v>>8
		}
	}
	uuid := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	ts := time.Date(2024, 6, 18, 13, 56, 38, 500_000_000, time.UTC)
	days := ts.Unix()/86400 + julianUnixEpoch
	nanos := uint64(ts.Sub(ts.Truncate(24 * time.Hour)))
	i96 := parquet.Int96Value([3]uint32{uint32(nanos), uint32(nanos >> 32), uint32(days)})

	rowsIn := []parquet.Row{
		{
			at(parquet.FixedLenByteArrayValue(big), 0, 0, "big"),
			at(parquet.Int64Value(12345), 0, 0, "dec"),
			at(parquet.Int32Value(-5), 0, 0, "dec32"),
			at(parquet.FixedLenByteArrayValue(uuid), 0, 0, "id"),
			at(parquet.Int32Value(1), 0, 2, "legacy", "element"),
			at(parquet.Int32Value(2), 1, 2, "legacy", "element"),
			at(parquet.Int32Value(7), 0, 2, "legacyStruct", "array", "x"),
			at(parquet.Int32Value(1), 0, 2, "pairs", "key_value", "key"),
			at(parquet.Int32Value(2), 1, 2, "pairs", "key_value", "key"),
			at(parquet.ByteArrayValue([]byte("a")), 0, 3, "pairs", "key_value", "value"),
			at(null, 1, 2, "pairs", "key_value", "value"),
			at(parquet.Int32Value(3723004), 0, 0, "t"),
			at(parquet.Int64Value(3723004005), 0, 0, "tus"),
			at(i96, 0, 0, "ts96"),
			at(parquet.Int32Value(-1), 0, 0, "u"),
			at(parquet.Int64Value(-1), 0, 0, "u64"),
			at(parquet.ByteArrayValue([]byte("GOLD")), 0, 0, "enum"),
			at(parquet.ByteArrayValue([]byte(`{"a":1}`)), 0, 0, "js"),
			at(parquet.BooleanValue(true), 0, 1, "bools"),
			at(parquet.BooleanValue(false), 1, 1, "bools"),
		},
		{
			at(parquet.FixedLenByteArrayValue(make([]byte, 16)), 0, 0, "big"),
			at(parquet.Int64Value(-5), 0, 0, "dec"),
			at(parquet.Int32Value(1000), 0, 0, "dec32"),
			at(parquet.FixedLenByteArrayValue(make([]byte, 16)), 0, 0, "id"),
			at(null, 0, 0, "legacy", "element"),
			at(null, 0, 1, "legacyStruct", "array", "x"),
			at(null, 0, 1, "pairs", "key_value", "key"),
			at(null, 0, 1, "pairs", "key_value", "value"),
			at(parquet.Int32Value(0), 0, 0, "t"),
			at(parquet.Int64Value(0), 0, 0, "tus"),
			at(parquet.Int96Value([3]uint32{0, 0, julianUnixEpoch}), 0, 0, "ts96"),
			at(parquet.Int32Value(7), 0, 0, "u"),
			at(parquet.Int64Value(7), 0, 0, "u64"),
			at(parquet.ByteArrayValue(nil), 0, 0, "enum"),
			at(parquet.ByteArrayValue([]byte("null")), 0, 0, "js"),
			at(null, 0, 0, "bools"),
		},
	}
	for _, r := range rowsIn { // a row's values in column order
		slicesSortFunc(r)
	}
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema)
	if _, err := w.WriteRows(rowsIn); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, bad, err := readParquet(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 0 || len(recs) != 2 {
		t.Fatalf("records %v, errors %v", recs, bad)
	}
	n := func(s string) json.Number { return json.Number(s) }
	want := []map[string]any{
		{
			"big": n("-12345678901234567890.1234"), "dec": n("123.45"), "dec32": n("-0.005"),
			"id":           "00112233-4455-6677-8899-aabbccddeeff",
			"legacy":       []any{n("1"), n("2")},
			"legacyStruct": []any{map[string]any{"x": n("7")}},
			"pairs":        map[string]any{"1": "a", "2": nil},
			"t":            "01:02:03.004", "tus": "01:02:03.004005",
			"ts96": "2024-06-18T13:56:38.5Z",
			"u":    n("4294967295"), "u64": n("18446744073709551615"),
			"enum": "GOLD", "js": `{"a":1}`,
			"bools": []any{true, false},
		},
		{
			"big": n("0.0000"), "dec": n("-0.05"), "dec32": n("1.000"),
			"id":           "00000000-0000-0000-0000-000000000000",
			"legacyStruct": []any{},
			"pairs":        map[string]any{},
			"t":            "00:00:00", "tus": "00:00:00",
			"ts96": "1970-01-01T00:00:00Z",
			"u":    n("7"), "u64": n("7"),
			"enum": "", "js": "null",
		},
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Data, want[i]) {
			t.Errorf("row %d:\n got %#v\nwant %#v", r.Row, r.Data, want[i])
		}
	}
}

// slicesSortFunc orders a row's values by column, keeping the order of
// each column's values.
func slicesSortFunc(r parquet.Row) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].Column() < r[j-1].Column(); j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

func TestReadParquetRowGroups(t *testing.T) {
	in := make([]pqFlat, 1000)
	for i := range in {
		in[i] = pqFlat{ID: string(rune('a' + i%26)), N: int64(i)}
	}
	data := writeParquet(t, in, parquet.MaxRowsPerRowGroup(64))
	recs, bad, err := readParquet(t, data)
	if err != nil || len(bad) != 0 || len(recs) != len(in) {
		t.Fatalf("%d records, errors %v, err %v", len(recs), bad, err)
	}
	for i, r := range recs {
		if r.Row != i+1 || r.Data["n"] != json.Number(strings.TrimSpace(jsonInt(i))) {
			t.Fatalf("record %d = %+v", i, r)
		}
	}
}

func jsonInt(i int) string { b, _ := json.Marshal(i); return string(b) }

type pqFloats struct {
	ID string   `parquet:"_id"`
	F  float64  `parquet:"f"`
	G  *float32 `parquet:"g,optional"`
}

func TestReadParquetNaN(t *testing.T) {
	nan := float32(0)
	nan = nan / nan
	in := []pqFloats{{ID: "a", F: 1.5}, {ID: "b", F: 1e-7, G: &nan}, {ID: "c", F: math.Copysign(0, -1), G: ptr(float32(3))}, {ID: "d", F: posInf()}}
	recs, bad, err := readParquet(t, writeParquet(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(recs); !reflect.DeepEqual(got, []int{1, 3}) {
		t.Fatalf("rows %v", got)
	}
	if len(bad) != 2 || bad[0].Row != 2 || bad[0].Code != CodeInvalidValue || !strings.Contains(bad[0].Message, "g: NaN") || bad[1].Row != 4 {
		t.Fatalf("row errors %v", bad)
	}
	if recs[0].Data["f"] != json.Number("1.5") || recs[1].Data["g"] != json.Number("3") {
		t.Fatalf("records %v", recs)
	}
}

func posInf() float64 { x := 1e308; return x * 10 }

func TestReadParquetCallbackError(t *testing.T) {
	data := writeParquet(t, []pqFlat{{ID: "a"}, {ID: "b"}, {ID: "c"}})
	stop := errors.New("stop")
	n := 0
	_, err := ReadParquet(bytes.NewReader(data), int64(len(data)), func(Record) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

func TestReadParquetCorrupt(t *testing.T) {
	data := writeParquet(t, []pqRecord{{ID: "p1", Tags: []string{"a", "b"}, Attrs: map[string]string{"k": "v"}, Home: pqAddress{City: "x"}}})
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"magic":     []byte("PAR1"),
		"two magic": []byte("PAR1PAR1"),
		"json":      []byte("{\"a\":1}\n"),
		"truncated": data[:len(data)-9],
		"no footer": data[:len(data)/2],
	} {
		if _, _, err := readParquet(t, bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Bytes flipped, each in turn: errors or records, never a panic. All
	// of the footer (metadata, its length, the magic) and every 5th byte
	// of the rest (column chunks).
	footer := len(data) - 8 - int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	for i := range data {
		if i < footer && i%5 != 0 {
			continue
		}
		c := bytes.Clone(data)
		c[i] ^= 0xff
		readParquet(t, c)
	}
}
