package pql

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

func (c *compiler) call(n *Call) cexpr {
	switch n.Name {
	case "if":
		test := c.cond(n.Args[0])
		a, b := c.expr(n.Args[1]), c.expr(n.Args[2])
		t := a.typ
		if b.typ != t {
			t = nil
		}
		return cexpr{eval: func(f *frame) Value {
			if test(f) {
				return a.eval(f)
			}
			return b.eval(f)
		}, typ: t}
	case "date":
		return c.date(n)
	case "inSegment":
		return c.inSegment(n)
	case "currentMonth":
		return cexpr{eval: func(f *frame) Value { return Int(int64(f.nowT.Month())) }, typ: NumberType}
	case "currentYear":
		return cexpr{eval: func(f *frame) Value { return Int(int64(f.nowT.Year())) }, typ: NumberType}
	case "currentDayOfMonth":
		return cexpr{eval: func(f *frame) Value { return Int(int64(f.nowT.Day())) }, typ: NumberType}
	case "mapEntry":
		k, v := c.expr(n.Args[0]), c.expr(n.Args[1])
		return cexpr{eval: func(f *frame) Value {
			key := k.eval(f)
			name := key.str
			if key.kind != KindString {
				name = key.String()
			}
			return Value{kind: KindMap, list: []Value{String(name), v.eval(f)}}
		}, typ: MapOf(v.typ)}
	}
	c.fail(n.At, "unknown function %q", n.Name)
	return nullExpr
}

// date(y, m, d) is midnight UTC of that day. Constant arguments fold.
func (c *compiler) date(n *Call) cexpr {
	parts := [3]cexpr{}
	consts := true
	for i, a := range n.Args {
		parts[i] = c.expr(a)
		c.wantNumber(a, parts[i].typ)
		if _, ok := a.(*Literal); !ok {
			consts = false
		}
	}
	mk := func(f *frame) Value {
		y, m, d := parts[0].eval(f), parts[1].eval(f), parts[2].eval(f)
		if !y.isNumber() || !m.isNumber() || !d.isNumber() {
			return Value{}
		}
		yy, mm, dd := y.Int(), m.Int(), d.Int()
		if yy < 1 || yy > 9999 || mm < 1 || mm > 12 || dd < 1 || dd > 31 {
			return Value{}
		}
		t := time.Date(int(yy), time.Month(mm), int(dd), 0, 0, 0, 0, time.UTC)
		if t.Day() != int(dd) { // 29 February 2023 does not roll over into March
			return Value{}
		}
		return Time(t)
	}
	if consts {
		v := mk(nil)
		if v.kind == KindNull {
			c.fail(n.At, "date(%s) is not a valid date", Format(n)[5:len(Format(n))-1])
		}
		return constant(v, TimeType)
	}
	return cexpr{eval: mk, typ: TimeType}
}

func (c *compiler) inSegment(n *Call) cexpr {
	lit, ok := n.Args[0].(*Literal)
	if !ok || lit.Kind != LitString {
		c.fail(n.At, "inSegment needs a segment id as a string literal")
		return nullExpr
	}
	if c.opts.SegmentSlot != nil {
		if slot, ok := c.opts.SegmentSlot(lit.Str); ok {
			word, bit := slot/64, uint64(1)<<(slot%64)
			return cexpr{eval: func(f *frame) Value {
				s := f.subject.Segments
				return Bool(word < len(s) && s[word]&bit != 0)
			}, typ: BoolType}
		}
	}
	// Read segmentMembership.<namespace>.<id>.status.
	idx, mt, ok := c.opts.Schema.profile.Lookup("segmentMembership")
	if !ok || mt.Kind != TypeMap || mt.Elem == nil || mt.Elem.Kind != TypeMap {
		return constant(Bool(false), BoolType)
	}
	statusIdx, _, ok := mt.Elem.Elem.Lookup("status")
	if !ok {
		return constant(Bool(false), BoolType)
	}
	id := lit.Str
	return cexpr{eval: func(f *frame) Value {
		m := f.subject.Profile.field(idx)
		for i := 1; i < len(m.list); i += 2 {
			st := m.list[i].Get(id).field(statusIdx)
			if st.kind == KindString && (st.str == "realized" || st.str == "existing") {
				return Bool(true)
			}
		}
		return Bool(false)
	}, typ: BoolType}
}

