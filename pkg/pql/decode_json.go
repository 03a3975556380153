package pql

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// ErrSchemaChange is returned by DecodeKnownProfile and DecodeKnownEvent
// when the record needs the schema to grow: a field the schema has not
// seen (even one whose value is null), or the first non-null value of a
// field still typed "any". The caller then falls back to the learning path
// (DecodeProfile/DecodeEvent, or ProfileValue/EventValue), under which the
// schema learns.
var ErrSchemaChange = errors.New("pql: record needs a schema change")

// DecodeKnownProfile decodes one JSON object (a profile record) against
// the schema as it is, never changing it, so that records can be decoded
// by parallel workers; the learning path takes the write lock. It is safe
// for concurrent use: it holds the schema's read lock while it decodes.
//
// Whenever DecodeProfile would not change the schema, the result is the
// same Value, or a *TypeError DecodeProfile returns (it may pick another
// when a record has several: it visits fields in map order). When the
// schema would change, the result is ErrSchemaChange, or a *TypeError if
// the record also has one, as the record fails either way. Unlike
// DecodeProfile, it rejects input that is not exactly one JSON object:
// trailing data, or a top-level null.
func (s *Schema) DecodeKnownProfile(data []byte) (Value, error) {
	return s.decodeKnown(data, false)
}

// DecodeKnownEvent is DecodeKnownProfile for an ExperienceEvent record.
func (s *Schema) DecodeKnownEvent(data []byte) (Value, error) {
	return s.decodeKnown(data, true)
}

func (s *Schema) decodeKnown(data []byte, event bool) (Value, error) {
	d := kdPool.Get().(*kdDecoder)
	defer d.release()
	root, err := d.parseKnown(s, data, event)
	if err != nil {
		return Value{}, err
	}
	return d.finish(root), nil
}

// parseKnown parses data against the schema's profile or event type.
func (d *kdDecoder) parseKnown(s *Schema, data []byte, event bool) (kdVal, error) {
	s.mu.RLock()
	root := s.profile
	if event {
		root = s.event
	}
	v, err := d.parse(data, root)
	s.mu.RUnlock()
	switch {
	case err == errKdSyntax:
		return kdVal{}, kdSyntaxError(data)
	case err != nil:
		return kdVal{}, err
	}
	// Offsets are packed in 32 bits (see kdPack); no sane record comes near.
	if len(d.arena) > kdMaxOffset || len(d.strs) > kdMaxOffset {
		return kdVal{}, errors.New("pql: decoding record: record too large")
	}
	return v, nil
}

// KnownDecoder decodes records as DecodeKnownProfile and DecodeKnownEvent
// do, reusing its memory: no allocation once warm, but a Value it returns,
// strings included, is valid only until its next call. Ingestion decodes
// millions of records it only checks or re-encodes; one KnownDecoder per
// goroutine.
type KnownDecoder struct {
	d    kdDecoder
	slab []Value
	strs []byte
}

// Decode decodes one profile record (event false) or ExperienceEvent
// against s as it is.
func (k *KnownDecoder) Decode(s *Schema, data []byte, event bool) (Value, error) {
	k.d.reset()
	root, err := k.d.parseKnown(s, data, event)
	if err != nil {
		return Value{}, err
	}
	k.slab = slices.Grow(k.slab[:0], len(k.d.arena))[:len(k.d.arena)]
	k.strs = append(k.strs[:0], k.d.strs...)
	return k.d.fill(root, k.slab, unsafe.String(unsafe.SliceData(k.strs), len(k.strs))), nil
}

var errKdSyntax = errors.New("pql: malformed JSON")

func kdSyntaxError(data []byte) error {
	var m map[string]any
	err := json.Unmarshal(data, &m)
	switch {
	case err == nil && m == nil:
		return errors.New("pql: decoding record: the record is null, not a JSON object")
	case err == nil:
		return errors.New("pql: decoding record: malformed JSON") // not reached unless the two parsers disagree
	}
	return fmt.Errorf("pql: decoding record: %w", err)
}

// kdMaxDepth is encoding/json's nesting limit, kept so that both paths
// accept the same documents.
const kdMaxDepth = 10000

