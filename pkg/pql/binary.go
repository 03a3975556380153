package pql

import (
	"encoding/binary"
	"errors"
	"math"
	"unsafe"
)

// The binary form of a Value is how a store keeps millions of them: a tag
// byte, then varints, raw float bits or string bytes. A profile of 30
// fields takes about 300 bytes instead of 2 KB of Values and pointers.
// Arrays, objects and maps carry their size in bytes, so a decoder
// skips what its Projection leaves out without reading it.
//
//	null false true                  tag
//	int                              tag zigzag-varint
//	double                           tag 8 bytes little-endian
//	decimal double                   tag digits zigzag-varint  (54.99: 2 5499)
//	string                           tag len bytes     (inline)
//	uuid string                      tag 16 bytes      (inline, lowercase form)
//	dict string                      tag number        (Encoder.Dict)
//	timestamp                        tag zigzag-varint microseconds
//	array                            tag size count elem...
//	narrow object (width <= 8)       tag size width bitmap value...
//	object                           tag size width present (index value)...
//	map                              tag size count (key value)...
//	same                             tag count: the previous value of the column, count more times (ColumnEncoder)
const (
	tagNull byte = iota
	tagFalse
	tagTrue
	tagInt
	tagDouble
	tagString
	tagDictString
	tagTime
	tagArray
	tagObject
	tagMap
	tagSame
	tagDecimal
	tagUUID
	tagNarrowObject
)

// ErrCorrupt is returned when binary data does not decode.
var ErrCorrupt = errors.New("pql: corrupt binary value")

// Encoder writes the binary form of Values. It is not safe for
// concurrent use (it caches Dict numbers); its Dict is.
type Encoder struct {
	// Dict, when set, numbers the strings it admits (see Dict.Admit)
	// instead of writing them inline.
	Dict *Dict
	// known caches numbers the Dict gave, by hash, one string a slot:
	// repeated strings (event types, cities, tiers) are then found
	// without the Dict's lock or its large index, which costs a cache
	// miss or two a lookup.
	known *[knownSlots]knownString
}

const knownSlots = 1 << 14

// knownString is a slot of Encoder.known: the Dict's copy of a string
// and its number plus one (0: empty).
type knownString struct {
	s  string
	id uint32
}

// Append appends the binary form of v to buf.
func (e *Encoder) Append(buf []byte, v Value) []byte {
	switch v.kind {
	case KindNull:
		return append(buf, tagNull)
	case KindBool:
		if v.num != 0 {
			return append(buf, tagTrue)
		}
		return append(buf, tagFalse)
	case KindInt:
		return binary.AppendVarint(append(buf, tagInt), int64(v.num))
	case KindDouble:
		if digits, m, ok := decimal(math.Float64frombits(v.num)); ok {
			return binary.AppendVarint(append(buf, tagDecimal, digits), m)
		}
		return binary.LittleEndian.AppendUint64(append(buf, tagDouble), v.num)
	case KindString:
		return e.appendString(buf, v.str)
	case KindTime:
		return binary.AppendVarint(append(buf, tagTime), int64(v.num))
	case KindArray:
		buf, start := openSized(buf, tagArray)
		buf = binary.AppendUvarint(buf, uint64(len(v.list)))
		for _, x := range v.list {
			buf = e.Append(buf, x)
		}
		return closeSized(buf, start)
	case KindObject:
		if len(v.list) <= 8 {
			// Most XDM objects are narrow: a bitmap beats an index a field.
			buf, start := openSized(buf, tagNarrowObject)
			var bits byte
			for i, x := range v.list {
				if x.kind != KindNull {
					bits |= 1 << i
				}
			}
			buf = append(buf, byte(len(v.list)), bits)
			for _, x := range v.list {
				if x.kind != KindNull {
					buf = e.Append(buf, x)
				}
			}
			return closeSized(buf, start)
		}
		buf, start := openSized(buf, tagObject)
		present := 0
		for _, x := range v.list {
			if x.kind != KindNull {
				present++
			}
		}
		buf = binary.AppendUvarint(buf, uint64(len(v.list)))
		buf = binary.AppendUvarint(buf, uint64(present))
		for i, x := range v.list {
			if x.kind != KindNull {
				buf = binary.AppendUvarint(buf, uint64(i))
				buf = e.Append(buf, x)
			}
		}
		return closeSized(buf, start)
	case KindMap:
		buf, start := openSized(buf, tagMap)
		buf = binary.AppendUvarint(buf, uint64(len(v.list)/2))
		for i := 0; i+1 < len(v.list); i += 2 {
			buf = e.appendString(buf, v.list[i].str)
			buf = e.Append(buf, v.list[i+1])
		}
		return closeSized(buf, start)
	}
	panic("pql: encoding a value of unknown kind")
}