// method compiles X.name(args).
func (c *compiler) method(n *Method) cexpr {
	if n.Name == "count" {
		if fl, ok := n.X.(*Filter); ok {
			return c.filterCount(fl)
		}
	}
	x := c.expr(n.X)
	if _, ok := stringTests[n.Name]; ok {
		return c.stringTest(n, x)
	}
	switch n.Name {
	case "matches":
		re := c.regex(n, n.Args[0])
		if re == nil {
			return nullExpr
		}
		return c.stringPred(x, func(s string) bool { return re.MatchString(s) })
	case "regexGroup":
		re := c.regex(n, n.Args[0])
		group := c.expr(n.Args[1])
		if re == nil {
			return nullExpr
		}
		return c.mapScalar(x, StringType, func(f *frame, v Value) Value {
			if v.kind != KindString {
				return Value{}
			}
			g := group.eval(f).Int()
			m := re.FindStringSubmatch(v.str)
			if m == nil || g < 0 || int(g) >= len(m) {
				return Value{}
			}
			return String(m[g])
		})
	case "isNull":
		return cexpr{eval: func(f *frame) Value { return Bool(x.eval(f).empty()) }, typ: BoolType}
	case "isNotNull":
		return cexpr{eval: func(f *frame) Value { return Bool(!x.eval(f).empty()) }, typ: BoolType}
	case "getMonth", "getYear", "getDayOfMonth":
		name := n.Name
		c.wantTime(n.X, x.typ)
		return c.mapScalar(x, NumberType, func(_ *frame, v Value) Value {
			us, ok := asMicros(v)
			if !ok {
				return Value{}
			}
			t := time.UnixMicro(us).UTC()
			switch name {
			case "getMonth":
				return Int(int64(t.Month()))
			case "getYear":
				return Int(int64(t.Year()))
			}
			return Int(int64(t.Day()))
		})
	case "get":
		key := c.expr(n.Args[0])
		var vt *Type
		if x.typ != nil && x.typ.Kind == TypeMap {
			vt = x.typ.Elem
		}
		if x.typ != nil && x.typ.Kind == TypeObject {
			names := x.typ.index
			return cexpr{eval: func(f *frame) Value {
				k := key.eval(f)
				if i, ok := names[k.str]; ok && k.kind == KindString {
					return x.eval(f).field(i)
				}
				return Value{}
			}}
		}
		return cexpr{eval: func(f *frame) Value {
			k := key.eval(f)
			if k.kind != KindString {
				return Value{}
			}
			return x.eval(f).Get(k.str)
		}, typ: vt}
	case "keys", "values":
		keys := n.Name == "keys"
		slot := c.newBuf()
		var t *Type = ArrayOf(StringType)
		if !keys {
			t = nil
			if x.typ != nil && x.typ.Kind == TypeMap {
				t = x.typ.Elem
				if t == nil || t.Kind != TypeArray {
					t = ArrayOf(t)
				}
			}
		}
		return cexpr{eval: func(f *frame) Value {
			m := x.eval(f)
			if m.kind != KindMap {
				return Value{}
			}
			buf := f.bufs[slot][:0]
			for i := 0; i+1 < len(m.list); i += 2 {
				switch {
				case keys:
					buf = append(buf, m.list[i])
				case m.list[i+1].kind == KindArray:
					buf = append(buf, m.list[i+1].list...) // values() of a map of arrays flattens
				default:
					buf = append(buf, m.list[i+1])
				}
			}
			f.bufs[slot] = buf
			return Array(buf)
		}, typ: t}
	}
	return c.arrayMethod(n, x)
}

func (c *compiler) wantTime(n Node, t *Type) {
	switch scalarKind(elemType(t)) {
	case TypeAny, TypeTime, TypeString, TypeNumber:
		return
	}
	c.warn(n.Pos(), "%s is a %s, not a timestamp", Format(n), t)
}

