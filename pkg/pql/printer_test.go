package pql

import (
	"strings"
	"testing"
)

// formatTests are queries and their canonical text.
var formatTests = []struct {
	in, want string
}{
	// not always prints as not (...); ! is not.
	{`!(a = 1)`, `not (a = 1)`},
	{`!a`, `not (a)`},
	{`not a and b`, `not (a) and b`},
	{`NOT (a) = b`, `not (a = b)`},
	{`not not a`, `not (not (a))`},
	{`a = not(b)`, `a = (not (b))`},
	{`(not a).x`, `(not (a)).x`},
	{`not(chain(xEvent, timestamp, [A: WHAT(a)]))`, `not (chain(xEvent, timestamp, [A: WHAT(a)]))`},

	// Parentheses only where the structure needs them.
	{`((a))`, `a`},
	{`(a) and (b)`, `a and b`},
	{`a and (b or c)`, `a and (b or c)`},
	{`(a and b) or c`, `a and b or c`},
	{`a or (b or c)`, `a or (b or c)`},
	{`(a or b) or c`, `a or b or c`},
	{`(a and b) and c`, `a and b and c`},
	{`a and (b and c)`, `a and (b and c)`},
	{`(a or b) and not (c or d)`, `(a or b) and not (c or d)`},
	{`a - (b - c)`, `a - (b - c)`},
	{`(a - b) - c`, `a - b - c`},
	{`a - (b + c)`, `a - (b + c)`},
	{`(a * b) + c`, `a * b + c`},
	{`a * (b + c)`, `a * (b + c)`},
	{`a / (b * c)`, `a / (b * c)`},
	{`(a / b) * c`, `a / b * c`},
	{`(a + b).x`, `(a + b).x`},
	{`(a.b).c`, `a.b.c`},
	{`(a = b) = c`, `(a = b) = c`},
	{`a = (b = c)`, `a = (b = c)`},
	{`a = (b + c)`, `a = b + c`},
	{`(a in b) = true`, `(a in b) = true`},
	{`a in (b + c)`, `a in b + c`},
	{`(a occurs now) = b`, `(a occurs now) = b`},
	{`(a = b) occurs today`, `(a = b) occurs today`},
	{`(a + 1) occurs today`, `a + 1 occurs today`},
	{`(a occurs between b and c) and d`, `a occurs between b and c and d`},
	{`x = ((a) => b)`, `x = ((a) => b)`},
	{`((a) => a).x`, `((a) => a).x`},
	{`(exists a from b) and c`, `(exists a from b) and c`},
	{`c and (exists a from b where d)`, `c and (exists a from b where d)`},
	{`exists a from (b.c) where (d)`, `exists a from b.c where d`},
	{`exists a from (b = c) where (d or e)`, `exists a from (b = c) where d or e`},
	{`exists a from b where (exists c from d)`, `exists a from b where (exists c from d)`},
	{`(sum X.a over X from b) > 1`, `(sum X.a over X from b) > 1`},
	{`[(a or b), (c)]`, `[a or b, c]`},
	{`if((a), (b), (c))`, `if(a, b, c)`},
	{`a[(b)]`, `a[b]`},
	{`a.filter((b))`, `a.filter(b)`},

	// Unary minus and negative literals.
	{`-a`, `-(a)`},
	{`- a.b`, `-(a.b)`},
	{`-(a + b)`, `-(a + b)`},
	{`-(a) * 3`, `-(a) * 3`},
	{`(-a).x`, `(-(a)).x`},
	{`-5`, `-5`},
	{`- 5`, `-(5)`},
	{`- -5`, `-(-5)`},
	{`-(-5)`, `-(-5)`},
	{`a-5`, `a - 5`},
	{`a - -5`, `a - -5`},
	{`a*-5`, `a * -5`},
	{`-5.x`, `-5.x`},
	{`(-5).x`, `-5.x`},
	{`-9223372036854775808`, `-9223372036854775808`},
	{`-1.5`, `-1.5`},
	{`-0.0`, `-0.0`},
	{`-0`, `0`},

	// Numbers: ints as written, floats always with a decimal point or an
	// exponent.
	{`007`, `7`},
	{`1.0`, `1.0`},
	{`1.50`, `1.5`},
	{`100.0`, `100.0`},
	{`3e2`, `300.0`},
	{`1E2`, `100.0`},
	{`1e21`, `1e+21`},
	{`1.5e-7`, `1.5e-07`},
	{`0.1`, `0.1`},
	{`123456789.125`, `1.23456789125e+08`},
	{`1.x`, `1.x`},
	{`1.5.x`, `1.5.x`},

	// Strings are re-escaped; single quotes become double quotes.
	{`'it\'s'`, `"it's"`},
	{`"say \"hi\""`, `"say \"hi\""`},
	{`'say "hi"'`, `"say \"hi\""`},
	{`"back\\slash"`, `"back\\slash"`},
	{`"tab\there"`, `"tab\there"`},
	{"\"raw\ttab\"", `"raw\ttab"`},
	{"\"raw\nline\"", `"raw\nline"`},
	{`"cr\r"`, `"cr\r"`},
	{`"\u0041\u00e9"`, `"Aé"`},
	{`"@(\w+)"`, `"@(\\w+)"`},
	{`"\u12"`, `"\\u12"`},
	{`"ü€😀"`, `"ü€😀"`},

	// Names: backquoted when they are not identifiers or read as keywords;
	// after a dot keywords are fine.
	{"`a b`", "`a b`"},
	{"`a`", `a`},
	{"`and`", "`and`"},
	{"`AND`", "`AND`"},
	{"`true`", "`true`"},
	{"`now`", "`now`"},
	{"`this`.x", "`this`.x"},
	{"`between` = 1", "`between` = 1"},
	{"`1a`", "`1a`"},
	{"``", "``"},
	{"a.`and`", `a.and`},
	{"a.`b c`", "a.`b c`"},
	{"a.`1`", "a.`1`"},
	{"`x-y`.`z.w`", "`x-y`.`z.w`"},
	{`café.größe`, `café.größe`},
	{"(`and`, b) => `and`", "(`and`, b) => `and`"},
	{"exists `from` from b where `from`", "exists `from` from b where `from`"},
	{"chain(xEvent, `now`, [`and`: WHAT(a)])", "chain(xEvent, `now`, [`and`: WHAT(a)])"},

	// Operators and keywords in their canonical spelling.
	{`a <> b`, `a != b`},
	{`a == b`, `a = b`},
	{`a AND b OR c`, `a and b or c`},
	{`a NOTIN b`, `a notIn b`},
	{`a IN b`, `a in b`},
	{`a LIKE "x%"`, `a like "x%"`},
	{`TRUE`, `true`},
	{`False`, `false`},
	{`$01.x`, `$1.x`},
	{`^^e`, `^^.e`},
	{`a[^x = ^^ . y]`, `a[^.x = ^^.y]`},
	{`xEvent[SKU="PS"]`, `xEvent[SKU = "PS"]`},
	{`if (a, 1, 2)`, `if(a, 1, 2)`},
	{`[1,2,[]]`, `[1, 2, []]`},
	{`{"a":1,"b":{}}`, `{"a": 1, "b": {}}`},
	{`(a,b)=>a`, `(a, b) => a`},
	{`LET x = a IN x`, `let x = (a) in (x)`},
	{`let x = (1) in (let y = (2) in (x + y))`, `let x = (1) in (let y = (2) in (x + y))`},
	{`forall a from b: c`, `forall a from b where c`},
	{`exists a from b: c, d from a.e: d`, `exists a from b where c, d from a.e where d`},
	{`SELECT a FROM b WHERE a.c`, `select a from b where a.c`},
	{`SUM X.a OVER X FROM b WHERE X.c`, `sum X.a over X from b where X.c`},
	{`min (X.a) over X from b`, `min X.a over X from b`},
	{`count (1 + X.a) over X from b`, `count (1 + X.a) over X from b`},
	{`count ("x") over X from b`, `count ("x") over X from b`},
	{`max (-X.a) over X from b`, `max (-(X.a)) over X from b`},
	{`sum X.a over X from b + c where X.d = 1 or X.e`, `sum X.a over X from b + c where X.d = 1 or X.e`},
	{`sum X.a + count Y.b over Y from X.c over X from d`, `sum (X.a + (count Y.b over Y from X.c)) over X from d`},

	// occurs: "=" spelled out, units singular for 1 and plural otherwise,
	// "on" only before an expression.
	{`ts occurs 3 days before now`, `ts occurs = 3 days before now`},
	{`ts occurs 1 days before now`, `ts occurs = 1 day before now`},
	{`ts occurs <> 2 HOUR After today`, `ts occurs != 2 hours after today`},
	{`ts occurs 0 millennium from tomorrow`, `ts occurs = 0 millennia from tomorrow`},
	{`ts occurs 1 centuries before now`, `ts occurs = 1 century before now`},
	{`ts occurs BEFORE now`, `ts occurs before now`},
	{`ts occurs on today`, `ts occurs today`},
	{`ts occurs on yesterday`, `ts occurs yesterday`},
	{`ts occurs on this Days`, `ts occurs this day`},
	{`ts occurs LAST Weeks`, `ts occurs last week`},
	{`ts occurs x.ts`, `ts occurs on x.ts`},
	{`ts occurs date(2020, 1, 1)`, `ts occurs on date(2020, 1, 1)`},
	{`ts occurs last`, "ts occurs on `last`"},
	{`ts occurs between date(2015,1,8) AND date(2017,7,1)`, `ts occurs between date(2015, 1, 8) and date(2017, 7, 1)`},
	{`ts occurs before (-5).x`, `ts occurs before (-5.x)`},
	{`ts occurs after ([1]).x`, `ts occurs after ([1].x)`},
	{`ts occurs after ({"a": 1}).a`, `ts occurs after ({"a": 1}.a)`},
	{`ts occurs before ("x").y`, `ts occurs before ("x".y)`},
	{`ts occurs on ("x")`, `ts occurs on ("x")`},
	{`ts occurs on (a + b)`, `ts occurs on (a + b)`},
	{`ts occurs on ^.t`, `ts occurs on ^.t`},
	{`ts occurs 1 day before $1.t`, `ts occurs = 1 day before $1.t`},
	{`ts occurs on a[b].c`, `ts occurs on a[b].c`},

	// chain: lowercase name, uppercase clauses in a fixed order.
	{`CHAIN(xEvent, timestamp, [A: what(a) count(2) when(today) where(b)])`, `chain(xEvent, timestamp, [A: WHAT(a) WHERE(b) WHEN(today) COUNT(2)])`},
	{`chain(xEvent, timestamp, [A: WHAT(a) WHEN(x.ts)])`, `chain(xEvent, timestamp, [A: WHAT(a) WHEN(on x.ts)])`},
	{`chain(xEvent, timestamp, [A: WHAT(a) WHEN(< 24 hours before now) COUNT(5) ] )`, `chain(xEvent, timestamp, [A: WHAT(a) WHEN(< 24 hours before now) COUNT(5)])`},
}

