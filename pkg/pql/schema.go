package pql

import (
	"fmt"
	"strings"
	"sync"
)

// TypeKind is the kind of a schema type.
type TypeKind uint8

// Schema type kinds. TypeAny is a field seen only as null so far.
const (
	TypeAny TypeKind = iota
	TypeBool
	TypeNumber // integer or double
	TypeString
	TypeTime
	TypeObject
	TypeArray
	TypeMap
)

var typeKindNames = [...]string{"any", "boolean", "number", "string", "timestamp", "object", "array", "map"}

func (k TypeKind) String() string {
	if int(k) < len(typeKindNames) {
		return typeKindNames[k]
	}
	return fmt.Sprintf("type(%d)", k)
}

// Type is the type of a field. Object types own the layout of their
// values: the index of each field in Value lists.
type Type struct {
	Kind TypeKind
	Elem *Type // element type of arrays, value type of maps

	names []string
	types []*Type
	index map[string]int
}

// Scalar types. They are shared: never modify them.
var (
	BoolType   = &Type{Kind: TypeBool}
	NumberType = &Type{Kind: TypeNumber}
	StringType = &Type{Kind: TypeString}
	TimeType   = &Type{Kind: TypeTime}
)

// ObjectOf returns a new object type with the given fields, in order.
func ObjectOf(fields ...FieldDef) *Type {
	t := &Type{Kind: TypeObject, index: map[string]int{}}
	for _, f := range fields {
		t.add(f.Name, f.Type)
	}
	return t
}

// ArrayOf returns the type of arrays of elem.
func ArrayOf(elem *Type) *Type { return &Type{Kind: TypeArray, Elem: elem} }

// MapOf returns the type of maps from strings to elem.
func MapOf(elem *Type) *Type { return &Type{Kind: TypeMap, Elem: elem} }

// FieldDef names a field of an object type.
type FieldDef struct {
	Name string
	Type *Type
}

// Lookup returns the index and type of a field of an object type.
func (t *Type) Lookup(name string) (int, *Type, bool) {
	if t == nil || t.Kind != TypeObject {
		return 0, nil, false
	}
	i, ok := t.index[name]
	if !ok {
		return 0, nil, false
	}
	return i, t.types[i], true
}

// NumFields returns the number of fields of an object type.
func (t *Type) NumFields() int { return len(t.names) }

// FieldName returns the name of field i of an object type.
func (t *Type) FieldName(i int) string { return t.names[i] }

// FieldType returns the type of field i of an object type.
func (t *Type) FieldType(i int) *Type { return t.types[i] }

func (t *Type) add(name string, ft *Type) int {
	if t.index == nil {
		t.index = map[string]int{}
	}
	t.names = append(t.names, name)
	t.types = append(t.types, ft)
	t.index[name] = len(t.names) - 1
	return len(t.names) - 1
}

func (t *Type) String() string {
	if t == nil {
		return "unknown"
	}
	switch t.Kind {
	case TypeArray:
		return "array of " + t.Elem.String()
	case TypeMap:
		return "map of " + t.Elem.String()
	}
	return t.Kind.String()
}

// Schema is the set of known paths and their types for profiles and their
// ExperienceEvents, and the layout of their Values. It only grows: a field
// keeps its index forever, so compiled plans stay valid.
//
// A Schema is safe for concurrent use. Decoding may add fields while plans
// are compiled; evaluation never touches the Schema.
type Schema struct {
	mu      sync.RWMutex
	profile *Type
	event   *Type
}

// NewSchema returns an empty schema.
func NewSchema() *Schema {
	return &Schema{profile: ObjectOf(), event: ObjectOf()}
}