// ColumnEncoder writes the values of a column: a run of repeats of the
// previous value costs two bytes. Columns of one profile's events repeat
// a lot: the same identityMap, the same currency, nulls where most events
// lack a field.
type ColumnEncoder struct {
	Enc      *Encoder
	buf      []byte
	prev     Value
	from, to int // the previous value's encoding in buf
	run      int // repeats of it not yet written
}

// Reset starts a new column, appended to buf.
func (c *ColumnEncoder) Reset(buf []byte) {
	c.buf, c.prev, c.from, c.to, c.run = buf, Value{}, -1, -1, 0
}

// Append adds the next value.
func (c *ColumnEncoder) Append(v Value) {
	// A repeat is found before encoding: cheaper, and a string met twice
	// in one column is not offered to the Dict twice (which would admit
	// every profile's own identity).
	if c.from >= 0 && identical(v, c.prev) {
		c.run++
		return
	}
	c.prev = v
	start := len(c.buf)
	c.buf = c.Enc.Append(c.buf, v)
	if c.from >= 0 && string(c.buf[start:]) == string(c.buf[c.from:c.to]) {
		c.buf = c.buf[:start]
		c.run++
		return
	}
	// A new value: write the run before it, then move it behind the run.
	if c.run > 0 {
		enc := len(c.buf) - start
		var tmp [1 + binary.MaxVarintLen64]byte
		marker := binary.AppendUvarint(append(tmp[:0], tagSame), uint64(c.run))
		c.buf = append(c.buf, marker...)
		copy(c.buf[start+len(marker):], c.buf[start:start+enc])
		copy(c.buf[start:], marker)
		start += len(marker)
		c.run = 0
	}
	c.from, c.to = start, len(c.buf)
}

// identical reports whether a and b are the same value of the same kind
// (Equal would take the integer 1 for the double 1.0).
func identical(a, b Value) bool {
	if a.kind != b.kind || a.num != b.num || a.str != b.str || len(a.list) != len(b.list) {
		return false
	}
	for i := range a.list {
		if !identical(a.list[i], b.list[i]) {
			return false
		}
	}
	return true
}

// Bytes returns the buffer with the column written.
func (c *ColumnEncoder) Bytes() []byte {
	if c.run > 0 {
		c.buf = binary.AppendUvarint(append(c.buf, tagSame), uint64(c.run))
		c.run = 0
	}
	return c.buf
}

func (e *Encoder) appendString(buf []byte, s string) []byte {
	if e.Dict != nil {
		h := e.Dict.hash(s)
		if e.known == nil {
			e.known = new([knownSlots]knownString)
		}
		k := &e.known[h%knownSlots]
		if k.id != 0 && k.s == s {
			return binary.AppendUvarint(append(buf, tagDictString), uint64(k.id-1))
		}
		if id, ok := e.Dict.admit(s, h); ok {
			*k = knownString{e.Dict.String(id), id + 1} // the Dict's copy: s may be borrowed
			return binary.AppendUvarint(append(buf, tagDictString), uint64(id))
		}
	}
	if raw, ok := packUUID(s); ok {
		return append(append(buf, tagUUID), raw[:]...)
	}
	buf = binary.AppendUvarint(append(buf, tagString), uint64(len(s)))
	return append(buf, s...)
}

// decimal finds a short decimal form of f: f == m / 10^digits exactly,
// which holds for prices and most numbers people write. Division of
// exact integers is correctly rounded, so decoding gives f back bit for bit.
func decimal(f float64) (digits byte, m int64, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) || f == 0 && math.Signbit(f) {
		return 0, 0, false
	}
	for d := range byte(len(pow10)) {
		scaled := math.Round(f * pow10[d])
		if math.Abs(scaled) >= 1<<53 {
			return 0, 0, false
		}
		if m := int64(scaled); float64(m)/pow10[d] == f {
			return d, m, true
		}
	}
	return 0, 0, false
}