// mapScalar applies fn to a value, or to each element of an array (nulls
// dropped), like a path through an array.
func (c *compiler) mapScalar(x cexpr, rt *Type, fn func(*frame, Value) Value) cexpr {
	if x.typ != nil && x.typ.Kind != TypeArray && x.typ.Kind != TypeAny {
		return cexpr{eval: func(f *frame) Value { return fn(f, x.eval(f)) }, typ: rt}
	}
	slot := c.newBuf()
	t := rt
	if x.typ != nil && x.typ.Kind == TypeArray {
		t = ArrayOf(rt)
	}
	return cexpr{eval: func(f *frame) Value {
		v := x.eval(f)
		if v.kind != KindArray {
			return fn(f, v)
		}
		if !f.spend(len(v.list)) {
			return Value{}
		}
		buf := f.bufs[slot][:0]
		for _, e := range v.list {
			if r := fn(f, e); r.kind != KindNull {
				buf = append(buf, r)
			}
		}
		f.bufs[slot] = buf
		return Array(buf)
	}, typ: t}
}

// stringPred is a test on a string value; on an array it holds when some
// element passes. Null and non-strings fail, negative tests included.
func (c *compiler) stringPred(x cexpr, test func(string) bool) cexpr {
	return cexpr{eval: func(f *frame) Value {
		v := x.eval(f)
		switch v.kind {
		case KindString:
			return Bool(test(v.str))
		case KindArray:
			for _, e := range v.list {
				if e.kind == KindString && test(e.str) {
					return Bool(true)
				}
			}
		}
		return Bool(false)
	}, typ: BoolType}
}

func (c *compiler) stringTest(n *Method, x cexpr) cexpr {
	p := c.stringTestPred(n, x)
	return cexpr{eval: func(f *frame) Value { return Bool(p(f)) }, typ: BoolType}
}

// stringTestPred compiles startsWith, endsWith, contains, equals and their
// negations, with an optional case-sensitivity flag (default true). The
// usual shape, a literal argument and flag on a string field, gets a
// closure that reads the field in place.
func (c *compiler) stringTestPred(n *Method, x cexpr) func(*frame) bool {
	if k := scalarKind(elemType(x.typ)); k != TypeAny && k != TypeString {
		c.warn(n.At, "%s is a %s; %s works on strings", Format(n.X), x.typ, n.Name)
	}
	st := stringTests[n.Name]
	negate := st.negate
	test := func(s, t string, cs bool) bool {
		if cs {
			return st.exact(s, t)
		}
		return st.fold(s, t)
	}
	lit, litOK := n.Args[0].(*Literal)
	flagLit := &Literal{Kind: LitBool, Bool: true}
	if len(n.Args) == 2 {
		flagLit, _ = n.Args[1].(*Literal)
	}
	if litOK && lit.Kind == LitString && flagLit != nil && flagLit.Kind == LitBool && x.typ != nil && x.typ.Kind == TypeString {
		t, cs := lit.Str, flagLit.Bool
		ref := c.refOf(x)
		return func(f *frame) bool {
			v := ref(f)
			return v != nil && v.kind == KindString && test(v.str, t, cs) != negate
		}
	}
	arg := c.expr(n.Args[0])
	sensitive := func(*frame) bool { return true }
	if len(n.Args) == 2 {
		sensitive = c.cond(n.Args[1])
	}
	one := func(f *frame, s string) bool {
		t := arg.eval(f)
		if t.kind != KindString {
			return false
		}
		return test(s, t.str, sensitive(f)) != negate
	}
	return func(f *frame) bool {
		v := x.eval(f)
		switch v.kind {
		case KindString:
			return one(f, v.str)
		case KindArray:
			for _, e := range v.list {
				if e.kind == KindString && one(f, e.str) {
					return true
				}
			}
		}
		return false
	}
}

