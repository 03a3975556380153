package pql

import (
	"errors"
	"fmt"
	"time"
)

// Options configure Compile.
type Options struct {
	// Schema lays out the profiles and events the plan will read. Required.
	Schema *Schema
	// SegmentSlot maps an inSegment id to its bit in Subject.Segments. Ids
	// it does not know (or all, when nil) are read from the profile's
	// segmentMembership: status realized or existing, in any namespace.
	SegmentSlot func(id string) (int, bool)
	// MaxWork bounds the elements one evaluation may visit (0: DefaultMaxWork).
	MaxWork int64
}

// ErrNoSchema is returned by Compile without Options.Schema.
var ErrNoSchema = errors.New("pql: compile needs a schema")

// Compile turns a parsed query into a Plan. Fields the schema does not know
// evaluate to null and are reported by Plan.Warnings (Check reports them as
// errors); a query that cannot be evaluated at all (an invalid regex, an
// inSegment id that is not a string, a ^ with no enclosing filter) fails
// with CheckErrors.
func Compile(q *Query, opts Options) (*Plan, error) {
	if opts.Schema == nil {
		return nil, ErrNoSchema
	}
	c := newCompiler(q, opts)
	opts.Schema.mu.RLock()
	root := c.expr(q.Root)
	// The condition form compiles the same nodes again: keep one copy of
	// their diagnostics.
	nerrs, nwarns := len(c.errs), len(c.warns)
	pred := c.cond(q.Root)
	c.errs, c.warns = c.errs[:nerrs], c.warns[:nwarns]
	opts.Schema.mu.RUnlock()
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	maxWork := opts.MaxWork
	if maxWork <= 0 {
		maxWork = DefaultMaxWork
	}
	return &Plan{
		query:   q,
		eval:    root.eval,
		pred:    pred,
		typ:     root.typ,
		nvars:   c.nvars,
		nbufs:   c.nbufs,
		norders: c.norders,
		binds:   c.binds,
		maxWork: maxWork,
		info:    Analyze(q),
		warns:   c.warns,
	}, nil
}

// Check compiles the query against a schema and returns every problem as
// CheckErrors: unknown fields, type mismatches, invalid arguments. It reads
// no profile.
func Check(q *Query, s *Schema) error {
	c := newCompiler(q, Options{Schema: s})
	s.mu.RLock()
	c.expr(q.Root)
	s.mu.RUnlock()
	all := append(c.errs, c.warns...)
	if len(all) == 0 {
		return nil
	}
	return all
}

// cexpr is a compiled expression: how to evaluate it and its static type
// (nil when unknown).
type cexpr struct {
	eval func(*frame) Value
	typ  *Type
	// path is set when the value is a chain of object fields from a base
	// known at compile time; ref() then reads it with a pointer walk.
	path *staticPath
}

// Bases of a static path.
const (
	baseProfile = iota
	baseScope   // the innermost implicit parameter
	baseVar
)

// staticPath is base.idx[0].idx[1]...: field indexes into object Values.
type staticPath struct {
	base int
	slot int // for baseVar
	idx  []int
}

func (p *staticPath) with(i int) *staticPath {
	idx := append(append(make([]int, 0, len(p.idx)+1), p.idx...), i)
	return &staticPath{base: p.base, slot: p.slot, idx: idx}
}