// kdMaxOffset bounds the offsets and lengths packed in a kdVal's num.
const kdMaxOffset = 1<<32 - 1

// kdDecoder holds the scratch space of one decode; pooled, so a decode
// allocates only its result: one slab for every list of the record and
// one string for all its string bytes.
//
// While decoding, values are kdVals, which hold no pointers: a list is a
// range of arena and a string a range of strs, packed in num (kdPack).
// Children are built on the stacks and moved to arena when their container
// closes, so arena ends up with each list contiguous, children before
// parents; finish copies it to the slab in one go, resolving the ranges.
type kdDecoder struct {
	data  []byte
	i     int
	depth int

	arena []kdVal     // finished lists
	strs  []byte      // bytes of string values and map keys
	stk   []kdVal     // pending array elements
	fstk  []kdField   // pending object fields
	mstk  []kdEntry   // pending map entries
	buf   []byte      // an unescaped key or timestamp
	errs  []kdPending // errors that a later duplicate key may still cancel
}

// kdVal is a Value while decoding, with no pointers: the scratch space
// then costs the garbage collector nothing (no write barriers on the many
// copies) and moves a third of the bytes.
type kdVal struct {
	num  uint64 // as in Value, or a packed range (kdPack)
	kind Kind
}

type kdField struct {
	idx int
	v   kdVal
}

type kdEntry struct {
	off, n int // key in strs
	v      kdVal
}

// kdPending is an error under an object field or map entry. encoding/json
// keeps the last of duplicate keys, so an error in an earlier one is void.
type kdPending struct {
	pos      int // position of the field or entry on its stack
	key      int // field index; for maps unused
	from, to int // the key: raw, quotes excluded, in data (objects) or strs (maps)
	err      error
}

var kdPool = sync.Pool{New: func() any { return new(kdDecoder) }}

// kdKeep is the largest scratch space kept for the next decode: a huge
// record should not pin its buffers in the pool.
const kdKeep = 1 << 16

func (d *kdDecoder) release() {
	d.reset()
	kdPool.Put(d)
}

// reset empties the scratch space for the next decode, dropping it if a
// huge record grew it.
func (d *kdDecoder) reset() {
	d.data = nil
	if cap(d.arena) > kdKeep || cap(d.stk) > kdKeep || cap(d.fstk) > kdKeep || cap(d.mstk) > kdKeep || cap(d.strs) > 16*kdKeep {
		*d = kdDecoder{}
	}
	clear(d.errs[:cap(d.errs)]) // they hold *TypeErrors
	d.arena, d.strs, d.stk, d.fstk, d.mstk, d.errs = d.arena[:0], d.strs[:0], d.stk[:0], d.fstk[:0], d.mstk[:0], d.errs[:0]
}

func kdPack(off, n int) uint64       { return uint64(uint32(off)) | uint64(n)<<32 }
func kdUnpack(num uint64) (int, int) { return int(uint32(num)), int(num >> 32) }

// finish moves the record to its own memory and resolves the ranges.
func (d *kdDecoder) finish(root kdVal) Value {
	return d.fill(root, make([]Value, len(d.arena)), string(d.strs))
}

// fill resolves the ranges into slab (len(d.arena) Values) and blob (the
// bytes of d.strs).
func (d *kdDecoder) fill(root kdVal, slab []Value, blob string) Value {
	for i, x := range d.arena {
		v := &slab[i]
		v.kind = x.kind
		switch x.kind {
		case KindString:
			off, n := kdUnpack(x.num)
			v.str, v.num, v.list = blob[off:off+n], 0, nil
		case KindArray, KindObject, KindMap:
			off, n := kdUnpack(x.num)
			v.list, v.num, v.str = slab[off:off+n:off+n], 0, ""
		default:
			v.num, v.str, v.list = x.num, "", nil
		}
	}
	off, n := kdUnpack(root.num)
	return Value{kind: root.kind, list: slab[off : off+n : off+n]} // always an object
}

