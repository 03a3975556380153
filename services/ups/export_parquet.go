package ups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/segflow/segflow/pkg/pql"
)

// The Parquet writer of export jobs. The file schema is built from the pql
// types of the exported fields, so it follows the XDM structure:
//
//   - an object is an optional group of its fields,
//   - an array is an optional LIST of optional elements,
//   - a map (identityMap, segmentMembership) is an optional MAP with
//     string keys and optional values,
//   - strings are UTF8 byte arrays, numbers DOUBLE (pql does not tell
//     integers from doubles in a schema), booleans BOOLEAN, timestamps
//     INT64 TIMESTAMP(MICROS, UTC); a field only ever seen as null is an
//     always-null string.
//
// Rows are not written through parquet-go's reflection or
// Schema.Deconstruct: the plan mirrors the file schema (groups in
// parquet-go's order, by field name) with every node's definition and
// repetition levels, and the row writer walks a profile's pql Values
// along it, appending leveled parquet.Values to one buffer per column;
// every pqFlushRows rows the buffers go to the file's column writers in
// one call each. That is the whole cost of a row: no maps, no interfaces,
// no allocation once the buffers have grown.

// pqKind is what a plan node is.
type pqKind uint8

const (
	pqGroup pqKind = iota
	pqList
	pqMap
	pqString
	pqDouble
	pqBool
	pqTime
)

// pqNode is a node of the file schema with its levels.
type pqNode struct {
	kind pqKind
	// def is the definition level of a present value of the node (all
	// nodes but the root and map keys are optional).
	def int
	// rep is, for LIST and MAP nodes, the repetition level of their
	// repeated group: what an element after the first is written with.
	rep int
	// col is a leaf's column; for a MAP, its key column.
	col int
	// lo, hi are the leaf columns under the node: [lo, hi).
	lo, hi int
	// fields of a group, in parquet-go's order (by name).
	fields []pqField
	// elem is a LIST's element or a MAP's value.
	elem *pqNode
}

// pqField is a field of a group: where its value is in the pql object
// (for the root: in the values handed to writeRow).
type pqField struct {
	name  string
	index int
	node  *pqNode
}

// pqSel selects the parts of a pql type an export writes: nil or whole
// means all of it, else only kids (looked up by field name).
type pqSel struct {
	whole bool
	kids  map[string]*pqSel
}

// selectPaths turns dotted paths into a selection of the object type t,
// keyed by top-level field name. Paths through arrays select within their
// elements, as pql's projections do; a path into a map selects the whole
// map. A path the type does not know (or knows only as null so far) is
// kept: it becomes an always-null string column, so that the file schema
// is what was asked for whatever the data. A path through a scalar is an
// error (*badRequestError).
func selectPaths(t *pql.Type, paths []string) (map[string]*pqSel, error) {
	sel := map[string]*pqSel{}
	for _, path := range paths {
		parts := strings.Split(path, ".")
		cur, kids := t, sel
	walk:
		for i, name := range parts {
			s := kids[name]
			if s == nil {
				s = &pqSel{kids: map[string]*pqSel{}}
				kids[name] = s
			}
			if s.whole {
				break
			}
			if i == len(parts)-1 {
				s.whole, s.kids = true, nil
				break
			}
			var ft *pql.Type
			if cur != nil {
				_, ft, _ = cur.Lookup(name)
			}
			for ft != nil && ft.Kind == pql.TypeArray {
				ft = ft.Elem
			}
			switch {
			case ft == nil || ft.Kind == pql.TypeAny:
				cur = nil // unknown from here on
			case ft.Kind == pql.TypeObject:
				cur = ft
			case ft.Kind == pql.TypeMap:
				s.whole, s.kids = true, nil
				break walk
			default:
				prefix := strings.Join(parts[:i+1], ".")
				return nil, badRequestf("fields: %s is a %s, so it has no field %q (in %s)", prefix, ft, parts[i+1], truncate(path, 100))
			}
			kids = s.kids
		}
	}
	return sel, nil
}

