package pql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

type jkind uint8

const (
	jkNull jkind = iota
	jkBool
	jkNumber
	jkString
	jkArray
	jkObject
)

type jvalue struct {
	kind jkind
	str  string // string value, or number text
	b    bool
	arr  []*jvalue
	obj  []jmember
}

type jmember struct {
	key string
	val *jvalue
}

func (v *jvalue) get(key string) *jvalue {
	for _, m := range v.obj {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

func (v *jvalue) describe() string {
	switch v.kind {
	case jkNull:
		return "null"
	case jkBool:
		return strconv.FormatBool(v.b)
	case jkNumber:
		return "number " + v.str
	case jkString:
		return "a string"
	case jkArray:
		return "an array"
	}
	return "an object"
}

func jReadJSON(data []byte) (*jvalue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := jReadValue(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &SyntaxError{Msg: "invalid JSON: data after the query"}
	}
	return v, nil
}

func jSyntaxErr(err error) *SyntaxError {
	if err == io.EOF {
		return &SyntaxError{Msg: "invalid JSON: unexpected end of input"}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &SyntaxError{Msg: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
	}
	return &SyntaxError{Msg: "invalid JSON: " + err.Error()}
}

func jReadValue(dec *json.Decoder, depth int) (*jvalue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jSyntaxErr(err)
	}
	switch t := tok.(type) {
	case string:
		return &jvalue{kind: jkString, str: t}, nil
	case json.Number:
		return &jvalue{kind: jkNumber, str: string(t)}, nil
	case bool:
		return &jvalue{kind: jkBool, b: t}, nil
	case nil:
		return &jvalue{kind: jkNull}, nil
	case json.Delim:
		if depth > jMaxDepth {
			return nil, &SyntaxError{Msg: fmt.Sprintf("JSON nests deeper than %d levels", jMaxDepth), limit: true}
		}
		v := &jvalue{kind: jkArray}
		if t == '{' {
			v.kind = jkObject
		}
		var seen map[string]bool
		for dec.More() {
			if v.kind == jkArray {
				e, err := jReadValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
				continue
			}
			kt, err := dec.Token()
			if err != nil {
				return nil, jSyntaxErr(err)
			}
			key, ok := kt.(string)
			if !ok {
				return nil, &SyntaxError{Msg: "invalid JSON: object key is not a string"}
			}
			// Duplicates are ambiguous (parsers disagree on which wins).
			if seen == nil {
				seen = map[string]bool{}
			}
			if seen[key] {
				return nil, &SyntaxError{Msg: fmt.Sprintf("invalid JSON: member %q given twice", key)}
			}
			seen[key] = true
			e, err := jReadValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			v.obj = append(v.obj, jmember{key, e})
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, jSyntaxErr(err)
		}
		return v, nil
	}
	return nil, &SyntaxError{Msg: fmt.Sprintf("invalid JSON: unexpected token %v", tok)}
}

// ---------------------------------------------------------------------------
// Decoding the value tree into nodes.

// jpath is the JSON path of a value, rendered only for errors.
type jpath struct {
	parent *jpath
	key    string // member name; "" for an array index
	index  int
}

func (p *jpath) member(k string) *jpath { return &jpath{parent: p, key: k} }
func (p *jpath) at(i int) *jpath        { return &jpath{parent: p, index: i} }

func (p *jpath) String() string {
	if p == nil {
		return ""
	}
	s := p.parent.String()
	if p.key == "" {
		return s + "[" + strconv.Itoa(p.index) + "]"
	}
	if s == "" {
		return p.key
	}
	return s + "." + p.key
}

func jErrAt(p *jpath, format string, args ...any) *SyntaxError {
	msg := fmt.Sprintf(format, args...)
	if s := p.String(); s != "" {
		msg = s + ": " + msg
	}
	return &SyntaxError{Msg: msg}
}

type jsonDecoder struct {
	vars  []string // bound names, innermost last (as the text parser's)
	scope int      // element scopes entered; 0 is the top level
}

func (d *jsonDecoder) isBound(name string) bool {
	for i := len(d.vars) - 1; i >= 0; i-- {
		if d.vars[i] == name {
			return true
		}
	}
	return false
}

// jMembers checks that v is an object with every required member and no
// members outside required and optional.
func jMembers(v *jvalue, p *jpath, what string, required, optional []string) error {
	if v.kind != jkObject {
		return jErrAt(p, "expected %s object, found %s", what, v.describe())
	}
	for _, m := range v.obj {
		if !jContains(required, m.key) && !jContains(optional, m.key) {
			return jErrAt(p, "unknown member %q in %s", m.key, what)
		}
	}
	for _, k := range required {
		if v.get(k) == nil {
			return jErrAt(p, "missing member %q in %s", k, what)
		}
	}
	return nil
}

func jContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func jStr(v *jvalue, p *jpath, key string) (string, error) {
	m := v.get(key)
	if m == nil {
		return "", jErrAt(p, "missing member %q", key)
	}
	if m.kind != jkString {
		return "", jErrAt(p.member(key), "expected a string, found %s", m.describe())
	}
	return m.str, nil
}

// jName reads an identifier member. It may not hold a backquote, which
// pql/text could not quote; empty is fine (two backquotes in pql/text).
func jName(v *jvalue, p *jpath, key string) (string, error) {
	s, err := jStr(v, p, key)
	if err != nil {
		return "", err
	}
	return s, jCheckName(p.member(key), s)
}

func jCheckName(p *jpath, s string) error {
	if strings.IndexByte(s, '`') >= 0 {
		return jErrAt(p, "name %q contains a backquote, which pql/text cannot write", s)
	}
	return nil
}

// jInteger reads a whole number in [lo, hi].
func jInteger(v *jvalue, p *jpath, key string, lo, hi int64) (int64, error) {
	m := v.get(key)
	if m == nil {
		return 0, jErrAt(p, "missing member %q", key)
	}
	p = p.member(key)
	if m.kind != jkNumber {
		return 0, jErrAt(p, "expected a whole number, found %s", m.describe())
	}
	n, err := jParseInt(m.str)
	if err != nil {
		return 0, jErrAt(p, "%v", err)
	}
	if n < lo || n > hi {
		return 0, jErrAt(p, "%d is out of range %d to %d", n, lo, hi)
	}
	return n, nil
}

// jParseInt accepts only integer syntax, so that values round-trip exactly.
func jParseInt(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return n, nil
	}
	if strings.ContainsAny(s, ".eE") {
		return 0, fmt.Errorf("%s is not a whole number written without fraction or exponent", s)
	}
	return 0, fmt.Errorf("integer %s is out of range", s)
}

func jArrayOf(v *jvalue, p *jpath, key string) ([]*jvalue, error) {
	m := v.get(key)
	if m == nil {
		return nil, jErrAt(p, "missing member %q", key)
	}
	if m.kind != jkArray {
		return nil, jErrAt(p.member(key), "expected an array, found %s", m.describe())
	}
	return m.arr, nil
}

// node decodes the node v at tree depth depth. up allows an upReference (as
// a field's object or a method's receiver, where the printer can write ^).
func (d *jsonDecoder) node(v *jvalue, p *jpath, depth int, up bool) (Node, error) {
	if depth > MaxDepth {
		return nil, &SyntaxError{Msg: jErrAt(p, "query nests deeper than %d levels", MaxDepth).Msg, limit: true}
	}
	if v.kind != jkObject {
		return nil, jErrAt(p, "expected a node object, found %s", v.describe())
	}
	nt := v.get("nodeType")
	if nt == nil {
		return nil, jErrAt(p, `missing member "nodeType"`)
	}
	if nt.kind != jkString {
		return nil, jErrAt(p.member("nodeType"), "expected a string, found %s", nt.describe())
	}
	switch nt.str {
	case jntFnApply:
		return d.fnApply(v, p, depth)
	case jntField:
		return d.field(v, p, depth)
	case jntParam:
		if err := jMembers(v, p, jntParam, []string{"nodeType", "position"}, nil); err != nil {
			return nil, err
		}
		n, err := jInteger(v, p, "position", 1, jMaxParam)
		if err != nil {
			return nil, err
		}
		if n == 1 && d.scope == 0 {
			return &Implicit{}, nil
		}
		return &Param{Index: int(n)}, nil
	case jntVar:
		if err := jMembers(v, p, jntVar, []string{"nodeType", "name"}, nil); err != nil {
			return nil, err
		}
		s, err := jName(v, p, "name")
		if err != nil {
			return nil, err
		}
		if !d.isBound(s) {
			return nil, jErrAt(p.member("name"), "variable %q is not bound by an enclosing lambda, let, quantifier, select or aggregate", s)
		}
		return &Var{Name: s}, nil
	case jntUp:
		if err := jMembers(v, p, jntUp, []string{"nodeType", "levels"}, nil); err != nil {
			return nil, err
		}
		if !up {
			return nil, jErrAt(p, "upReference is only allowed as the object of a fieldLookup or the receiver of a method")
		}
		n, err := jInteger(v, p, "levels", 1, math.MaxInt64)
		if err != nil {
			return nil, err
		}
		if n > MaxDepth {
			// More scopes than a tree can nest: a limit, like the nesting.
			e := jErrAt(p.member("levels"), "%d levels is more than the limit of %d", n, MaxDepth)
			e.limit = true
			return nil, e
		}
		return &Up{Levels: int(n)}, nil
	case jntLiteral:
		return jLiteral(v, p)
	case jntArray:
		if err := jMembers(v, p, jntArray, []string{"nodeType", "items"}, nil); err != nil {
			return nil, err
		}
		items, err := jArrayOf(v, p, "items")
		if err != nil {
			return nil, err
		}
		arr := &ArrayLit{}
		for i, it := range items {
			x, err := d.node(it, p.member("items").at(i), depth+1, false)
			if err != nil {
				return nil, err
			}
			arr.Elems = append(arr.Elems, x)
		}
		return arr, nil
	case jntObject:
		return d.object(v, p, depth)
	case jntFilter:
		if err := jMembers(v, p, jntFilter, []string{"nodeType", "object", "condition"}, nil); err != nil {
			return nil, err
		}
		x, err := d.node(v.get("object"), p.member("object"), depth+1, false)
		if err != nil {
			return nil, err
		}
		d.scope++
		cond, err := d.node(v.get("condition"), p.member("condition"), depth+1, false)
		d.scope--
		if err != nil {
			return nil, err
		}
		return &Filter{X: x, Cond: cond}, nil
	case jntLambda:
		return d.lambda(v, p, depth)
	case jntLet:
		if err := jMembers(v, p, jntLet, []string{"nodeType", "name", "value", "body"}, nil); err != nil {
			return nil, err
		}
		s, err := jName(v, p, "name")
		if err != nil {
			return nil, err
		}
		value, err := d.node(v.get("value"), p.member("value"), depth+1, false)
		if err != nil {
			return nil, err
		}
		d.vars = append(d.vars, s)
		body, err := d.node(v.get("body"), p.member("body"), depth+1, false)
		d.vars = d.vars[:len(d.vars)-1]
		if err != nil {
			return nil, err
		}
		return &Let{Name: s, Value: value, Body: body}, nil
	case jntQuant:
		return d.quantifier(v, p, depth)
	case jntSelect:
		if err := jMembers(v, p, jntSelect, []string{"nodeType", "name", "source"}, []string{"condition"}); err != nil {
			return nil, err
		}
		b, err := d.binding(v, p, depth)
		if err != nil {
			return nil, err
		}
		d.vars = d.vars[:len(d.vars)-1]
		return &Select{Var: b.Var, Source: b.Source, Cond: b.Cond}, nil
	case jntAggregate:
		return d.aggregate(v, p, depth)
	case jntOccurs:
		if err := jMembers(v, p, jntOccurs, []string{"nodeType", "object", "spec"}, nil); err != nil {
			return nil, err
		}
		x, err := d.node(v.get("object"), p.member("object"), depth+1, false)
		if err != nil {
			return nil, err
		}
		spec, err := d.spec(v.get("spec"), p.member("spec"), depth)
		if err != nil {
			return nil, err
		}
		return &Occurs{X: x, Spec: spec}, nil
	case jntChain:
		return d.chain(v, p, depth)
	}
	e := jErrAt(p, "unknown nodeType %q", nt.str)
	best, bestDist := "", 3
	for _, t := range jNodeTypes {
		if dist := editDistance(strings.ToLower(t), strings.ToLower(nt.str)); dist < bestDist {
			best, bestDist = t, dist
		}
	}
	if best != "" {
		e.Hint = fmt.Sprintf("did you mean %q?", best)
	}
	return nil, e
}

func (d *jsonDecoder) fnApply(v *jvalue, p *jpath, depth int) (Node, error) {
	if err := jMembers(v, p, jntFnApply, []string{"nodeType", "fnName", "params"}, nil); err != nil {
		return nil, err
	}
	fn, err := jStr(v, p, "fnName")
	if err != nil {
		return nil, err
	}
	params, err := jArrayOf(v, p, "params")
	if err != nil {
		return nil, err
	}
	pp := p.member("params")
	want := func(n int) error {
		if len(params) != n {
			noun := "operands"
			if n == 1 {
				noun = "operand"
			}
			return jErrAt(pp, "%s takes %d %s, got %d", fn, n, noun, len(params))
		}
		return nil
	}
	switch {
	case fn == "not" || fn == "neg":
		if err := want(1); err != nil {
			return nil, err
		}
		x, err := d.node(params[0], pp.at(0), depth+1, false)
		if err != nil {
			return nil, err
		}
		op := "not"
		if fn == "neg" {
			op = "-"
		}
		return &Unary{Op: op, X: x}, nil
	case jBinaryOps[fn]:
		if err := want(2); err != nil {
			e := err.(*SyntaxError)
			if fn == "-" && len(params) == 1 {
				e.Hint = `negation is fnName "neg"`
			}
			return nil, e
		}
		x, err := d.node(params[0], pp.at(0), depth+1, false)
		if err != nil {
			return nil, err
		}
		y, err := d.node(params[1], pp.at(1), depth+1, false)
		if err != nil {
			return nil, err
		}
		return &Binary{Op: fn, X: x, Y: y}, nil
	}
	spec, ok := functions[fn]
	if !ok {
		e := jErrAt(p.member("fnName"), "unknown function %q", fn)
		if alt, ok := jOpAliases[strings.ToLower(fn)]; ok {
			e.Hint = fmt.Sprintf("did you mean %q?", alt)
		} else if s := suggest(fn, true); s != "" {
			e.Hint = fmt.Sprintf("did you mean %q?", s)
		} else if s := suggest(fn, false); s != "" {
			e.Hint = fmt.Sprintf("did you mean %q?", s)
		}
		return nil, e
	}
	nargs := len(params)
	if spec.method {
		if nargs == 0 {
			return nil, jErrAt(pp, "method %s needs its receiver as params[0]", fn)
		}
		nargs--
	}
	if nargs < spec.minArgs || nargs > spec.maxArgs {
		want := strconv.Itoa(spec.minArgs)
		if spec.maxArgs != spec.minArgs {
			want = fmt.Sprintf("%d to %d", spec.minArgs, spec.maxArgs)
		}
		what := "arguments"
		if spec.method {
			what = "arguments after the receiver"
		}
		return nil, jErrAt(pp, "%s takes %s %s, got %d", fn, want, what, nargs)
	}
	if !spec.method {
		args, err := d.nodes(params, pp, depth)
		if err != nil {
			return nil, err
		}
		return &Call{Name: fn, Args: args}, nil
	}
	x, err := d.node(params[0], pp.at(0), depth+1, true)
	if err != nil {
		return nil, err
	}
	var args []Node
	for i, a := range params[1:] {
		elem := isElemArg(fn, i)
		if elem {
			d.scope++
		}
		n, err := d.node(a, pp.at(i+1), depth+1, false)
		if elem {
			d.scope--
		}
		if err != nil {
			return nil, err
		}
		args = append(args, n)
	}
	return &Method{X: x, Name: fn, Args: args}, nil
}

func (d *jsonDecoder) nodes(vs []*jvalue, p *jpath, depth int) ([]Node, error) {
	var out []Node
	for i, a := range vs {
		n, err := d.node(a, p.at(i), depth+1, false)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (d *jsonDecoder) field(v *jvalue, p *jpath, depth int) (Node, error) {
	if err := jMembers(v, p, jntField, []string{"nodeType", "fieldName"}, []string{"object"}); err != nil {
		return nil, err
	}
	s, err := jName(v, p, "fieldName")
	if err != nil {
		return nil, err
	}
	var x Node
	if obj := v.get("object"); obj != nil {
		if x, err = d.node(obj, p.member("object"), depth+1, true); err != nil {
			return nil, err
		}
	} else {
		x = &Implicit{}
	}
	if _, ok := x.(*Implicit); ok && d.isBound(s) {
		// pql/text reads a bare bound name as the variable. At the top level
		// the implicit parameter is $1, which can be written; inside an
		// element scope it cannot.
		if d.scope > 0 {
			return nil, jErrAt(p.member("fieldName"), "field %q of the current element is hidden by the variable of that name", s)
		}
		x = &Param{Index: 1}
	}
	return &Field{X: x, Name: s}, nil
}

func jLiteral(v *jvalue, p *jpath) (Node, error) {
	if err := jMembers(v, p, jntLiteral, []string{"nodeType", "literalType", "value"}, nil); err != nil {
		return nil, err
	}
	lt, err := jStr(v, p, "literalType")
	if err != nil {
		return nil, err
	}
	kind, ok := jLiteralTypes[lt]
	if !ok {
		return nil, jErrAt(p.member("literalType"), "unknown literalType %q, want String, Boolean, Integer, Double or Null", lt)
	}
	val := v.get("value")
	vp := p.member("value")
	lit := &Literal{Kind: kind}
	bad := func(want string) error { return jErrAt(vp, "%s literal needs %s, found %s", lt, want, val.describe()) }
	switch kind {
	case LitString:
		if val.kind != jkString {
			return nil, bad("a string")
		}
		lit.Str = val.str
	case LitBool:
		if val.kind != jkBool {
			return nil, bad("true or false")
		}
		lit.Bool = val.b
	case LitInt:
		if val.kind != jkNumber {
			return nil, bad("a whole number")
		}
		if lit.Int, err = jParseInt(val.str); err != nil {
			return nil, jErrAt(vp, "%v", err)
		}
	case LitDouble:
		if val.kind != jkNumber {
			return nil, bad("a number")
		}
		f, err := strconv.ParseFloat(val.str, 64)
		if err != nil {
			return nil, jErrAt(vp, "number %s is out of range", val.str)
		}
		lit.Float = f
	case LitNull:
		if val.kind != jkNull {
			return nil, bad("null")
		}
	}
	return lit, nil
}

func (d *jsonDecoder) object(v *jvalue, p *jpath, depth int) (Node, error) {
	if err := jMembers(v, p, jntObject, []string{"nodeType", "fields"}, nil); err != nil {
		return nil, err
	}
	fields, err := jArrayOf(v, p, "fields")
	if err != nil {
		return nil, err
	}
	obj := &ObjectLit{}
	for i, f := range fields {
		fp := p.member("fields").at(i)
		if err := jMembers(f, fp, "field", []string{"name", "value"}, nil); err != nil {
			return nil, err
		}
		k, err := jStr(f, fp, "name")
		if err != nil {
			return nil, err
		}
		x, err := d.node(f.get("value"), fp.member("value"), depth+1, false)
		if err != nil {
			return nil, err
		}
		obj.Keys = append(obj.Keys, k)
		obj.Values = append(obj.Values, x)
	}
	return obj, nil
}

func (d *jsonDecoder) lambda(v *jvalue, p *jpath, depth int) (Node, error) {
	if err := jMembers(v, p, jntLambda, []string{"nodeType", "params", "body"}, nil); err != nil {
		return nil, err
	}
	ps, err := jArrayOf(v, p, "params")
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, jErrAt(p.member("params"), "a lambda needs at least one parameter")
	}
	l := &Lambda{}
	for i, pv := range ps {
		pp := p.member("params").at(i)
		if pv.kind != jkString {
			return nil, jErrAt(pp, "expected a parameter name, found %s", pv.describe())
		}
		if err := jCheckName(pp, pv.str); err != nil {
			return nil, err
		}
		l.Params = append(l.Params, pv.str)
	}
	mark := len(d.vars)
	d.vars = append(d.vars, l.Params...)
	l.Body, err = d.node(v.get("body"), p.member("body"), depth+1, false)
	d.vars = d.vars[:mark]
	if err != nil {
		return nil, err
	}
	return l, nil
}

// binding decodes {name, source, condition?} and leaves name bound, as the
// text parser does for the bindings that follow it.
func (d *jsonDecoder) binding(v *jvalue, p *jpath, depth int) (Binding, error) {
	s, err := jName(v, p, "name")
	if err != nil {
		return Binding{}, err
	}
	src, err := d.node(v.get("source"), p.member("source"), depth+1, false)
	if err != nil {
		return Binding{}, err
	}
	d.vars = append(d.vars, s)
	b := Binding{Var: s, Source: src}
	if c := v.get("condition"); c != nil {
		if b.Cond, err = d.node(c, p.member("condition"), depth+1, false); err != nil {
			return Binding{}, err
		}
	}
	return b, nil
}

func (d *jsonDecoder) quantifier(v *jvalue, p *jpath, depth int) (Node, error) {
	if err := jMembers(v, p, jntQuant, []string{"nodeType", "quantifier", "bindings"}, nil); err != nil {
		return nil, err
	}
	kind, err := jStr(v, p, "quantifier")
	if err != nil {
		return nil, err
	}
	if kind != "exists" && kind != "forall" {
		return nil, jErrAt(p.member("quantifier"), "unknown quantifier %q, want exists or forall", kind)
	}
	bs, err := jArrayOf(v, p, "bindings")
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, jErrAt(p.member("bindings"), "a quantifier needs at least one binding")
	}
	q := &Quantifier{All: kind == "forall"}
	mark := len(d.vars)
	defer func() { d.vars = d.vars[:mark] }()
	for i, bv := range bs {
		bp := p.member("bindings").at(i)
		if err := jMembers(bv, bp, "binding", []string{"name", "source"}, []string{"condition"}); err != nil {
			return nil, err
		}
		b, err := d.binding(bv, bp, depth)
		if err != nil {
			return nil, err
		}
		q.Bindings = append(q.Bindings, b)
	}
	return q, nil
}

func (d *jsonDecoder) aggregate(v *jvalue, p *jpath, depth int) (Node, error) {
	if err := jMembers(v, p, jntAggregate, []string{"nodeType", "fnName", "expression", "name", "source"}, []string{"condition"}); err != nil {
		return nil, err
	}
	fn, err := jStr(v, p, "fnName")
	if err != nil {
		return nil, err
	}
	if !jAggregateFns[fn] {
		return nil, jErrAt(p.member("fnName"), "unknown aggregate %q, want sum, count, min, max or average", fn)
	}
	s, err := jName(v, p, "name")
	if err != nil {
		return nil, err
	}
	// The variable is bound in the expression and the condition, not the
	// source, as in pql/text.
	d.vars = append(d.vars, s)
	expr, err := d.node(v.get("expression"), p.member("expression"), depth+1, false)
	d.vars = d.vars[:len(d.vars)-1]
	if err != nil {
		return nil, err
	}
	b, err := d.binding(v, p, depth)
	if err != nil {
		return nil, err
	}
	d.vars = d.vars[:len(d.vars)-1]
	return &Aggregate{Fn: fn, Expr: expr, Var: s, Source: b.Source, Cond: b.Cond}, nil
}

func (d *jsonDecoder) chain(v *jvalue, p *jpath, depth int) (Node, error) {
	if err := jMembers(v, p, jntChain, []string{"nodeType", "source", "timeField", "steps"}, nil); err != nil {
		return nil, err
	}
	src, err := d.node(v.get("source"), p.member("source"), depth+1, false)
	if err != nil {
		return nil, err
	}
	tf, err := jName(v, p, "timeField")
	if err != nil {
		return nil, err
	}
	steps, err := jArrayOf(v, p, "steps")
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, jErrAt(p.member("steps"), "a chain needs at least one step")
	}
	c := &Chain{Source: src, TimeField: tf}
	for i, sv := range steps {
		sp := p.member("steps").at(i)
		if err := jMembers(sv, sp, "step", []string{"label", "what"}, []string{"where", "when", "count"}); err != nil {
			return nil, err
		}
		st := Step{}
		if st.Label, err = jName(sv, sp, "label"); err != nil {
			return nil, err
		}
		d.scope++
		st.What, err = d.node(sv.get("what"), sp.member("what"), depth+1, false)
		if err == nil && sv.get("where") != nil {
			st.Where, err = d.node(sv.get("where"), sp.member("where"), depth+1, false)
		}
		d.scope--
		if err != nil {
			return nil, err
		}
		if w := sv.get("when"); w != nil {
			spec, err := d.spec(w, sp.member("when"), depth)
			if err != nil {
				return nil, err
			}
			st.When = &spec
		}
		if sv.get("count") != nil {
			if st.Count, err = jInteger(sv, sp, "count", 1, jMaxCount); err != nil {
				return nil, err
			}
		}
		c.Steps = append(c.Steps, st)
	}
	return c, nil
}

