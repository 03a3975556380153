package pql

import (
	"slices"
	"strings"
)

// Info is what a query touches, known before any profile is read: the
// store loads only these columns, and segments are evaluated after the
// segments they use.
type Info struct {
	// ProfilePaths are the dotted profile paths read (a path covers what
	// is below it), sorted.
	ProfilePaths []string `json:"profilePaths"`
	// EventPaths are the dotted ExperienceEvent paths read, sorted.
	EventPaths []string `json:"eventPaths"`
	// ReadsEvents is true when the query looks at xEvent at all.
	ReadsEvents bool `json:"readsEvents"`
	// Segments are the inSegment ids used, sorted.
	Segments []string `json:"segments"`
	// UsesNow is true when the result depends on the evaluation time.
	UsesNow bool `json:"usesNow"`
}

// Analyze reports what a query touches. It needs no schema.
func Analyze(q *Query) Info {
	a := &analyzer{scopes: []origin{{root: rootProfile}}, paths: map[origin]bool{}, segs: map[string]bool{}}
	a.record(a.node(q.Root))
	var info Info
	for o := range a.paths {
		switch o.root {
		case rootProfile:
			info.ProfilePaths = append(info.ProfilePaths, o.path)
		case rootEvent:
			info.EventPaths = append(info.EventPaths, o.path)
		}
	}
	info.ProfilePaths = coverPaths(info.ProfilePaths)
	info.EventPaths = coverPaths(info.EventPaths)
	for id := range a.segs {
		info.Segments = append(info.Segments, id)
	}
	slices.Sort(info.Segments)
	info.ReadsEvents = a.events
	info.UsesNow = a.now
	return info
}

// coverPaths sorts paths and drops those below another one.
func coverPaths(paths []string) []string {
	slices.Sort(paths)
	out := paths[:0]
	for _, p := range paths {
		if n := len(out); n > 0 && strings.HasPrefix(p, out[n-1]+".") {
			continue
		}
		out = append(out, p)
	}
	return out
}

type rootKind uint8

const (
	rootNone rootKind = iota
	rootProfile
	rootEvent
)

// origin is where a value comes from: a path under the profile or under
// each event.
type origin struct {
	root rootKind
	path string
}

func (o origin) child(name string) origin {
	if o.root == rootNone {
		return o
	}
	if o.path == "" {
		return origin{o.root, name}
	}
	return origin{o.root, o.path + "." + name}
}

type analyzer struct {
	scopes []origin
	vars   []struct {
		name string
		o    origin
	}
	paths  map[origin]bool
	segs   map[string]bool
	events bool
	now    bool
}

func (a *analyzer) record(o origin) {
	if o.root != rootNone && o.path != "" {
		a.paths[o] = true
	}
}

// recordUnread records o when no path below it is recorded: iterating an
// array reads which elements exist even when no field of them is read.
func (a *analyzer) recordUnread(o origin) {
	if o.root == rootNone || o.path == "" {
		return
	}
	for p := range a.paths {
		if p.root == o.root && (p.path == o.path || strings.HasPrefix(p.path, o.path+".")) {
			return
		}
	}
	a.record(o)
}

func (a *analyzer) bind(name string, o origin) {
	a.vars = append(a.vars, struct {
		name string
		o    origin
	}{name, o})
}

func (a *analyzer) unbind(n int) { a.vars = a.vars[:len(a.vars)-n] }

func (a *analyzer) scoped(o origin, fn func()) {
	a.scopes = append(a.scopes, o)
	fn()
	a.scopes = a.scopes[:len(a.scopes)-1]
}

// use analyzes a child whose value is consumed as a whole.
func (a *analyzer) use(n Node) {
	if n != nil {
		a.record(a.node(n))
	}
}

