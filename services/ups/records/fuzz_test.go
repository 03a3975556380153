package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Seeds are in testdata/fuzz/<FuzzName>/.

func FuzzReadJSONLines(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{\"b\":[1,{\"c\":null}]}\r\n[1]\n{bad\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, max := range []int{MaxLineBytes, 16} {
			lastRow := 0
			nrec := 0
			bad, err := readJSONLines(bytes.NewReader(data), max, func(r Record) error {
				if r.Data == nil {
					t.Fatalf("row %d: nil record", r.Row)
				}
				if r.Row <= lastRow {
					t.Fatalf("row %d after row %d", r.Row, lastRow)
				}
				lastRow = r.Row
				nrec++
				return nil
			})
			if err != nil {
				t.Fatalf("error %v reading from memory", err)
			}
			lines := strings.Split(string(data), "\n")
			if len(lines) > 0 && lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			if lastRow > len(lines) {
				t.Fatalf("row %d of %d lines", lastRow, len(lines))
			}
			for _, e := range bad {
				if e.Row < 1 || e.Row > len(lines) || e.Code == "" || e.Message == "" {
					t.Fatalf("row error %+v of %d lines", e, len(lines))
				}
				if e.Code == CodeTooLong && len(lines[e.Row-1]) <= max {
					t.Fatalf("row %d of %d bytes too long", e.Row, len(lines[e.Row-1]))
				}
			}
			// Each line a record, a row error or blank, as encoding/json
			// sees it.
			if max == MaxLineBytes {
				want := 0
				for i, l := range lines {
					if i == 0 {
						l = strings.TrimPrefix(l, "\xef\xbb\xbf")
					}
					var v any
					if json.Unmarshal([]byte(l), &v) == nil {
						if _, ok := v.(map[string]any); ok {
							want++
						}
					}
				}
				if nrec != want {
					t.Fatalf("%d records, encoding/json finds %d objects", nrec, want)
				}
			}
		}
	})
}

func FuzzReadJSONArray(f *testing.F) {
	f.Add([]byte(`[{"a":1},{"b":[{"c":2}]},3]`))
	f.Add([]byte(`{"a":{"b":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lastRow := 0
		var recs []map[string]any
		bad, err := ReadJSONArray(bytes.NewReader(data), func(r Record) error {
			if r.Data == nil {
				t.Fatalf("row %d: nil record", r.Row)
			}
			if r.Row <= lastRow {
				t.Fatalf("row %d after row %d", r.Row, lastRow)
			}
			lastRow = r.Row
			recs = append(recs, r.Data)
			return nil
		})
		// With a small bound on elements: no panic, rows in order.
		lastSmall := 0
		readJSONArray(bytes.NewReader(data), 16, func(r Record) error {
			if r.Data == nil || r.Row <= lastSmall {
				t.Fatalf("row %d after %d: %v", r.Row, lastSmall, r.Data)
			}
			lastSmall = r.Row
			return nil
		})

		doc := bytes.TrimPrefix(data, bom)
		if len(bytes.Trim(doc, " \t\r\n")) == 0 {
			if err != nil || len(recs) != 0 || len(bad) != 0 {
				t.Fatalf("blank document: %v, %v, %v", recs, bad, err)
			}
			return
		}
		if !json.Valid(doc) {
			if err == nil {
				t.Fatalf("no error for invalid JSON")
			}
			return
		}
		v, _ := decodeStdlib(doc)
		switch v := v.(type) {
		case map[string]any:
			if err != nil || len(recs) != 1 || !reflect.DeepEqual(recs[0], v) {
				t.Fatalf("object: records %v, error %v", recs, err)
			}
		case []any:
			if err != nil {
				t.Fatalf("array: error %v", err)
			}
			var want []map[string]any
			for _, e := range v {
				if m, ok := e.(map[string]any); ok {
					want = append(want, m)
				}
			}
			if len(recs)+len(bad) != len(v) || !reflect.DeepEqual(recs, want) {
				t.Fatalf("array of %d: records %v, row errors %v", len(v), recs, bad)
			}
		default:
			if err == nil {
				t.Fatalf("no error for a document that is %s", kindOf(v))
			}
		}
	})
}

// FuzzDecoder checks that the decoder gives what encoding/json gives.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte(`{"a":"\ud83d\ude00","b":[1.5e-3,-0,true,null],"c":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder(t, data)
	})
}

func FuzzReadParquet(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ReadParquet(bytes.NewReader(data), int64(len(data)), func(r Record) error {
			if r.Data == nil {
				return errors.New("nil record")
			}
			return nil
		})
		if err != nil && err.Error() == "nil record" {
			t.Fatal(err)
		}
	})
}