// stringTests are the string functions that take a case flag: the test
// with and without case, and whether the function negates it.
var stringTests = map[string]struct {
	exact, fold func(s, t string) bool
	negate      bool
}{
	"startsWith":       {strings.HasPrefix, hasPrefixFold, false},
	"doesNotStartWith": {strings.HasPrefix, hasPrefixFold, true},
	"endsWith":         {strings.HasSuffix, suffixFold, false},
	"doesNotEndWith":   {strings.HasSuffix, suffixFold, true},
	"contains":         {strings.Contains, containsFold, false},
	"doesNotContain":   {strings.Contains, containsFold, true},
	"equals":           {func(s, t string) bool { return s == t }, strings.EqualFold, false},
	"notEqualTo":       {func(s, t string) bool { return s == t }, strings.EqualFold, true},
}

func hasPrefixFold(s, prefix string) bool {
	_, ok := prefixFold(s, prefix)
	return ok
}

// containsFold is a case-insensitive strings.Contains without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i <= len(s); {
		if _, ok := prefixFold(s[i:], sub); ok {
			return true
		}
		if i == len(s) {
			break
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return false
}

// prefixFold reports whether s starts with prefix under Unicode simple case
// folding, comparing rune by rune (the folded forms of a character can
// differ in byte length, as K and the Kelvin sign do). n is the length of
// the matching part of s.
func prefixFold(s, prefix string) (n int, ok bool) {
	// ASCII fast path: byte by byte until a non-ASCII byte on either side.
	for n < len(prefix) && n < len(s) && prefix[n] < utf8.RuneSelf && s[n] < utf8.RuneSelf {
		if lowerASCII(prefix[n]) != lowerASCII(s[n]) {
			return 0, false
		}
		n++
	}
	if n == len(prefix) {
		return n, true
	}
	for _, r := range prefix[n:] {
		if n >= len(s) {
			return 0, false
		}
		c, size := utf8.DecodeRuneInString(s[n:])
		if !foldEqual(c, r) {
			return 0, false
		}
		n += size
	}
	return n, true
}