// ref returns a function giving a pointer to the value at the path, or nil
// when it is null. This is the hot path of simple predicates: no closure
// per field, no Value copies.
func (p *staticPath) ref() func(*frame) *Value {
	base, slot, idx := p.base, p.slot, p.idx
	root := func(f *frame) *Value {
		switch base {
		case baseProfile:
			return &f.subject.Profile
		case baseScope:
			return &f.scopes[len(f.scopes)-1]
		}
		return &f.vars[slot]
	}
	switch {
	case len(idx) == 1 && base == baseProfile:
		i := idx[0]
		return func(f *frame) *Value {
			v := &f.subject.Profile
			if v.kind != KindObject || i >= len(v.list) {
				return nil
			}
			return &v.list[i]
		}
	case len(idx) == 2 && base == baseProfile:
		i, j := idx[0], idx[1]
		return func(f *frame) *Value {
			v := &f.subject.Profile
			if v.kind != KindObject || i >= len(v.list) {
				return nil
			}
			v = &v.list[i]
			if v.kind != KindObject || j >= len(v.list) {
				return nil
			}
			return &v.list[j]
		}
	case len(idx) == 1 && base == baseScope:
		i := idx[0]
		return func(f *frame) *Value {
			v := &f.scopes[len(f.scopes)-1]
			if v.kind != KindObject || i >= len(v.list) {
				return nil
			}
			return &v.list[i]
		}
	}
	return func(f *frame) *Value {
		v := root(f)
		for _, i := range idx {
			if v.kind != KindObject || i >= len(v.list) {
				return nil
			}
			v = &v.list[i]
		}
		return v
	}
}

// pathExpr is the cexpr of a static path.
func pathExpr(p *staticPath, t *Type) cexpr {
	ref := p.ref()
	return cexpr{eval: func(f *frame) Value {
		if v := ref(f); v != nil {
			return *v
		}
		return Value{}
	}, typ: t, path: p}
}

// refOf returns a pointer reader for x: its static path, or a copy of its
// value kept in the frame's scratch.
func (c *compiler) refOf(x cexpr) func(*frame) *Value {
	if x.path != nil {
		return x.path.ref()
	}
	slot := c.nvars // a private variable slot holds the value
	c.nvars++
	xe := x.eval
	return func(f *frame) *Value {
		f.vars[slot] = xe(f)
		return &f.vars[slot]
	}
}

type cvar struct {
	name string
	slot int
	typ  *Type
}

type compiler struct {
	q       *Query
	opts    Options
	scopes  []*Type // static types of the implicit parameters, innermost last
	vars    []cvar
	nvars   int
	nbufs   int
	norders int
	binds   []func(time.Time) specBounds
	errs    CheckErrors // the plan cannot be built
	warns   CheckErrors // the plan evaluates these parts to null
}

func newCompiler(q *Query, opts Options) *compiler {
	return &compiler{q: q, opts: opts, scopes: []*Type{opts.Schema.profile}}
}

func (c *compiler) fail(at Pos, format string, args ...any) {
	c.errs = append(c.errs, &CheckError{Pos: at, Msg: fmt.Sprintf(format, args...), Snippet: snippet(c.q.Source, at)})
}

func (c *compiler) warn(at Pos, format string, args ...any) {
	c.warns = append(c.warns, &CheckError{Pos: at, Msg: fmt.Sprintf(format, args...), Snippet: snippet(c.q.Source, at)})
}

func (c *compiler) newBuf() int {
	c.nbufs++
	return c.nbufs - 1
}

func (c *compiler) bindVar(name string, t *Type) int {
	slot := c.nvars
	c.nvars++
	c.vars = append(c.vars, cvar{name: name, slot: slot, typ: t})
	return slot
}

func (c *compiler) unbindVar() { c.vars = c.vars[:len(c.vars)-1] }

func (c *compiler) lookupVar(name string) (cvar, bool) {
	for i := len(c.vars) - 1; i >= 0; i-- {
		if c.vars[i].name == name {
			return c.vars[i], true
		}
	}
	return cvar{}, false
}

func constant(v Value, t *Type) cexpr {
	return cexpr{eval: func(*frame) Value { return v }, typ: t}
}

var nullExpr = cexpr{eval: func(*frame) Value { return Value{} }}

// elemType is the element type of an array type (or the type itself: a
// scalar receiver of an array function acts as a one-element array).
func elemType(t *Type) *Type {
	if t != nil && t.Kind == TypeArray {
		return t.Elem
	}
	return t
}

// elems returns the elements of v seen as an array: null is empty and a
// scalar is a one-element array.
func elems(v Value) []Value {
	switch v.kind {
	case KindArray:
		return v.list
	case KindNull:
		return nil
	}
	return []Value{v}
}

