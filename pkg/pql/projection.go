package pql

import "strings"

// Projection selects the parts of an object a query reads, so a store
// decodes only those: a query on loyalty.tier and xEvent.timestamp need not
// build anyone's address or product list. A nil *Projection selects
// everything.
type Projection struct {
	// fields[i] selects within field i; nil leaves the field out, all
	// keeps it whole.
	fields []*Projection
}

// all is the projection that keeps a field whole.
var all = &Projection{}

// Field reports whether p keeps field i of an object, and what of it
// (nil: all of it).
func (p *Projection) Field(i int) (*Projection, bool) {
	if p == nil || p == all {
		return nil, true
	}
	if i >= len(p.fields) || p.fields[i] == nil {
		return nil, false
	}
	if p.fields[i] == all {
		return nil, true
	}
	return p.fields[i], true
}

// ProfileProjection returns the projection of profiles that keeps the
// dotted paths (as Info.ProfilePaths lists them).
func (s *Schema) ProfileProjection(paths []string) *Projection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return project(s.profile, paths)
}

// EventProjection returns the projection of ExperienceEvents that keeps
// the dotted paths (as Info.EventPaths lists them).
func (s *Schema) EventProjection(paths []string) *Projection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return project(s.event, paths)
}

func project(t *Type, paths []string) *Projection {
	root := &Projection{}
	for _, path := range paths {
		if path == "" {
			return nil
		}
		keep(root, t, strings.Split(path, "."))
	}
	return root
}

// keep adds one path to p, a projection of the object type t. Arrays are
// looked through: a path under an array selects within its elements.
// Unknown fields select nothing (they read as null anyway).
func keep(p *Projection, t *Type, parts []string) {
	for t != nil && t.Kind == TypeArray {
		t = t.Elem
	}
	if t == nil || t.Kind != TypeObject {
		return
	}
	i, ft, ok := t.Lookup(parts[0])
	if !ok {
		return
	}
	if len(p.fields) <= i {
		p.fields = append(p.fields, make([]*Projection, i+1-len(p.fields))...)
	}
	if p.fields[i] == all {
		return
	}
	elem := ft
	for elem != nil && elem.Kind == TypeArray {
		elem = elem.Elem
	}
	if len(parts) == 1 || elem == nil || elem.Kind != TypeObject {
		p.fields[i] = all
		return
	}
	if p.fields[i] == nil {
		p.fields[i] = &Projection{}
	}
	keep(p.fields[i], ft, parts[1:])
}
