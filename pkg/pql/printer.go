package pql

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String prints the query as canonical pql/text. Parsing the result gives
// the same tree.
func (q *Query) String() string { return Format(q.Root) }

// Format prints a node as canonical pql/text, with the parentheses its
// structure needs and no others (not(...), let and lambda keep theirs).
func Format(n Node) string {
	var b strings.Builder
	pr := printer{b: &b}
	pr.node(n, 0)
	return b.String()
}

type printer struct {
	b *strings.Builder
}

// Precedence levels, loosest first; see the grammar in doc.go.
const (
	precQuery = iota // lambda, let, exists/forall, select, aggregate comprehension
	precOr
	precAnd
	precNot
	precCmp
	precAdd
	precMul
	precNeg
	precPostfix
)

func binaryPrec(op string) int {
	switch op {
	case "or":
		return precOr
	case "and":
		return precAnd
	case "+", "-":
		return precAdd
	case "*", "/", "%":
		return precMul
	}
	return precCmp
}

func prec(n Node) int {
	switch n := n.(type) {
	case *Binary:
		return binaryPrec(n.Op)
	case *Unary:
		if n.Op == "not" {
			return precNot
		}
		return precNeg
	case *Occurs:
		return precCmp
	case *Lambda, *Let, *Quantifier, *Select, *Aggregate:
		return precQuery
	}
	return precPostfix
}

func (p *printer) s(s string) { p.b.WriteString(s) }

// node prints n so that it parses back at precedence level min.
func (p *printer) node(n Node, min int) {
	if prec(n) < min {
		p.s("(")
		p.node(n, 0)
		p.s(")")
		return
	}
	switch n := n.(type) {
	case *Literal:
		p.literal(n)
	case *ArrayLit:
		p.s("[")
		p.list(n.Elems)
		p.s("]")
	case *ObjectLit:
		p.s("{")
		for i, k := range n.Keys {
			if i > 0 {
				p.s(", ")
			}
			p.s(quote(k))
			p.s(": ")
			p.node(n.Values[i], 0)
		}
		p.s("}")
	case *Implicit:
		p.s("$1") // only reachable from pql/json: a bare reference to the subject
	case *Param:
		p.s("$" + strconv.Itoa(n.Index))
	case *Var:
		p.s(ident(n.Name))
	case *Up:
		p.s(strings.Repeat("^", max(n.Levels, 1)))
	case *Field:
		if _, ok := n.X.(*Implicit); ok {
			p.s(ident(n.Name))
			return
		}
		p.node(n.X, precPostfix)
		p.s(".")
		p.s(memberName(n.Name))
	case *Call:
		p.s(n.Name)
		p.s("(")
		p.list(n.Args)
		p.s(")")
	case *Method:
		p.node(n.X, precPostfix)
		p.s(".")
		p.s(n.Name)
		p.s("(")
		p.list(n.Args)
		p.s(")")
	case *Filter:
		p.node(n.X, precPostfix)
		p.s("[")
		p.node(n.Cond, 0)
		p.s("]")
	case *Unary:
		if n.Op == "not" {
			p.s("not (")
			p.node(n.X, 0)
			p.s(")")
			return
		}
		p.s("-(")
		p.node(n.X, 0)
		p.s(")")
	case *Binary:
		bp := binaryPrec(n.Op)
		if bp == precCmp {
			p.node(n.X, precAdd)
			p.s(" " + n.Op + " ")
			p.node(n.Y, precAdd)
			return
		}
		p.node(n.X, bp)
		p.s(" " + n.Op + " ")
		p.node(n.Y, bp+1)
	case *Lambda:
		p.s("(")
		for i, name := range n.Params {
			if i > 0 {
				p.s(", ")
			}
			p.s(ident(name))
		}
		p.s(") => ")
		p.node(n.Body, 0)
	case *Let:
		p.s("let " + ident(n.Name) + " = (")
		p.node(n.Value, 0)
		p.s(") in (")
		p.node(n.Body, 0)
		p.s(")")
	case *Quantifier:
		if n.All {
			p.s("forall ")
		} else {
			p.s("exists ")
		}
		for i, b := range n.Bindings {
			if i > 0 {
				p.s(", ")
			}
			p.binding(b.Var, b.Source, b.Cond)
		}
	case *Select:
		p.s("select ")
		p.binding(n.Var, n.Source, n.Cond)
	case *Aggregate:
		p.s(n.Fn + " ")
		p.startsWithName(n.Expr)
		p.s(" over ")
		p.binding(n.Var, n.Source, n.Cond)
	case *Occurs:
		p.node(n.X, precAdd)
		p.s(" occurs ")
		p.spec(&n.Spec)
	case *Chain:
		p.s("chain(")
		p.node(n.Source, 0)
		p.s(", " + ident(n.TimeField) + ", [")
		for i, st := range n.Steps {
			if i > 0 {
				p.s(", ")
			}
			p.s(ident(st.Label) + ": WHAT(")
			p.node(st.What, 0)
			p.s(")")
			if st.Where != nil {
				p.s(" WHERE(")
				p.node(st.Where, 0)
				p.s(")")
			}
			if st.When != nil {
				p.s(" WHEN(")
				p.spec(st.When)
				p.s(")")
			}
			if st.Count != 0 {
				p.s(" COUNT(" + strconv.FormatInt(st.Count, 10) + ")")
			}
		}
		p.s("])")
	}
}

