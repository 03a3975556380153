package pql

import (
	"slices"
	"sync"
	"unsafe"
)

// ColumnBuilder dictionary-codes a column of scalar values, row by row.
// Arrays, objects and maps are stored as null: a ColumnPlan reads only
// scalar attributes.
type ColumnBuilder struct {
	values []Value
	index  map[scalarKey]uint32
	codes  []uint32
	// recent caches codes by a hash of the value's bits or string
	// address: a column of a few values, or of strings from a Dict
	// (which share their memory), rarely reaches the map.
	recent [256]recentCode
}

type recentCode struct {
	key  scalarKey
	code uint32
	set  bool
}

type scalarKey struct {
	kind Kind
	num  uint64
	str  string
}

// Add appends a row holding v.
func (b *ColumnBuilder) Add(v Value) {
	switch v.kind {
	case KindArray, KindObject, KindMap:
		v = Value{}
	}
	k := scalarKey{v.kind, v.num, v.str}
	h := v.num
	if v.kind == KindString {
		h = uint64(uintptr(unsafe.Pointer(unsafe.StringData(v.str)))) + uint64(len(v.str))
	}
	r := &b.recent[(h*0x9e3779b97f4a7c15)>>56]
	if !r.set || r.key != k {
		*r = recentCode{key: k, code: b.intern(v), set: true}
	}
	b.codes = append(b.codes, r.code)
}

// intern returns the code of scalar v, numbering it if it is new (null
// is always 0).
func (b *ColumnBuilder) intern(v Value) uint32 {
	if b.index == nil {
		b.values = []Value{{}}
		b.index = map[scalarKey]uint32{{}: 0}
	}
	k := scalarKey{v.kind, v.num, v.str}
	c, ok := b.index[k]
	if !ok {
		c = uint32(len(b.values))
		b.index[k] = c
		b.values = append(b.values, v)
	}
	return c
}

// Grow makes room for n more rows.
func (b *ColumnBuilder) Grow(n int) { b.codes = slices.Grow(b.codes, n) }

// Column returns the rows added so far, in order.
func (b *ColumnBuilder) Column() *Column {
	b.intern(Value{}) // an empty column still has null
	return compact(&Column{Values: b.values, Codes: b.codes})
}

// ConcatColumns returns the rows of parts one after the other, with one
// dictionary. Parts are copied in parallel: columns of events have tens
// of millions of rows.
func ConcatColumns(parts []*Column) *Column {
	var b ColumnBuilder
	b.intern(Value{})
	remaps := make([][]uint32, len(parts))
	starts := make([]int, len(parts)+1)
	for i, p := range parts {
		remap := make([]uint32, len(p.Values))
		for j, v := range p.Values {
			remap[j] = b.intern(v)
		}
		remaps[i] = remap
		starts[i+1] = starts[i] + p.Len()
	}
	out := &Column{Values: b.values}
	small := len(b.values) <= 256
	if small {
		out.Small = make([]uint8, starts[len(parts)])
	} else {
		out.Codes = make([]uint32, starts[len(parts)])
	}
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			remap, at := remaps[i], starts[i]
			for r := range p.Len() {
				c := remap[p.code(r)]
				if small {
					out.Small[at+r] = uint8(c)
				} else {
					out.Codes[at+r] = c
				}
			}
		})
	}
	wg.Wait()
	return out
}

func (c *Column) code(r int) uint32 {
	if c.Small != nil {
		return uint32(c.Small[r])
	}
	return c.Codes[r]
}

// compact stores codes in a byte each when there are few values.
func compact(c *Column) *Column {
	if len(c.Values) > 256 || c.Small != nil {
		return c
	}
	small := make([]uint8, len(c.Codes))
	for i, x := range c.Codes {
		small[i] = uint8(x)
	}
	return &Column{Values: c.Values, Small: small}
}

// Size is about how many bytes the column takes: its codes and its
// values (not the strings they point to, which usually belong to the
// store the column was read from).
func (c *Column) Size() int {
	return len(c.Codes)*4 + len(c.Small) + len(c.Values)*int(unsafe.Sizeof(Value{}))
}
