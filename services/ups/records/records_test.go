package records

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// collect reads with read and returns the records and row errors.
func collect(t *testing.T, read func(fn func(Record) error) ([]RowError, error)) ([]Record, []RowError, error) {
	t.Helper()
	var recs []Record
	bad, err := read(func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, bad, err
}

func lines(t *testing.T, input string) ([]Record, []RowError) {
	t.Helper()
	recs, bad, err := collect(t, func(fn func(Record) error) ([]RowError, error) {
		return ReadJSONLines(strings.NewReader(input), fn)
	})
	if err != nil {
		t.Fatalf("ReadJSONLines: %v", err)
	}
	return recs, bad
}

// stdlibObject decodes s as encoding/json does with UseNumber.
func stdlibObject(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("stdlib decoding %q: %v", s, err)
	}
	return m
}

func rows(recs []Record) []int {
	var r []int
	for _, rec := range recs {
		r = append(r, rec.Row)
	}
	return r
}

func TestReadJSONLines(t *testing.T) {
	input := "" +
		`{"_id":"a","n":1,"f":-2.5e3,"ok":true,"no":false,"nil":null,"s":"x"}` + "\n" +
		"\n" + // blank
		"   \t \r\n" + // blank with CRLF
		`{"nested":{"a":[1,{"b":[]},{}],"c":{}}}` + "\r\n" + // CRLF
		`  {"name":"Schäfer","emoji":"😀","esc":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t"}  ` + "\n" +
		`{"big":123456789012345678901234567890,"exp":1E+2,"neg0":-0,"dup":1,"dup":2}` // no final newline
	recs, bad := lines(t, input)
	if len(bad) != 0 {
		t.Fatalf("row errors: %v", bad)
	}
	if got, want := rows(recs), []int{1, 4, 5, 6}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	want := []map[string]any{
		{"_id": "a", "n": json.Number("1"), "f": json.Number("-2.5e3"), "ok": true, "no": false, "nil": nil, "s": "x"},
		{"nested": map[string]any{"a": []any{json.Number("1"), map[string]any{"b": []any{}}, map[string]any{}}, "c": map[string]any{}}},
		{"name": "Schäfer", "emoji": "😀", "esc": "café 😀 \"q\" \\ / \b\f\n\r\t"},
		{"big": json.Number("123456789012345678901234567890"), "exp": json.Number("1E+2"), "neg0": json.Number("-0"), "dup": json.Number("2")},
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Data, want[i]) {
			t.Errorf("row %d = %#v, want %#v", r.Row, r.Data, want[i])
		}
	}
	// The same as encoding/json, line by line.
	for i, l := range strings.Split(input, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		for _, r := range recs {
			if r.Row == i+1 && !reflect.DeepEqual(r.Data, stdlibObject(t, l)) {
				t.Errorf("row %d differs from encoding/json", r.Row)
			}
		}
	}
}

func TestReadJSONLinesBadRows(t *testing.T) {
	input := strings.Join([]string{
		`{"a":1}`,
		`{"a":}`,           // 2: bad JSON
		`[1,2]`,            // 3: not an object
		`"x"`,              // 4
		`42`,               // 5
		`null`,             // 6
		`{"a":1} {"b":2}`,  // 7: two values
		`{"a":1`,           // 8: cut short
		`{"a":"\x"}`,       // 9: bad escape
		"{\"a\":\"\x01\"}", // 10: control character
		`{"b":2}`,          // 11
	}, "\n")
	recs, bad := lines(t, input)
	if got, want := rows(recs), []int{1, 11}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	type rc struct {
		row  int
		code string
	}
	var got []rc
	for _, e := range bad {
		got = append(got, rc{e.Row, e.Code})
		if e.Message == "" {
			t.Errorf("row %d: no message", e.Row)
		}
	}
	want := []rc{
		{2, CodeInvalidJSON}, {3, CodeNotObject}, {4, CodeNotObject}, {5, CodeNotObject}, {6, CodeNotObject},
		{7, CodeInvalidJSON}, {8, CodeInvalidJSON}, {9, CodeInvalidJSON}, {10, CodeInvalidJSON},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("row errors = %v, want %v", got, want)
	}
	if m := bad[0].Message; !strings.Contains(m, "byte 6") || !strings.Contains(m, "invalid character '}'") {
		t.Errorf("message %q does not name the position and the character", m)
	}
	if m := bad[1].Message; !strings.Contains(m, "an array") {
		t.Errorf("message %q does not say what the line is", m)
	}
}

func TestReadJSONLinesBOM(t *testing.T) {
	recs, bad := lines(t, "\xef\xbb\xbf{\"a\":1}\n\xef\xbb\xbf{\"a\":2}\n")
	if len(recs) != 1 || recs[0].Row != 1 || len(bad) != 1 || bad[0].Row != 2 {
		t.Fatalf("records %v, row errors %v: want the BOM skipped on line 1 only", recs, bad)
	}
}

func TestReadJSONLinesEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "\r\n", "  "} {
		recs, bad := lines(t, in)
		if len(recs) != 0 || len(bad) != 0 {
			t.Errorf("%q: records %v, row errors %v", in, recs, bad)
		}
	}
}

func TestReadJSONLinesTooLong(t *testing.T) {
	const max = 100
	obj := func(n int) string { // an object of exactly n bytes
		return `{"a":"` + strings.Repeat("x", n-8) + `"}`
	}
	for _, size := range []int{max, max + 1, 3 * readBufferSize} {
		t.Run("", func(t *testing.T) {
			input := `{"first":1}` + "\n" + obj(size) + "\r\n" + `{"last":1}` + "\n"
			var got []int
			bad, err := readJSONLines(strings.NewReader(input), max+1, func(r Record) error { // +1: the \r
				got = append(got, r.Row)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if size <= max {
				if !reflect.DeepEqual(got, []int{1, 2, 3}) || len(bad) != 0 {
					t.Fatalf("rows %v, errors %v: want all three", got, bad)
				}
				return
			}
			if !reflect.DeepEqual(got, []int{1, 3}) || len(bad) != 1 || bad[0].Row != 2 || bad[0].Code != CodeTooLong {
				t.Fatalf("rows %v, errors %v: want line 2 too long", got, bad)
			}
		})
	}
	// Lines longer than the read buffer, which are put together.
	for _, size := range []int{2*readBufferSize + 10, 2*readBufferSize + 11} {
		input := obj(size) + "\n" + obj(size) // the last without "\n"
		var n int
		bad, err := readJSONLines(strings.NewReader(input), 2*readBufferSize+10, func(r Record) error {
			if len(r.Data["a"].(string)) != size-8 {
				t.Errorf("row %d: a string of %d bytes", r.Row, len(r.Data["a"].(string)))
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if size == 2*readBufferSize+10 && (n != 2 || len(bad) != 0) || size > 2*readBufferSize+10 && (n != 0 || len(bad) != 2) {
			t.Errorf("size %d: %d records, errors %v", size, n, bad)
		}
	}
}

func TestReadJSONLinesMaxLineBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 16 MiB line")
	}
	long := `{"a":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	recs, bad := lines(t, `{"a":1}`+"\n"+long+"\n"+`{"b":2}`)
	if got := rows(recs); !reflect.DeepEqual(got, []int{1, 3}) || len(bad) != 1 || bad[0].Code != CodeTooLong || bad[0].Row != 2 {
		t.Fatalf("rows %v, errors %v", got, bad)
	}
}

func TestReadJSONLinesCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := ReadJSONLines(strings.NewReader("{}\n{}\n{}\n"), func(r Record) error {
		n++
		if r.Row == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("err %v after %d records, want the callback's error after 2", err, n)
	}
}

func TestReadJSONLinesReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("{}\n{}\n"), iotest.ErrReader(io.ErrClosedPipe))
	recs, _, err := collect(t, func(fn func(Record) error) ([]RowError, error) { return ReadJSONLines(r, fn) })
	if !errors.Is(err, io.ErrClosedPipe) || len(recs) != 2 {
		t.Fatalf("err %v, %d records", err, len(recs))
	}
}

// A reader that hands out one byte at a time must read the same.
func TestReadJSONLinesOneByteReader(t *testing.T) {
	input := "{\"a\":[1,2,{\"b\":\"é\"}]}\r\n\n{\"c\":null}"
	recs, _, err := collect(t, func(fn func(Record) error) ([]RowError, error) {
		return ReadJSONLines(iotest.OneByteReader(strings.NewReader(input)), fn)
	})
	if err != nil || !reflect.DeepEqual(rows(recs), []int{1, 3}) {
		t.Fatalf("err %v, rows %v", err, rows(recs))
	}
}

func arrays(t *testing.T, input string) ([]Record, []RowError, error) {
	t.Helper()
	return collect(t, func(fn func(Record) error) ([]RowError, error) {
		return ReadJSONArray(strings.NewReader(input), fn)
	})
}

func TestReadJSONArray(t *testing.T) {
	input := "\xef\xbb\xbf [\n" +
		`  {"_id":"1","productListItems":[{"SKU":"A","quantity":1,"priceTotal":9.99},{"SKU":"B","tags":[[{"x":1}],[]]}]},` + "\n" +
		`  {"_id":"2","person":{"name":{"firstName":"Zoë"}},"n":null},` + "\r\n" +
		`  ["not", "an object"],` + "\n" +
		`  {}` + "\n" +
		"]\n\n"
	recs, bad, err := arrays(t, input)
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(recs); !reflect.DeepEqual(got, []int{1, 2, 4}) {
		t.Fatalf("rows = %v", got)
	}
	if len(bad) != 1 || bad[0].Row != 3 || bad[0].Code != CodeNotObject {
		t.Fatalf("row errors = %v", bad)
	}
	want := []map[string]any{
		{"_id": "1", "productListItems": []any{
			map[string]any{"SKU": "A", "quantity": json.Number("1"), "priceTotal": json.Number("9.99")},
			map[string]any{"SKU": "B", "tags": []any{[]any{map[string]any{"x": json.Number("1")}}, []any{}}},
		}},
		{"_id": "2", "person": map[string]any{"name": map[string]any{"firstName": "Zoë"}}, "n": nil},
		{},
	}
	for i, r := range recs {
		if !reflect.DeepEqual(r.Data, want[i]) {
			t.Errorf("row %d = %#v, want %#v", r.Row, r.Data, want[i])
		}
	}
}

func TestReadJSONArraySingleObject(t *testing.T) {
	recs, bad, err := arrays(t, "\n{\n  \"a\": {\"b\": [1, 2]},\n  \"c\": \"d\"\n}\n")
	if err != nil || len(bad) != 0 || len(recs) != 1 || recs[0].Row != 1 {
		t.Fatalf("records %v, errors %v, err %v", recs, bad, err)
	}
	if want := map[string]any{"a": map[string]any{"b": []any{json.Number("1"), json.Number("2")}}, "c": "d"}; !reflect.DeepEqual(recs[0].Data, want) {
		t.Fatalf("record = %#v", recs[0].Data)
	}
}

func TestReadJSONArrayEmpty(t *testing.T) {
	for _, in := range []string{"", " \n", "[]", " [ ] \n", "\xef\xbb\xbf[]"} {
		recs, bad, err := arrays(t, in)
		if err != nil || len(recs) != 0 || len(bad) != 0 {
			t.Errorf("%q: records %v, errors %v, err %v", in, recs, bad, err)
		}
	}
}

func TestReadJSONArrayMalformed(t *testing.T) {
	for _, tc := range []struct {
		input   string
		records int    // read before the error
		want    string // in the error
	}{
		{`[{"a":1}] x`, 1, "byte 11"},
		{`[{"a":1}]` + "\n\n" + `[{"b":2}]`, 1, "byte 12"},
		{`{"a":1}{"b":2}`, 1, "byte 8"},
		{`{"a":1} ]`, 1, "byte 9"},
		{`"just a string"`, 0, "array of objects"},
		{`42`, 0, "array of objects"},
		{`null`, 0, "array of objects"},
		{`[{"a":1},{"a":}]`, 1, "byte 15"},
		{`[{"a":1} {"b":2}]`, 1, "byte 10"},
		{`[{"a":1},]`, 1, "byte 10"},
		{`[{"a":1},`, 1, "end of input"},
		{`[{"a":1}`, 1, "not closed"},
		{`[{"a":1`, 0, "end of input"},
		{`{"a":1`, 0, "end of input"},
		{`[`, 0, "not closed"},
	} {
		recs, _, err := arrays(t, tc.input)
		if err == nil {
			t.Errorf("%q: no error", tc.input)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q does not say %q", tc.input, err, tc.want)
		}
		if len(recs) != tc.records {
			t.Errorf("%q: %d records before the error, want %d", tc.input, len(recs), tc.records)
		}
	}
}

func TestReadJSONArrayCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := ReadJSONArray(strings.NewReader(`[{},{},{}]`), func(Record) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lp := write("lines.json", "{\"a\":1}\n{\"a\":2}\n")
	ap := write("array.json", "[{\"a\":1},\n{\"a\":2},\n{\"a\":3}]")
	count := func(path, format string, multi bool) (int, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		n := 0
		_, err = Read(f, st.Size(), format, multi, func(Record) error { n++; return nil })
		return n, err
	}
	if n, err := count(lp, "json", false); err != nil || n != 2 {
		t.Errorf("lines: %d, %v", n, err)
	}
	if n, err := count(ap, "JSON", true); err != nil || n != 3 {
		t.Errorf("array: %d, %v", n, err)
	}
	if _, err := count(ap, "json", false); err != nil {
		t.Errorf("array as lines: %v, want row errors only", err)
	}
	var uf ErrUnsupportedFormat
	if _, err := count(lp, "csv", false); !errors.As(err, &uf) || uf.Format != "csv" || !strings.Contains(err.Error(), `"csv"`) {
		t.Errorf("csv: %v, want ErrUnsupportedFormat naming csv", err)
	}
	if _, err := count(filepath.Join(dir, "missing.json"), "json", false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	pp := filepath.Join(dir, "rows.parquet")
	f, err := os.Create(pp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(writeParquet(t, []pqFlat{{ID: "a", N: 1}, {ID: "b", N: 2}})); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if n, err := count(pp, "parquet", false); err != nil || n != 2 {
		t.Errorf("parquet: %d, %v", n, err)
	}
	if _, err := count(lp, "parquet", false); err == nil {
		t.Errorf("JSON read as Parquet: no error")
	}
}

// The decoder must give exactly what encoding/json gives, and fail where
// it fails.
func TestDecoderMatchesStdlib(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e-7`, `true`, `false`, `null`, ` {"a" : [ 1 , 2 ] } `,
		`{"a":"\u0041\u00e9\u4e2d\ud83d\ude00"}`, `{"a":"\ud800"}`, `{"a":"\ud800\u0041"}`, `{"a":"\udc00\ud800"}`,
		`{"a":"\ud83d\ude00\ud83d"}`, `{"a":"\ud800\ud800\udc00"}`, "{\"a\":\"\xff\xfe\"}", "{\"a\":\"a\xe2\x82\"}",
		"{\"\xc3\":1}", "{\"a\":\"\xed\xa0\x80\"}", `{"a":"\u00"}`, `{"a":"\uZZZZ"}`, `{"a":"\`, `{"a":"x`,
		"{\"a\":\"\x7f\"}", "{\"a\":\"\x1f\"}", "{\"a\":\"\t\"}",
		`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `-01`, `1.0e-0`, `0e0`, `[1,]`, `{"a":1,}`, `{,}`, `[,]`,
		`tru`, `truex`, `nul`, `{"a" 1}`, `{1:2}`, `{"a":1}}`, `[[]]]`, "{\"a\":1}\x00", "\x00",
		`{"a":{"a":{"a":{}}}}`, `{"":""}`, `[null,true,false,"",0,{},[]]`,
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
		strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	}
	for _, c := range cases {
		checkDecoder(t, []byte(c))
	}
	for _, name := range []string{"profiles.jsonl", "events.jsonl"} {
		for _, l := range benchLines(t, name) {
			checkDecoder(t, l)
		}
	}
}

func checkDecoder(t *testing.T, doc []byte) {
	t.Helper()
	want, werr := decodeStdlib(doc)
	var d decoder
	got, ok := d.parse(string(doc))
	short := string(doc)
	if len(short) > 60 {
		short = short[:60] + "…"
	}
	if ok != (werr == nil) {
		t.Errorf("%q: fast path ok=%v, encoding/json error %v", short, ok, werr)
		return
	}
	if ok && !reflect.DeepEqual(got, want) {
		t.Errorf("%q: fast path %#v, encoding/json %#v", short, got, want)
	}
	got2, err := d.decode(doc)
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() || !reflect.DeepEqual(got2, want) {
		t.Errorf("%q: decode %#v, %v; encoding/json %#v, %v", short, got2, err, want, werr)
	}
}

func TestRowError(t *testing.T) {
	e := RowError{Row: 3, Code: CodeNotObject, Message: "the line is an array, not a JSON object"}
	if got := e.Error(); got != "row 3: not_object: the line is an array, not a JSON object" {
		t.Fatal(got)
	}
}

// Quotes, backslashes and brackets inside strings do not end an element,
// however the stream is cut into reads.
func TestReadJSONArrayStrings(t *testing.T) {
	long := strings.Repeat(`\\`, readBufferSize/2+3) // backslash pairs across a read boundary
	input := `[{"a":"x\"]}\"","b":"\\"},{"c":"[{\\\"}"}, {"d":"` + long + `\"` + long + `"}, "]", {"e":"}"}]`
	want := []map[string]any{
		{"a": `x"]}"`, "b": `\`},
		{"c": `[{\"}`},
		{"d": strings.Repeat(`\`, readBufferSize/2+3) + `"` + strings.Repeat(`\`, readBufferSize/2+3)},
		{"e": "}"},
	}
	for _, r := range []io.Reader{strings.NewReader(input), iotest.OneByteReader(strings.NewReader(input))} {
		var got []map[string]any
		bad, err := ReadJSONArray(r, func(r Record) error { got = append(got, r.Data); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) != 1 || bad[0].Row != 4 || bad[0].Code != CodeNotObject {
			t.Fatalf("row errors %v", bad)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("records %q", got)
		}
	}
}

func TestReadJSONArrayTooLong(t *testing.T) {
	input := `[{"a":1}, {"a":"` + strings.Repeat("x", 100) + `", "b":[{"c":"]"}]}, {"a":2}]`
	var got []int
	bad, err := readJSONArray(strings.NewReader(input), 32, func(r Record) error { got = append(got, r.Row); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []int{1, 3}) || len(bad) != 1 || bad[0].Row != 2 || bad[0].Code != CodeTooLong {
		t.Fatalf("rows %v, row errors %v", got, bad)
	}
}