// parse decodes data, which must be one JSON object, into a Value of type
// root whose lists and strings are still ranges (see kdDecoder). Errors
// are errKdSyntax, *TypeError or ErrSchemaChange; malformed JSON anywhere
// wins over the other two, as encoding/json reads all before convert.
func (d *kdDecoder) parse(data []byte, root *Type) (kdVal, error) {
	d.data, d.i, d.depth = data, 0, 0
	d.ws()
	if d.i >= len(data) || data[d.i] != '{' {
		return kdVal{}, errKdSyntax
	}
	v, err := d.value(root)
	if err == errKdSyntax {
		return kdVal{}, err
	}
	d.ws()
	if d.i != len(data) {
		return kdVal{}, errKdSyntax
	}
	return v, err
}

func (d *kdDecoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value decodes the JSON value at d.i as type t, as convert would. On a
// *TypeError or ErrSchemaChange it still reads the whole value, so that
// the caller can go on; only errKdSyntax stops it short.
func (d *kdDecoder) value(t *Type) (kdVal, error) {
	if d.i >= len(d.data) {
		return kdVal{}, errKdSyntax
	}
	c := d.data[d.i]
	if c == 'n' {
		return kdVal{}, d.literal("null")
	}
	if t == nil || t.Kind == TypeAny {
		if err := d.skip(); err != nil {
			return kdVal{}, err
		}
		return kdVal{}, ErrSchemaChange
	}
	switch c {
	case '{':
		switch t.Kind {
		case TypeObject:
			return d.object(t)
		case TypeMap:
			return d.mapValue(t)
		}
		return d.mismatch(t, "an object")
	case '[':
		if t.Kind == TypeArray {
			return d.array(t)
		}
		return d.mismatch(t, "an array")
	case '"':
		switch t.Kind {
		case TypeString:
			return d.stringValue()
		case TypeTime:
			return d.timeString()
		}
		return d.mismatch(t, "a string")
	case 't', 'f':
		b := c == 't'
		lit := "false"
		if b {
			lit = "true"
		}
		if err := d.literal(lit); err != nil {
			return kdVal{}, err
		}
		if t.Kind == TypeBool {
			return kdVal{kind: KindBool, num: Bool(b).num}, nil
		}
		return kdVal{}, &TypeError{Want: t.String(), Got: "a boolean"}
	}
	start := d.i
	isInt, err := d.number()
	if err != nil {
		return kdVal{}, err
	}
	if t.Kind == TypeNumber || t.Kind == TypeTime {
		if v, ok := kdNumber(d.data[start:d.i], isInt); ok {
			if t.Kind == TypeTime {
				if v, err = epochMillis(v); err != nil {
					return kdVal{}, err
				}
			}
			return kdVal{kind: v.kind, num: v.num}, nil
		}
	}
	return kdVal{}, &TypeError{Want: t.String(), Got: "a number"}
}

// mismatch reads past a value of the wrong JSON kind.
func (d *kdDecoder) mismatch(t *Type, got string) (kdVal, error) {
	if err := d.skip(); err != nil {
		return kdVal{}, err
	}
	return kdVal{}, &TypeError{Want: t.String(), Got: got}
}

func (d *kdDecoder) literal(lit string) error {
	if len(d.data)-d.i < len(lit) || string(d.data[d.i:d.i+len(lit)]) != lit {
		return errKdSyntax
	}
	d.i += len(lit)
	return nil
}

func (d *kdDecoder) enter() error {
	d.depth++
	if d.depth > kdMaxDepth {
		return errKdSyntax
	}
	d.i++ // the bracket
	d.ws()
	return nil
}

// next reads the separator after an element: true for a comma, false for
// the closing bracket.
func (d *kdDecoder) next(close byte) (bool, error) {
	d.ws()
	if d.i < len(d.data) {
		switch d.data[d.i] {
		case ',':
			d.i++
			d.ws()
			return true, nil
		case close:
			d.i++
			d.depth--
			return false, nil
		}
	}
	return false, errKdSyntax
}

// colon reads the colon after a key and the space up to the value.
func (d *kdDecoder) colon() error {
	d.ws()
	if d.i >= len(d.data) || d.data[d.i] != ':' {
		return errKdSyntax
	}
	d.i++
	d.ws()
	return nil
}

func (d *kdDecoder) object(t *Type) (kdVal, error) {
	if err := d.enter(); err != nil {
		return kdVal{}, err
	}
	base, errBase := len(d.fstk), len(d.errs)
	unknown := false
	more := true
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		d.depth--
		more = false
	}
	for more {
		from, to, clean, err := d.scanString()
		if err != nil {
			return kdVal{}, err
		}
		key := d.data[from:to]
		if !clean {
			d.buf = kdUnquote(d.buf[:0], key)
			key = d.buf
		}
		if err := d.colon(); err != nil {
			return kdVal{}, err
		}
		idx, ok := t.index[string(key)]
		if !ok {
			// convert adds the field whatever its value; its value needs
			// no reading beyond syntax, as it would be learnt afresh.
			unknown = true
			if err := d.skip(); err != nil {
				return kdVal{}, err
			}
		} else {
			v, err := d.value(t.types[idx])
			if err == errKdSyntax {
				return kdVal{}, err
			}
			if len(d.errs) > errBase {
				d.errs = kdCancel(d.errs, errBase, idx)
			}
			if err != nil {
				d.errs = append(d.errs, kdPending{pos: len(d.fstk), key: idx, from: from, to: to, err: err})
				v = kdVal{}
			}
			d.fstk = append(d.fstk, kdField{idx, v})
		}
		if more, err = d.next('}'); err != nil {
			return kdVal{}, err
		}
	}
	if unknown || len(d.errs) > errBase {
		err := d.pendingError(errBase, false)
		if err == nil {
			err = ErrSchemaChange // only unknown fields
		}
		d.fstk, d.errs = d.fstk[:base], d.errs[:errBase]
		return kdVal{}, err
	}

	// Lay the fields out at their indexes, the last of duplicates winning,
	// and cut the list after the last non-null field as convert does.
	fields := d.fstk[base:]
	width := 0
	for _, f := range fields {
		if f.idx >= width && f.v.kind != KindNull {
			width = f.idx + 1
		}
	}
	off := len(d.arena)
	d.arena = slices.Grow(d.arena, width)[:off+width]
	list := d.arena[off:]
	clear(list)
	for _, f := range fields {
		if f.idx < width {
			list[f.idx] = f.v
		}
	}
	for width > 0 && list[width-1].kind == KindNull {
		width-- // a duplicate key set to null after a value
	}
	d.arena = d.arena[:off+width]
	d.fstk = d.fstk[:base]
	return kdVal{kind: KindObject, num: kdPack(off, width)}, nil
}