// suffixFold reports whether s ends with suffix under simple case folding.
func suffixFold(s, suffix string) bool {
	for len(suffix) > 0 {
		if len(s) == 0 {
			return false
		}
		r, rs := utf8.DecodeLastRuneInString(suffix)
		c, cs := utf8.DecodeLastRuneInString(s)
		if !foldEqual(c, r) {
			return false
		}
		suffix, s = suffix[:len(suffix)-rs], s[:len(s)-cs]
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func foldEqual(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// regex compiles a literal pattern. PQL takes Java regexes; Go's RE2 syntax
// covers the common subset and fails clearly on the rest (lookarounds,
// backreferences). RE2 runs in linear time, so no pattern runs away.
func (c *compiler) regex(n *Method, arg Node) *regexp.Regexp {
	lit, ok := arg.(*Literal)
	if !ok || lit.Kind != LitString {
		c.fail(arg.Pos(), "%s needs the regular expression as a string literal", n.Name)
		return nil
	}
	if len(lit.Str) > MaxRegexLength {
		c.fail(arg.Pos(), "regular expression is %d bytes long, the limit is %d", len(lit.Str), MaxRegexLength)
		return nil
	}
	re, err := regexp.Compile(lit.Str)
	if err != nil {
		c.fail(arg.Pos(), "invalid regular expression: %v", err)
		return nil
	}
	return re
}

// like compiles s like "pattern": % is any run of characters, _ is one.
func (c *compiler) like(n *Binary) func(*frame) bool {
	lit, ok := n.Y.(*Literal)
	if !ok || lit.Kind != LitString {
		c.fail(n.Y.Pos(), "like needs its pattern as a string literal")
		return func(*frame) bool { return false }
	}
	if len(lit.Str) > MaxRegexLength {
		c.fail(n.Y.Pos(), "like pattern is %d bytes long, the limit is %d", len(lit.Str), MaxRegexLength)
		return func(*frame) bool { return false }
	}
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for _, r := range lit.Str {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	re := regexp.MustCompile(b.String())
	x := c.expr(n.X)
	p := c.stringPred(x, re.MatchString)
	return func(f *frame) bool { return p.eval(f).num != 0 }
}

// arrayMethod compiles the array, set and aggregate functions.
func (c *compiler) arrayMethod(n *Method, x cexpr) cexpr {
	et := elemType(x.typ)
	switch n.Name {
	case "count":
		return cexpr{eval: func(f *frame) Value {
			v := x.eval(f)
			switch v.kind {
			case KindNull:
				return Int(0)
			case KindArray, KindMap:
				return Int(int64(v.Len()))
			}
			return Int(1)
		}, typ: NumberType}
	case "sum", "average", "min", "max":
		fn := n.Name
		if len(n.Args) == 0 {
			return cexpr{eval: func(f *frame) Value {
				var acc accumulator
				acc.addAll(x.eval(f))
				return acc.result(fn)
			}, typ: aggType(fn, et)}
		}
		arg := c.elemValue(n.Args[0], et)
		return cexpr{eval: func(f *frame) Value {
			var acc accumulator
			list := elems(x.eval(f))
			if !f.spend(len(list)) {
				return Value{}
			}
			top := f.enter()
			for _, e := range list {
				acc.addAll(arg.eval(f, top, e))
			}
			f.pop()
			return acc.result(fn)
		}, typ: aggType(fn, arg.val.typ)}
	case "filter", "exists":
		if len(n.Args) == 0 {
			return cexpr{eval: func(f *frame) Value { return Bool(len(elems(x.eval(f))) > 0) }, typ: BoolType}
		}
		p := c.elemPred(n.Args[0], et)
		if n.Name == "filter" {
			return c.filterOf(x, p)
		}
		exists := existsOf(x, p)
		return cexpr{eval: func(f *frame) Value { return Bool(exists(f)) }, typ: BoolType}
	case "map":
		return c.mapMethod(n, x, et)
	case "groupBy":
		key := c.elemValue(n.Args[0], et)
		return cexpr{eval: func(f *frame) Value {
			list := elems(x.eval(f))
			if !f.spend(len(list)) {
				return Value{}
			}
			var keys []string
			groups := map[string][]Value{}
			top := f.enter()
			defer f.pop()
			for _, e := range list {
				k := key.eval(f, top, e)
				name := k.str
				if k.kind != KindString {
					name = k.String()
				}
				if _, seen := groups[name]; !seen {
					keys = append(keys, name)
				}
				groups[name] = append(groups[name], e)
			}
			out := make([]Value, 0, 2*len(keys))
			for _, k := range keys {
				out = append(out, String(k), Array(groups[k]))
			}
			return Value{kind: KindMap, list: out}
		}, typ: MapOf(ArrayOf(et))}
	case "topN", "bottomN":
		key := c.elemValue(n.Args[0], et)
		count := c.expr(n.Args[1])
		desc := n.Name == "topN"
		slot := c.newBuf()
		return cexpr{eval: func(f *frame) Value {
			list := elems(x.eval(f))
			if !f.spend(len(list)) {
				return Value{}
			}
			k := count.eval(f).Int()
			type keyed struct {
				key Value
				i   int
			}
			ks := make([]keyed, 0, len(list))
			top := f.enter()
			for i, e := range list {
				if kv := key.eval(f, top, e); kv.kind != KindNull {
					ks = append(ks, keyed{kv, i})
				}
			}
			f.pop()
			slices.SortStableFunc(ks, func(a, b keyed) int {
				o, _ := order(a.key, b.key)
				if desc {
					return -o
				}
				return o
			})
			buf := f.bufs[slot][:0]
			for i := 0; i < len(ks) && int64(i) < k; i++ {
				buf = append(buf, list[ks[i].i])
			}
			f.bufs[slot] = buf
			return Array(buf)
		}, typ: ArrayOf(et)}
	case "head":
		return cexpr{eval: func(f *frame) Value {
			if list := elems(x.eval(f)); len(list) > 0 {
				return list[0]
			}
			return Value{}
		}, typ: et}
	case "distinct":
		slot := c.newBuf()
		return cexpr{eval: func(f *frame) Value {
			list := elems(x.eval(f))
			buf := f.bufs[slot][:0]
			for _, e := range list {
				if !listHas(f, buf, e) {
					buf = append(buf, e)
				}
			}
			f.bufs[slot] = buf
			return Array(buf)
		}, typ: ArrayOf(et)}
	case "intersects", "intersection", "subsetOf", "supersetOf", "includes":
		return c.setMethod(n, x, et)
	}
	c.fail(n.At, "unknown function %q", n.Name)
	return nullExpr
}

// mapMethod is A.map(expr) on arrays and M.map((K, V) => ...) on maps; a
// map whose results are all mapEntry(...) gives a map, otherwise an array.
func (c *compiler) mapMethod(n *Method, x cexpr, et *Type) cexpr {
	if l, ok := n.Args[0].(*Lambda); ok && len(l.Params) == 2 {
		var vt *Type
		if x.typ != nil && x.typ.Kind == TypeMap {
			vt = x.typ.Elem
		}
		ks := c.bindVar(l.Params[0], StringType)
		vs := c.bindVar(l.Params[1], vt)
		var body cexpr
		c.withScope(vt, func() { body = c.expr(l.Body) })
		c.unbindVar()
		c.unbindVar()
		return cexpr{eval: func(f *frame) Value {
			m := x.eval(f)
			if m.kind != KindMap {
				return Value{}
			}
			if !f.spend(m.Len()) {
				return Value{}
			}
			out := make([]Value, 0, len(m.list))
			entries := true
			for i := 0; i+1 < len(m.list); i += 2 {
				f.vars[ks], f.vars[vs] = m.list[i], m.list[i+1]
				f.push(m.list[i+1])
				r := body.eval(f)
				f.pop()
				if r.kind == KindMap && len(r.list) == 2 {
					out = append(out, r.list...)
				} else {
					entries = false
					out = append(out, r)
				}
			}
			if entries {
				return Value{kind: KindMap, list: out}
			}
			return Array(out)
		}}
	}
	arg := c.elemValue(n.Args[0], et)
	slot := c.newBuf()
	return cexpr{eval: func(f *frame) Value {
		list := elems(x.eval(f))
		if !f.spend(len(list)) {
			return Value{}
		}
		buf := f.bufs[slot][:0]
		top := f.enter()
		for _, e := range list {
			r := arg.eval(f, top, e)
			switch r.kind {
			case KindNull:
			case KindArray:
				// The argument's array lives in scratch space its next
				// evaluation overwrites: keep a copy.
				buf = append(buf, r.clone())
			default:
				buf = append(buf, r)
			}
		}
		f.pop()
		f.bufs[slot] = buf
		return Array(buf)
	}, typ: ArrayOf(arg.val.typ)}
}

func (c *compiler) setMethod(n *Method, x cexpr, et *Type) cexpr {
	y := c.expr(n.Args[0])
	switch n.Name {
	case "includes":
		return cexpr{eval: func(f *frame) Value {
			v := y.eval(f)
			return Bool(v.kind != KindNull && listHas(f, elems(x.eval(f)), v))
		}, typ: BoolType}
	case "intersects":
		return cexpr{eval: func(f *frame) Value {
			b := elems(y.eval(f))
			for _, e := range elems(x.eval(f)) {
				if listHas(f, b, e) {
					return Bool(true)
				}
			}
			return Bool(false)
		}, typ: BoolType}
	case "subsetOf", "supersetOf":
		super := n.Name == "supersetOf"
		return cexpr{eval: func(f *frame) Value {
			// Null is an empty array: the empty set is a subset of all.
			la, lb := elems(x.eval(f)), elems(y.eval(f))
			if super {
				la, lb = lb, la
			}
			for _, e := range la {
				if !listHas(f, lb, e) {
					return Bool(false)
				}
			}
			return Bool(true)
		}, typ: BoolType}
	}
	// intersection: the distinct elements of A also in B, in A's order.
	slot := c.newBuf()
	return cexpr{eval: func(f *frame) Value {
		b := elems(y.eval(f))
		buf := f.bufs[slot][:0]
		for _, e := range elems(x.eval(f)) {
			if listHas(f, b, e) && !listHas(f, buf, e) {
				buf = append(buf, e)
			}
		}
		f.bufs[slot] = buf
		return Array(buf)
	}, typ: ArrayOf(et)}
}

// accumulator folds values for sum, average, min and max. sum and average
// take numbers only; min and max also order strings and timestamps.
type accumulator struct {
	n       int   // values seen (min, max)
	nums    int   // numbers seen (sum, average)
	isum    int64 // integer sum while it neither overflows nor meets a double
	fsum    float64
	inexact bool // the sum is a double: a double was added, or isum overflowed
	best    Value
	minV    Value
}

func (a *accumulator) add(v Value) {
	switch v.kind {
	case KindNull, KindArray, KindObject, KindMap:
		return
	}
	if v.isNumber() {
		a.nums++
		a.fsum += v.Float()
		if v.kind == KindDouble {
			a.inexact = true
		} else if s, ok := addInt(a.isum, int64(v.num)); ok {
			a.isum = s
		} else {
			a.inexact = true
		}
	}
	if a.n == 0 {
		a.best, a.minV = v, v
	} else {
		if o, ok := order(v, a.best); ok && o > 0 {
			a.best = v
		}
		if o, ok := order(v, a.minV); ok && o < 0 {
			a.minV = v
		}
	}
	a.n++
}

// addAll adds v, or each element of an array v.
func (a *accumulator) addAll(v Value) {
	if v.kind != KindArray {
		a.add(v)
		return
	}
	for _, e := range v.list {
		a.add(e)
	}
}

func (a *accumulator) result(fn string) Value {
	switch fn {
	case "sum":
		if a.inexact {
			return Double(a.fsum)
		}
		return Int(a.isum)
	case "count":
		return Int(int64(a.n))
	case "average":
		if a.nums == 0 {
			return Value{}
		}
		return Double(a.fsum / float64(a.nums))
	case "min":
		return a.minV
	}
	return a.best
}

func aggType(fn string, et *Type) *Type {
	switch fn {
	case "sum", "average", "count":
		return NumberType
	}
	return elemType(et)
}

// aggregate compiles "sum EXPR over V from SOURCE where COND".
func (c *compiler) aggregate(n *Aggregate) cexpr {
	src := c.expr(n.Source)
	slot := c.bindVar(n.Var, elemType(src.typ))
	expr := c.expr(n.Expr)
	var cond func(*frame) bool
	if n.Cond != nil {
		cond = c.cond(n.Cond)
	}
	c.unbindVar()
	fn := n.Fn
	return cexpr{eval: func(f *frame) Value {
		var acc accumulator
		list := elems(src.eval(f))
		if !f.spend(len(list)) {
			return Value{}
		}
		for _, e := range list {
			f.vars[slot] = e
			if cond != nil && !cond(f) {
				continue
			}
			if fn == "count" {
				acc.n++
				continue
			}
			acc.addAll(expr.eval(f))
		}
		return acc.result(fn)
	}, typ: aggType(fn, expr.typ)}
}

// quantifier compiles exists/forall (and select) with nested bindings:
// exists E from A where P, I from E.items where Q is
// "some E in A with P(E) has some I in E.items with Q(I)"; forall is
// "every E in A has P(E) and every I in E.items has Q(I)".
func (c *compiler) quantifier(bs []Binding, all bool) func(*frame) bool {
	b := bs[0]
	src := c.expr(b.Source)
	slot := c.bindVar(b.Var, elemType(src.typ))
	var cond, rest func(*frame) bool
	if b.Cond != nil {
		cond = c.cond(b.Cond)
	}
	if len(bs) > 1 {
		rest = c.quantifier(bs[1:], all)
	}
	c.unbindVar()
	holds := func(f *frame) bool {
		return (cond == nil || cond(f)) && (rest == nil || rest(f))
	}
	// exists stops at the first element that holds, forall at the first
	// that does not; running out answers the other way.
	return func(f *frame) bool {
		list := elems(src.eval(f))
		if !f.spend(len(list)) {
			return false
		}
		for _, e := range list {
			f.vars[slot] = e
			if holds(f) != all {
				return !all
			}
		}
		return all
	}
}
