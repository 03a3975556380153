package records

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// ReadParquet reads every row of a Parquet file as a nested map, the way
// the same record would decode from JSON:
//
//   - groups become map[string]any; a null optional field is left out
//   - LIST becomes []any (a null element is nil); a field repeated without
//     LIST becomes []any too, and is left out when it has no element
//   - MAP becomes map[string]any (keys that are not strings are written
//     out: 42 → "42"); a null value is nil
//   - BOOLEAN becomes bool
//   - INT32, INT64 (signed or unsigned), FLOAT, DOUBLE, DECIMAL and
//     FLOAT16 become json.Number, floats written as encoding/json writes
//     them; NaN and ±Inf, which JSON cannot hold, make the row a RowError
//   - TIMESTAMP (milli-, micro- or nanoseconds, and the legacy
//     TIMESTAMP_MILLIS/MICROS and INT96) becomes an RFC 3339 string in UTC
//     (2024-06-18T13:56:38.174Z); a timestamp not adjusted to UTC is read
//     as UTC
//   - DATE becomes "YYYY-MM-DD", TIME "hh:mm:ss[.fraction]"
//   - BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY (STRING, ENUM, JSON or none)
//     become a string, invalid UTF-8 replaced by U+FFFD as encoding/json
//     does; UUID becomes its 36-character form, BSON base64
//
// Rows are numbered from 1 across the row groups. A corrupt file is an
// error, never a panic.
func ReadParquet(r io.ReaderAt, size int64, fn func(Record) error) ([]RowError, error) {
	f, err := openParquet(r, size)
	if err != nil {
		return nil, fmt.Errorf("records: reading Parquet: %w", err)
	}
	root, err := compileSchema(f.Metadata().Schema)
	if err != nil {
		return nil, fmt.Errorf("records: reading Parquet schema: %w", err)
	}
	a := assembler{cols: make([][]parquet.Value, root.ncol)}
	var bad []RowError
	buf := make([]parquet.Row, 64)
	row := 0
	for g, rg := range f.RowGroups() {
		rows, err := openRows(rg)
		if err != nil {
			return bad, fmt.Errorf("records: reading Parquet row group %d: %w", g, err)
		}
		for {
			n, rerr := readRows(rows, buf)
			for i := range n {
				row++
				m, err := a.record(root, buf[i])
				if err != nil {
					var ve *valueError
					if errors.As(err, &ve) {
						bad = append(bad, RowError{Row: row, Code: CodeInvalidValue, Message: ve.Error()})
						continue
					}
					closeRows(rows)
					return bad, fmt.Errorf("records: reading Parquet row %d: %w", row, err)
				}
				if err := fn(Record{Row: row, Data: m}); err != nil {
					closeRows(rows)
					return bad, err
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr == nil && n == 0 {
				rerr = io.ErrNoProgress
			}
			if rerr != nil {
				closeRows(rows)
				return bad, fmt.Errorf("records: reading Parquet row group %d (after row %d): %w", g, row, rerr)
			}
		}
		if err := closeRows(rows); err != nil {
			return bad, fmt.Errorf("records: reading Parquet row group %d: %w", g, err)
		}
	}
	if int64(row) != f.NumRows() {
		return bad, fmt.Errorf("records: reading Parquet: the file says it has %d rows, its row groups have %d", f.NumRows(), row)
	}
	return bad, nil
}

// openParquet opens a Parquet file, turning a panic of the library on a
// corrupt file into an error. It checks the footer's length first:
// parquet-go allocates what the file says the footer takes before reading
// it, gigabytes for a corrupt length.
func openParquet(r io.ReaderAt, size int64) (f *parquet.File, err error) {
	if size < 12 {
		return nil, fmt.Errorf("not a Parquet file: %d bytes", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return nil, err
	}
	if string(tail[4:]) != "PAR1" {
		return nil, errors.New("not a Parquet file: it does not end with PAR1 (an encrypted footer, PARE, is not supported)")
	}
	if n := binary.LittleEndian.Uint32(tail[:4]); int64(n) > size-12 {
		return nil, fmt.Errorf("corrupt file: a footer of %d bytes in a file of %d", n, size)
	}
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("corrupt file: %v", p)
		}
	}()
	return parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
}

// openRows, readRows and closeRows call the library, turning its panics
// on corrupt data into errors.
func openRows(rg parquet.RowGroup) (rows parquet.Rows, err error) {
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, fmt.Errorf("corrupt file: %v", p)
		}
	}()
	return rg.Rows(), nil
}

func readRows(rows parquet.Rows, buf []parquet.Row) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("corrupt data: %v", p)
		}
	}()
	return rows.ReadRows(buf)
}