// kdCancel drops the pending error of field idx: a later duplicate
// replaces its value.
func kdCancel(errs []kdPending, base, idx int) []kdPending {
	out := errs[:base]
	for _, e := range errs[base:] {
		if e.key != idx {
			out = append(out, e)
		}
	}
	return out
}

// pendingError picks the error to report from d.errs[base:]: a
// *TypeError before ErrSchemaChange, since the record fails either way and
// the learning path need not be taken for it. Of an object's errors the
// first in the document is as good as any (convert visits fields in map
// order); of a map's, convert reports the one of the least key.
func (d *kdDecoder) pendingError(base int, isMap bool) error {
	var best *kdPending
	for i := base; i < len(d.errs); i++ {
		e := &d.errs[i]
		if _, ok := e.err.(*TypeError); !ok {
			continue
		}
		if best == nil || isMap && bytes.Compare(d.strs[e.from:e.to], d.strs[best.from:best.to]) < 0 {
			best = e
		}
	}
	if best == nil {
		if len(d.errs) > base {
			return ErrSchemaChange
		}
		return nil
	}
	var key string
	if isMap {
		key = string(d.strs[best.from:best.to])
	} else {
		key = string(kdUnquote(nil, d.data[best.from:best.to]))
	}
	return within(best.err, key)
}