// spec decodes an occurs specification of the node at depth.
func (d *jsonDecoder) spec(v *jvalue, p *jpath, depth int) (OccursSpec, error) {
	if v.kind != jkObject {
		return OccursSpec{}, jErrAt(p, "expected an occurs spec object, found %s", v.describe())
	}
	fv := v.get("form")
	if fv == nil {
		return OccursSpec{}, jErrAt(p, `missing member "form"`)
	}
	if fv.kind != jkString {
		return OccursSpec{}, jErrAt(p.member("form"), "expected a string, found %s", fv.describe())
	}
	form, ok := jSpecForms[fv.str]
	if !ok {
		return OccursSpec{}, jErrAt(p.member("form"), "unknown form %q, want offset, direction, on or between", fv.str)
	}
	var required []string
	switch form {
	case OccursOffset:
		required = []string{"form", "op", "amount", "unit", "direction", "time"}
	case OccursDir:
		required = []string{"form", "direction", "time"}
	case OccursOn:
		required = []string{"form", "time"}
	case OccursBetween:
		required = []string{"form", "time", "time2"}
	}
	if err := jMembers(v, p, fv.str+" spec", required, nil); err != nil {
		return OccursSpec{}, err
	}
	s := OccursSpec{Form: form}
	var err error
	if form == OccursOffset {
		if s.Op, err = jStr(v, p, "op"); err != nil {
			return s, err
		}
		if !cmpOps[s.Op] {
			return s, jErrAt(p.member("op"), "unknown op %q, want = != < <= > or >=", s.Op)
		}
		if s.N, err = jInteger(v, p, "amount", 0, jMaxAmount); err != nil {
			return s, err
		}
		if s.Unit, err = jUnit(v, p); err != nil {
			return s, err
		}
	}
	if form == OccursOffset || form == OccursDir {
		if s.Dir, err = jStr(v, p, "direction"); err != nil {
			return s, err
		}
		ok := s.Dir == "before" || s.Dir == "after" || (s.Dir == "from" && form == OccursOffset)
		if !ok {
			want := "before, after or from"
			if form == OccursDir {
				want = "before or after"
			}
			return s, jErrAt(p.member("direction"), "unknown direction %q, want %s", s.Dir, want)
		}
	}
	if s.T, err = d.time(v.get("time"), p.member("time"), depth); err != nil {
		return s, err
	}
	if form == OccursBetween {
		if s.T2, err = d.time(v.get("time2"), p.member("time2"), depth); err != nil {
			return s, err
		}
	}
	return s, nil
}