var pow10 = [...]float64{1, 10, 100, 1000, 10000, 100000}

// PackUUID packs a lowercase UUID string into 16 bytes: profile and event
// ids are mostly UUIDs, at 36 bytes the largest strings a record holds.
func PackUUID(s string) (raw [16]byte, ok bool) { return packUUID(s) }

// UnpackUUID is the inverse of PackUUID.
func UnpackUUID(raw [16]byte) string { return unpackUUID(raw[:]) }

func packUUID(s string) (raw [16]byte, ok bool) {
	if len(s) != 36 {
		return raw, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return raw, false
			}
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return raw, false
		}
		raw[j] = hi<<4 | lo
		i += 2
		j++
	}
	return raw, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// unpackUUID is the inverse of packUUID.
func unpackUUID(raw []byte) string {
	const digits = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, x := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = digits[x>>4], digits[x&15]
		j += 2
	}
	return string(b[:])
}

// openSized writes tag and one byte reserved for the size of what
// follows, which is usually under 128 bytes.
func openSized(buf []byte, tag byte) ([]byte, int) {
	buf = append(buf, tag, 0)
	return buf, len(buf)
}

// closeSized writes the size of buf[start:] before it, moving the content
// when the size needs more than the one reserved byte.
func closeSized(buf []byte, start int) []byte {
	n := len(buf) - start
	if n < 0x80 {
		buf[start-1] = byte(n)
		return buf
	}
	var tmp [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(tmp[:], uint64(n))
	buf = append(buf, tmp[:w-1]...) // room
	copy(buf[start-1+w:], buf[start:start+n])
	copy(buf[start-1:], tmp[:w])
	return buf
}

// Decoder reads binary Values into a slab it reuses: what Decode returns is
// valid until the next Reset. Strings are not copied: they point into the
// data given to Decode, which must therefore never change.
type Decoder struct {
	// Dict resolves strings an Encoder numbered.
	Dict *Dict
	slab []Value
	next int
	data []byte
	pos  int
	err  bool
}

// Reset makes the slab's memory reusable: Values decoded before are no
// longer valid.
func (d *Decoder) Reset() { d.next = 0 }

// Decode decodes one Value from the start of data, keeping only what p
// selects (nil keeps everything), and returns it with the bytes after it.
func (d *Decoder) Decode(data []byte, p *Projection) (Value, []byte, error) {
	if p == all {
		p = nil
	}
	d.data, d.pos, d.err = data, 0, false
	v := d.value(p)
	if d.err {
		return Value{}, nil, ErrCorrupt
	}
	return v, data[d.pos:], nil
}

// DecodeColumn decodes the n values of a column a ColumnEncoder wrote
// into out[:n], each projected by p, and returns the bytes after them.
func (d *Decoder) DecodeColumn(data []byte, n int, p *Projection, out []Value) ([]byte, error) {
	if p == all {
		p = nil
	}
	d.data, d.pos, d.err = data, 0, false
	var prev Value
	for i := 0; i < n; {
		if d.pos < len(d.data) && d.data[d.pos] == tagSame {
			d.pos++
			k := d.uvarint()
			if d.err || k == 0 || k > uint64(n-i) {
				return nil, ErrCorrupt
			}
			for range k {
				out[i] = prev
				i++
			}
			continue
		}
		prev = d.value(p)
		if d.err {
			return nil, ErrCorrupt
		}
		out[i] = prev
		i++
	}
	return data[d.pos:], nil
}

func (d *Decoder) alloc(n int) []Value {
	if d.next+n > len(d.slab) {
		// Values handed out keep the old slab alive; the decoder moves on.
		d.slab = make([]Value, max(2*len(d.slab), n, 256))
		d.next = 0
	}
	s := d.slab[d.next : d.next+n : d.next+n]
	clear(s)
	d.next += n
	return s
}

func (d *Decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		d.err = true
		d.pos = len(d.data)
		return 0
	}
	d.pos += n
	return x
}

func (d *Decoder) varint() int64 {
	x, n := binary.Varint(d.data[d.pos:])
	if n <= 0 {
		d.err = true
		d.pos = len(d.data)
		return 0
	}
	d.pos += n
	return x
}

