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
//	string                           tag len bytes     (inline)
//	dict string                      tag number        (Encoder.Dict)
//	timestamp                        tag zigzag-varint microseconds
//	array                            tag size count elem...
//	object                           tag size width present (index value)...
//	map                              tag size count (key value)...
//	same                             tag: the previous value of the column (AppendColumn)
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
)

// ErrCorrupt is returned when binary data does not decode.
var ErrCorrupt = errors.New("pql: corrupt binary value")

// Encoder writes the binary form of Values.
type Encoder struct {
	// Dict, when set, numbers strings instead of writing them inline.
	Dict *Dict
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

// AppendColumn appends v as the next value of a column whose previous
// value's encoding is prev: a repeat costs one byte. It returns the new
// buffer and the encoding of v (a subslice of it) to pass as the next prev.
// Columns of one profile's events repeat a lot: the same identityMap, the
// same currency, the same page.
func (e *Encoder) AppendColumn(buf, prev []byte, v Value) ([]byte, []byte) {
	start := len(buf)
	buf = e.Append(buf, v)
	enc := buf[start:]
	if prev != nil && string(enc) == string(prev) {
		return append(buf[:start], tagSame), prev
	}
	return buf, enc
}

func (e *Encoder) appendString(buf []byte, s string) []byte {
	if e.Dict != nil {
		return binary.AppendUvarint(append(buf, tagDictString), uint64(e.Dict.Add(s)))
	}
	buf = binary.AppendUvarint(append(buf, tagString), uint64(len(s)))
	return append(buf, s...)
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

// DecodeColumn decodes the n values of a column written with AppendColumn
// into out[:n], each projected by p, and returns the bytes after them.
func (d *Decoder) DecodeColumn(data []byte, n int, p *Projection, out []Value) ([]byte, error) {
	if p == all {
		p = nil
	}
	d.data, d.pos, d.err = data, 0, false
	var prev Value
	for i := range n {
		if d.pos < len(d.data) && d.data[d.pos] == tagSame {
			d.pos++
		} else {
			prev = d.value(p)
		}
		if d.err {
			return nil, ErrCorrupt
		}
		out[i] = prev
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
	case tagString, tagDictString:
		return Value{kind: KindString, str: d.str()}
	case tagTime:
		d.pos++
		return Value{kind: KindTime, num: uint64(d.varint())}
	case tagArray, tagObject, tagMap:
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
		if p == nil {
			list[i] = d.value(nil)
			last = int(i)
			continue
		}
		if int(i) < len(p.fields) && p.fields[i] != nil {
			sub := p.fields[i]
			if sub == all {
				sub = nil
			}
			list[i] = d.value(sub)
			last = int(i)
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
	case tagNull, tagFalse, tagTrue, tagSame:
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
	case tagDictString:
		d.uvarint()
	case tagArray, tagObject, tagMap:
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