func closeRows(rows parquet.Rows) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt data: %v", p)
		}
	}()
	return rows.Close()
}

// valueError is a value JSON cannot hold: the row is a RowError.
type valueError struct {
	path string
	msg  string
}

func (e *valueError) Error() string { return e.path + ": " + e.msg }

// errCorrupt is a row whose levels do not fit the schema.
var errCorrupt = errors.New("corrupt row: its values do not fit the schema")

type nodeKind uint8

const (
	kindLeaf nodeKind = iota
	kindGroup
	kindList
	kindMap
)

// node is a field of the file schema, compiled for assembling rows.
type node struct {
	name     string
	path     string // dotted, for messages
	kind     nodeKind
	optional bool
	repeated bool
	def      int // the definition level at which the node is present
	rep      int // the repetition level of its repetitions
	col      int // its first leaf column
	ncol     int // its number of leaf columns
	fields   []*node
	phys     parquet.Kind // leaf: the physical type of its values
	elem     *node        // list: the element, fields[0] itself for a two-level list
	key, val *node        // map; val may be nil
	conv     func(parquet.Value) (any, error)
}

// maxSchemaDepth bounds the nesting of a schema.
const maxSchemaDepth = 255

type schemaCompiler struct {
	elems []format.SchemaElement
	i     int // next element
	col   int // next leaf column
}

func compileSchema(elems []format.SchemaElement) (*node, error) {
	if len(elems) == 0 {
		return nil, errors.New("the file has no schema")
	}
	c := schemaCompiler{elems: elems}
	root, err := c.node(0, 0, 0, "")
	if err != nil {
		return nil, err
	}
	if root.kind == kindLeaf {
		return nil, errors.New("the schema root is not a group")
	}
	root.kind = kindGroup // whatever its annotation
	if c.i != len(elems) {
		return nil, fmt.Errorf("the schema has %d elements, its tree %d", len(elems), c.i)
	}
	return root, nil
}

func (c *schemaCompiler) node(depth, def, rep int, parent string) (*node, error) {
	if depth > maxSchemaDepth {
		return nil, errors.New("the schema is nested too deep")
	}
	if c.i >= len(c.elems) {
		return nil, errors.New("the schema tree has more children than elements")
	}
	e := &c.elems[c.i]
	c.i++
	n := &node{name: e.Name, path: e.Name, col: c.col}
	if parent != "" {
		n.path = parent + "." + e.Name
	}
	if depth > 0 { // the root's repetition means nothing
		switch e.RepetitionType.V {
		case format.Optional:
			n.optional, def = true, def+1
		case format.Repeated:
			n.repeated, def, rep = true, def+1, rep+1
		}
	}
	n.def, n.rep = def, rep
	if e.Type.Valid {
		n.kind, n.ncol, n.phys = kindLeaf, 1, parquet.Kind(e.Type.V)
		n.conv = leafConverter(e, n.path)
		c.col++
		return n, nil
	}
	k := int(e.NumChildren.V)
	if k < 0 || k > len(c.elems)-c.i {
		return nil, fmt.Errorf("schema element %q has %d children", e.Name, e.NumChildren.V)
	}
	childPath := n.path
	if depth == 0 {
		childPath = ""
	}
	for range k {
		f, err := c.node(depth+1, def, rep, childPath)
		if err != nil {
			return nil, err
		}
		n.fields = append(n.fields, f)
	}
	n.ncol = c.col - n.col
	n.kind = kindGroup
	switch {
	case isListElement(e):
		n.asList()
	case isMapElement(e):
		n.asMap()
	}
	return n, nil
}

func isListElement(e *format.SchemaElement) bool {
	if _, ok := e.LogicalType.Value.(*format.ListType); ok {
		return true
	}
	return e.ConvertedType.Valid && e.ConvertedType.V == deprecated.List
}

func isMapElement(e *format.SchemaElement) bool {
	if _, ok := e.LogicalType.Value.(*format.MapType); ok {
		return true
	}
	return e.ConvertedType.Valid && (e.ConvertedType.V == deprecated.Map || e.ConvertedType.V == deprecated.MapKeyValue)
}

// asList makes n a LIST if it has the shape of one, following the
// backward-compatibility rules of the Parquet spec (LogicalTypes.md) to
// find the element; otherwise n stays a plain group.
func (n *node) asList() {
	if n.repeated || len(n.fields) != 1 || !n.fields[0].repeated || n.fields[0].ncol == 0 {
		return
	}
	r := n.fields[0]
	n.kind = kindList
	switch {
	case r.kind == kindLeaf, len(r.fields) != 1, r.name == "array", r.name == n.name+"_tuple":
		n.elem = r // two-level: the repeated field is the element
	default:
		n.elem = r.fields[0]
	}
}