func (p *printer) list(ns []Node) {
	for i, a := range ns {
		if i > 0 {
			p.s(", ")
		}
		p.node(a, 0)
	}
}

func (p *printer) binding(v string, src, cond Node) {
	p.s(ident(v) + " from ")
	p.node(src, precAdd)
	if cond != nil {
		p.s(" where ")
		p.node(cond, precOr)
	}
}

// startsWithName prints n so that it begins with a name, $n or ^ (what the
// parser looks for after sum/count/exists...), parenthesizing otherwise.
func (p *printer) startsWithName(n Node) {
	switch n.(type) {
	case *Field, *Var, *Param, *Method, *Filter:
		if first := leftmost(n); first != nil {
			switch first.(type) {
			case *Implicit, *Var, *Param, *Up:
				p.node(n, precAdd)
				return
			}
		}
	}
	p.s("(")
	p.node(n, 0)
	p.s(")")
}

// leftmost returns the node printed first in a postfix chain.
func leftmost(n Node) Node {
	for {
		switch x := n.(type) {
		case *Field:
			n = x.X
		case *Method:
			n = x.X
		case *Filter:
			n = x.X
		default:
			return n
		}
	}
}

var unitNames = [...]string{"", "milliseconds", "seconds", "minutes", "hours", "days", "weeks", "months", "years", "decades", "centuries", "millennia"}
var unitSingular = [...]string{"", "millisecond", "second", "minute", "hour", "day", "week", "month", "year", "decade", "century", "millennium"}

func (u Unit) String() string {
	if int(u) < len(unitSingular) {
		return unitSingular[u]
	}
	return "unit(" + strconv.Itoa(int(u)) + ")"
}

func (p *printer) spec(s *OccursSpec) {
	switch s.Form {
	case OccursOffset:
		name := unitNames[s.Unit]
		if s.N == 1 {
			name = unitSingular[s.Unit]
		}
		p.s(s.Op + " " + strconv.FormatInt(s.N, 10) + " " + name + " " + s.Dir + " ")
		p.time(s.T)
	case OccursDir:
		p.s(s.Dir + " ")
		p.time(s.T)
	case OccursBetween:
		p.s("between ")
		p.time(s.T)
		p.s(" and ")
		p.time(s.T2)
	default:
		if s.T.Kind == TimeExpr {
			p.s("on ")
		}
		p.time(s.T)
	}
}

func (p *printer) time(t TimeRef) {
	switch t.Kind {
	case TimeNow:
		p.s("now")
	case TimeToday:
		p.s("today")
	case TimeYesterday:
		p.s("yesterday")
	case TimeTomorrow:
		p.s("tomorrow")
	case TimeThis, TimeLast, TimeNext:
		p.s(map[TimeKind]string{TimeThis: "this", TimeLast: "last", TimeNext: "next"}[t.Kind] + " " + t.Unit.String())
	default:
		// The parser reads a time that starts with a name, $n, ^ or a
		// function call; anything else (-5.x, [1].x, {...}.x) needs parens.
		switch leftmost(t.X).(type) {
		case *Implicit, *Var, *Param, *Up, *Call:
			p.node(t.X, precPostfix)
		default:
			p.s("(")
			p.node(t.X, 0)
			p.s(")")
		}
	}
}

func (p *printer) literal(n *Literal) {
	switch n.Kind {
	case LitString:
		p.s(quote(n.Str))
	case LitBool:
		p.s(strconv.FormatBool(n.Bool))
	case LitInt:
		p.s(strconv.FormatInt(n.Int, 10))
	case LitDouble:
		s := strconv.FormatFloat(n.Float, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0"
		}
		p.s(s)
	default:
		p.s("null")
	}
}

// quote writes a PQL string literal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// timeWords would be read as times in an occurs clause.
var timeWords = map[string]bool{"now": true, "today": true, "yesterday": true, "tomorrow": true,
	"this": true, "last": true, "next": true, "before": true, "after": true, "between": true, "on": true}

// ident prints a name that starts a path or names a variable: backquoted
// when it is not a plain identifier or would read as a keyword.
func ident(name string) string {
	// Upper then lower folds like the parser's EqualFold: ſum is sum.
	l := strings.ToLower(strings.ToUpper(name))
	if isPlainIdent(name) && !reserved[l] && !timeWords[l] {
		return name
	}
	return "`" + name + "`"
}

// memberName prints a name after a dot, where keywords are fine.
func memberName(name string) string {
	if isPlainIdent(name) {
		return name
	}
	return "`" + name + "`"
}

func isPlainIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for _, r := range s {
		if r == utf8.RuneError || !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}