// exportColumn is a top-level field of the export's rows: its name, pql
// type and what of it is written (nil: all of it).
type exportColumn struct {
	name string
	typ  *pql.Type
	sel  *pqSel
}

// pqPlan is the file schema of an export and the tree rows are written
// along.
type pqPlan struct {
	schema *parquet.Schema
	root   *pqNode
	ncols  int
}

// newParquetPlan builds the file schema for the given top-level columns.
// A column whose selection has no leaf (an empty object) is left out.
func newParquetPlan(cols []exportColumn) (*pqPlan, error) {
	root := &pqNode{kind: pqGroup}
	group := parquet.Group{}
	for i, c := range cols {
		if _, dup := group[c.name]; dup {
			return nil, fmt.Errorf("export column %q given twice", c.name)
		}
		pn, n := pqBuild(c.typ, c.sel)
		if n == nil {
			continue
		}
		group[c.name] = pn
		root.fields = append(root.fields, pqField{name: c.name, index: i, node: n})
	}
	if len(root.fields) == 0 {
		return nil, badRequestf("fields: nothing to export (the fields selected have no values in this sandbox's profiles)")
	}
	slices.SortFunc(root.fields, func(a, b pqField) int { return strings.Compare(a.name, b.name) })
	p := &pqPlan{root: root, schema: parquet.NewSchema("profile", group)}
	var paths [][]string
	p.ncols = pqLevels(root, 0, 0, 0, nil, &paths)
	// The row writer's column numbers must be parquet-go's: check once.
	if got := p.schema.Columns(); !slices.EqualFunc(got, paths, slices.Equal) {
		return nil, fmt.Errorf("export plan: columns %v, parquet-go has %v", paths, got)
	}
	return p, nil
}

// pqBuild makes the parquet node and plan node of type t (selected by
// sel; nil or whole: all of it). It returns a nil plan node when there is
// nothing to write. A nil type is a field the schema does not know.
func pqBuild(t *pql.Type, sel *pqSel) (parquet.Node, *pqNode) {
	if sel != nil && sel.whole {
		sel = nil
	}
	if t == nil || t.Kind == pql.TypeAny {
		if sel != nil && len(sel.kids) > 0 {
			return pqBuildGroup(nil, sel)
		}
		return parquet.Optional(parquet.String()), &pqNode{kind: pqString}
	}
	switch t.Kind {
	case pql.TypeBool:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType)), &pqNode{kind: pqBool}
	case pql.TypeNumber:
		return parquet.Optional(parquet.Leaf(parquet.DoubleType)), &pqNode{kind: pqDouble}
	case pql.TypeTime:
		return parquet.Optional(parquet.Timestamp(parquet.Microsecond)), &pqNode{kind: pqTime}
	case pql.TypeString:
		return parquet.Optional(parquet.String()), &pqNode{kind: pqString}
	case pql.TypeArray:
		en, e := pqBuild(t.Elem, sel)
		if e == nil {
			return nil, nil
		}
		return parquet.Optional(parquet.List(en)), &pqNode{kind: pqList, elem: e}
	case pql.TypeMap:
		vn, v := pqBuild(t.Elem, nil)
		if v == nil {
			return nil, nil
		}
		return parquet.Optional(parquet.Map(parquet.String(), vn)), &pqNode{kind: pqMap, elem: v}
	case pql.TypeObject:
		return pqBuildGroup(t, sel)
	}
	return nil, nil
}

