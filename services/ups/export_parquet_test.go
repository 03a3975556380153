package ups

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/segflow/segflow/pkg/pql"
	"github.com/segflow/segflow/services/ups/records"
)

// readParquetRows reads a Parquet file back as JSON-shaped maps (ups's
// own ingestion reader, which parquet-go's reader underlies).
func readParquetRows(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var out []map[string]any
	bad, err := records.ReadParquet(f, st.Size(), func(r records.Record) error {
		out = append(out, r.Data)
		return nil
	})
	if err != nil || len(bad) > 0 {
		t.Fatalf("reading %s: %v %v", path, err, bad)
	}
	return out
}

// parquetFileSchema opens a Parquet file with parquet-go and returns its
// schema.
func parquetFileSchema(t testing.TB, path string) *parquet.Schema {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	return pf.Schema()
}

// parquetGoRows reads a Parquet file with parquet-go's row reader and
// Schema.Reconstruct (not ups's reader).
func parquetGoRows(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	var out []map[string]any
	buf := make([]parquet.Row, 16)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				m := map[string]any{}
				if err := pf.Schema().Reconstruct(&m, r); err != nil {
					t.Fatalf("reconstructing a row of %s: %v", path, err)
				}
				out = append(out, m)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reading %s: %v", path, err)
			}
		}
		rows.Close()
	}
	return out
}

// parquetFileMetadata opens a Parquet file with parquet-go and returns
// its footer.
func parquetFileMetadata(t testing.TB, path string) *format.FileMetaData {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	return pf.Metadata()
}

// TestParquetManyRows writes enough rows, in small pages, that booleans
// pack across bytes, strings and doubles span row groups, and lists
// repeat; and reads them back.
func TestParquetManyRows(t *testing.T) {
	for _, codec := range []format.CompressionCodec{format.Uncompressed, format.Snappy} {
		t.Run(codec.String(), func(t *testing.T) { testParquetManyRows(t, codec) })
	}
}

func testParquetManyRows(t *testing.T, codec format.CompressionCodec) {
	s := pql.NewXDMSchema()
	var vals []pql.Value
	for i := range 1000 {
		vals = append(vals, mustProfile(t, s, fmt.Sprintf(`{"_id":"p%d","optIn":%v,"score":%d.5,"tags":[%s],"seen":"2025-01-%02dT00:00:00Z"}`,
			i, i%3 == 0, i, strings.Repeat(`"t",`, i%4)+`"last"`, 1+i%28)))
	}
	cols := profileColumns(s)
	plan, err := newParquetPlan(cols)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fw := newFileWriter(plan, dir, "part-00003", 400)
	fw.rw.pageBytes = 1000
	fw.rw.codec = codec
	row := make([]pql.Value, len(cols))
	for _, v := range vals {
		for j, c := range cols {
			idx, _, _ := s.Profile().Lookup(c.name)
			row[j] = v.Index(idx)
			if c.name == "segmentMembership" {
				row[j] = pql.Null()
			}
		}
		if err := fw.write(row, nil); err != nil {
			t.Fatal(err)
		}
	}
	files, err := fw.close()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[2].Records != 200 || files[0].Name != "part-00003-00000.parquet" {
		t.Fatalf("files %+v", files)
	}
	i := 0
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if st, _ := os.Stat(path); st.Size() != f.Size {
			t.Errorf("%s: %d bytes, listed %d", f.Name, st.Size(), f.Size)
		}
		md := parquetFileMetadata(t, path)
		if n := len(md.RowGroups); n < 2 || md.RowGroups[0].Columns[0].MetaData.Codec != codec {
			t.Errorf("%s: %d row groups, codec %v", f.Name, n, md.RowGroups[0].Columns[0].MetaData.Codec)
		}
		if got := len(parquetGoRows(t, path)); int64(got) != f.Records {
			t.Errorf("%s: parquet-go reads %d rows, want %d", f.Name, got, f.Records)
		}
		for _, r := range readParquetRows(t, path) {
			want := fmt.Sprintf(`{"_id":"p%d","optIn":%v,"score":%d.5,"seen":"2025-01-%02dT00:00:00Z","tags":[%s]}`,
				i, i%3 == 0, i, 1+i%28, strings.Repeat(`"t",`, i%4)+`"last"`)
			var w any
			if err := json.Unmarshal([]byte(want), &w); err != nil {
				t.Fatal(err)
			}
			if got := asJSON(t, r); !reflect.DeepEqual(dropNulls(got), w) {
				t.Fatalf("row %d: %s, want %s", i, mustJSON(got), want)
			}
			i++
		}
	}
	if i != 1000 {
		t.Errorf("%d rows read", i)
	}
}

