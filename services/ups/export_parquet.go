package ups

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
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
// The file layout is parquet-go's: the plan builds a parquet.Schema,
// checks that its own columns and levels are parquet-go's, and takes the
// footer's schema elements from a file parquet-go writes empty. The rows
// are written by ups, not by parquet-go's writer, whose per-value work
// (parquet.Value rows, column buffers, page buffering) cost three times
// what the scan does: the plan mirrors the file schema (groups in
// parquet-go's order, by field name) with every node's definition and
// repetition levels, and the row writer walks a profile's pql Values
// along it (Dremel's shredding), appending levels and PLAIN values to
// one page buffer per column. When a page is full the row group ends:
// every column's page is encoded (v1 data page, RLE levels via
// parquet-go's rle package, optionally Snappy via s2's fast encoder,
// thrift header via parquet-go's format and thrift packages) and written
// out, so a writer holds one row group at most. A file is at most maxRows rows,
// in row groups of about pqPageBytes for its widest column.

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
	leaves []pqLeaf
	// elements and orders are the footer's schema and column orders, as
	// parquet-go writes them for schema.
	elements []format.SchemaElement
	orders   []format.ColumnOrder
}

// pqLeaf is a leaf column of the plan.
type pqLeaf struct {
	path           []string
	kind           pqKind
	maxDef, maxRep int
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
	p.ncols = pqLevels(root, 0, 0, 0, nil, &p.leaves)
	paths := make([][]string, len(p.leaves))
	for i, l := range p.leaves {
		paths[i] = l.path
	}
	// The row writer's columns and levels must be parquet-go's (whose
	// readers read the files back): check once.
	if got := p.schema.Columns(); !slices.EqualFunc(got, paths, slices.Equal) {
		return nil, fmt.Errorf("export plan: columns %v, parquet-go has %v", paths, got)
	}
	for i, l := range p.leaves {
		lc, ok := p.schema.Lookup(l.path...)
		if !ok || lc.ColumnIndex != i || lc.MaxDefinitionLevel != l.maxDef || lc.MaxRepetitionLevel != l.maxRep {
			return nil, fmt.Errorf("export plan: column %v has levels %d/%d, parquet-go has %+v", l.path, l.maxDef, l.maxRep, lc)
		}
	}
	// The footer's schema as parquet-go writes it: from an empty file.
	var empty bytes.Buffer
	if err := parquet.NewWriter(&empty, p.schema).Close(); err != nil {
		return nil, fmt.Errorf("export plan: %w", err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(empty.Bytes()), int64(empty.Len()))
	if err != nil {
		return nil, fmt.Errorf("export plan: %w", err)
	}
	p.elements, p.orders = f.Metadata().Schema, f.Metadata().ColumnOrders
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
// n's parent. It returns the next column number and appends the leaves
// to leaves.
func pqLevels(n *pqNode, d, r, col int, path []string, leaves *[]pqLeaf) int {
	n.lo = col
	if path != nil { // the root is required
		n.def = d + 1
	}
	switch n.kind {
	case pqGroup:
		for _, f := range n.fields {
			col = pqLevels(f.node, n.def, r, col, append(path, f.name), leaves)
		}
	case pqList:
		n.rep = r + 1
		// LIST: optional group > repeated group "list" > element.
		col = pqLevels(n.elem, n.def+1, n.rep, col, append(path, "list", "element"), leaves)
	case pqMap:
		n.rep = r + 1
		// MAP: optional group > repeated group "key_value" > required key,
		// optional value.
		n.col = col
		*leaves = append(*leaves, pqLeaf{path: slices.Clone(append(path, "key_value", "key")), kind: pqString, maxDef: n.def + 1, maxRep: n.rep})
		col = pqLevels(n.elem, n.def+1, n.rep, col+1, append(path, "key_value", "value"), leaves)
	default:
		n.col = col
		*leaves = append(*leaves, pqLeaf{path: slices.Clone(path), kind: n.kind, maxDef: n.def, maxRep: r})
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

// pqCodec is how pages are compressed (format.Uncompressed or
// format.Snappy). Snappy (s2's fast encoder) makes files about half as
// big (segment ids and namespaces repeat on every row) for a little CPU;
// with the page cache under pressure, as after ingesting gigabytes,
// writing and fsyncing half the bytes makes a 1M-profile export faster
// (1.10–1.55 s against 1.32–1.87 s, TestExportScale on 2 cores).
const pqCodec = format.Snappy

// pqPageBytes is about the most a page holds (levels and values, before
// compression). Every column has one page per row group, and a row group
// ends after the row that fills a page: files are written as they go,
// and a writer holds at most a row group.
const pqPageBytes = 1 << 20

// pqColumn is one leaf column being written: the levels and PLAIN values
// of its current page.
type pqColumn struct {
	pqLeaf
	rep, def []byte // levels, one per value, null or not
	vals     []byte // PLAIN values: strings as length and bytes, doubles and int64 as 8 bytes
	bools    []byte // booleans, one byte each until the page packs them
}

// pqRowWriter turns rows into levels and values, column by column. It is
// Dremel's record shredding, walking a profile's pql Values along the
// plan: no parquet.Value, no reflection, no allocation once the buffers
// have grown.
type pqRowWriter struct {
	plan *pqPlan
	cols []pqColumn
	// rows of the current row group.
	rows int
	// pageBytes is the page size (tests make it small).
	pageBytes int
	codec     format.CompressionCodec
	// scratch buffers for encoding pages, and the file's buffer.
	levels, body, comp []byte
	bw                 *bufio.Writer
}

func newRowWriter(plan *pqPlan) *pqRowWriter {
	w := &pqRowWriter{plan: plan, cols: make([]pqColumn, len(plan.leaves)), pageBytes: pqPageBytes, codec: pqCodec}
	for i, l := range plan.leaves {
		w.cols[i].pqLeaf = l
	}
	return w
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

// level records one value's levels in column c.
func (c *pqColumn) level(r, d int) {
	if c.maxRep > 0 {
		c.rep = append(c.rep, byte(r))
	}
	c.def = append(c.def, byte(d))
}

// nulls writes a null (or absent) n: every leaf under it gets a null at
// repetition level r and definition level d.
func (w *pqRowWriter) nulls(n *pqNode, r, d int) {
	for c := n.lo; c < n.hi; c++ {
		w.cols[c].level(r, d)
	}
}

func (w *pqRowWriter) str(col int, s string, r, d int) {
	c := &w.cols[col]
	c.level(r, d)
	c.vals = binary.LittleEndian.AppendUint32(c.vals, uint32(len(s)))
	c.vals = append(c.vals, s...)
}

func (w *pqRowWriter) fixed(col int, x uint64, r, d int) {
	c := &w.cols[col]
	c.level(r, d)
	c.vals = binary.LittleEndian.AppendUint64(c.vals, x)
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
		w.fixed(n.col, math.Float64bits(v.Float()), r, n.def)
		return
	case pqBool:
		if v.Kind() != pql.KindBool {
			break
		}
		c := &w.cols[n.col]
		c.level(r, n.def)
		b := byte(0)
		if v.Bool() {
			b = 1
		}
		c.bools = append(c.bools, b)
		return
	case pqTime:
		if v.Kind() != pql.KindTime {
			break
		}
		w.fixed(n.col, uint64(v.Micros()), r, n.def)
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
		w.fixed(lqt.col, uint64(m.at), r, lqt.def)
		w.str(status.col, m.status.String(), r, status.def)
	}
}

// full reports whether a column's page is full (so the row group ends).
func (w *pqRowWriter) full() bool {
	for i := range w.cols {
		c := &w.cols[i]
		if len(c.vals)+len(c.bools)+len(c.def)+len(c.rep) >= w.pageBytes {
			return true
		}
	}
	return false
}

// page encodes column c's page: a v1 data page, levels RLE (each prefixed
// with its length), values PLAIN, the whole compressed with pqCodec. It returns
// the page's header and compressed body (valid until the next call) and
// its uncompressed size, and empties the column.
func (w *pqRowWriter) page(c *pqColumn) (hdr, data []byte, size int, err error) {
	body := w.body[:0]
	for _, lv := range []struct {
		levels []byte
		max    int
	}{{c.rep, c.maxRep}, {c.def, c.maxDef}} {
		if lv.max == 0 {
			continue
		}
		enc := rle.Encoding{BitWidth: bits.Len(uint(lv.max))}
		if w.levels, err = enc.EncodeLevels(w.levels, lv.levels); err != nil {
			return nil, nil, 0, err
		}
		body = binary.LittleEndian.AppendUint32(body, uint32(len(w.levels)))
		body = append(body, w.levels...)
	}
	if c.kind == pqBool {
		for i := 0; i < len(c.bools); i += 8 {
			var b byte
			for j := 0; j < 8 && i+j < len(c.bools); j++ {
				b |= c.bools[i+j] << j
			}
			body = append(body, b)
		}
	} else {
		body = append(body, c.vals...)
	}
	w.body = body
	data = body
	if w.codec == format.Snappy {
		if n := s2.MaxEncodedLen(len(body)); cap(w.comp) < n {
			w.comp = make([]byte, n)
		}
		data = s2.EncodeSnappy(w.comp[:cap(w.comp)], body)
	}
	hdr, err = thrift.Marshal(new(thrift.CompactProtocol), &format.PageHeader{
		Type:                 format.DataPage,
		UncompressedPageSize: int32(len(body)),
		CompressedPageSize:   int32(len(data)),
		DataPageHeader: thrift.New(format.DataPageHeader{
			NumValues:               int32(len(c.def)),
			Encoding:                format.Plain,
			DefinitionLevelEncoding: format.RLE,
			RepetitionLevelEncoding: format.RLE,
		}),
	})
	c.rep, c.def, c.vals, c.bools = c.rep[:0], c.def[:0], c.vals[:0], c.bools[:0]
	return hdr, data, len(body), err
}

// writeGroup writes the rows gathered as a row group to out (at offset)
// and returns its metadata.
func (w *pqRowWriter) writeGroup(out io.Writer, offset int64) (format.RowGroup, error) {
	rg := format.RowGroup{NumRows: int64(w.rows), FileOffset: offset}
	for i := range w.cols {
		c := &w.cols[i]
		values := int64(len(c.def))
		hdr, data, size, err := w.page(c)
		if err != nil {
			return rg, err
		}
		if _, err := out.Write(hdr); err != nil {
			return rg, err
		}
		if _, err := out.Write(data); err != nil {
			return rg, err
		}
		compressed := int64(len(hdr) + len(data))
		rg.Columns = append(rg.Columns, format.ColumnChunk{
			FileOffset: offset + compressed,
			MetaData: format.ColumnMetaData{
				Type:                  pqPhysical[c.kind],
				Encoding:              []format.Encoding{format.Plain, format.RLE},
				PathInSchema:          c.path,
				Codec:                 w.codec,
				NumValues:             values,
				TotalUncompressedSize: int64(len(hdr) + size),
				TotalCompressedSize:   compressed,
				DataPageOffset:        offset,
			},
		})
		rg.TotalByteSize += int64(len(hdr) + size)
		rg.TotalCompressedSize += compressed
		offset += compressed
	}
	w.rows = 0
	return rg, nil
}

// pqPhysical is the Parquet physical type of each leaf kind.
var pqPhysical = [...]format.Type{
	pqString: format.ByteArray,
	pqDouble: format.Double,
	pqBool:   format.Boolean,
	pqTime:   format.Int64,
}

// exportFile is one written file of an export batch.
type exportFile struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Size    int64  `json:"size"`
}

// pqFileWriter writes one part of an export into files of at most
// maxRows rows each: <dir>/<prefix>-<chunk>.parquet. A file is written as
// rows come, a row group at a time, then its footer.
type pqFileWriter struct {
	dir     string
	prefix  string
	maxRows int
	rw      *pqRowWriter

	f      *os.File
	name   string
	offset int64
	groups []format.RowGroup
	rows   int // of the current file
	files  []exportFile
}

// newFileWriterWith writes with rw, a row writer of an earlier file
// writer of the same plan whose files are closed: its buffers are grown
// already.
func newFileWriterWith(rw *pqRowWriter, dir, prefix string, maxRows int) *pqFileWriter {
	return &pqFileWriter{dir: dir, prefix: prefix, maxRows: max(1, maxRows), rw: rw}
}

// write adds one row (see pqRowWriter.writeRow).
func (fw *pqFileWriter) write(vals []pql.Value, members []pqMembership) error {
	if fw.f == nil {
		if err := fw.open(); err != nil {
			return err
		}
	}
	fw.rw.writeRow(vals, members)
	fw.rows++
	if fw.rw.full() {
		if err := fw.group(); err != nil {
			return err
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
	if fw.rw.bw == nil {
		fw.rw.bw = bufio.NewWriterSize(f, 1<<20)
	} else {
		fw.rw.bw.Reset(f)
	}
	fw.f, fw.rows, fw.groups = f, 0, fw.groups[:0]
	if _, err := fw.rw.bw.WriteString("PAR1"); err != nil {
		return fmt.Errorf("writing %s: %w", fw.name, err)
	}
	fw.offset = 4
	return nil
}

// group writes the rows gathered as a row group.
func (fw *pqFileWriter) group() error {
	if fw.rw.rows == 0 {
		return nil
	}
	rg, err := fw.rw.writeGroup(fw.rw.bw, fw.offset)
	if err != nil {
		return fmt.Errorf("writing %s: %w", fw.name, err)
	}
	rg.Ordinal = int16(len(fw.groups))
	fw.groups = append(fw.groups, rg)
	fw.offset += rg.TotalCompressedSize
	return nil
}

// finish completes the current file: last row group, footer. It does not
// fsync it: the exporter syncs all of an export's files at once, at the
// end, rather than stalling a scan worker on each.
func (fw *pqFileWriter) finish() error {
	if fw.f == nil {
		return nil
	}
	err := fw.group()
	var footer []byte
	if err == nil {
		footer, err = thrift.Marshal(new(thrift.CompactProtocol), &format.FileMetaData{
			Version:      1,
			Schema:       fw.rw.plan.elements,
			NumRows:      int64(fw.rows),
			RowGroups:    fw.groups,
			CreatedBy:    "segflow ups",
			ColumnOrders: fw.rw.plan.orders,
		})
	}
	if err == nil {
		footer = binary.LittleEndian.AppendUint32(footer, uint32(len(footer)))
		footer = append(footer, "PAR1"...)
		_, err = fw.rw.bw.Write(footer)
	}
	if err == nil {
		err = fw.rw.bw.Flush()
	}
	if cerr := fw.f.Close(); err == nil {
		err = cerr
	}
	fw.f = nil
	if err != nil {
		return fmt.Errorf("writing %s: %w", fw.name, err)
	}
	fw.files = append(fw.files, exportFile{Name: fw.name, Records: int64(fw.rows), Size: fw.offset + int64(len(footer))})
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
		fw.f = nil
	}
}