// pqBuildGroup builds an object: the fields of t that sel selects, then
// those sel names that t does not know (always null).
func pqBuildGroup(t *pql.Type, sel *pqSel) (parquet.Node, *pqNode) {
	g := parquet.Group{}
	n := &pqNode{kind: pqGroup}
	add := func(name string, index int, ft *pql.Type, fs *pqSel) {
		fn, f := pqBuild(ft, fs)
		if f == nil {
			return
		}
		g[name] = fn
		n.fields = append(n.fields, pqField{name: name, index: index, node: f})
	}
	if t != nil {
		for i := range t.NumFields() {
			name := t.FieldName(i)
			var fs *pqSel
			if sel != nil {
				if fs = sel.kids[name]; fs == nil {
					continue
				}
			}
			add(name, i, t.FieldType(i), fs)
		}
	}
	if sel != nil {
		for _, name := range exportSortedKeys(sel.kids) {
			if _, _, known := t.Lookup(name); !known {
				add(name, -1, nil, sel.kids[name])
			}
		}
	}
	if len(n.fields) == 0 {
		return nil, nil
	}
	slices.SortFunc(n.fields, func(a, b pqField) int { return strings.Compare(a.name, b.name) })
	return parquet.Optional(g), n
}

func exportSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pqLevels numbers the leaves of n from col, in parquet-go's order, and
// sets the levels: d and r are the definition and repetition levels of
// n's parent. It returns the next column number and appends the leaves'
// paths to paths.
func pqLevels(n *pqNode, d, r, col int, path []string, paths *[][]string) int {
	n.lo = col
	if n != nil && path != nil { // the root is required
		n.def = d + 1
	}
	leaf := func(p []string) {
		*paths = append(*paths, slices.Clone(p))
	}
	switch n.kind {
	case pqGroup:
		for _, f := range n.fields {
			col = pqLevels(f.node, n.def, r, col, append(path, f.name), paths)
		}
	case pqList:
		n.rep = r + 1
		// LIST: optional group > repeated group "list" > element.
		col = pqLevels(n.elem, n.def+1, n.rep, col, append(path, "list", "element"), paths)
	case pqMap:
		n.rep = r + 1
		// MAP: optional group > repeated group "key_value" > required key,
		// optional value.
		n.col = col
		leaf(append(path, "key_value", "key"))
		col = pqLevels(n.elem, n.def+1, n.rep, col+1, append(path, "key_value", "value"), paths)
	default:
		n.col = col
		leaf(path)
		col++
	}
	n.hi = col
	return col
}

// pqMembership is one segment membership a row carries in
// segmentMembership (namespace "ups").
type pqMembership struct {
	segmentID string
	status    memberStatus
	at        int64 // lastQualificationTime, microseconds
}

// membershipType is the pql type of segmentMembership in exports: XDM's
// map of namespaces to maps of segment ids to memberships.
func membershipType() *pql.Type {
	return pql.MapOf(pql.MapOf(pql.ObjectOf(
		pql.FieldDef{Name: "status", Type: pql.StringType},
		pql.FieldDef{Name: "lastQualificationTime", Type: pql.TimeType},
	)))
}

// pqFlushRows is how many rows the row writer gathers before handing
// them to the column writers.
const pqFlushRows = 512

// pqRowWriter turns rows into leveled values, one buffer per column.
//
// Strings are not copied: a parquet.Value points at the string's bytes.
// A scan's Values are only valid during its callback, but their strings
// are not in the Values: they alias fragment and event block bytes (never
// changed in place; the store's snapshot mapping is never unmapped), the
// dictionaries' entries, or were allocated by the decoder, so they stay
// valid (and alive) for as long as the buffered rows point at them.
type pqRowWriter struct {
	plan *pqPlan
	cols [][]parquet.Value
	rows int
}

func newRowWriter(plan *pqPlan) *pqRowWriter {
	return &pqRowWriter{plan: plan, cols: make([][]parquet.Value, plan.ncols)}
}

// writeRow appends a row: vals[i] is the value of the plan's i-th column
// (exportColumn order); the column named segmentMembership, if any, takes
// members instead.
func (w *pqRowWriter) writeRow(vals []pql.Value, members []pqMembership) {
	for _, f := range w.plan.root.fields {
		if f.name == "segmentMembership" {
			w.members(f.node, members)
			continue
		}
		w.value(f.node, vals[f.index], 0, 0)
	}
	w.rows++
}

func (w *pqRowWriter) emit(col int, v parquet.Value) {
	w.cols[col] = append(w.cols[col], v)
}