// node analyzes n and returns the origin of its value.
func (a *analyzer) node(n Node) origin {
	switch n := n.(type) {
	case *Implicit:
		return a.scopes[len(a.scopes)-1]
	case *Param:
		if n.Index == 1 {
			return origin{root: rootProfile}
		}
	case *Var:
		for i := len(a.vars) - 1; i >= 0; i-- {
			if a.vars[i].name == n.Name {
				return a.vars[i].o
			}
		}
	case *Up:
		if i := len(a.scopes) - 1 - n.Levels; i >= 0 {
			return a.scopes[i]
		}
	case *Field:
		o := a.node(n.X)
		if n.Name == "xEvent" && o.root == rootProfile && o.path == "" || n.Name == "xEvent" && isImplicit(n.X) {
			a.events = true
			return origin{root: rootEvent}
		}
		return o.child(n.Name)
	case *Filter:
		o := a.node(n.X)
		a.scoped(o, func() { a.use(n.Cond) })
		return o
	case *Method:
		return a.method(n)
	case *Call:
		switch n.Name {
		case "inSegment":
			if lit, ok := n.Args[0].(*Literal); ok && lit.Kind == LitString {
				a.segs[lit.Str] = true
			}
		case "currentMonth", "currentYear", "currentDayOfMonth":
			a.now = true
		}
		for _, arg := range n.Args {
			a.use(arg)
		}
	case *Lambda:
		// A top-level lambda: its first parameter is the profile.
		for i, p := range n.Params {
			o := origin{}
			if i == 0 {
				o = origin{root: rootProfile}
			}
			a.bind(p, o)
		}
		a.use(n.Body)
		a.unbind(len(n.Params))
	case *Let:
		o := a.node(n.Value)
		a.record(o)
		a.bind(n.Name, o)
		a.use(n.Body)
		a.unbind(1)
	case *Quantifier:
		for _, b := range n.Bindings {
			o := a.node(b.Source)
			a.bind(b.Var, o)
			a.use(b.Cond)
			a.recordUnread(o)
		}
		a.unbind(len(n.Bindings))
	case *Select:
		o := a.node(n.Source)
		a.bind(n.Var, o)
		a.use(n.Cond)
		a.recordUnread(o)
		a.unbind(1)
	case *Aggregate:
		o := a.node(n.Source)
		a.bind(n.Var, o)
		a.use(n.Expr)
		a.use(n.Cond)
		a.recordUnread(o)
		a.unbind(1)
	case *Occurs:
		a.use(n.X)
		a.spec(&n.Spec)
	case *Chain:
		o := a.node(n.Source)
		a.record(o.child(n.TimeField))
		a.scoped(o, func() {
			for _, st := range n.Steps {
				a.use(st.What)
				a.use(st.Where)
				if st.When != nil {
					a.spec(st.When)
				}
			}
		})
	default:
		walkChildren(n, a.use)
	}
	return origin{}
}

func isImplicit(n Node) bool {
	_, ok := n.(*Implicit)
	return ok
}

func (a *analyzer) spec(s *OccursSpec) {
	for _, t := range []TimeRef{s.T, s.T2} {
		switch t.Kind {
		case TimeExpr:
			a.use(t.X)
		case 0:
		default:
			a.now = true
		}
	}
}

func (a *analyzer) method(n *Method) origin {
	o := a.node(n.X)
	for i, arg := range n.Args {
		if isElemArg(n.Name, i) {
			a.scoped(o, func() {
				if l, ok := arg.(*Lambda); ok {
					for _, p := range l.Params {
						a.bind(p, o)
					}
					a.use(l.Body)
					a.unbind(len(l.Params))
					return
				}
				a.use(arg)
			})
			continue
		}
		a.use(arg)
	}
	switch n.Name {
	case "filter", "topN", "bottomN", "head", "distinct", "intersection", "values":
		return o
	case "get":
		if lit, ok := n.Args[0].(*Literal); ok && lit.Kind == LitString {
			return o.child(lit.Str)
		}
	case "count", "exists":
		if o.path == "" {
			return origin{}
		}
	}
	a.record(o)
	return origin{}
}