// asMap makes n a MAP if it has the shape of one; otherwise n stays a
// plain group.
func (n *node) asMap() {
	if n.repeated || len(n.fields) != 1 {
		return
	}
	kv := n.fields[0]
	if !kv.repeated || kv.kind == kindLeaf || len(kv.fields) < 1 || len(kv.fields) > 2 {
		return
	}
	if k := kv.fields[0]; k.kind != kindLeaf || k.optional || k.repeated {
		return
	}
	n.kind, n.key = kindMap, kv.fields[0]
	if len(kv.fields) == 2 && kv.fields[1].ncol > 0 {
		n.val = kv.fields[1]
	}
}

// assembler puts rows back together (the record assembly of the Dremel
// paper, which Parquet's levels encode).
type assembler struct {
	cols [][]parquet.Value // the current row's values, by leaf column
}

func (a *assembler) record(root *node, row parquet.Row) (map[string]any, error) {
	clear(a.cols)
	for i := 0; i < len(row); {
		c := row[i].Column()
		j := i + 1
		for j < len(row) && row[j].Column() == c {
			j++
		}
		if c < 0 || c >= len(a.cols) || a.cols[c] != nil {
			return nil, errCorrupt
		}
		a.cols[c] = row[i:j:j]
		i = j
	}
	for _, col := range a.cols {
		if len(col) == 0 {
			return nil, errCorrupt
		}
	}
	v, err := a.content(root, a.cols)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// field returns the value of n in one instance of its parent, whose
// values in n's columns are cols; ok is false if n is absent: null, or
// repeated with no repetition.
func (a *assembler) field(n *node, cols [][]parquet.Value) (v any, ok bool, err error) {
	if n.ncol == 0 || (n.optional || n.repeated) && cols[0][0].DefinitionLevel() < n.def {
		return nil, false, nil
	}
	if !n.repeated {
		v, err := a.content(n, cols)
		return v, true, err
	}
	var list []any
	err = a.each(n, cols, func(ecols [][]parquet.Value) error {
		v, err := a.content(n, ecols)
		list = append(list, v)
		return err
	})
	return list, true, err
}

// content returns the value of one instance of n, known to be present.
func (a *assembler) content(n *node, cols [][]parquet.Value) (any, error) {
	switch n.kind {
	case kindLeaf:
		if len(cols[0]) != 1 {
			return nil, errCorrupt
		}
		v := cols[0][0]
		if v.IsNull() {
			return nil, nil
		}
		if v.Kind() != n.phys {
			return nil, errCorrupt
		}
		return n.conv(v)

	case kindGroup:
		m := make(map[string]any, len(n.fields))
		for _, f := range n.fields {
			off := f.col - n.col
			v, ok, err := a.field(f, cols[off:off+f.ncol])
			if err != nil {
				return nil, err
			}
			if ok {
				m[f.name] = v
			}
		}
		return m, nil

	case kindList:
		r := n.fields[0]
		list := []any{}
		if cols[0][0].DefinitionLevel() < r.def {
			return list, nil // empty
		}
		err := a.each(r, cols, func(ecols [][]parquet.Value) error {
			var v any
			var err error
			if n.elem == r {
				v, err = a.content(r, ecols)
			} else {
				v, _, err = a.field(n.elem, ecols) // absent: nil
			}
			list = append(list, v)
			return err
		})
		return list, err

	case kindMap:
		kv := n.fields[0]
		m := map[string]any{}
		if cols[0][0].DefinitionLevel() < kv.def {
			return m, nil // empty
		}
		koff := n.key.col - kv.col
		err := a.each(kv, cols, func(ecols [][]parquet.Value) error {
			k, err := a.content(n.key, ecols[koff:koff+1])
			if err != nil {
				return err
			}
			var v any
			if n.val != nil {
				voff := n.val.col - kv.col
				if v, _, err = a.field(n.val, ecols[voff:voff+n.val.ncol]); err != nil {
					return err
				}
			}
			m[keyString(k)] = v
			return nil
		})
		return m, err
	}
	return nil, errCorrupt
}

// each calls fn with the values of each repetition of the repeated node n
// in cols, one instance of n's parent. A repetition starts at a value
// whose repetition level is n's or less.
func (a *assembler) each(n *node, cols [][]parquet.Value, fn func([][]parquet.Value) error) error {
	scratch := make([][]parquet.Value, 2*len(cols))
	ecols, rest := scratch[:len(cols)], scratch[len(cols):]
	copy(rest, cols)
	cols = rest
	for len(cols[0]) > 0 {
		for j, col := range cols {
			if len(col) == 0 {
				return errCorrupt
			}
			e := 1
			for e < len(col) && col[e].RepetitionLevel() > n.rep {
				e++
			}
			ecols[j], cols[j] = col[:e:e], col[e:]
		}
		if err := fn(ecols); err != nil {
			return err
		}
	}
	for _, col := range cols {
		if len(col) != 0 {
			return errCorrupt
		}
	}
	return nil
}

func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case json.Number:
		return string(k)
	case bool:
		return strconv.FormatBool(k)
	case nil:
		return ""
	}
	return fmt.Sprint(k)
}

