package pql

import (
	"fmt"
	"strconv"
	"strings"
)

// Query is a parsed PQL query: its tree and the text it came from (for
// error snippets).
type Query struct {
	Root   Node
	Source string
}

// Parse parses pql/text. Errors are *SyntaxError with a position, what was
// expected, what was found and a snippet with a caret.
func Parse(text string) (*Query, error) {
	if len(text) > MaxQueryLength {
		return nil, &SyntaxError{Msg: fmt.Sprintf("query is %d bytes long, the limit is %d", len(text), MaxQueryLength), limit: true}
	}
	p := &parser{src: text}
	if err := p.lex(); err != nil {
		return nil, err
	}
	root, err := p.parseAll()
	if err != nil {
		return nil, err
	}
	if d := depth(root, 0); d > MaxDepth {
		e := &SyntaxError{Pos: root.Pos(), Msg: fmt.Sprintf("query nests %d levels deep, the limit is %d", d, MaxDepth), limit: true}
		e.Snippet = snippet(text, e.Pos)
		return nil, e
	}
	return &Query{Root: root, Source: text}, nil
}

// reserved words cannot start a bare path; print them `quoted`.
var reserved = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "notin": true, "like": true,
	"occurs": true, "true": true, "false": true, "null": true, "let": true,
	"exists": true, "forall": true, "select": true, "from": true, "where": true,
	"over": true, "chain": true, "sum": true, "count": true, "min": true,
	"max": true, "average": true,
}

type parser struct {
	src  string
	toks []token
	i    int
	// vars is the lexical scope of bound names (innermost last).
	vars []string
	// noIn > 0 while parsing the value of a let, where "in" ends it.
	noIn  int
	depth int
}

// bail carries a *SyntaxError out of the recursive descent.
type bail struct{ err *SyntaxError }

func (p *parser) lex() error {
	lx := &lexer{src: p.src, line: 1, col: 1}
	for {
		t, err := lx.next()
		if err != nil {
			err.Snippet = snippet(p.src, err.Pos)
			return err
		}
		p.toks = append(p.toks, t)
		if t.kind == tokEOF {
			return nil
		}
	}
}

func (p *parser) parseAll() (root Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				panic(r)
			}
			if b.err.Snippet == "" {
				b.err.Snippet = snippet(p.src, b.err.Pos)
			}
			root, err = nil, b.err
		}
	}()
	root = p.parseQuery()
	if t := p.tok(); t.kind != tokEOF {
		panic(bail{&SyntaxError{Pos: t.pos, Msg: "syntax error", Expected: "an operator or the end of the query", Found: t.describe()}})
	}
	return root, nil
}

// Token access.

func (p *parser) tok() token { return p.toks[p.i] }

func (p *parser) peek(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) nextTok() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) isPunct(s string) bool {
	t := p.tok()
	return t.kind == tokPunct && t.text == s
}

// isKw reports whether the current token is the keyword kw (case-insensitive).
func (p *parser) isKw(kw string) bool { return isKwTok(p.tok(), kw) }

