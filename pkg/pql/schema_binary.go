package pql

import (
	"encoding/binary"
	"fmt"
)

// MarshalBinary encodes the schema: the field layouts binary Values of it
// depend on, so a store's snapshot carries them.
func (s *Schema) MarshalBinary() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	buf := []byte{1} // version
	buf = appendType(buf, s.profile)
	return appendType(buf, s.event), nil
}

// UnmarshalBinary decodes what MarshalBinary encoded into s.
func (s *Schema) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != 1 {
		return fmt.Errorf("pql: schema: unknown encoding version")
	}
	r := typeReader{data: data[1:]}
	profile := r.typ(0)
	event := r.typ(0)
	if r.err != nil {
		return r.err
	}
	if len(r.data) != 0 || profile.Kind != TypeObject || event.Kind != TypeObject {
		return fmt.Errorf("pql: schema: %w", ErrCorrupt)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profile, s.event = profile, event
	return nil
}

func appendType(buf []byte, t *Type) []byte {
	buf = append(buf, byte(t.Kind))
	switch t.Kind {
	case TypeObject:
		buf = binary.AppendUvarint(buf, uint64(len(t.names)))
		for i, n := range t.names {
			buf = binary.AppendUvarint(buf, uint64(len(n)))
			buf = append(buf, n...)
			buf = appendType(buf, t.types[i])
		}
	case TypeArray, TypeMap:
		buf = appendType(buf, t.Elem)
	}
	return buf
}

// maxTypeDepth bounds the nesting of an unmarshalled type. It is not
// MaxDepth (a query's limit): records nest up to the JSON decoders' 10000
// levels, and so do the types learnt from them, which MarshalBinary writes.
const maxTypeDepth = 10000 + 1

type typeReader struct {
	data []byte
	err  error
}

func (r *typeReader) uvarint() uint64 {
	x, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.data = r.data[n:]
	return x
}

func (r *typeReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("pql: schema: %w", ErrCorrupt)
	}
	r.data = nil
}

func (r *typeReader) typ(depth int) *Type {
	if len(r.data) == 0 || depth > maxTypeDepth {
		r.fail()
		return &Type{}
	}
	k := TypeKind(r.data[0])
	r.data = r.data[1:]
	switch k {
	case TypeAny:
		return &Type{Kind: TypeAny}
	case TypeBool:
		return BoolType
	case TypeNumber:
		return NumberType
	case TypeString:
		return StringType
	case TypeTime:
		return TimeType
	case TypeArray, TypeMap:
		return &Type{Kind: k, Elem: r.typ(depth + 1)}
	case TypeObject:
		t := ObjectOf()
		n := r.uvarint()
		for range n {
			if r.err != nil {
				break
			}
			l := r.uvarint()
			if l > uint64(len(r.data)) {
				r.fail()
				break
			}
			name := string(r.data[:l])
			r.data = r.data[l:]
			if _, dup := t.index[name]; dup {
				r.fail()
				break
			}
			t.add(name, r.typ(depth+1))
		}
		return t
	}
	r.fail()
	return &Type{}
}