func (d *kdDecoder) array(t *Type) (kdVal, error) {
	if err := d.enter(); err != nil {
		return kdVal{}, err
	}
	base := len(d.stk)
	var failed error
	more := true
	if d.i < len(d.data) && d.data[d.i] == ']' {
		d.i++
		d.depth--
		more = false
	}
	for n := 0; more; n++ {
		// convert stops at an array's first *TypeError; after one, the
		// rest only needs to be well-formed.
		if _, ok := failed.(*TypeError); ok {
			if err := d.skip(); err != nil {
				return kdVal{}, err
			}
		} else {
			v, err := d.value(t.Elem)
			switch err.(type) {
			case nil:
				if v.kind != KindNull {
					d.stk = append(d.stk, v)
				}
			case *TypeError:
				failed = within(err, "["+strconv.Itoa(n)+"]")
			default:
				if err != ErrSchemaChange {
					return kdVal{}, err
				}
				failed = err
			}
		}
		var err error
		if more, err = d.next(']'); err != nil {
			return kdVal{}, err
		}
	}
	if failed != nil {
		d.stk = d.stk[:base]
		return kdVal{}, failed
	}
	off := len(d.arena)
	d.arena = append(d.arena, d.stk[base:]...)
	d.stk = d.stk[:base]
	return kdVal{kind: KindArray, num: kdPack(off, len(d.arena)-off)}, nil
}

func (d *kdDecoder) mapValue(t *Type) (kdVal, error) {
	if err := d.enter(); err != nil {
		return kdVal{}, err
	}
	base, errBase := len(d.mstk), len(d.errs)
	more := true
	if d.i < len(d.data) && d.data[d.i] == '}' {
		d.i++
		d.depth--
		more = false
	}
	for more {
		off, n, err := d.stringBytes()
		if err != nil {
			return kdVal{}, err
		}
		if err := d.colon(); err != nil {
			return kdVal{}, err
		}
		v, err := d.value(t.Elem)
		if err == errKdSyntax {
			return kdVal{}, err
		}
		if err != nil {
			d.errs = append(d.errs, kdPending{pos: len(d.mstk), from: off, to: off + n, err: err})
			v = kdVal{}
		}
		d.mstk = append(d.mstk, kdEntry{off, n, v})
		if more, err = d.next('}'); err != nil {
			return kdVal{}, err
		}
	}
	entries := d.mstk[base:]
	if len(d.errs) > errBase {
		// An entry's error stands unless a later entry has the same key.
		live := d.errs[:errBase]
		for _, e := range d.errs[errBase:] {
			k := d.strs[e.from:e.to]
			if !slices.ContainsFunc(entries[e.pos-base+1:], func(x kdEntry) bool { return string(d.strs[x.off:x.off+x.n]) == string(k) }) {
				live = append(live, e)
			}
		}
		d.errs = live
		if err := d.pendingError(errBase, true); err != nil {
			d.mstk, d.errs = d.mstk[:base], d.errs[:errBase]
			return kdVal{}, err
		}
	}

	// Keys sorted as convert sorts them; of duplicates the last stays, as
	// encoding/json keeps it.
	strs := d.strs
	slices.SortStableFunc(entries, func(a, b kdEntry) int {
		return bytes.Compare(strs[a.off:a.off+a.n], strs[b.off:b.off+b.n])
	})
	off := len(d.arena)
	for i, e := range entries {
		if i+1 < len(entries) && string(strs[e.off:e.off+e.n]) == string(strs[entries[i+1].off:entries[i+1].off+entries[i+1].n]) {
			continue
		}
		d.arena = append(d.arena, kdVal{kind: KindString, num: kdPack(e.off, e.n)}, e.v)
	}
	d.mstk = d.mstk[:base]
	return kdVal{kind: KindMap, num: kdPack(off, len(d.arena)-off)}, nil
}

// stringBytes reads a string into strs and returns its range there.
func (d *kdDecoder) stringBytes() (int, int, error) {
	from, to, clean, err := d.scanString()
	if err != nil {
		return 0, 0, err
	}
	off := len(d.strs)
	if clean {
		d.strs = append(d.strs, d.data[from:to]...)
	} else {
		d.strs = kdUnquote(d.strs, d.data[from:to])
	}
	return off, len(d.strs) - off, nil
}