func isKwTok(t token, kw string) bool {
	return t.kind == tokIdent && !t.quoted && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptPunct(s string) bool {
	if p.isPunct(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expected(what string) {
	t := p.tok()
	panic(bail{&SyntaxError{Pos: t.pos, Msg: "syntax error", Expected: what, Found: t.describe()}})
}

func (p *parser) expectPunct(s string) token {
	if !p.isPunct(s) {
		p.expected(strconv.Quote(s))
	}
	return p.nextTok()
}

func (p *parser) expectKw(kw string) token {
	if !p.isKw(kw) {
		p.expected(strconv.Quote(kw))
	}
	return p.nextTok()
}

func (p *parser) expectIdent(what string) token {
	t := p.tok()
	if t.kind != tokIdent {
		p.expected(what)
	}
	return p.nextTok()
}

// maxParseDepth bounds the recursion of the parser; the tree itself is
// held to MaxDepth by depth(). Canonical text spends up to two levels per
// tree level (the "not" and the parentheses of not (x), -(x), let ... in
// (x)), so any tree within MaxDepth must print to text within this bound.
const maxParseDepth = 2 * MaxDepth

func (p *parser) enter() {
	p.depth++
	if p.depth > maxParseDepth {
		t := p.tok()
		panic(bail{&SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("query nests deeper than %d levels", maxParseDepth), limit: true}})
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) bind(names ...string) int {
	n := len(p.vars)
	p.vars = append(p.vars, names...)
	return n
}

func (p *parser) unbind(n int) { p.vars = p.vars[:n] }

func (p *parser) isBound(name string) bool {
	for i := len(p.vars) - 1; i >= 0; i-- {
		if p.vars[i] == name {
			return true
		}
	}
	return false
}

// Grammar, lowest precedence first.

func (p *parser) parseQuery() Node {
	p.enter()
	defer p.leave()
	if p.lambdaAhead() {
		return p.parseLambda()
	}
	if p.isKw("let") && p.peek(1).kind == tokIdent && p.peek(2).kind == tokPunct && p.peek(2).text == "=" {
		return p.parseLet()
	}
	return p.parseOr()
}

// lambdaAhead reports whether "( IDENT {, IDENT} ) =>" starts here.
func (p *parser) lambdaAhead() bool {
	if !p.isPunct("(") {
		return false
	}
	j := 1
	for {
		if p.peek(j).kind != tokIdent {
			return false
		}
		j++
		t := p.peek(j)
		if t.kind == tokPunct && t.text == ")" {
			nt := p.peek(j + 1)
			return nt.kind == tokPunct && nt.text == "=>"
		}
		if t.kind != tokPunct || t.text != "," {
			return false
		}
		j++
	}
}

func (p *parser) parseLambda() Node {
	at := p.expectPunct("(").pos
	var params []string
	for {
		params = append(params, p.expectIdent("a parameter name").text)
		if !p.acceptPunct(",") {
			break
		}
	}
	p.expectPunct(")")
	p.expectPunct("=>")
	mark := p.bind(params...)
	body := p.parseQuery()
	p.unbind(mark)
	return &Lambda{At: at, Params: params, Body: body}
}

func (p *parser) parseLet() Node {
	at := p.nextTok().pos
	name := p.expectIdent("a variable name").text
	p.expectPunct("=")
	p.noIn++
	value := p.parseOr()
	p.noIn--
	p.expectKw("in")
	mark := p.bind(name)
	body := p.parseQuery()
	p.unbind(mark)
	return &Let{At: at, Name: name, Value: value, Body: body}
}

func (p *parser) parseOr() Node {
	x := p.parseAnd()
	for p.isKw("or") {
		t := p.nextTok()
		y := p.parseAnd()
		x = &Binary{At: t.pos, Op: "or", X: x, Y: y}
	}
	return x
}

func (p *parser) parseAnd() Node {
	x := p.parseNot()
	for p.isKw("and") {
		t := p.nextTok()
		y := p.parseNot()
		x = &Binary{At: t.pos, Op: "and", X: x, Y: y}
	}
	return x
}

func (p *parser) parseNot() Node {
	if p.isKw("not") || p.isPunct("!") {
		p.enter()
		defer p.leave()
		t := p.nextTok()
		return &Unary{At: t.pos, Op: "not", X: p.parseNot()}
	}
	return p.parseCmp()
}

var cmpOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (p *parser) parseCmp() Node {
	x := p.parseAdd()
	t := p.tok()
	switch {
	case t.kind == tokPunct && cmpOps[t.text]:
		p.i++
		return &Binary{At: t.pos, Op: t.text, X: x, Y: p.parseAdd()}
	case isKwTok(t, "in") && p.noIn == 0:
		p.i++
		return &Binary{At: t.pos, Op: "in", X: x, Y: p.parseAdd()}
	case isKwTok(t, "notIn"):
		p.i++
		return &Binary{At: t.pos, Op: "notIn", X: x, Y: p.parseAdd()}
	case isKwTok(t, "like"):
		p.i++
		return &Binary{At: t.pos, Op: "like", X: x, Y: p.parseAdd()}
	case isKwTok(t, "occurs"):
		p.i++
		return &Occurs{At: t.pos, X: x, Spec: p.parseOccursSpec()}
	}
	return x
}

func (p *parser) parseAdd() Node {
	x := p.parseMul()
	for p.isPunct("+") || p.isPunct("-") {
		t := p.nextTok()
		x = &Binary{At: t.pos, Op: t.text, X: x, Y: p.parseMul()}
	}
	return x
}

func (p *parser) parseMul() Node {
	x := p.parseUnary()
	for p.isPunct("*") || p.isPunct("/") || p.isPunct("%") {
		t := p.nextTok()
		x = &Binary{At: t.pos, Op: t.text, X: x, Y: p.parseUnary()}
	}
	return x
}

func (p *parser) parseUnary() Node {
	if !p.isPunct("-") {
		return p.parsePostfix()
	}
	p.enter()
	defer p.leave()
	t := p.nextTok()
	// A minus directly before a number is part of the literal, so that the
	// smallest int64 parses and negative literals print back as they came.
	if n := p.tok(); (n.kind == tokInt || n.kind == tokDouble) && n.pos.Offset == t.end {
		lit := p.parseNumber("-", p.nextTok())
		lit.At = t.pos
		return p.postfixes(lit)
	}
	return &Unary{At: t.pos, Op: "-", X: p.parseUnary()}
}

func (p *parser) parseNumber(sign string, t token) *Literal {
	if t.kind == tokInt {
		n, err := strconv.ParseInt(sign+t.text, 10, 64)
		if err != nil {
			panic(bail{&SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("integer %s%s is out of range", sign, t.text)}})
		}
		return &Literal{At: t.pos, Kind: LitInt, Int: n}
	}
	f, err := strconv.ParseFloat(sign+t.text, 64)
	if err != nil {
		panic(bail{&SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("number %s%s is out of range", sign, t.text)}})
	}
	return &Literal{At: t.pos, Kind: LitDouble, Float: f}
}

func (p *parser) parsePostfix() Node {
	return p.postfixes(p.parsePrimary())
}

func (p *parser) postfixes(x Node) Node {
	for {
		switch {
		case p.isPunct("."):
			p.i++
			name := p.expectIdent("a field or function name after \".\"")
			if p.isPunct("(") {
				x = p.parseMethod(x, name)
			} else {
				x = &Field{At: name.pos, X: x, Name: name.text}
			}
		case p.isPunct("["):
			t := p.nextTok()
			saved := p.noIn
			p.noIn = 0
			cond := p.parseQuery()
			p.noIn = saved
			p.expectPunct("]")
			x = &Filter{At: t.pos, X: x, Cond: cond}
		default:
			return x
		}
	}
}

func (p *parser) parseMethod(x Node, name token) Node {
	spec, ok := functions[name.text]
	if !ok || !spec.method {
		p.unknownFunction(name, true)
	}
	args := p.parseArgs()
	p.checkArity(name, spec, len(args))
	return &Method{At: name.pos, X: x, Name: name.text, Args: args}
}

func (p *parser) unknownFunction(name token, method bool) {
	e := &SyntaxError{Pos: name.pos, Msg: fmt.Sprintf("unknown function %q", name.text)}
	if spec, ok := functions[name.text]; ok {
		if spec.method {
			e.Hint = fmt.Sprintf("%s is called on a value: x.%s(...)", name.text, name.text)
		} else {
			e.Hint = fmt.Sprintf("%s is not called on a value: %s(...)", name.text, name.text)
		}
	} else if s := suggest(name.text, method); s != "" {
		e.Hint = fmt.Sprintf("did you mean %q?", s)
	}
	panic(bail{e})
}

func (p *parser) checkArity(name token, spec funcSpec, n int) {
	if n >= spec.minArgs && n <= spec.maxArgs {
		return
	}
	want := strconv.Itoa(spec.minArgs)
	if spec.maxArgs != spec.minArgs {
		want = fmt.Sprintf("%d to %d", spec.minArgs, spec.maxArgs)
	}
	panic(bail{&SyntaxError{Pos: name.pos, Msg: fmt.Sprintf("%s takes %s arguments, got %d", name.text, want, n)}})
}

// parseArgs parses "(a, b, ...)"; each argument is a full query.
func (p *parser) parseArgs() []Node {
	p.expectPunct("(")
	saved := p.noIn
	p.noIn = 0
	defer func() { p.noIn = saved }()
	var args []Node
	if p.acceptPunct(")") {
		return args
	}
	for {
		args = append(args, p.parseQuery())
		if p.acceptPunct(")") {
			return args
		}
		if !p.isPunct(",") {
			p.expected(`"," or ")"`)
		}
		p.i++
	}
}

func (p *parser) parsePrimary() Node {
	t := p.tok()
	switch t.kind {
	case tokString:
		p.i++
		return &Literal{At: t.pos, Kind: LitString, Str: t.text}
	case tokInt, tokDouble:
		p.i++
		return p.parseNumber("", t)
	case tokParam:
		p.i++
		n, err := strconv.Atoi(t.text[1:])
		if err != nil || n < 1 || n > 64 {
			panic(bail{&SyntaxError{Pos: t.pos, Msg: fmt.Sprintf("parameter %s is out of range", t.text), Expected: "$1 to $64"}})
		}
		return &Param{At: t.pos, Index: n}
	case tokIdent:
		return p.parseIdentPrimary()
	case tokPunct:
		switch t.text {
		case "(":
			if p.lambdaAhead() {
				return p.parseLambda()
			}
			p.i++
			saved := p.noIn
			p.noIn = 0
			x := p.parseQuery()
			p.noIn = saved
			p.expectPunct(")")
			return x
		case "[":
			p.enter()
			defer p.leave()
			p.i++
			arr := &ArrayLit{At: t.pos}
			saved := p.noIn
			p.noIn = 0
			defer func() { p.noIn = saved }()
			if p.acceptPunct("]") {
				return arr
			}
			for {
				arr.Elems = append(arr.Elems, p.parseQuery())
				if p.acceptPunct("]") {
					return arr
				}
				if !p.isPunct(",") {
					p.expected(`"," or "]"`)
				}
				p.i++
			}
		case "{":
			return p.parseObject()
		case "^":
			n := 0
			for p.isPunct("^") {
				p.i++
				n++
			}
			up := &Up{At: t.pos, Levels: n}
			if p.tok().kind == tokIdent { // ^field without the dot
				name := p.nextTok()
				return &Field{At: name.pos, X: up, Name: name.text}
			}
			if !p.isPunct(".") {
				p.expected(`"." and a field after "^"`)
			}
			return up
		}
	}
	p.expected("an expression")
	return nil
}

func (p *parser) parseObject() Node {
	p.enter()
	defer p.leave()
	t := p.expectPunct("{")
	obj := &ObjectLit{At: t.pos}
	saved := p.noIn
	p.noIn = 0
	defer func() { p.noIn = saved }()
	if p.acceptPunct("}") {
		return obj
	}
	for {
		k := p.tok()
		if k.kind != tokString {
			p.expected("a quoted key")
		}
		p.i++
		p.expectPunct(":")
		obj.Keys = append(obj.Keys, k.text)
		obj.Values = append(obj.Values, p.parseQuery())
		if p.acceptPunct("}") {
			return obj
		}
		if !p.isPunct(",") {
			p.expected(`"," or "}"`)
		}
		p.i++
	}
}

func (p *parser) parseIdentPrimary() Node {
	t := p.tok()
	if t.quoted {
		p.i++
		return p.nameRef(t)
	}
	next := p.peek(1)
	nextIs := func(s string) bool { return next.kind == tokPunct && next.text == s }
	lower := strings.ToLower(t.text)
	switch {
	case lower == "true" || lower == "false":
		p.i++
		return &Literal{At: t.pos, Kind: LitBool, Bool: lower == "true"}
	case lower == "null":
		p.i++
		return &Literal{At: t.pos, Kind: LitNull}
	case lower == "chain" && nextIs("("):
		return p.parseChain()
	case (lower == "exists" || lower == "forall") && next.kind == tokIdent && isKwTok(p.peek(2), "from"):
		return p.parseQuantifier()
	case lower == "select" && next.kind == tokIdent && isKwTok(p.peek(2), "from"):
		return p.parseSelect()
	case isAggKw(lower) && p.aggregateVar() != "":
		return p.parseAggregate(p.aggregateVar())
	case lower == "not" && nextIs("("):
		p.i++
		p.enter()
		defer p.leave()
		return &Unary{At: t.pos, Op: "not", X: p.parsePostfix()}
	case nextIs("("):
		p.i++
		spec, ok := functions[t.text]
		if !ok || spec.method {
			p.unknownFunction(t, false)
		}
		args := p.parseArgs()
		p.checkArity(t, spec, len(args))
		return &Call{At: t.pos, Name: t.text, Args: args}
	case reserved[lower]:
		panic(bail{&SyntaxError{Pos: t.pos, Msg: "syntax error", Expected: "an expression", Found: "keyword " + strconv.Quote(t.text),
			Hint: "quote a field of that name with backquotes: `" + t.text + "`"}})
	}
	p.i++
	return p.nameRef(t)
}

// nameRef resolves a bare name: a bound variable, or a field of the
// implicit parameter.
func (p *parser) nameRef(t token) Node {
	if p.isBound(t.text) {
		return &Var{At: t.pos, Name: t.text}
	}
	return &Field{At: t.pos, X: &Implicit{At: t.pos}, Name: t.text}
}

func isAggKw(s string) bool {
	switch s {
	case "sum", "count", "min", "max", "average":
		return true
	}
	return false
}

// isAggTok reports whether t is an aggregate keyword (without allocating).
func isAggTok(t token) bool {
	if t.kind != tokIdent || t.quoted {
		return false
	}
	for _, kw := range [...]string{"sum", "count", "min", "max", "average"} {
		if strings.EqualFold(t.text, kw) {
			return true
		}
	}
	return false
}

// aggregateVar returns V when "sum EXPR over V from" starts here, else "".
// V is used in EXPR before it is declared, so it is found by looking ahead.
func (p *parser) aggregateVar() string {
	switch next := p.peek(1); {
	case next.kind == tokIdent:
		switch strings.ToLower(next.text) {
		case "and", "or", "in", "notin", "like", "occurs", "over", "from", "where":
			if !next.quoted {
				return ""
			}
		}
	case next.kind == tokParam, next.kind == tokString, next.kind == tokInt, next.kind == tokDouble:
	case next.kind == tokPunct && (next.text == "^" || next.text == "(" || next.text == "{"):
	default:
		return ""
	}
	// nested counts the comprehensions that start inside EXPR at this
	// level: each owns the next "over", as in sum count X.a over X from
	// b over Y from c.
	level, nested := 0, 0
	for j := p.i + 1; j < len(p.toks)-1; j++ {
		tk := p.toks[j]
		if level == 0 && isAggTok(tk) {
			if prev := p.toks[j-1]; !(prev.kind == tokPunct && (prev.text == "." || prev.text == "^")) {
				nested++
			}
		}
		if tk.kind == tokPunct {
			switch tk.text {
			case "(", "[", "{":
				level++
			case ")", "]", "}":
				level--
			case ",":
				if level == 0 {
					return ""
				}
			}
		}
		if level < 0 {
			return ""
		}
		// "over" right after "." or "^" is a field name (x.over), not ours.
		if prev := p.toks[j-1]; level == 0 && isKwTok(tk, "over") && !(prev.kind == tokPunct && (prev.text == "." || prev.text == "^")) {
			if nested > 0 {
				nested--
				continue
			}
			if v := p.toks[j+1]; v.kind == tokIdent && isKwTok(p.toks[min(j+2, len(p.toks)-1)], "from") {
				return v.text
			}
			return ""
		}
	}
	return ""
}

// parseAggregate parses "sum EXPR over V from SOURCE [where COND]".
func (p *parser) parseAggregate(name string) Node {
	p.enter()
	defer p.leave()
	t := p.nextTok()
	mark := p.bind(name)
	expr := p.parseAdd()
	p.unbind(mark)
	p.expectKw("over")
	v := p.expectIdent("a variable name").text
	p.expectKw("from")
	src := p.parseAdd()
	var cond Node
	if p.acceptKw("where") {
		mark := p.bind(v)
		cond = p.parseOr()
		p.unbind(mark)
	}
	return &Aggregate{At: t.pos, Fn: strings.ToLower(t.text), Expr: expr, Var: v, Source: src, Cond: cond}
}

func (p *parser) parseQuantifier() Node {
	p.enter()
	defer p.leave()
	t := p.nextTok()
	q := &Quantifier{At: t.pos, All: strings.EqualFold(t.text, "forall")}
	mark := len(p.vars)
	defer p.unbind(mark)
	for {
		v := p.expectIdent("a variable name").text
		p.expectKw("from")
		src := p.parseAdd()
		p.bind(v)
		var cond Node
		if p.acceptKw("where") || p.acceptPunct(":") {
			cond = p.parseOr()
		}
		q.Bindings = append(q.Bindings, Binding{Var: v, Source: src, Cond: cond})
		// Another binding only if ", NAME from" follows; otherwise the
		// comma belongs to an enclosing argument list.
		if !(p.isPunct(",") && p.peek(1).kind == tokIdent && isKwTok(p.peek(2), "from")) {
			return q
		}
		p.i++
	}
}

func (p *parser) parseSelect() Node {
	p.enter()
	defer p.leave()
	t := p.nextTok()
	v := p.expectIdent("a variable name").text
	p.expectKw("from")
	src := p.parseAdd()
	mark := p.bind(v)
	defer p.unbind(mark)
	var cond Node
	if p.acceptKw("where") || p.acceptPunct(":") {
		cond = p.parseOr()
	}
	return &Select{At: t.pos, Var: v, Source: src, Cond: cond}
}

func (p *parser) parseChain() Node {
	p.enter()
	defer p.leave()
	t := p.nextTok()
	p.expectPunct("(")
	saved := p.noIn
	p.noIn = 0
	defer func() { p.noIn = saved }()
	c := &Chain{At: t.pos, Source: p.parseQuery()}
	p.expectPunct(",")
	c.TimeField = p.expectIdent("the time field, e.g. timestamp").text
	p.expectPunct(",")
	p.expectPunct("[")
	for {
		c.Steps = append(c.Steps, p.parseStep())
		if p.acceptPunct("]") {
			break
		}
		if !p.isPunct(",") {
			p.expected(`"," or "]"`)
		}
		p.i++
	}
	p.expectPunct(")")
	return c
}

func (p *parser) parseStep() Step {
	label := p.expectIdent("a step label, e.g. A:")
	p.expectPunct(":")
	st := Step{Label: label.text}
	seen := map[string]bool{}
	for p.tok().kind == tokIdent {
		kw := p.tok()
		clause := strings.ToUpper(kw.text)
		switch clause {
		case "WHAT", "WHERE", "WHEN", "COUNT":
		default:
			p.expected("WHAT, WHERE, WHEN or COUNT")
		}
		if seen[clause] {
			panic(bail{&SyntaxError{Pos: kw.pos, Msg: fmt.Sprintf("%s given twice in step %s", clause, st.Label)}})
		}
		seen[clause] = true
		p.i++
		p.expectPunct("(")
		switch clause {
		case "WHAT":
			st.What = p.parseQuery()
		case "WHERE":
			st.Where = p.parseQuery()
		case "WHEN":
			spec := p.parseOccursSpec()
			st.When = &spec
		case "COUNT":
			n := p.tok()
			if n.kind != tokInt {
				p.expected("a whole number of occurrences")
			}
			p.i++
			c, err := strconv.ParseInt(n.text, 10, 64)
			if err != nil || c < 1 || c > 1<<20 {
				panic(bail{&SyntaxError{Pos: n.pos, Msg: "COUNT must be between 1 and 1048576"}})
			}
			st.Count = c
		}
		p.expectPunct(")")
	}
	if st.What == nil {
		panic(bail{&SyntaxError{Pos: label.pos, Msg: fmt.Sprintf("step %s has no WHAT", st.Label), Expected: "WHAT(condition)", Found: p.tok().describe()}})
	}
	return st
}

var units = map[string]Unit{
	"millisecond": UnitMillisecond, "milliseconds": UnitMillisecond,
	"second": UnitSecond, "seconds": UnitSecond,
	"minute": UnitMinute, "minutes": UnitMinute,
	"hour": UnitHour, "hours": UnitHour,
	"day": UnitDay, "days": UnitDay,
	"week": UnitWeek, "weeks": UnitWeek,
	"month": UnitMonth, "months": UnitMonth,
	"year": UnitYear, "years": UnitYear,
	"decade": UnitDecade, "decades": UnitDecade,
	"century": UnitCentury, "centuries": UnitCentury,
	"millennium": UnitMillennium, "millennia": UnitMillennium,
}

func (p *parser) parseUnit() Unit {
	t := p.tok()
	if t.kind == tokIdent {
		if u, ok := units[strings.ToLower(t.text)]; ok {
			p.i++
			return u
		}
	}
	p.expected("a time unit (day, days, hour, week, month, year, ...)")
	return 0
}

func (p *parser) parseOccursSpec() OccursSpec {
	t := p.tok()
	switch {
	case t.kind == tokPunct && cmpOps[t.text], t.kind == tokInt:
		op := "="
		if t.kind == tokPunct {
			op = t.text
			p.i++
		}
		n := p.tok()
		if n.kind != tokInt {
			p.expected("a whole number of units")
		}
		p.i++
		count, err := strconv.ParseInt(n.text, 10, 64)
		if err != nil || count > 1e9 {
			panic(bail{&SyntaxError{Pos: n.pos, Msg: fmt.Sprintf("%s units is out of range", n.text)}})
		}
		unit := p.parseUnit()
		dir := strings.ToLower(p.tok().text)
		if !(p.isKw("before") || p.isKw("after") || p.isKw("from")) {
			p.expected(`"before", "after" or "from"`)
		}
		p.i++
		return OccursSpec{Form: OccursOffset, Op: op, N: count, Unit: unit, Dir: dir, T: p.parseTime()}
	case isKwTok(t, "before") || isKwTok(t, "after"):
		p.i++
		return OccursSpec{Form: OccursDir, Dir: strings.ToLower(t.text), T: p.parseTime()}
	case isKwTok(t, "between"):
		p.i++
		t1 := p.parseTime()
		p.expectKw("and")
		return OccursSpec{Form: OccursBetween, T: t1, T2: p.parseTime()}
	case isKwTok(t, "on"):
		p.i++
	}
	return OccursSpec{Form: OccursOn, T: p.parseTime()}
}

func (p *parser) parseTime() TimeRef {
	t := p.tok()
	if t.kind == tokIdent && !t.quoted {
		switch strings.ToLower(t.text) {
		case "now":
			p.i++
			return TimeRef{At: t.pos, Kind: TimeNow}
		case "today":
			p.i++
			return TimeRef{At: t.pos, Kind: TimeToday}
		case "yesterday":
			p.i++
			return TimeRef{At: t.pos, Kind: TimeYesterday}
		case "tomorrow":
			p.i++
			return TimeRef{At: t.pos, Kind: TimeTomorrow}
		case "this", "last", "next":
			if _, ok := units[strings.ToLower(p.peek(1).text)]; ok && p.peek(1).kind == tokIdent {
				p.i++
				kind := map[string]TimeKind{"this": TimeThis, "last": TimeLast, "next": TimeNext}[strings.ToLower(t.text)]
				return TimeRef{At: t.pos, Kind: kind, Unit: p.parseUnit()}
			}
		}
	}
	if t.kind == tokEOF || t.kind == tokPunct && t.text != "(" && t.text != "$" && t.text != "^" {
		p.expected("a time: now, today, yesterday, tomorrow, this/last/next <unit>, date(y, m, d) or a timestamp field")
	}
	return TimeRef{At: t.pos, Kind: TimeExpr, X: p.parsePostfix()}
}

// depth returns the height of the tree under n, stopping early past MaxDepth.
func depth(n Node, d int) int {
	if n == nil || d > MaxDepth {
		return d
	}
	best := d + 1
	walkChildren(n, func(c Node) {
		if cd := depth(c, d+1); cd > best {
			best = cd
		}
	})
	return best
}
