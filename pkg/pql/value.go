package pql

import (
	"math"
	"strconv"
	"time"
)

// Kind is the dynamic type of a Value.
type Kind uint8

// Value kinds. The zero Value is null.
const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindDouble
	KindString
	KindTime // an instant, kept as microseconds since the Unix epoch, UTC
	KindArray
	KindObject // fields laid out by an Object type of a Schema
	KindMap    // string keys to values
)

var kindNames = [...]string{"null", "boolean", "integer", "double", "string", "timestamp", "array", "object", "map"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one profile, event or attribute value. It is a small struct
// passed by value so that evaluation allocates nothing for scalars.
//
// Objects do not carry field names: their fields sit in list at the indexes
// the Schema gave them, which is what lets a compiled query read
// homeAddress.country with two slice indexes instead of two map lookups.
// A field past the end of list is null, so objects of an older, shorter
// layout stay valid when the schema grows.
type Value struct {
	kind Kind
	num  uint64  // bool, int64, float64 bits, or microseconds
	str  string  // string value
	list []Value // array elements; object fields; map keys and values alternating
}

// Constructors.

// Null returns the null value.
func Null() Value { return Value{} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, num: 1}
	}
	return Value{kind: KindBool}
}

// Int returns an integer value.
func Int(n int64) Value { return Value{kind: KindInt, num: uint64(n)} }

// Double returns a double value.
func Double(f float64) Value { return Value{kind: KindDouble, num: math.Float64bits(f)} }

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Time returns a timestamp value (microsecond precision).
func Time(t time.Time) Value { return Micros(t.UnixMicro()) }

// Micros returns a timestamp value from microseconds since the Unix epoch.
func Micros(us int64) Value { return Value{kind: KindTime, num: uint64(us)} }

// Array returns an array value holding elems (not copied).
func Array(elems []Value) Value { return Value{kind: KindArray, list: elems} }

// Object returns an object whose fields are laid out as its Schema type says:
// fields[i] is the value of the field with index i.
func Object(fields []Value) Value { return Value{kind: KindObject, list: fields} }

// Map returns a map value. Keys should be distinct; lookups take the first.
func Map(keys []string, values []Value) Value {
	list := make([]Value, 0, 2*len(keys))
	for i, k := range keys {
		list = append(list, String(k), values[i])
	}
	return Value{kind: KindMap, list: list}
}

// Accessors.

// Kind returns the dynamic type of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Bool returns the boolean (false unless v is a true boolean).
func (v Value) Bool() bool { return v.kind == KindBool && v.num != 0 }

// Int returns v as an integer (doubles truncated, others 0).
func (v Value) Int() int64 {
	switch v.kind {
	case KindInt, KindTime:
		return int64(v.num)
	case KindDouble:
		return int64(math.Float64frombits(v.num))
	}
	return 0
}

// Float returns v as a float64 (integers converted, others 0).
func (v Value) Float() float64 {
	switch v.kind {
	case KindDouble:
		return math.Float64frombits(v.num)
	case KindInt:
		return float64(int64(v.num))
	}
	return 0
}

// Str returns the string (empty unless v is a string).
func (v Value) Str() string { return v.str }

// Micros returns a timestamp as microseconds since the Unix epoch.
func (v Value) Micros() int64 { return int64(v.num) }

// Time returns a timestamp as a time.Time in UTC.
func (v Value) Time() time.Time { return time.UnixMicro(int64(v.num)).UTC() }

// Len returns the number of elements of an array, fields of an object or
// entries of a map.
func (v Value) Len() int {
	if v.kind == KindMap {
		return len(v.list) / 2
	}
	return len(v.list)
}

// Index returns element i of an array or field i of an object.
func (v Value) Index(i int) Value {
	if (v.kind == KindArray || v.kind == KindObject) && i >= 0 && i < len(v.list) {
		return v.list[i]
	}
	return Value{}
}

// Elems returns the elements of an array (shared, not copied).
func (v Value) Elems() []Value {
	if v.kind == KindArray {
		return v.list
	}
	return nil
}

// Entry returns key and value of map entry i.
func (v Value) Entry(i int) (string, Value) {
	return v.list[2*i].str, v.list[2*i+1]
}

// Get returns the value of a map key (null when absent).
func (v Value) Get(key string) Value {
	if v.kind != KindMap {
		return Value{}
	}
	for i := 0; i+1 < len(v.list); i += 2 {
		if v.list[i].str == key {
			return v.list[i+1]
		}
	}
	return Value{}
}

// field is the hot path of every attribute read.
func (v Value) field(i int) Value {
	if v.kind == KindObject && i < len(v.list) {
		return v.list[i]
	}
	return Value{}
}

func (v Value) isNumber() bool { return v.kind == KindInt || v.kind == KindDouble }

// empty reports whether v is null or an empty array: the two things
// isNull() is true of.
func (v Value) empty() bool {
	return v.kind == KindNull || v.kind == KindArray && len(v.list) == 0
}