// expr compiles n to a value-producing closure.
func (c *compiler) expr(n Node) cexpr {
	switch n := n.(type) {
	case *Literal:
		return c.literal(n)
	case *ArrayLit:
		return c.arrayLit(n)
	case *ObjectLit:
		return c.objectLit(n)
	case *Implicit:
		t := c.scopes[len(c.scopes)-1]
		if len(c.scopes) == 1 {
			return pathExpr(&staticPath{base: baseProfile}, t)
		}
		return pathExpr(&staticPath{base: baseScope}, t)
	case *Param:
		if n.Index == 1 {
			return pathExpr(&staticPath{base: baseProfile}, c.opts.Schema.profile)
		}
		c.warn(n.At, "$%d is not bound: a segment query has one parameter, the profile", n.Index)
		return nullExpr
	case *Var:
		v, ok := c.lookupVar(n.Name)
		if !ok {
			c.fail(n.At, "unknown variable %q", n.Name)
			return nullExpr
		}
		return pathExpr(&staticPath{base: baseVar, slot: v.slot}, v.typ)
	case *Up:
		if n.Levels >= len(c.scopes) {
			c.fail(n.At, "%d ^ go past the outermost scope (there are %d enclosing scopes)", n.Levels, len(c.scopes)-1)
			return nullExpr
		}
		lv := n.Levels
		return cexpr{eval: func(f *frame) Value { return f.scopes[len(f.scopes)-1-lv] }, typ: c.scopes[len(c.scopes)-1-n.Levels]}
	case *Field:
		return c.field(n)
	case *Call:
		return c.call(n)
	case *Method:
		return c.method(n)
	case *Filter:
		return c.filter(n)
	case *Unary:
		if n.Op == "not" {
			p := c.cond(n.X)
			return cexpr{eval: func(f *frame) Value { return Bool(!p(f)) }, typ: BoolType}
		}
		x := c.expr(n.X)
		c.wantNumber(n.X, x.typ)
		return cexpr{eval: func(f *frame) Value { return arith("-", Int(0), x.eval(f)) }, typ: x.typ}
	case *Binary:
		return c.binary(n)
	case *Lambda:
		return c.topLambda(n)
	case *Let:
		val := c.expr(n.Value)
		slot := c.bindVar(n.Name, val.typ)
		body := c.expr(n.Body)
		c.unbindVar()
		return cexpr{eval: func(f *frame) Value {
			f.vars[slot] = val.eval(f)
			return body.eval(f)
		}, typ: body.typ}
	case *Quantifier, *Select:
		p := c.cond(n)
		return cexpr{eval: func(f *frame) Value { return Bool(p(f)) }, typ: BoolType}
	case *Aggregate:
		return c.aggregate(n)
	case *Occurs:
		p := c.cond(n)
		return cexpr{eval: func(f *frame) Value { return Bool(p(f)) }, typ: BoolType}
	case *Chain:
		p := c.cond(n)
		return cexpr{eval: func(f *frame) Value { return Bool(p(f)) }, typ: BoolType}
	}
	c.fail(n.Pos(), "cannot evaluate %T", n)
	return nullExpr
}

// cond compiles n as a condition. Boolean operators get closures that
// return bool directly; anything else is its value read as truthy.
func (c *compiler) cond(n Node) func(*frame) bool {
	switch n := n.(type) {
	case *Binary:
		switch n.Op {
		case "and":
			x, y := c.cond(n.X), c.cond(n.Y)
			return func(f *frame) bool { return x(f) && y(f) }
		case "or":
			x, y := c.cond(n.X), c.cond(n.Y)
			return func(f *frame) bool { return x(f) || y(f) }
		case "=", "!=", "<", "<=", ">", ">=":
			return c.comparison(n)
		case "in", "notIn":
			return c.membership(n)
		case "like":
			return c.like(n)
		}
	case *Unary:
		if n.Op == "not" {
			x := c.cond(n.X)
			return func(f *frame) bool { return !x(f) }
		}
	case *Filter:
		return c.filterExists(n)
	case *Method:
		if _, ok := stringTests[n.Name]; ok {
			return c.stringTestPred(n, c.expr(n.X))
		}
	case *Quantifier:
		return c.quantifier(n.Bindings, n.All)
	case *Select:
		return c.quantifier([]Binding{{Var: n.Var, Source: n.Source, Cond: n.Cond}}, false)
	case *Occurs:
		return c.occurs(n)
	case *Chain:
		return c.chain(n)
	case *Let:
		val := c.expr(n.Value)
		slot := c.bindVar(n.Name, val.typ)
		body := c.cond(n.Body)
		c.unbindVar()
		return func(f *frame) bool {
			f.vars[slot] = val.eval(f)
			return body(f)
		}
	case *Lambda:
		slot := c.bindVar(lambdaParam(n), c.opts.Schema.profile)
		body := c.cond(n.Body)
		c.unbindVar()
		return func(f *frame) bool {
			f.vars[slot] = f.subject.Profile
			return body(f)
		}
	}
	x := c.expr(n)
	return func(f *frame) bool { return x.eval(f).truthy() }
}