// maxDecimalScale and maxDecimalBytes bound the decimals converted, so that
// a hostile schema cannot make one value huge.
const (
	maxDecimalScale = 1000
	maxDecimalBytes = 64
)

// leafConverter returns the conversion of a leaf column's values.
func leafConverter(e *format.SchemaElement, path string) func(parquet.Value) (any, error) {
	phys := e.Type.V
	switch lt := e.LogicalType.Value.(type) {
	case *format.TimestampType:
		if phys == format.Int64 {
			if conv := timestampConverter(lt.Unit); conv != nil {
				return conv
			}
		}
	case *format.DateType:
		if phys == format.Int32 {
			return convDate
		}
	case *format.TimeType:
		if conv := timeConverter(phys, lt.Unit); conv != nil {
			return conv
		}
	case *format.DecimalType:
		if conv := decimalConverter(phys, int(lt.Scale), path); conv != nil {
			return conv
		}
	case *format.IntType:
		if !lt.IsSigned {
			switch phys {
			case format.Int32:
				return convUint32
			case format.Int64:
				return convUint64
			}
		}
	case *format.UUIDType:
		if phys == format.FixedLenByteArray && e.TypeLength.V == 16 {
			return convUUID
		}
	case *format.Float16Type:
		if phys == format.FixedLenByteArray && e.TypeLength.V == 2 {
			return func(v parquet.Value) (any, error) { return convFloat16(v, path) }
		}
	case *format.BsonType:
		return convBase64
	}
	if e.ConvertedType.Valid {
		switch e.ConvertedType.V {
		case deprecated.TimestampMillis:
			if phys == format.Int64 {
				return timestampConverter(format.TimeUnit{Value: &format.MilliSeconds{}})
			}
		case deprecated.TimestampMicros:
			if phys == format.Int64 {
				return timestampConverter(format.TimeUnit{Value: &format.MicroSeconds{}})
			}
		case deprecated.Date:
			if phys == format.Int32 {
				return convDate
			}
		case deprecated.TimeMillis:
			if conv := timeConverter(phys, format.TimeUnit{Value: &format.MilliSeconds{}}); conv != nil {
				return conv
			}
		case deprecated.TimeMicros:
			if conv := timeConverter(phys, format.TimeUnit{Value: &format.MicroSeconds{}}); conv != nil {
				return conv
			}
		case deprecated.Decimal:
			if conv := decimalConverter(phys, int(e.Scale.V), path); conv != nil {
				return conv
			}
		case deprecated.Uint8, deprecated.Uint16, deprecated.Uint32:
			if phys == format.Int32 {
				return convUint32
			}
		case deprecated.Uint64:
			if phys == format.Int64 {
				return convUint64
			}
		case deprecated.Bson:
			return convBase64
		}
	}
	switch phys {
	case format.Boolean:
		return func(v parquet.Value) (any, error) { return v.Boolean(), nil }
	case format.Int32:
		return func(v parquet.Value) (any, error) { return json.Number(strconv.FormatInt(int64(v.Int32()), 10)), nil }
	case format.Int64:
		return func(v parquet.Value) (any, error) { return json.Number(strconv.FormatInt(v.Int64(), 10)), nil }
	case format.Int96:
		return convInt96
	case format.Float:
		return func(v parquet.Value) (any, error) { return floatNumber(float64(v.Float()), 32, path) }
	case format.Double:
		return func(v parquet.Value) (any, error) { return floatNumber(v.Double(), 64, path) }
	default: // BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY
		return func(v parquet.Value) (any, error) { return validString(v.ByteArray()), nil }
	}
}

func convUint32(v parquet.Value) (any, error) {
	return json.Number(strconv.FormatUint(uint64(uint32(v.Int32())), 10)), nil
}

func convUint64(v parquet.Value) (any, error) {
	return json.Number(strconv.FormatUint(uint64(v.Int64()), 10)), nil
}

func convBase64(v parquet.Value) (any, error) {
	return base64.StdEncoding.EncodeToString(v.ByteArray()), nil
}