// bytes returns the next n bytes, aliasing data.
func (d *Decoder) bytes(n uint64) string {
	if n > uint64(len(d.data)-d.pos) {
		d.err = true
		d.pos = len(d.data)
		return ""
	}
	if n == 0 {
		return ""
	}
	s := unsafe.String(&d.data[d.pos], int(n))
	d.pos += int(n)
	return s
}

func (d *Decoder) str() string {
	if d.pos >= len(d.data) {
		d.err = true
		return ""
	}
	tag := d.data[d.pos]
	d.pos++
	switch tag {
	case tagString:
		return d.bytes(d.uvarint())
	case tagUUID:
		if len(d.data)-d.pos < 16 {
			d.err = true
			d.pos = len(d.data)
			return ""
		}
		d.pos += 16
		return unpackUUID(d.data[d.pos-16 : d.pos])
	case tagDictString:
		id := d.uvarint()
		if d.Dict == nil || id >= uint64(d.Dict.Len()) {
			d.err = true
			return ""
		}
		return d.Dict.String(uint32(id))
	}
	d.err = true
	return ""
}

// value decodes one value, keeping what p selects.
func (d *Decoder) value(p *Projection) Value {
	if d.pos >= len(d.data) {
		d.err = true
		return Value{}
	}
	tag := d.data[d.pos]
	switch tag {
	case tagNull:
		d.pos++
		return Value{}
	case tagFalse:
		d.pos++
		return Value{kind: KindBool}
	case tagTrue:
		d.pos++
		return Value{kind: KindBool, num: 1}
	case tagInt:
		d.pos++
		return Value{kind: KindInt, num: uint64(d.varint())}
	case tagDouble:
		d.pos++
		if len(d.data)-d.pos < 8 {
			d.err = true
			d.pos = len(d.data)
			return Value{}
		}
		v := Value{kind: KindDouble, num: binary.LittleEndian.Uint64(d.data[d.pos:])}
		d.pos += 8
		return v
	case tagDecimal:
		d.pos++
		if d.pos >= len(d.data) || d.data[d.pos] >= byte(len(pow10)) {
			d.err = true
			d.pos = len(d.data)
			return Value{}
		}
		digits := d.data[d.pos]
		d.pos++
		m := d.varint()
		return Double(float64(m) / pow10[digits])
	case tagString, tagDictString, tagUUID:
		return Value{kind: KindString, str: d.str()}
	case tagTime:
		d.pos++
		return Value{kind: KindTime, num: uint64(d.varint())}
	case tagArray, tagObject, tagNarrowObject, tagMap:
		d.pos++
		size := d.uvarint()
		if d.err || size > uint64(len(d.data)-d.pos) {
			d.err = true
			d.pos = len(d.data)
			return Value{}
		}
		end := d.pos + int(size)
		outer := d.data
		d.data = d.data[:end] // a lying count cannot read past the container
		var v Value
		switch tag {
		case tagArray:
			v = d.array(p)
		case tagObject:
			v = d.object(p)
		case tagNarrowObject:
			v = d.narrowObject(p)
		default:
			v = d.mapValue()
		}
		if d.pos != end {
			d.err = true
		}
		d.data = outer
		d.pos = end
		return v
	}
	d.err = true
	d.pos = len(d.data)
	return Value{}
}

func (d *Decoder) array(p *Projection) Value {
	n := d.uvarint()
	if n > uint64(len(d.data)-d.pos) { // every element takes a byte
		d.err = true
		return Value{}
	}
	list := d.alloc(int(n))
	for i := range list {
		list[i] = d.value(p)
		if d.err {
			return Value{}
		}
	}
	return Value{kind: KindArray, list: list}
}