// nulls writes a null (or absent) n: every leaf under it gets a null at
// repetition level r and definition level d.
func (w *pqRowWriter) nulls(n *pqNode, r, d int) {
	for c := n.lo; c < n.hi; c++ {
		w.cols[c] = append(w.cols[c], parquet.Value{}.Level(r, d, c))
	}
}

func (w *pqRowWriter) str(col int, s string, r, d int) {
	w.emit(col, parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))).Level(r, d, col))
}

// value writes v as node n, the first leaf values at repetition level r;
// d is the definition level of n's parent (what a null n is written at).
func (w *pqRowWriter) value(n *pqNode, v pql.Value, r, d int) {
	switch n.kind {
	case pqString:
		if v.Kind() != pql.KindString {
			break
		}
		w.str(n.col, v.Str(), r, n.def)
		return
	case pqDouble:
		if k := v.Kind(); k != pql.KindDouble && k != pql.KindInt {
			break
		}
		w.emit(n.col, parquet.DoubleValue(v.Float()).Level(r, n.def, n.col))
		return
	case pqBool:
		if v.Kind() != pql.KindBool {
			break
		}
		w.emit(n.col, parquet.BooleanValue(v.Bool()).Level(r, n.def, n.col))
		return
	case pqTime:
		if v.Kind() != pql.KindTime {
			break
		}
		w.emit(n.col, parquet.Int64Value(v.Micros()).Level(r, n.def, n.col))
		return
	case pqGroup:
		if v.Kind() != pql.KindObject {
			break
		}
		for _, f := range n.fields {
			w.value(f.node, v.Index(f.index), r, n.def)
		}
		return
	case pqList:
		if v.Kind() != pql.KindArray {
			break
		}
		elems := v.Elems()
		if len(elems) == 0 {
			w.nulls(n, r, n.def) // an empty list
			return
		}
		for i, e := range elems {
			if i > 0 {
				r = n.rep
			}
			w.value(n.elem, e, r, n.def+1)
		}
		return
	case pqMap:
		if v.Kind() != pql.KindMap {
			break
		}
		if v.Len() == 0 {
			w.nulls(n, r, n.def)
			return
		}
		for i := range v.Len() {
			if i > 0 {
				r = n.rep
			}
			k, val := v.Entry(i)
			w.str(n.col, k, r, n.def+1)
			w.value(n.elem, val, r, n.def+1)
		}
		return
	}
	w.nulls(n, r, d)
}

// members writes segmentMembership (a node built from membershipType):
// null when there are none, else {"ups": {segmentId: {status,
// lastQualificationTime}}}.
func (w *pqRowWriter) members(n *pqNode, ms []pqMembership) {
	if len(ms) == 0 {
		w.nulls(n, 0, 0)
		return
	}
	w.str(n.col, "ups", 0, n.def+1)
	inner := n.elem
	group := inner.elem
	// The group's fields in name order: lastQualificationTime, status.
	lqt, status := group.fields[0].node, group.fields[1].node
	for i, m := range ms {
		r := 0
		if i > 0 {
			r = inner.rep
		}
		w.str(inner.col, m.segmentID, r, inner.def+1)
		w.emit(lqt.col, parquet.Int64Value(m.at).Level(r, lqt.def, lqt.col))
		w.str(status.col, m.status.String(), r, status.def)
	}
}

// flush hands the gathered rows to the column writers.
func (w *pqRowWriter) flush(cws []*parquet.ColumnWriter) error {
	if w.rows == 0 {
		return nil
	}
	for i, vs := range w.cols {
		if _, err := cws[i].WriteRowValues(vs); err != nil {
			return err
		}
		w.cols[i] = vs[:0]
	}
	w.rows = 0
	return nil
}

// exportFile is one written file of an export batch.
type exportFile struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Size    int64  `json:"size"`
}