func convUUID(v parquet.Value) (any, error) {
	b := v.ByteArray()
	if len(b) != 16 {
		return validString(b), nil
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:]), nil
}

// epoch days of 1970-01-01 in the Julian day numbers of INT96 timestamps.
const julianUnixEpoch = 2440588

func convInt96(v parquet.Value) (any, error) {
	x := v.Int96()
	nanos := int64(uint64(x[1])<<32 | uint64(x[0]))
	days := int64(x[2]) - julianUnixEpoch
	t := time.Unix(days*86400, 0).Add(time.Duration(nanos))
	return t.UTC().Format(time.RFC3339Nano), nil
}

func timestampConverter(unit format.TimeUnit) func(parquet.Value) (any, error) {
	var toTime func(int64) time.Time
	switch unit.Value.(type) {
	case *format.MilliSeconds:
		toTime = time.UnixMilli
	case *format.MicroSeconds:
		toTime = time.UnixMicro
	case *format.NanoSeconds:
		toTime = func(n int64) time.Time { return time.Unix(0, n) }
	default:
		return nil
	}
	return func(v parquet.Value) (any, error) {
		return toTime(v.Int64()).UTC().Format(time.RFC3339Nano), nil
	}
}

func convDate(v parquet.Value) (any, error) {
	return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly), nil
}

func timeConverter(phys format.Type, unit format.TimeUnit) func(parquet.Value) (any, error) {
	var scale time.Duration
	switch unit.Value.(type) {
	case *format.MilliSeconds:
		if phys != format.Int32 {
			return nil
		}
		scale = time.Millisecond
	case *format.MicroSeconds:
		scale = time.Microsecond
	case *format.NanoSeconds:
		scale = time.Nanosecond
	default:
		return nil
	}
	if scale != time.Millisecond && phys != format.Int64 {
		return nil
	}
	return func(v parquet.Value) (any, error) {
		n := v.Int64()
		if phys == format.Int32 {
			n = int64(v.Int32())
		}
		t := time.Unix(0, 0).UTC().Add(time.Duration(n) * scale)
		return t.Format("15:04:05.999999999"), nil
	}
}

func decimalConverter(phys format.Type, scale int, path string) func(parquet.Value) (any, error) {
	if scale < 0 || scale > maxDecimalScale {
		return nil
	}
	switch phys {
	case format.Int32:
		return func(v parquet.Value) (any, error) {
			return json.Number(decimalString(strconv.FormatInt(int64(v.Int32()), 10), scale)), nil
		}
	case format.Int64:
		return func(v parquet.Value) (any, error) {
			return json.Number(decimalString(strconv.FormatInt(v.Int64(), 10), scale)), nil
		}
	case format.ByteArray, format.FixedLenByteArray:
		return func(v parquet.Value) (any, error) {
			b := v.ByteArray()
			if len(b) > maxDecimalBytes {
				return nil, &valueError{path, fmt.Sprintf("a decimal of %d bytes is too long", len(b))}
			}
			x := new(big.Int).SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 { // two's complement
				x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
			}
			return json.Number(decimalString(x.String(), scale)), nil
		}
	}
	return nil
}

// decimalString places the decimal point of an unscaled integer.
func decimalString(digits string, scale int) string {
	if scale == 0 {
		return digits
	}
	neg := strings.HasPrefix(digits, "-")
	if neg {
		digits = digits[1:]
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	s := digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

func convFloat16(v parquet.Value, path string) (any, error) {
	b := v.ByteArray()
	if len(b) != 2 {
		return validString(b), nil
	}
	h := uint16(b[0]) | uint16(b[1])<<8 // little-endian
	frac := float64(h & 0x3ff)
	var f float64
	switch exp := int(h>>10) & 0x1f; exp {
	case 0:
		f = math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			f = math.NaN()
		} else {
			f = math.Inf(1)
		}
	default:
		f = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		f = -f
	}
	return floatNumber(f, 32, path)
}

// floatNumber writes f as encoding/json does.
func floatNumber(f float64, bits int, path string) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, &valueError{path, fmt.Sprintf("%v is not a JSON number", f)}
	}
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			fmtc = 'e'
		}
	}
	b := strconv.AppendFloat(make([]byte, 0, 24), f, fmtc, -1, bits)
	if fmtc == 'e' { // e-09 → e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return json.Number(b), nil
}

// validString converts b to a string, each byte of invalid UTF-8 replaced
// by U+FFFD, as encoding/json decodes strings.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	s := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		s = utf8.AppendRune(s, r)
		b = b[size:]
	}
	return string(s)
}