func jUnit(v *jvalue, p *jpath) (Unit, error) {
	s, err := jStr(v, p, "unit")
	if err != nil {
		return 0, err
	}
	for u := UnitMillisecond; u <= UnitMillennium; u++ {
		if unitSingular[u] == s {
			return u, nil
		}
	}
	e := jErrAt(p.member("unit"), "unknown unit %q", s)
	if u, ok := units[strings.ToLower(s)]; ok {
		e.Hint = fmt.Sprintf("did you mean %q?", unitSingular[u])
	}
	return 0, e
}

func (d *jsonDecoder) time(v *jvalue, p *jpath, depth int) (TimeRef, error) {
	if v.kind != jkObject {
		return TimeRef{}, jErrAt(p, "expected a time object, found %s", v.describe())
	}
	kv := v.get("kind")
	if kv == nil {
		return TimeRef{}, jErrAt(p, `missing member "kind"`)
	}
	if kv.kind != jkString {
		return TimeRef{}, jErrAt(p.member("kind"), "expected a string, found %s", kv.describe())
	}
	kind, ok := jTimeKinds[kv.str]
	if !ok {
		return TimeRef{}, jErrAt(p.member("kind"), "unknown time kind %q, want now, today, yesterday, tomorrow, this, last, next or expression", kv.str)
	}
	t := TimeRef{Kind: kind}
	switch kind {
	case TimeThis, TimeLast, TimeNext:
		if err := jMembers(v, p, "time", []string{"kind", "unit"}, nil); err != nil {
			return t, err
		}
		u, err := jUnit(v, p)
		t.Unit = u
		return t, err
	case TimeExpr:
		if err := jMembers(v, p, "time", []string{"kind", "expression"}, nil); err != nil {
			return t, err
		}
		x, err := d.node(v.get("expression"), p.member("expression"), depth+1, false)
		t.X = x
		return t, err
	}
	return t, jMembers(v, p, "time", []string{"kind"}, nil)
}

// ---------------------------------------------------------------------------
// Encoding.