// pqFileWriter writes one part of an export into files of at most
// maxRows rows each: <dir>/<prefix>-<chunk>.parquet.
type pqFileWriter struct {
	plan    *pqPlan
	dir     string
	prefix  string
	maxRows int
	opts    []parquet.WriterOption

	rw    *pqRowWriter
	f     *os.File
	pw    *parquet.Writer
	name  string
	rows  int // in the current file
	files []exportFile
}

func newFileWriter(plan *pqPlan, dir, prefix string, maxRows int) *pqFileWriter {
	return &pqFileWriter{
		plan: plan, dir: dir, prefix: prefix, maxRows: max(1, maxRows),
		rw:   newRowWriter(plan),
		opts: plan.writerOptions(),
	}
}

// exportSnappy is Parquet's SNAPPY codec with s2's fast Snappy-compatible
// encoder: parquet-go's uses the "better" one, which costs an export about
// a third of its time for little gain.
type exportSnappy struct{}

func (exportSnappy) String() string                            { return "SNAPPY" }
func (exportSnappy) CompressionCodec() format.CompressionCodec { return format.Snappy }

func (exportSnappy) Encode(dst, src []byte) ([]byte, error) {
	return s2.EncodeSnappy(dst[:cap(dst)], src), nil
}

func (exportSnappy) Decode(dst, src []byte) ([]byte, error) {
	return parquet.Snappy.Decode(dst, src)
}

// writerOptions are the options of the plan's file writers: Snappy
// (fast), and no page bounds (min and max of every page, for column
// indexes: comparing every string written costs more than a reader of a
// whole export gains from them).
func (p *pqPlan) writerOptions() []parquet.WriterOption {
	opts := []parquet.WriterOption{
		p.schema,
		parquet.Compression(exportSnappy{}),
		parquet.CreatedBy("segflow ups", "", ""),
		parquet.WriteBufferSize(256 << 10),
	}
	for _, path := range p.schema.Columns() {
		opts = append(opts, parquet.SkipPageBounds(path...))
	}
	return opts
}

// write adds one row (see pqRowWriter.writeRow).
func (fw *pqFileWriter) write(vals []pql.Value, members []pqMembership) error {
	if fw.pw == nil {
		if err := fw.open(); err != nil {
			return err
		}
	}
	fw.rw.writeRow(vals, members)
	fw.rows++
	if fw.rw.rows >= pqFlushRows || fw.rows >= fw.maxRows {
		if err := fw.rw.flush(fw.pw.ColumnWriters()); err != nil {
			return fmt.Errorf("writing %s: %w", fw.name, err)
		}
	}
	if fw.rows >= fw.maxRows {
		return fw.finish()
	}
	return nil
}

func (fw *pqFileWriter) open() error {
	fw.name = fmt.Sprintf("%s-%05d.parquet", fw.prefix, len(fw.files))
	f, err := os.Create(filepath.Join(fw.dir, fw.name))
	if err != nil {
		return err
	}
	fw.f, fw.rows = f, 0
	fw.pw = parquet.NewWriter(f, fw.opts...)
	return nil
}

// finish completes the current file: footer, fsync, close.
func (fw *pqFileWriter) finish() error {
	if fw.pw == nil {
		return nil
	}
	err := fw.rw.flush(fw.pw.ColumnWriters())
	if err == nil {
		err = fw.pw.Close()
	}
	if err == nil {
		err = fw.f.Sync()
	}
	var size int64
	if err == nil {
		var st os.FileInfo
		if st, err = fw.f.Stat(); err == nil {
			size = st.Size()
		}
	}
	if cerr := fw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", fw.name, err)
	}
	fw.files = append(fw.files, exportFile{Name: fw.name, Records: int64(fw.rows), Size: size})
	fw.pw, fw.f = nil, nil
	return nil
}

// close finishes the last file and returns the files written.
func (fw *pqFileWriter) close() ([]exportFile, error) {
	err := fw.finish()
	return fw.files, err
}

// abort closes an unfinished file without completing it (the caller
// removes the directory).
func (fw *pqFileWriter) abort() {
	if fw.f != nil {
		fw.f.Close()
		fw.pw, fw.f = nil, nil
	}
}