// truthy is how a value reads as a condition: true, or a non-empty array
// (so xEvent[cond] means "some event matches").
func (v Value) truthy() bool {
	switch v.kind {
	case KindBool:
		return v.num != 0
	case KindArray:
		return len(v.list) > 0
	}
	return false
}

// String renders v for messages and tests (not pql/text).
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "null"
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindDouble:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindString:
		return strconv.Quote(v.str)
	case KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case KindArray, KindObject:
		s := "["
		if v.kind == KindObject {
			s = "{"
		}
		for i, e := range v.list {
			if i > 0 {
				s += ", "
			}
			s += e.String()
		}
		if v.kind == KindObject {
			return s + "}"
		}
		return s + "]"
	case KindMap:
		s := "{"
		for i := 0; i+1 < len(v.list); i += 2 {
			if i > 0 {
				s += ", "
			}
			s += strconv.Quote(v.list[i].str) + ": " + v.list[i+1].String()
		}
		return s + "}"
	}
	return "?"
}

// Equal reports whether a and b are the same value. Numbers compare by
// value across integer and double; arrays and maps compare element-wise.
func Equal(a, b Value) bool {
	if a.isNumber() && b.isNumber() {
		c, ok := order(a, b)
		return ok && c == 0
	}
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case KindString:
		return a.str == b.str
	case KindArray, KindObject, KindMap:
		if len(a.list) != len(b.list) {
			return false
		}
		for i := range a.list {
			if !Equal(a.list[i], b.list[i]) {
				return false
			}
		}
		return true
	}
	return a.num == b.num
}

// clone deep-copies the lists of v, so a result can outlive the runner's
// scratch buffers.
func (v Value) clone() Value {
	if v.list == nil {
		return v
	}
	list := make([]Value, len(v.list))
	for i, e := range v.list {
		list[i] = e.clone()
	}
	v.list = list
	return v
}

// Pack returns a deep copy of vs whose lists all live in one allocation, in
// depth-first order. A store should keep each profile packed: evaluation
// then walks memory forwards instead of chasing pointers across the heap,
// which for event scans is most of the cost.
func Pack(vs []Value) []Value {
	n := len(vs)
	for _, v := range vs {
		n += v.size()
	}
	slab := make([]Value, n)
	copy(slab, vs)
	next := len(vs)
	for i := range vs {
		next = slab[i].packInto(slab, next)
	}
	return slab[:len(vs):len(vs)]
}

// size counts the Values below v.
func (v Value) size() int {
	n := len(v.list)
	for _, e := range v.list {
		n += e.size()
	}
	return n
}

// packInto moves v's list to slab[next:] (recursively) and returns the
// next free index.
func (v *Value) packInto(slab []Value, next int) int {
	if len(v.list) == 0 {
		if v.list != nil {
			v.list = slab[next:next:next]
		}
		return next
	}
	start := next
	next += copy(slab[start:], v.list)
	v.list = slab[start:next:next]
	for i := range v.list {
		next = v.list[i].packInto(slab, next)
	}
	return next
}

// Pack lays out the subject's profile and events in one allocation (see
// the Pack function).
func (s *Subject) Pack() {
	all := make([]Value, 0, 1+len(s.Events))
	all = append(all, s.Profile)
	all = append(all, s.Events...)
	packed := Pack(all)
	s.Profile = packed[0]
	s.Events = packed[1:]
}

// Merge merges profile fragments laid out by the same schema, highest
// priority first: each attribute comes from the first fragment that has it.
// Objects merge field by field and maps key by key, recursively; arrays and
// scalars are taken whole. This is how a merge policy combines fragments
// once it has ordered them.
func Merge(fragments ...Value) Value {
	var out Value
	for _, f := range fragments {
		out = mergeInto(out, f)
	}
	return out
}

// mergeInto fills what hi lacks from lo.
func mergeInto(hi, lo Value) Value {
	switch {
	case hi.kind == KindNull:
		return lo
	case hi.kind == KindObject && lo.kind == KindObject:
		n := max(len(hi.list), len(lo.list))
		list := make([]Value, n)
		for i := range list {
			var a, b Value
			if i < len(hi.list) {
				a = hi.list[i]
			}
			if i < len(lo.list) {
				b = lo.list[i]
			}
			list[i] = mergeInto(a, b)
		}
		return Value{kind: KindObject, list: list}
	case hi.kind == KindMap && lo.kind == KindMap:
		list := append([]Value(nil), hi.list...)
		for i := 0; i+1 < len(lo.list); i += 2 {
			key := lo.list[i].str
			j := mapIndex(list, key)
			if j < 0 {
				list = append(list, lo.list[i], lo.list[i+1])
				continue
			}
			list[j+1] = mergeInto(list[j+1], lo.list[i+1])
		}
		return Value{kind: KindMap, list: list}
	}
	return hi
}

func mapIndex(list []Value, key string) int {
	for i := 0; i+1 < len(list); i += 2 {
		if list[i].str == key {
			return i
		}
	}
	return -1
}