func lambdaParam(n *Lambda) string {
	if len(n.Params) > 0 {
		return n.Params[0]
	}
	return ""
}

// topLambda is (Profile) => body at the top of a query: its first
// parameter is the profile.
func (c *compiler) topLambda(n *Lambda) cexpr {
	if len(n.Params) > 1 {
		c.warn(n.At, "a segment query has one parameter, the profile; %s are null", n.Params[1:])
	}
	slot := c.bindVar(lambdaParam(n), c.opts.Schema.profile)
	for _, p := range n.Params[1:] {
		c.bindVar(p, nil)
	}
	body := c.expr(n.Body)
	for range n.Params {
		c.unbindVar()
	}
	return cexpr{eval: func(f *frame) Value {
		f.vars[slot] = f.subject.Profile
		return body.eval(f)
	}, typ: body.typ}
}

func (c *compiler) literal(n *Literal) cexpr {
	switch n.Kind {
	case LitString:
		return constant(String(n.Str), StringType)
	case LitBool:
		return constant(Bool(n.Bool), BoolType)
	case LitInt:
		return constant(Int(n.Int), NumberType)
	case LitDouble:
		return constant(Double(n.Float), NumberType)
	}
	return nullExpr
}

func (c *compiler) arrayLit(n *ArrayLit) cexpr {
	parts := make([]cexpr, len(n.Elems))
	allConst := true
	var et *Type
	for i, e := range n.Elems {
		parts[i] = c.expr(e)
		if _, ok := e.(*Literal); !ok {
			allConst = false
		}
		if i == 0 {
			et = parts[i].typ
		} else if et != nil && parts[i].typ != et {
			et = nil
		}
	}
	t := ArrayOf(et)
	if allConst {
		vals := make([]Value, 0, len(parts))
		for _, p := range parts {
			if v := p.eval(nil); v.kind != KindNull {
				vals = append(vals, v)
			}
		}
		return constant(Array(vals), t)
	}
	slot := c.newBuf()
	return cexpr{eval: func(f *frame) Value {
		buf := f.bufs[slot][:0]
		for _, p := range parts {
			if v := p.eval(f); v.kind != KindNull {
				buf = append(buf, v)
			}
		}
		f.bufs[slot] = buf
		return Array(buf)
	}, typ: t}
}

func (c *compiler) objectLit(n *ObjectLit) cexpr {
	parts := make([]cexpr, len(n.Values))
	for i, v := range n.Values {
		parts[i] = c.expr(v)
	}
	keys := n.Keys
	return cexpr{eval: func(f *frame) Value {
		list := make([]Value, 0, 2*len(keys))
		for i, k := range keys {
			list = append(list, String(k), parts[i].eval(f))
		}
		return Value{kind: KindMap, list: list}
	}, typ: MapOf(nil)}
}

// isProfile reports whether n denotes the profile itself.
func (c *compiler) isProfile(n Node) bool {
	switch n := n.(type) {
	case *Implicit:
		return true // xEvent on any implicit scope means the profile's events
	case *Param:
		return n.Index == 1
	case *Var:
		v, ok := c.lookupVar(n.Name)
		return ok && v.typ == c.opts.Schema.profile
	case *Up:
		return n.Levels == len(c.scopes)-1
	}
	return false
}