// asJSON normalizes a value through JSON for comparisons.
func asJSON(t testing.TB, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustProfile(t testing.TB, s *pql.Schema, doc string) pql.Value {
	t.Helper()
	v, err := s.DecodeProfile([]byte(doc))
	if err != nil {
		t.Fatalf("decoding %s: %v", doc, err)
	}
	return v
}

// profileColumns are the export columns of every field of a schema's
// profiles, segmentMembership from the membership view.
func profileColumns(s *pql.Schema) []exportColumn {
	pt := s.Profile()
	var cols []exportColumn
	for i := range pt.NumFields() {
		if pt.FieldName(i) == "segmentMembership" {
			continue
		}
		cols = append(cols, exportColumn{name: pt.FieldName(i), typ: pt.FieldType(i)})
	}
	return append(cols, exportColumn{name: "segmentMembership", typ: membershipType()})
}

func TestParquetNestedSchemaAndRows(t *testing.T) {
	// One row group, and one row group a row (tiny pages).
	for _, pageBytes := range []int{pqPageBytes, 1} {
		t.Run(fmt.Sprint(pageBytes), func(t *testing.T) { testParquetNested(t, pageBytes) })
	}
}

func testParquetNested(t *testing.T, pageBytes int) {
	s := pql.NewXDMSchema()
	docs := []string{
		`{"_id":"a","identityMap":{"ECID":[{"id":"e1","primary":true,"authenticatedState":"ambiguous"}],"Email":[{"id":"a@x.com"},{"id":"b@x.com","primary":false}]},
		  "person":{"name":{"firstName":"Ann","lastName":"Lee"},"birthDate":"1985-01-02"},"loyalty":{"points":12.5,"tier":"gold"},
		  "favorites":["red","",null,"blue"],"orders":[{"sku":"S1","qty":2},{"sku":"S2"}],"optIn":true,"tags":{"k":"v"}}`,
		`{"_id":"b","person":{"name":{"firstName":"Bob"}},"favorites":[],"orders":[],"loyalty":{"points":3}}`,
		`{"_id":"c"}`,
	}
	var vals []pql.Value
	for _, d := range docs {
		vals = append(vals, mustProfile(t, s, d))
	}
	cols := profileColumns(s)
	plan, err := newParquetPlan(cols)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fw := newFileWriter(plan, dir, "part-00000", 100)
	fw.rw.pageBytes = pageBytes
	at := time.Date(2025, 3, 1, 12, 30, 0, 123456000, time.UTC).UnixMicro()
	members := [][]pqMembership{
		{{segmentID: "s1", status: statusRealized, at: at}, {segmentID: "s2", status: statusExited, at: at + 1}},
		nil,
		{{segmentID: "s1", status: statusExisting, at: at}},
	}
	row := make([]pql.Value, len(cols))
	for i, v := range vals {
		for j, c := range cols {
			if idx, _, ok := s.Profile().Lookup(c.name); ok {
				row[j] = v.Index(idx)
			} else {
				row[j] = pql.Null()
			}
			if c.name == "favorites" && i == 0 {
				// Decoding drops null elements; the writer must still
				// write one.
				row[j] = pql.Array([]pql.Value{pql.String("red"), pql.String(""), pql.Null(), pql.String("blue")})
			}
		}
		if err := fw.write(row, members[i]); err != nil {
			t.Fatal(err)
		}
	}
	files, err := fw.close()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Records != 3 || files[0].Name != "part-00000-00000.parquet" {
		t.Fatalf("files %+v", files)
	}
	path := filepath.Join(dir, files[0].Name)
	got := readParquetRows(t, path)
	want := []string{
		`{"_id":"a","identityMap":{"ECID":[{"id":"e1","primary":true,"authenticatedState":"ambiguous"}],"Email":[{"id":"a@x.com","primary":null,"authenticatedState":null},{"id":"b@x.com","primary":false,"authenticatedState":null}]},
		  "person":{"name":{"firstName":"Ann","lastName":"Lee"},"birthDate":"1985-01-02T00:00:00Z"},"loyalty":{"points":12.5,"tier":"gold"},
		  "favorites":["red","",null,"blue"],"orders":[{"sku":"S1","qty":2},{"sku":"S2"}],"optIn":true,"tags":{"k":"v"},
		  "segmentMembership":{"ups":{"s1":{"status":"realized","lastQualificationTime":"2025-03-01T12:30:00.123456Z"},"s2":{"status":"exited","lastQualificationTime":"2025-03-01T12:30:00.123457Z"}}}}`,
		`{"_id":"b","person":{"name":{"firstName":"Bob"}},"favorites":[],"orders":[],"loyalty":{"points":3}}`,
		`{"_id":"c","segmentMembership":{"ups":{"s1":{"status":"existing","lastQualificationTime":"2025-03-01T12:30:00.123456Z"}}}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		var w any
		if err := json.Unmarshal([]byte(want[i]), &w); err != nil {
			t.Fatal(err)
		}
		g := asJSON(t, got[i])
		if !reflect.DeepEqual(dropNulls(g), dropNulls(w)) {
			t.Errorf("row %d:\n got %s\nwant %s", i, mustJSON(g), mustJSON(w))
		}
	}

	// parquet-go's own reader agrees, row groups and all.
	generic := parquetGoRows(t, path)
	if len(generic) != len(want) {
		t.Fatalf("parquet-go read %d rows", len(generic))
	}
	if first := mustJSON(generic[0]["person"]); !strings.Contains(first, `"firstName":"Ann"`) {
		t.Errorf("parquet-go row 0: %v", generic[0])
	}
	if groups := len(parquetFileMetadata(t, path).RowGroups); pageBytes == 1 && groups != 3 || pageBytes > 1 && groups != 1 {
		t.Errorf("%d row groups with pages of %d bytes", groups, pageBytes)
	}

	// The file's schema follows XDM's structure.
	schema := parquetFileSchema(t, path)
	checks := map[string]string{
		"person":                "group",
		"person.name":           "group",
		"person.name.firstName": "STRING",
		"person.birthDate":      "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"loyalty.points":        "DOUBLE",
		"optIn":                 "BOOLEAN",
		"identityMap":           "MAP",
		"segmentMembership":     "MAP",
		"favorites":             "LIST",
		"orders":                "LIST",
		"segmentMembership.key_value.value.key_value.value.lastQualificationTime": "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
	}
	for path, want := range checks {
		n := lookupNode(schema, strings.Split(path, "."))
		if n == nil {
			t.Errorf("%s: not in the file schema %s", path, schema)
			continue
		}
		if got := describeNode(n); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}

// dropNulls removes null members of objects (ReadParquet leaves out null
// optional fields; the expectations write some out for clarity).
func dropNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if x != nil {
				out[k] = dropNulls(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = dropNulls(x)
		}
		return out
	}
	return v
}

func mustJSON(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func lookupNode(n parquet.Node, path []string) parquet.Node {
	for _, name := range path {
		var next parquet.Node
		for _, f := range n.Fields() {
			if f.Name() == name {
				next = f
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// describeNode names a node's logical type (or physical for plain
// leaves; "group" for plain groups).
func describeNode(n parquet.Node) string {
	if lt := n.Type().LogicalType(); lt != nil {
		return lt.String()
	}
	if !n.Leaf() {
		return "group"
	}
	return n.Type().Kind().String()
}

// benchProfiles makes n profiles with five fields and an identityMap.
func benchProfiles(b testing.TB, n int) (*pql.Schema, []pql.Value) {
	s := pql.NewXDMSchema()
	out := make([]pql.Value, n)
	for i := range out {
		out[i] = mustProfile(b, s, fmt.Sprintf(`{"identityMap":{"ECID":[{"id":"%038d","primary":true,"authenticatedState":"ambiguous"}]},
			"person":{"name":{"firstName":"First%d","lastName":"Last%d"},"birthDate":"1985-01-02"},"homeAddress":{"countryCode":"US"},"loyalty":{"points":%d}}`, i, i%1000, i%5000, i%7000))
	}
	return s, out
}

func BenchmarkParquetRows(b *testing.B) {
	const n = 200_000
	s, profiles := benchProfiles(b, n)
	cols := profileColumns(s)
	plan, err := newParquetPlan(cols)
	if err != nil {
		b.Fatal(err)
	}
	idx := make([]int, len(cols))
	for j, c := range cols {
		idx[j] = -1
		if i, _, ok := s.Profile().Lookup(c.name); ok {
			idx[j] = i
		}
	}
	members := []pqMembership{{segmentID: "seg-1", status: statusRealized, at: 1}}
	dir := b.TempDir()
	row := make([]pql.Value, len(cols))
	start := time.Now()
	for b.Loop() {
		fw := newFileWriter(plan, dir, "part-00000", 200_000)
		for _, p := range profiles {
			for j := range cols {
				row[j] = p.Index(idx[j])
			}
			if err := fw.write(row, members); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := fw.close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "rows/s")
}

// newFileWriter is a file writer with a row writer of its own.
func newFileWriter(plan *pqPlan, dir, prefix string, maxRows int) *pqFileWriter {
	return newFileWriterWith(newRowWriter(plan), dir, prefix, maxRows)
}