// NewXDMSchema returns a schema with the XDM fields whose types cannot be
// told from JSON declared: identityMap and segmentMembership are maps, and
// the usual timestamps are timestamps. Other fields are learnt as data is
// decoded.
func NewXDMSchema() *Schema {
	s := NewSchema()
	identity := ArrayOf(ObjectOf(
		FieldDef{"id", StringType},
		FieldDef{"authenticatedState", StringType},
		FieldDef{"primary", BoolType},
	))
	membership := MapOf(MapOf(ObjectOf(
		FieldDef{"status", StringType},
		FieldDef{"lastQualificationTime", TimeType},
	)))
	must := func(err error) {
		if err != nil {
			panic(err) // the paths above are constants
		}
	}
	must(s.DeclareProfile("_id", StringType))
	must(s.DeclareProfile("identityMap", MapOf(identity)))
	must(s.DeclareProfile("segmentMembership", membership))
	must(s.DeclareProfile("person.birthDate", TimeType))
	must(s.DeclareProfile("_repo.createDate", TimeType))
	must(s.DeclareProfile("_repo.modifyDate", TimeType))
	must(s.DeclareEvent("_id", StringType))
	must(s.DeclareEvent("timestamp", TimeType))
	must(s.DeclareEvent("eventType", StringType))
	must(s.DeclareEvent("identityMap", MapOf(identity)))
	return s
}

// Profile returns the object type of profiles. Read it under RLock.
func (s *Schema) Profile() *Type { return s.profile }

// Event returns the object type of ExperienceEvents.
func (s *Schema) Event() *Type { return s.event }

// DeclareProfile declares a dotted profile path, creating the objects on
// the way, e.g. DeclareProfile("person.birthDate", TimeType).
func (s *Schema) DeclareProfile(path string, t *Type) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return declare(s.profile, path, t)
}

// DeclareEvent declares a dotted ExperienceEvent path.
func (s *Schema) DeclareEvent(path string, t *Type) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return declare(s.event, path, t)
}

func declare(obj *Type, path string, t *Type) error {
	parts := strings.Split(path, ".")
	for i, name := range parts {
		last := i == len(parts)-1
		idx, ft, ok := obj.Lookup(name)
		switch {
		case !ok && last:
			obj.add(name, t)
			return nil
		case !ok:
			next := ObjectOf()
			obj.add(name, next)
			obj = next
		case last:
			if ft.Kind == TypeAny {
				obj.types[idx] = t
				return nil
			}
			if ft.Kind != t.Kind {
				return fmt.Errorf("pql: %s is already declared as %s", path, ft)
			}
			return nil
		case ft.Kind == TypeObject:
			obj = ft
		default:
			return fmt.Errorf("pql: %s: %s is a %s, not an object", path, strings.Join(parts[:i+1], "."), ft)
		}
	}
	return nil
}

// Paths lists every leaf path of the schema with its type, profile paths
// first, events under "xEvent.". For documentation and error hints.
func (s *Schema) Paths() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	var walk func(prefix string, t *Type)
	walk = func(prefix string, t *Type) {
		if t.Kind == TypeObject {
			for i, n := range t.names {
				walk(prefix+n+".", t.types[i])
			}
			return
		}
		out = append(out, strings.TrimSuffix(prefix, ".")+" "+t.String())
	}
	walk("", s.profile)
	walk("xEvent.", s.event)
	return out
}

// EventField returns the index and type of a top-level event field.
func (s *Schema) EventField(name string) (int, *Type, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.event.Lookup(name)
}

// Clone returns a deep copy of s. Ingestion learns a batch's fields on a
// clone and keeps it only if the batch commits, so a failed batch leaves
// no trace in the schema.
func (s *Schema) Clone() *Schema {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &Schema{profile: s.profile.clone(), event: s.event.clone()}
}

// clone deep-copies the types that decoding changes (objects gain fields,
// arrays and maps settle their element type); scalar and "any" types are
// never changed, so they are shared.
func (t *Type) clone() *Type {
	if t == nil {
		return nil
	}
	switch t.Kind {
	case TypeObject:
		c := &Type{Kind: TypeObject, names: append([]string(nil), t.names...), types: make([]*Type, len(t.types)), index: make(map[string]int, len(t.index))}
		for i, ft := range t.types {
			c.types[i] = ft.clone()
		}
		for k, v := range t.index {
			c.index[k] = v
		}
		return c
	case TypeArray, TypeMap:
		return &Type{Kind: t.Kind, Elem: t.Elem.clone()}
	}
	return t
}