func (c *compiler) eventsExpr() cexpr {
	return cexpr{eval: func(f *frame) Value { return f.events }, typ: ArrayOf(c.opts.Schema.event)}
}

func (c *compiler) field(n *Field) cexpr {
	if n.Name == "xEvent" && c.isProfile(n.X) {
		return c.eventsExpr()
	}
	return c.fieldOf(c.expr(n.X), n.Name, n.At)
}

// fieldOf compiles x.name for the static type of x. On an array it maps
// over the elements and flattens: person.orders.storeId is every order's
// storeId.
func (c *compiler) fieldOf(x cexpr, name string, at Pos) cexpr {
	t := x.typ
	if t != nil && t.Kind == TypeArray {
		get, ft := c.accessor(t.Elem, name, at)
		if get == nil {
			return nullExpr
		}
		rt := ft
		if ft == nil || ft.Kind != TypeArray {
			rt = ArrayOf(ft)
		}
		slot := c.newBuf()
		xe := x.eval
		return cexpr{eval: func(f *frame) Value {
			base := xe(f)
			if base.kind != KindArray {
				return get(base)
			}
			if !f.spend(len(base.list)) {
				return Value{}
			}
			buf := f.bufs[slot][:0]
			for _, e := range base.list {
				v := get(e)
				switch v.kind {
				case KindNull:
				case KindArray:
					buf = append(buf, v.list...)
				default:
					buf = append(buf, v)
				}
			}
			f.bufs[slot] = buf
			return Array(buf)
		}, typ: rt}
	}
	get, ft := c.accessor(t, name, at)
	if get == nil {
		return nullExpr
	}
	xe := x.eval
	if t != nil && t.Kind == TypeObject {
		idx, _, _ := t.Lookup(name)
		if x.path != nil {
			return pathExpr(x.path.with(idx), ft)
		}
		return cexpr{eval: func(f *frame) Value { return xe(f).field(idx) }, typ: ft}
	}
	return cexpr{eval: func(f *frame) Value { return get(xe(f)) }, typ: ft}
}

// accessor returns how to read field name of a value of type t.
func (c *compiler) accessor(t *Type, name string, at Pos) (func(Value) Value, *Type) {
	switch {
	case t == nil:
		c.warn(at, "cannot look up %q: the type of the value before it is not known", name)
		return nil, nil
	case t.Kind == TypeObject:
		idx, ft, ok := t.Lookup(name)
		if !ok {
			c.warn(at, "unknown field %q%s", name, c.fieldHint(t, name))
			return nil, nil
		}
		return func(v Value) Value { return v.field(idx) }, ft
	case t.Kind == TypeMap:
		return func(v Value) Value { return v.Get(name) }, t.Elem
	case t.Kind == TypeAny:
		return func(Value) Value { return Value{} }, nil
	}
	c.warn(at, "cannot look up %q in a %s", name, t)
	return nil, nil
}

func (c *compiler) fieldHint(t *Type, name string) string {
	best, bestDist := "", 3
	for _, cand := range t.names {
		if d := editDistance(cand, name); d < bestDist {
			best, bestDist = cand, d
		}
	}
	if best != "" {
		return fmt.Sprintf(", did you mean %q?", best)
	}
	return ""
}

// withScope compiles fn with an implicit parameter of type t.
func (c *compiler) withScope(t *Type, fn func()) {
	c.scopes = append(c.scopes, t)
	fn()
	c.scopes = c.scopes[:len(c.scopes)-1]
}

// elemArg is an argument evaluated once per element of an array, as a
// condition (filters, exists) or a value (sum, groupBy, topN, map): the
// element is the implicit parameter, and also the variable of a
// one-parameter lambda ((X) => X.price > 5). Loops enter a scope once and
// set it per element.
type elemArg struct {
	cond func(*frame) bool // set for conditions
	val  cexpr             // set for values
	slot int               // the lambda parameter's variable slot, or -1
}

