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
	// is below it), sorted. "" is the whole profile: the query uses the
	// profile object itself as a value (returns or compares it).
	ProfilePaths []string `json:"profilePaths"`
	// EventPaths are the dotted ExperienceEvent paths read, sorted. ""
	// is the whole event: the query returns or compares events whole
	// (xEvent[cond] as a result, for one).
	EventPaths []string `json:"eventPaths"`
	// ReadsEvents is true when the query looks at xEvent at all.
	ReadsEvents bool `json:"readsEvents"`
	// Segments are the inSegment ids used, sorted.
	Segments []string `json:"segments"`
	// UsesNow is true when the result depends on the evaluation time.
	UsesNow bool `json:"usesNow"`
}

// Analyze reports what a query touches. It needs no schema.
//
// The paths cover everything an evaluation (Match and Eval) reads, so a
// plan evaluated on values decoded with the projections of these paths
// (Schema.ProfileProjection, Schema.EventProjection) gives the same
// results as on whole values. Where the analysis cannot tell what part of
// a value is read, it reports the value whole.
func Analyze(q *Query) Info {
	a := &analyzer{
		scopes: []val{{{root: rootProfile}}},
		paths:  map[origin]bool{},
		shapes: map[origin]bool{},
		segs:   map[string]bool{},
	}
	// Eval returns the value of the root whole.
	a.whole(a.value(q.Root))
	a.settleShapes()
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

// coverPaths sorts paths and drops those below another one; "" (the whole
// object) covers every path.
func coverPaths(paths []string) []string {
	slices.Sort(paths)
	if len(paths) > 0 && paths[0] == "" {
		return paths[:1]
	}
	out := paths[:0]
	for _, p := range paths {
		if n := len(out); n > 0 && (p == out[n-1] || strings.HasPrefix(p, out[n-1]+".")) {
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

// origin is where (part of) a value comes from: the data at a dotted path
// under the profile or under each event, arrays looked through ("" is the
// profile or an event itself). depth counts maps built around that data:
// groupBy, {"k": v} and mapEntry(k, v) wrap their elements in one more map
// level, and reading an entry of such a map (m.key, get, values, the value
// parameter of map((K, V) => ...)) takes one off.
type origin struct {
	root  rootKind
	path  string
	depth int
}

func (o origin) child(name string) origin {
	if o.depth > 0 {
		return origin{o.root, o.path, o.depth - 1}
	}
	if o.path == "" {
		return origin{o.root, name, 0}
	}
	return origin{o.root, o.path + "." + name, 0}
}

func (o origin) isProfile() bool { return o.root == rootProfile && o.path == "" && o.depth == 0 }

// val is the origins of a value: it is built from data at these origins
// and from data the analysis has already recorded. Whoever consumes a val
// records what it reads of it: a path below (child), the whole of it
// (whole) or whether it is there and how many elements it has (shape).
type val []origin

func (v val) add(o origin) val {
	if o.root == rootNone || slices.Contains(v, o) {
		return v
	}
	return append(v, o)
}

func (v val) union(w val) val {
	for _, o := range w {
		v = v.add(o)
	}
	return v
}

// deepen is v wrapped in one more map level.
func (v val) deepen() val {
	out := make(val, len(v))
	for i, o := range v {
		out[i] = origin{o.root, o.path, o.depth + 1}
	}
	return out
}

type binding struct {
	name string
	v    val
}

type analyzer struct {
	// scopes are the implicit parameters, innermost last, as the plan
	// keeps them at run time: scopes[0] is the profile.
	scopes []val
	vars   []binding
	// paths are read whole (depth 0 only).
	paths map[origin]bool
	// shapes are read for whether they are null and how many elements
	// they have: any path at or below one keeps that.
	shapes map[origin]bool
	segs   map[string]bool
	events bool
	now    bool
}

// whole records that v is read whole.
func (a *analyzer) whole(v val) {
	for _, o := range v {
		a.paths[origin{root: o.root, path: o.path}] = true
	}
}

// shape records that v is read for its presence and number of elements
// (count, isNull, a condition, iterating over it). The profile and the
// events are always there, and a map built by the query has the shape its
// recorded keys give it.
func (a *analyzer) shape(v val) {
	for _, o := range v {
		if o.path != "" && o.depth == 0 {
			a.shapes[o] = true
		}
	}
}

// settleShapes records the shapes no recorded path keeps: a projection
// keeps an object (as an empty one) and every element of an array when it
// keeps any path below them. The deepest shapes go first, so that one
// recorded for orders.items keeps the shape of orders too.
func (a *analyzer) settleShapes() {
	shapes := make([]origin, 0, len(a.shapes))
	for s := range a.shapes {
		shapes = append(shapes, s)
	}
	slices.SortFunc(shapes, func(x, y origin) int {
		if c := strings.Count(y.path, ".") - strings.Count(x.path, "."); c != 0 {
			return c
		}
		if x.root != y.root {
			return int(x.root) - int(y.root)
		}
		return strings.Compare(x.path, y.path)
	})
	for _, s := range shapes {
		if !a.keeps(s) {
			a.paths[s] = true
		}
	}
}

// keeps reports whether the recorded paths keep the shape of s: a path at,
// above or below it.
func (a *analyzer) keeps(s origin) bool {
	for p := range a.paths {
		if p.root == s.root && (p.path == "" || p.path == s.path || strings.HasPrefix(p.path, s.path+".") || strings.HasPrefix(s.path, p.path+".")) {
			return true
		}
	}
	return false
}

// child is the origins of field (or map entry) name of v. A name a dotted
// path cannot spell ("" or one with a dot) is read by reading what holds
// it whole.
func (a *analyzer) child(v val, name string) val {
	var out val
	for _, o := range v {
		if o.depth == 0 && (name == "" || strings.Contains(name, ".")) {
			a.whole(val{o})
			continue
		}
		out = out.add(o.child(name))
	}
	return out
}

func (a *analyzer) bind(name string, v val) { a.vars = append(a.vars, binding{name, v}) }

func (a *analyzer) unbind(n int) { a.vars = a.vars[:len(a.vars)-n] }

// scoped runs fn with v as the implicit parameter.
func (a *analyzer) scoped(v val, fn func()) {
	a.scopes = append(a.scopes, v)
	fn()
	a.scopes = a.scopes[:len(a.scopes)-1]
}

// use analyzes a child whose value is read whole.
func (a *analyzer) use(n Node) {
	if n != nil {
		a.whole(a.value(n))
	}
}

// cond analyzes a child read as a condition: true, or a non-empty array.
func (a *analyzer) cond(n Node) {
	if n != nil {
		a.shape(a.value(n))
	}
}

// value analyzes n and returns the origins of its value.
func (a *analyzer) value(n Node) val {
	switch n := n.(type) {
	case *Literal:
	case *ArrayLit:
		// The elements, nulls dropped.
		var v val
		for _, e := range n.Elems {
			v = v.union(a.value(e))
		}
		return v
	case *ObjectLit:
		var v val
		for _, e := range n.Values {
			v = v.union(a.value(e).deepen())
		}
		return v
	case *Implicit:
		return a.scopes[len(a.scopes)-1]
	case *Param:
		if n.Index == 1 {
			return val{{root: rootProfile}}
		}
	case *Var:
		for i := len(a.vars) - 1; i >= 0; i-- {
			if a.vars[i].name == n.Name {
				return a.vars[i].v
			}
		}
	case *Up:
		if i := len(a.scopes) - 1 - n.Levels; i >= 0 && n.Levels >= 0 {
			return a.scopes[i]
		}
	case *Field:
		return a.field(n)
	case *Filter:
		x := a.value(n.X)
		a.scoped(x, func() { a.cond(n.Cond) })
		a.shape(x)
		return x
	case *Method:
		return a.method(n)
	case *Call:
		return a.call(n)
	case *Unary:
		if n.Op == "not" {
			a.cond(n.X)
		} else {
			a.use(n.X)
		}
	case *Binary:
		if n.Op == "and" || n.Op == "or" {
			a.cond(n.X)
			a.cond(n.Y)
		} else {
			// Comparisons, in, notIn and like compare values whole
			// (objects compare by all their fields); arithmetic reads
			// numbers and strings.
			a.use(n.X)
			a.use(n.Y)
		}
	case *Lambda:
		return a.lambda(n)
	case *Let:
		a.bind(n.Name, a.value(n.Value))
		v := a.value(n.Body)
		a.unbind(1)
		return v
	case *Quantifier:
		for _, b := range n.Bindings {
			src := a.value(b.Source)
			a.shape(src)
			a.bind(b.Var, src)
			a.cond(b.Cond)
		}
		a.unbind(len(n.Bindings))
	case *Select:
		src := a.value(n.Source)
		a.shape(src)
		a.bind(n.Var, src)
		a.cond(n.Cond)
		a.unbind(1)
	case *Aggregate:
		src := a.value(n.Source)
		a.shape(src)
		a.bind(n.Var, src)
		if e := a.value(n.Expr); n.Fn != "count" {
			// count counts the matching elements; the others fold
			// the expression's values.
			a.whole(e)
		}
		a.cond(n.Cond)
		a.unbind(1)
	case *Occurs:
		a.use(n.X)
		a.spec(&n.Spec)
	case *Chain:
		src := a.value(n.Source)
		a.shape(src)
		a.whole(a.child(src, n.TimeField))
		a.scoped(src, func() {
			for _, st := range n.Steps {
				a.cond(st.What)
				a.cond(st.Where)
				if st.When != nil {
					a.spec(st.When)
				}
			}
		})
	default:
		// Not a node of the language: read everything below it whole.
		walkChildren(n, a.use)
	}
	return nil
}

// field analyzes X.name. xEvent on the profile is the profile's events:
// the plan takes it so on any implicit parameter, on $1, on the ^ that
// reaches the profile and on a variable whose type is the profile's,
// whatever its value (the analysis knows values, not types, so it takes
// xEvent on any variable for the events, as well as what it would be
// otherwise).
func (a *analyzer) field(n *Field) val {
	x := a.value(n.X)
	if n.Name != "xEvent" {
		return a.child(x, n.Name)
	}
	events := val{{root: rootEvent}}
	if isImplicit(n.X) {
		a.events = true
		return events
	}
	var out val
	if _, ok := n.X.(*Var); ok {
		a.events = true
		out = events
	}
	for _, o := range x {
		if !o.isProfile() {
			out = out.union(a.child(val{o}, n.Name))
			continue
		}
		a.events = true
		out = out.union(events)
		switch n.X.(type) {
		case *Param, *Var, *Up:
		default:
			// Elsewhere the plan reads xEvent as a field of the
			// profile.
			out = out.union(a.child(val{o}, n.Name))
		}
	}
	return out
}

func isImplicit(n Node) bool {
	_, ok := n.(*Implicit)
	return ok
}

// lambda analyzes a lambda anywhere but as the per-element argument of a
// function: its first parameter is the profile, the others are null.
func (a *analyzer) lambda(n *Lambda) val {
	for i, p := range n.Params {
		var v val
		if i == 0 {
			v = val{{root: rootProfile}}
		}
		a.bind(p, v)
	}
	v := a.value(n.Body)
	a.unbind(len(n.Params))
	return v
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

func (a *analyzer) call(n *Call) val {
	switch n.Name {
	case "if":
		if len(n.Args) == 3 {
			a.cond(n.Args[0])
			return a.value(n.Args[1]).union(a.value(n.Args[2]))
		}
	case "mapEntry":
		if len(n.Args) == 2 {
			a.use(n.Args[0])
			return a.value(n.Args[1]).deepen()
		}
	case "inSegment":
		// Without a slot for the id (Options.SegmentSlot), the plan reads
		// the profile's segmentMembership.
		a.paths[origin{root: rootProfile, path: "segmentMembership"}] = true
		if len(n.Args) > 0 {
			if lit, ok := n.Args[0].(*Literal); ok && lit.Kind == LitString {
				a.segs[lit.Str] = true
			}
		}
	case "currentMonth", "currentYear", "currentDayOfMonth":
		a.now = true
	}
	for _, arg := range n.Args {
		a.use(arg)
	}
	return nil
}

// elemArg analyzes the per-element argument of a function on x: the
// element is the implicit parameter, and the parameter of a one-parameter
// lambda. It returns the origins of the argument's value.
func (a *analyzer) elemArg(x val, arg Node) val {
	var v val
	a.scoped(x, func() {
		if l, ok := arg.(*Lambda); ok && len(l.Params) == 1 {
			a.bind(l.Params[0], x)
			v = a.value(l.Body)
			a.unbind(1)
			return
		}
		v = a.value(arg)
	})
	return v
}

// entries is what an entry of a map read by x is built from: for a map
// the query built, one level less; a map in the data is read whole.
func (a *analyzer) entries(x val) val {
	var out val
	for _, o := range x {
		if o.depth > 0 {
			out = out.add(origin{o.root, o.path, o.depth - 1})
		} else {
			a.whole(val{o})
		}
	}
	return out
}

// dataMaps records the maps of x that come from the data whole: their
// keys are read.
func (a *analyzer) dataMaps(x val) {
	for _, o := range x {
		if o.depth == 0 {
			a.whole(val{o})
		}
	}
}

func (a *analyzer) method(n *Method) val {
	x := a.value(n.X)
	if _, ok := stringTests[n.Name]; ok {
		a.whole(x)
		a.useAll(n.Args)
		return nil
	}
	switch n.Name {
	case "matches", "regexGroup", "getMonth", "getYear", "getDayOfMonth",
		"intersects", "subsetOf", "supersetOf", "includes":
		a.whole(x)
		a.useAll(n.Args)
		return nil
	case "isNull", "isNotNull", "count":
		a.shape(x)
		a.useAll(n.Args)
		return nil
	case "head":
		// The first element.
		a.useAll(n.Args)
		return x
	case "distinct", "intersection":
		// Elements of x, compared whole.
		a.whole(x)
		a.useAll(n.Args)
		return x
	case "get":
		if len(n.Args) == 1 {
			if lit, ok := n.Args[0].(*Literal); ok && lit.Kind == LitString {
				return a.child(x, lit.Str)
			}
		}
		a.useAll(n.Args)
		return a.entries(x)
	case "keys":
		a.dataMaps(x)
		return nil
	case "values":
		return a.entries(x)
	case "filter", "exists":
		a.shape(x)
		if len(n.Args) == 0 {
			return nil
		}
		a.shape(a.elemArg(x, n.Args[0]))
		a.useAll(n.Args[1:])
		if n.Name == "filter" {
			return x
		}
		return nil
	case "map":
		if len(n.Args) == 0 {
			break
		}
		if l, ok := n.Args[0].(*Lambda); ok && len(l.Params) == 2 {
			return a.mapEntries(x, l)
		}
		// The argument's values, nulls dropped.
		a.shape(x)
		v := a.elemArg(x, n.Args[0])
		a.shape(v)
		a.useAll(n.Args[1:])
		return v
	case "groupBy":
		if len(n.Args) == 0 {
			break
		}
		a.shape(x)
		a.whole(a.elemArg(x, n.Args[0]))
		a.useAll(n.Args[1:])
		return x.deepen()
	case "topN", "bottomN":
		if len(n.Args) == 0 {
			break
		}
		a.shape(x)
		a.whole(a.elemArg(x, n.Args[0]))
		a.useAll(n.Args[1:])
		return x
	case "sum", "average", "min", "max":
		if len(n.Args) == 0 {
			a.whole(x)
			return nil
		}
		a.shape(x)
		a.whole(a.elemArg(x, n.Args[0]))
		a.useAll(n.Args[1:])
		return nil
	}
	a.whole(x)
	for i, arg := range n.Args {
		if isElemArg(n.Name, i) {
			a.whole(a.elemArg(x, arg))
		} else {
			a.use(arg)
		}
	}
	return nil
}

// mapEntries analyzes M.map((K, V) => body): K is each key, V each value
// (also the implicit parameter). The result is built from the body's
// values, and whether each is a one-entry map is read.
func (a *analyzer) mapEntries(x val, l *Lambda) val {
	a.dataMaps(x)
	vals := a.entries(x)
	a.bind(l.Params[0], nil) // keys: of a map in the data (read whole) or computed
	a.bind(l.Params[1], vals)
	var v val
	a.scoped(vals, func() { v = a.value(l.Body) })
	a.unbind(2)
	a.shape(v)
	return v
}

func (a *analyzer) useAll(args []Node) {
	for _, arg := range args {
		a.use(arg)
	}
}