func (d *Decoder) object(p *Projection) Value {
	width := d.uvarint()
	present := d.uvarint()
	if present > uint64(len(d.data)-d.pos) || width > math.MaxInt32 {
		d.err = true
		return Value{}
	}
	n := int(width)
	if n > wideObject {
		// The width is only a claim: size the list by the fields really
		// there, so a few corrupt bytes cannot ask for gigabytes.
		n = d.highestField(present, width) + 1
		if d.err {
			return Value{}
		}
	}
	if p != nil {
		n = min(n, len(p.fields))
	}
	// Trailing nulls are trimmed below, so an object keeps the shape
	// decode gave it: sized to its highest present field.
	list := d.alloc(n)
	last := -1
	prev := -1
	for range present {
		i := d.uvarint()
		if d.err || i >= width || int(i) <= prev {
			d.err = true
			return Value{}
		}
		prev = int(i)
		if p != nil && (int(i) >= len(p.fields) || p.fields[i] == nil) {
			d.skip()
			continue
		}
		if int(i) >= len(list) {
			// Beyond what highestField saw: the bytes are corrupt.
			d.err = true
			return Value{}
		}
		sub := (*Projection)(nil)
		if p != nil && p.fields[i] != all {
			sub = p.fields[i]
		}
		list[i] = d.value(sub)
		last = int(i)
	}
	if d.err {
		return Value{}
	}
	return Value{kind: KindObject, list: list[: last+1 : last+1]}
}

// wideObject is the width above which object() reads the field numbers
// before sizing its list; records' objects are far narrower.
const wideObject = 256

// highestField returns the last field number of the present fields that
// follow (numbers rise and stay under width, or the bytes are corrupt),
// without moving past them.
func (d *Decoder) highestField(present, width uint64) int {
	at := d.pos
	last := -1
	for range present {
		i := d.uvarint()
		if d.err || i >= width || int64(i) <= int64(last) {
			d.err = true
			return -1
		}
		last = int(i)
		d.skip()
		if d.err {
			return -1
		}
	}
	d.pos = at
	return last
}

func (d *Decoder) narrowObject(p *Projection) Value {
	if len(d.data)-d.pos < 2 || d.data[d.pos] > 8 {
		d.err = true
		return Value{}
	}
	width, bits := int(d.data[d.pos]), d.data[d.pos+1]
	d.pos += 2
	if bits>>width != 0 {
		d.err = true
		return Value{}
	}
	n := width
	if p != nil {
		n = min(n, len(p.fields))
	}
	list := d.alloc(n)
	last := -1
	for i := range width {
		if bits&(1<<i) == 0 {
			continue
		}
		if p == nil {
			list[i] = d.value(nil)
			last = i
			continue
		}
		if i < len(p.fields) && p.fields[i] != nil {
			sub := p.fields[i]
			if sub == all {
				sub = nil
			}
			list[i] = d.value(sub)
			last = i
			continue
		}
		d.skip()
	}
	if d.err {
		return Value{}
	}
	return Value{kind: KindObject, list: list[: last+1 : last+1]}
}

func (d *Decoder) mapValue() Value {
	n := d.uvarint()
	if n > uint64(len(d.data)-d.pos)/2 {
		d.err = true
		return Value{}
	}
	list := d.alloc(2 * int(n))
	for i := 0; i < len(list); i += 2 {
		list[i] = Value{kind: KindString, str: d.str()}
		list[i+1] = d.value(nil)
		if d.err {
			return Value{}
		}
	}
	return Value{kind: KindMap, list: list}
}

// skip moves past one value without decoding it.
func (d *Decoder) skip() {
	if d.pos >= len(d.data) {
		d.err = true
		return
	}
	tag := d.data[d.pos]
	d.pos++
	switch tag {
	case tagNull, tagFalse, tagTrue:
	case tagSame:
		d.uvarint()
	case tagInt, tagTime:
		d.varint()
	case tagDouble:
		if len(d.data)-d.pos < 8 {
			d.err = true
			d.pos = len(d.data)
			return
		}
		d.pos += 8
	case tagString:
		d.bytes(d.uvarint())
	case tagUUID:
		d.bytes(16)
	case tagDecimal:
		if d.pos >= len(d.data) {
			d.err = true
			return
		}
		d.pos++ // digits
		d.varint()
	case tagDictString:
		d.uvarint()
	case tagArray, tagObject, tagNarrowObject, tagMap:
		size := d.uvarint()
		if d.err || size > uint64(len(d.data)-d.pos) {
			d.err = true
			d.pos = len(d.data)
			return
		}
		d.pos += int(size)
	default:
		d.err = true
		d.pos = len(d.data)
	}
}

// Skip returns data after the first binary value in it.
func Skip(data []byte) ([]byte, error) {
	d := Decoder{data: data}
	d.skip()
	if d.err {
		return nil, ErrCorrupt
	}
	return data[d.pos:], nil
}
