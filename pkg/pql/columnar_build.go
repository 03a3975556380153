package pql

// ColumnBuilder dictionary-codes a column of scalar values, row by row.
// Arrays, objects and maps are stored as null: a ColumnPlan reads only
// scalar attributes.
type ColumnBuilder struct {
	values []Value
	index  map[scalarKey]uint32
	codes  []uint32
}

type scalarKey struct {
	kind Kind
	num  uint64
	str  string
}

// Add appends a row holding v.
func (b *ColumnBuilder) Add(v Value) {
	if b.index == nil {
		b.values = []Value{{}}
		b.index = map[scalarKey]uint32{{}: 0}
	}
	switch v.kind {
	case KindArray, KindObject, KindMap:
		v = Value{}
	}
	k := scalarKey{v.kind, v.num, v.str}
	c, ok := b.index[k]
	if !ok {
		c = uint32(len(b.values))
		b.index[k] = c
		b.values = append(b.values, v)
	}
	b.codes = append(b.codes, c)
}

// Grow makes room for n more rows.
func (b *ColumnBuilder) Grow(n int) {
	if cap(b.codes)-len(b.codes) < n {
		codes := make([]uint32, len(b.codes), len(b.codes)+n)
		copy(codes, b.codes)
		b.codes = codes
	}
}

// Column returns the rows added so far, in order.
func (b *ColumnBuilder) Column() *Column {
	if b.index == nil {
		b.values = []Value{{}}
	}
	return compact(&Column{Values: b.values, Codes: b.codes})
}

// ConcatColumns returns the rows of parts one after the other, with one
// dictionary.
func ConcatColumns(parts []*Column) *Column {
	var b ColumnBuilder
	b.Add(Value{})
	b.codes = b.codes[:0]
	n := 0
	for _, p := range parts {
		n += p.Len()
	}
	b.codes = make([]uint32, 0, n)
	for _, p := range parts {
		remap := make([]uint32, len(p.Values))
		for i, v := range p.Values {
			k := scalarKey{v.kind, v.num, v.str}
			c, ok := b.index[k]
			if !ok {
				c = uint32(len(b.values))
				b.index[k] = c
				b.values = append(b.values, v)
			}
			remap[i] = c
		}
		if p.Small != nil {
			for _, c := range p.Small {
				b.codes = append(b.codes, remap[c])
			}
			continue
		}
		for _, c := range p.Codes {
			b.codes = append(b.codes, remap[c])
		}
	}
	return b.Column()
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