// elemPred compiles arg as a per-element condition on elements of type et.
func (c *compiler) elemPred(arg Node, et *Type) elemArg { return c.elemArg(arg, et, true) }

// elemValue compiles arg as a per-element value on elements of type et.
func (c *compiler) elemValue(arg Node, et *Type) elemArg { return c.elemArg(arg, et, false) }

func (c *compiler) elemArg(arg Node, et *Type, isCond bool) elemArg {
	p := elemArg{slot: -1}
	c.withScope(et, func() {
		body := arg
		if l, ok := arg.(*Lambda); ok && len(l.Params) == 1 {
			p.slot = c.bindVar(l.Params[0], et)
			defer c.unbindVar()
			body = l.Body
		}
		if isCond {
			p.cond = c.cond(body)
		} else {
			p.val = c.expr(body)
		}
	})
	return p
}

// set makes e the current element, in the scope entered at top.
func (p *elemArg) set(f *frame, top int, e Value) {
	f.scopes[top] = e
	if p.slot >= 0 {
		f.vars[p.slot] = e
	}
}

// test evaluates the condition on e. It repeats set's two lines so that
// it stays small enough to inline into filter loops, the hottest of them.
func (p *elemArg) test(f *frame, top int, e Value) bool {
	f.scopes[top] = e
	if p.slot >= 0 {
		f.vars[p.slot] = e
	}
	return p.cond(f)
}

// eval evaluates the value on e.
func (p *elemArg) eval(f *frame, top int, e Value) Value {
	p.set(f, top, e)
	return p.val.eval(f)
}

func (c *compiler) filter(n *Filter) cexpr {
	x := c.expr(n.X)
	return c.filterOf(x, c.elemPred(n.Cond, elemType(x.typ)))
}

// filterOf materializes the elements of x that pass p.
func (c *compiler) filterOf(x cexpr, p elemArg) cexpr {
	slot := c.newBuf()
	return cexpr{eval: func(f *frame) Value {
		list := elems(x.eval(f))
		if !f.spend(len(list)) {
			return Value{}
		}
		buf := f.bufs[slot][:0]
		top := f.enter()
		for _, e := range list {
			if p.test(f, top, e) {
				buf = append(buf, e)
			}
		}
		f.pop()
		f.bufs[slot] = buf
		return Array(buf)
	}, typ: ArrayOf(elemType(x.typ))}
}

// filterExists is a filter used as a condition: true at the first match,
// nothing materialized.
func (c *compiler) filterExists(n *Filter) func(*frame) bool {
	x := c.expr(n.X)
	return existsOf(x, c.elemPred(n.Cond, elemType(x.typ)))
}

func existsOf(x cexpr, p elemArg) func(*frame) bool {
	return func(f *frame) bool {
		list := elems(x.eval(f))
		if !f.spend(len(list)) {
			return false
		}
		top := f.enter()
		defer f.pop()
		for _, e := range list {
			if p.test(f, top, e) {
				return true
			}
		}
		return false
	}
}

// filterCount counts the elements of a filter without materializing them.
func (c *compiler) filterCount(n *Filter) cexpr {
	x := c.expr(n.X)
	p := c.elemPred(n.Cond, elemType(x.typ))
	return cexpr{eval: func(f *frame) Value {
		list := elems(x.eval(f))
		if !f.spend(len(list)) {
			return Value{}
		}
		count := int64(0)
		top := f.enter()
		for _, e := range list {
			if p.test(f, top, e) {
				count++
			}
		}
		f.pop()
		return Int(count)
	}, typ: NumberType}
}

func (c *compiler) binary(n *Binary) cexpr {
	switch n.Op {
	case "+", "-", "*", "/", "%":
		x, y := c.expr(n.X), c.expr(n.Y)
		op := n.Op
		if !(op == "+" && isType(x.typ, TypeString) && isType(y.typ, TypeString)) {
			c.wantNumber(n.X, x.typ)
			c.wantNumber(n.Y, y.typ)
		}
		t := NumberType
		if isType(x.typ, TypeString) {
			t = StringType
		}
		return cexpr{eval: func(f *frame) Value { return arith(op, x.eval(f), y.eval(f)) }, typ: t}
	}
	p := c.cond(n)
	return cexpr{eval: func(f *frame) Value { return Bool(p(f)) }, typ: BoolType}
}