func (d *kdDecoder) stringValue() (kdVal, error) {
	off, n, err := d.stringBytes()
	if err != nil {
		return kdVal{}, err
	}
	return kdVal{kind: KindString, num: kdPack(off, n)}, nil
}

func (d *kdDecoder) timeString() (kdVal, error) {
	from, to, clean, err := d.scanString()
	if err != nil {
		return kdVal{}, err
	}
	s := d.data[from:to]
	if !clean {
		d.buf = kdUnquote(d.buf[:0], s)
		s = d.buf
	}
	if us, ok := kdParseTime(s); ok {
		return kdVal{kind: KindTime, num: uint64(us)}, nil
	}
	return kdVal{}, &TypeError{Want: "an ISO 8601 date or date-time", Got: strconv.Quote(string(s))}
}

// kdPlain marks the bytes a string can hold as they are: not a quote, a
// backslash, a control character (malformed) or a non-ASCII byte (checked
// for UTF-8).
var kdPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString reads the string at d.i and returns its contents' range in
// data. clean is false when encoding/json would change the bytes: escapes,
// or malformed UTF-8, which it replaces with U+FFFD (see kdUnquote).
func (d *kdDecoder) scanString() (from, to int, clean bool, err error) {
	data := d.data
	if d.i >= len(data) || data[d.i] != '"' {
		return 0, 0, false, errKdSyntax
	}
	i := d.i + 1
	from, clean = i, true
	for {
		// Eight bytes at a time while none needs a look: the lowest flagged
		// byte of m is the first quote, backslash, control or non-ASCII.
		for i+8 <= len(data) {
			const lo, hi = 0x0101010101010101, 0x8080808080808080
			w := binary.LittleEndian.Uint64(data[i:])
			q, b := w^(lo*'"'), w^(lo*'\\')
			m := ((q-lo)&^q | (b-lo)&^b | (w-lo*0x20)&^w | w) & hi
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(data) && kdPlain[data[i]] {
			i++
		}
		if i >= len(data) {
			return 0, 0, false, errKdSyntax
		}
		switch c := data[i]; {
		case c == '"':
			d.i = i + 1
			return from, i, clean, nil
		case c == '\\':
			clean = false
			if i+1 >= len(data) {
				return 0, 0, false, errKdSyntax
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if kdHex4(data[i+2:]) < 0 {
					return 0, 0, false, errKdSyntax
				}
				i += 6
			default:
				return 0, 0, false, errKdSyntax
			}
		case c < 0x20:
			return 0, 0, false, errKdSyntax
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				clean = false
			}
			i += size
		}
	}
}

// kdHex4 decodes the four hex digits at the start of b, or returns -1.
func kdHex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// kdUnquote appends the contents of a well-formed JSON string (quotes
// excluded) to dst, decoded as encoding/json decodes them: a lone or
// unpaired surrogate escape and each byte of malformed UTF-8 become
// U+FFFD.
func kdUnquote(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch e := s[r+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := kdHex4(s[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if r+1 < len(s) && s[r] == '\\' && s[r+1] == 'u' {
						rr1 = kdHex4(s[r+2:])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // " \ /
				dst = append(dst, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst
}

// number reads a JSON number; isInt is true when it has no fraction and no
// exponent (convert's test for an integer literal).
func (d *kdDecoder) number() (isInt bool, err error) {
	data, i := d.data, d.i
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i++; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
		}
	default:
		return false, errKdSyntax
	}
	isInt = true
	if i < len(data) && data[i] == '.' {
		isInt = false
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return false, errKdSyntax
		}
		for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		isInt = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return false, errKdSyntax
		}
		for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
		}
	}
	d.i = i
	return isInt, nil
}