func TestFormat(t *testing.T) {
	for _, tt := range formatTests {
		q, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := q.String(); got != tt.want {
			t.Errorf("Parse(%q).String()\n got %s\nwant %s", tt.in, got, tt.want)
		}
		if got := Format(q.Root); got != tt.want {
			t.Errorf("Format(Parse(%q).Root) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestFormatTrees prints trees built by hand, including some that only
// pql/json produces.
func TestFormatTrees(t *testing.T) {
	name := func(s string) Node { return &Field{X: &Implicit{}, Name: s} }
	num := func(n int64) Node { return &Literal{Kind: LitInt, Int: n} }
	dbl := func(f float64) Node { return &Literal{Kind: LitDouble, Float: f} }
	tests := []struct {
		n    Node
		want string
	}{
		{&Implicit{}, `$1`},
		{&Literal{Kind: LitNull}, `null`},
		{&Literal{Kind: LitString, Str: "a\"b\\c\nd\te\rf"}, `"a\"b\\c\nd\te\rf"`},
		{dbl(2), `2.0`},
		{dbl(-2), `-2.0`},
		{dbl(1e21), `1e+21`},
		{dbl(1e-7), `1e-07`},
		{dbl(0.5), `0.5`},
		{num(-3), `-3`},
		{&Unary{Op: "-", X: num(5)}, `-(5)`},
		{&Unary{Op: "-", X: num(-5)}, `-(-5)`},
		{&Binary{Op: "-", X: num(1), Y: num(-5)}, `1 - -5`},
		{&Binary{Op: "*", X: &Binary{Op: "+", X: num(1), Y: num(2)}, Y: num(3)}, `(1 + 2) * 3`},
		{&Binary{Op: "+", X: num(1), Y: &Binary{Op: "+", X: num(2), Y: num(3)}}, `1 + (2 + 3)`},
		{&Binary{Op: "and", X: &Binary{Op: "or", X: name("a"), Y: name("b")}, Y: name("c")}, `(a or b) and c`},
		{&Binary{Op: "or", X: &Binary{Op: "and", X: name("a"), Y: name("b")}, Y: name("c")}, `a and b or c`},
		{&Binary{Op: "=", X: &Unary{Op: "not", X: name("a")}, Y: name("b")}, `(not (a)) = b`},
		{name("a b"), "`a b`"},
		{name("select"), "`select`"},
		{name("Yesterday"), "`Yesterday`"},
		{name("x1_é"), `x1_é`},
		{&Field{X: &Param{Index: 2}, Name: "and"}, `$2.and`},
		{&Field{X: &Up{Levels: 3}, Name: "a"}, `^^^.a`},
		{&Lambda{Params: []string{"or"}, Body: &Field{X: &Var{Name: "or"}, Name: "b c"}}, "(`or`) => `or`.`b c`"},
		{&Method{X: name("a"), Name: "count"}, `a.count()`},
		{&Call{Name: "currentYear"}, `currentYear()`},
		{&ArrayLit{}, `[]`},
		{&ObjectLit{Keys: []string{`a"b`}, Values: []Node{num(1)}}, `{"a\"b": 1}`},
		{&Lambda{Params: []string{"a", "in"}, Body: &Var{Name: "in"}}, "(a, `in`) => `in`"},
		{&Let{Name: "x", Value: num(1), Body: &Var{Name: "x"}}, `let x = (1) in (x)`},
		{&Select{Var: "v", Source: name("xEvent")}, `select v from xEvent`},
		{&Quantifier{All: true, Bindings: []Binding{{Var: "a", Source: name("b")}, {Var: "c", Source: &Field{X: &Var{Name: "a"}, Name: "d"}, Cond: &Var{Name: "c"}}}}, `forall a from b, c from a.d where c`},
		{&Aggregate{Fn: "sum", Expr: num(1), Var: "X", Source: name("b")}, `sum (1) over X from b`},
		{&Aggregate{Fn: "count", Expr: &Var{Name: "X"}, Var: "X", Source: name("b"), Cond: &Binary{Op: "or", X: name("c"), Y: name("d")}}, `count X over X from b where c or d`},
		{&Occurs{X: name("t"), Spec: OccursSpec{Form: OccursOffset, Op: ">=", N: 1, Unit: UnitMillennium, Dir: "from", T: TimeRef{Kind: TimeNext, Unit: UnitDecade}}}, `t occurs >= 1 millennium from next decade`},
		{&Occurs{X: name("t"), Spec: OccursSpec{Form: OccursOffset, Op: "<", N: 2, Unit: UnitCentury, Dir: "before", T: TimeRef{Kind: TimeYesterday}}}, `t occurs < 2 centuries before yesterday`},
		{&Occurs{X: name("t"), Spec: OccursSpec{Form: OccursDir, Dir: "after", T: TimeRef{Kind: TimeExpr, X: &Field{X: num(-5), Name: "x"}}}}, `t occurs after (-5.x)`},
		{&Occurs{X: name("t"), Spec: OccursSpec{Form: OccursOn, T: TimeRef{Kind: TimeExpr, X: name("now")}}}, "t occurs on `now`"},
		{&Occurs{X: name("t"), Spec: OccursSpec{Form: OccursBetween, T: TimeRef{Kind: TimeLast, Unit: UnitMonth}, T2: TimeRef{Kind: TimeThis, Unit: UnitMonth}}}, `t occurs between last month and this month`},
		{&Chain{Source: name("xEvent"), TimeField: "timestamp", Steps: []Step{{Label: "A", What: name("a"), When: &OccursSpec{Form: OccursOn, T: TimeRef{Kind: TimeToday}}, Count: 3}}}, `chain(xEvent, timestamp, [A: WHAT(a) WHEN(today) COUNT(3)])`},
	}
	for _, tt := range tests {
		if got := Format(tt.n); got != tt.want {
			t.Errorf("Format(%s) = %s, want %s", sexpr(tt.n), got, tt.want)
		}
		if _, ok := tt.n.(*Implicit); ok {
			continue // $1 reads back as a Param
		}
		q, err := Parse(tt.want)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.want, err)
			continue
		}
		if !sameTree(q.Root, tt.n) {
			t.Errorf("Parse(Format(%s)) = %s", sexpr(tt.n), sexpr(q.Root))
		}
	}
}

// TestRoundTrip checks, for every example and every test input that
// parses, that the canonical text parses to the same tree and prints the
// same.
func TestRoundTrip(t *testing.T) {
	var inputs []string
	for _, ex := range loadExamples(t) {
		inputs = append(inputs, ex.expr)
	}
	for _, tt := range parseTreeTests {
		inputs = append(inputs, tt.in)
	}
	for _, tt := range formatTests {
		inputs = append(inputs, tt.in, tt.want)
	}
	inputs = append(inputs, fuzzSeeds...)
	// The deepest trees of every shape.
	for _, sh := range limitShapes {
		inputs = append(inputs, sh.gen(sh.ok))
	}
	// Mixed nesting at the depth limit.
	mixed := []string{"not (", "-(", "a[", "a.filter(", "[", `{"k": `, "let x = 1 in (", "(x) => (", "exists a from b where (", "sum (", "if(true, ", "(not (", "a occurs before ("}
	closers := []string{")", ")", "]", ")", "]", "}", ")", ")", ")", ") over X from b", ", 1)", ")).x", ").x"}
	for start := range mixed {
		gen := func(n int) string {
			var open, close []string
			for i := range n {
				k := (start + i) % len(mixed)
				open = append(open, mixed[k])
				close = append([]string{closers[k]}, close...)
			}
			return strings.Join(open, "") + "a" + strings.Join(close, "")
		}
		// The deepest nesting that parses, starting with mixed[start]:
		// binary search, as deeper nestings fail once one does.
		lo, hi := 0, MaxDepth+1 // gen(lo) parses (or lo is 0), gen(hi) does not
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if _, err := Parse(gen(mid)); err == nil {
				lo = mid
			} else {
				hi = mid
			}
		}
		if lo < MaxDepth/3 {
			t.Errorf("mixed nesting %d parses only %d deep", start, lo)
		}
		inputs = append(inputs, gen(lo))
	}

	parsed := 0
	for _, in := range inputs {
		q, err := Parse(in)
		if err != nil {
			continue
		}
		parsed++
		checkRoundTrip(t, in, q)
	}
	if parsed < len(inputs)*3/4 {
		t.Errorf("only %d of %d inputs parse", parsed, len(inputs))
	}
}