func isType(t *Type, k TypeKind) bool { return t != nil && t.Kind == k }

// scalarKind is the kind of a known non-array type, or TypeAny.
func scalarKind(t *Type) TypeKind {
	if t == nil {
		return TypeAny
	}
	return t.Kind
}

func (c *compiler) wantNumber(n Node, t *Type) {
	switch scalarKind(t) {
	case TypeAny, TypeNumber:
		return
	case TypeArray:
		if scalarKind(t.Elem) == TypeNumber || scalarKind(t.Elem) == TypeAny {
			return
		}
	}
	c.warn(n.Pos(), "%s is a %s, not a number", Format(n), t)
}

// comparison compiles = != < <= > >=, with fast paths for a scalar field
// against a literal (the shape of most segment conditions).
func (c *compiler) comparison(n *Binary) func(*frame) bool {
	op := cmpOpByName[n.Op]
	x, y := c.expr(n.X), c.expr(n.Y)
	c.checkComparable(n, x.typ, y.typ)
	if lit, ok := n.Y.(*Literal); ok && x.typ != nil && x.typ.Kind != TypeArray && x.typ.Kind != TypeAny {
		ref := c.refOf(x)
		switch {
		case lit.Kind == LitString && x.typ.Kind == TypeString && (op == opEq || op == opNe):
			s := lit.Str
			if op == opEq {
				return func(f *frame) bool { v := ref(f); return v != nil && v.kind == KindString && v.str == s }
			}
			return func(f *frame) bool { v := ref(f); return v != nil && v.kind == KindString && v.str != s }
		case lit.Kind == LitInt && x.typ.Kind == TypeNumber:
			k := lit.Int
			kf := Double(float64(k))
			return func(f *frame) bool {
				v := ref(f)
				if v == nil {
					return false
				}
				switch v.kind {
				case KindInt:
					return op.holds(cmpInt(int64(v.num), k))
				case KindDouble:
					c, ok := order(*v, kf)
					return ok && op.holds(c)
				}
				return false
			}
		case lit.Kind == LitString && x.typ.Kind == TypeTime:
			if us, ok := parseTime(lit.Str); ok {
				return func(f *frame) bool {
					v := ref(f)
					return v != nil && v.kind == KindTime && op.holds(cmpInt(int64(v.num), us))
				}
			}
		}
	}
	return func(f *frame) bool { return compare(f, op, x.eval(f), y.eval(f)) }
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkComparable warns about comparisons that can never hold.
func (c *compiler) checkComparable(n *Binary, a, b *Type) {
	ka, kb := scalarKind(elemType(a)), scalarKind(elemType(b))
	if ka == TypeAny || kb == TypeAny || ka == kb {
		return
	}
	if ka == TypeTime && (kb == TypeString || kb == TypeNumber) || kb == TypeTime && (ka == TypeString || ka == TypeNumber) {
		return
	}
	if ka == TypeObject || kb == TypeObject || ka == TypeMap || kb == TypeMap {
		return
	}
	c.warn(n.At, "type mismatch: %s is a %s and %s is a %s, so %s is never true", Format(n.X), a, Format(n.Y), b, n.Op)
}

// membership compiles in and notIn. notIn requires a non-null value: it is
// not the negation of in.
func (c *compiler) membership(n *Binary) func(*frame) bool {
	x, y := c.expr(n.X), c.expr(n.Y)
	not := n.Op == "notIn"
	return func(f *frame) bool {
		v, list := x.eval(f), elems(y.eval(f))
		if v.kind == KindArray {
			if len(v.list) == 0 {
				return false
			}
			for _, e := range v.list {
				if listHas(f, list, e) {
					return !not
				}
			}
			return not
		}
		if v.kind == KindNull {
			return false
		}
		return listHas(f, list, v) != not
	}
}