// kdNumber is number for a JSON number literal: an integer if it has no
// fraction or exponent and fits int64, else a double; false if it is out
// of float64's range.
func kdNumber(lit []byte, isInt bool) (Value, bool) {
	if isInt {
		digits, neg := lit, lit[0] == '-'
		if neg {
			digits = digits[1:]
		}
		if len(digits) <= 19 { // 19 digits fit uint64
			var u uint64
			for _, c := range digits {
				u = u*10 + uint64(c-'0')
			}
			switch {
			case neg && u <= 1<<63:
				return Int(int64(-u)), true
			case !neg && u < 1<<63:
				return Int(int64(u)), true
			}
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	return Double(f), err == nil
}

// skip reads past a value, checking only that it is well-formed.
func (d *kdDecoder) skip() error {
	if d.i >= len(d.data) {
		return errKdSyntax
	}
	switch c := d.data[d.i]; c {
	case '{', '[':
		if err := d.enter(); err != nil {
			return err
		}
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		if d.i < len(d.data) && d.data[d.i] == close {
			d.i++
			d.depth--
			return nil
		}
		for more := true; more; {
			if c == '{' {
				if _, _, _, err := d.scanString(); err != nil {
					return err
				}
				if err := d.colon(); err != nil {
					return err
				}
			}
			if err := d.skip(); err != nil {
				return err
			}
			var err error
			if more, err = d.next(close); err != nil {
				return err
			}
		}
		return nil
	case '"':
		_, _, _, err := d.scanString()
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	}
	_, err := d.number()
	return err
}

// kdParseTime is parseTime without the allocation of a string for the
// forms records use: RFC 3339 (decoded exactly as time.Parse's RFC 3339
// fast path decodes it) and a plain date. Anything else goes to parseTime.
func kdParseTime(s []byte) (int64, bool) {
	if len(s) < 10 || len(s) > 40 || s[4] != '-' {
		return 0, false
	}
	if len(s) == 10 {
		if y, m, d, ok := kdDate(s); ok {
			return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).UnixMicro(), true
		}
	} else if us, ok := kdRFC3339(s); ok {
		return us, true
	}
	return parseTime(string(s))
}

// kdDigits parses s as an unsigned decimal in [lo, hi].
func kdDigits(s []byte, lo, hi int) (int, bool) {
	x := 0
	for _, c := range s {
		if c < '0' || '9' < c {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, lo <= x && x <= hi
}

// kdDate parses YYYY-MM-DD, as the layouts of parseTime take it when the
// year is four digits.
func kdDate(s []byte) (y, m, d int, ok bool) {
	y, ok1 := kdDigits(s[0:4], 0, 9999)
	m, ok2 := kdDigits(s[5:7], 1, 12)
	if !ok1 || !ok2 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	d, ok = kdDigits(s[8:10], 1, kdDaysIn(m, y))
	return y, m, d, ok
}

func kdDaysIn(m, y int) int {
	if m == 2 {
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (m+m/8)%2
}

// kdRFC3339 mirrors time's parseRFC3339, which time.Parse tries first for
// the RFC3339Nano layout that parseTime tries first.
func kdRFC3339(s []byte) (int64, bool) {
	if len(s) < len("2006-01-02T15:04:05") {
		return 0, false
	}
	y, m, d, ok := kdDate(s[:10])
	hh, ok1 := kdDigits(s[11:13], 0, 23)
	mm, ok2 := kdDigits(s[14:16], 0, 59)
	ss, ok3 := kdDigits(s[17:19], 0, 59)
	if !ok || !ok1 || !ok2 || !ok3 || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	s = s[19:]
	nsec := 0
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		n := 2
		for n < len(s) && '0' <= s[n] && s[n] <= '9' {
			n++
		}
		digits := s[1:min(n, 10)]
		nsec, _ = kdDigits(digits, 0, 999999999)
		for range 9 - len(digits) {
			nsec *= 10
		}
		s = s[n:]
	}
	us := time.Date(y, time.Month(m), d, hh, mm, ss, nsec, time.UTC).UnixMicro()
	if len(s) == 1 && s[0] == 'Z' {
		return us, true
	}
	if len(s) != len("-07:00") || s[0] != '-' && s[0] != '+' || s[3] != ':' {
		return 0, false
	}
	zh, ok1 := kdDigits(s[1:3], 0, 23)
	zm, ok2 := kdDigits(s[4:6], 0, 59)
	if !ok1 || !ok2 {
		return 0, false
	}
	zone := int64(zh*60+zm) * 60
	if s[0] == '-' {
		zone = -zone
	}
	return us - zone*1e6, true
}
