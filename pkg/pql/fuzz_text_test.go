package pql

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are inputs that reach the corners of the lexer, parser and
// printer; they seed FuzzParse and are also round-tripped by TestRoundTrip.
var fuzzSeeds = []string{
	``,
	` `,
	`a`,
	`$1`,
	`$64`,
	`$65`,
	`$0`,
	`$`,
	`$01.x`,
	`-9223372036854775808`,
	`9223372036854775808`,
	`- 9223372036854775808`,
	`-0.0`,
	`1e400`,
	`1e-400`,
	`1e+21`,
	`1.5e-7.x`,
	`1.e5`,
	`5.count()`,
	`-5.x`,
	`- -5`,
	`--5`,
	`a - -5`,
	`a-5`,
	`-a.b * -(c)`,
	`!(a = 1)`,
	`!!a`,
	`not not not a`,
	`a = not(b).x`,
	`(not a).x`,
	`a = b = c`,
	`a=>1`,
	`a <> b and c == d`,
	`a AND b Or NOT c`,
	`a in [1, 2] and b notIn [3] and c NOTIN [] and d like "%x_"`,
	`"a\"b\\c\n\t\r\u00e9\w\u12"`,
	`'it\'s' = "\'"`,
	`"unterminated`,
	`"\`,
	"`and` = `a b`.`or`.c",
	"``",
	"`unterminated",
	`a # b`,
	`café.größe = "ü"`,
	"\xff",
	"a\n  and\n  b(",
	"a.\n",
	`(a) => a.b`,
	`(a, b) => (c) => a = c`,
	`(true) => true`,
	"(`and`) => `and`",
	`x = ((a) => b)`,
	`((a) => b).x`,
	`let x = 1 in x`,
	`let x = (a in b) in x in c`,
	`let x = exists a from b where c in d in e`,
	`let S = sum X.a over X from xEvent where X.b in ["USD"] in S > 1`,
	`LET X = (1) IN (X)`,
	`let = 5`,
	`sum X.a over X from xEvent`,
	`sum X.a + count b over Y from c over X from d`,
	`sum count X.a over Y from b over X from c`,
	`count (a + b) over X from c where X.d or X.e`,
	`average ^.x over X from y`,
	"max `over` over X from y",
	`sum exists a from b over X from c`,
	`sum(1)`,
	`count over X from y`,
	`exists E from xEvent where E.a > 1, I from E.items: I.SKU = "PS"`,
	`forall E from xEvent: E.a`,
	`exists a from b and c`,
	`c and exists a from b where d or e`,
	`if(exists a from b, c, d)`,
	`exists(a)`,
	`select v from xEvent where v.x = 1`,
	`select v from xEvent`,
	`a occurs last week`,
	`a occurs this Day`,
	`a occurs next centuries`,
	`a occurs last`,
	`a occurs on today`,
	`a occurs on b`,
	`a occurs before (-5).x`,
	`a occurs before (5).x`,
	`a occurs on ("x")`,
	`a occurs = 1 day before now`,
	`a occurs != 2 Hours AFTER yesterday`,
	`a occurs <> 2 hours after tomorrow`,
	`a occurs 3 millennia from date(2020, 1, 1)`,
	`a occurs between date(2015, 1, 8) and date(2017, 7, 1) and b`,
	`a occurs between b.c[d] and e.f`,
	`a occurs >= 1000000001 days before now`,
	"a occurs before `now`.x",
	`a occurs`,
	`a occurs 3 fortnights before now`,
	`(a occurs now) = b`,
	`x.a[y[^^.z = 1 and ^w]]`,
	`^`,
	`^.x`,
	"^`a b`",
	`^^^.count()`,
	`[]`,
	`[[1], [2, [3]]]`,
	`{}`,
	`{"a": 1, "b": {"c": [true, false, null]}}.a`,
	`{a: 1}`,
	`chain(xEvent, timestamp, [A: WHAT(a) WHERE(b) WHEN(between today and tomorrow) COUNT(2), B: WHAT(c)])`,
	`chain(exists a from b, timestamp, [A: WHAT(a)])`,
	"chain(xEvent, `now`, [`and`: WHAT(a) WHEN(on b)])",
	`chain(xEvent, timestamp, [A: WHEN(today)])`,
	`chain(xEvent, timestamp, [A: WHAT(a) WHAT(b)])`,
	`chain(xEvent, timestamp, [A: WHAT(a) COUNT(0)])`,
	`chain(xEvent, timestamp, [A: WHAT(a) HOW(b)])`,
	`chain`,
	`orders.map((K, G) => mapEntry(K, {"count": G.count()}))`,
	`orders.topN((a) => a.x, 5)`,
	`startsWith("a")`,
	`a.if(1, 2, 3)`,
	`a.startsWith()`,
	`date(1, 2)`,
	`(((((a)))))`,
	`a.b[c].d(1)`,
	`a.count().sum(b).x`,
	`a * (b + c) - d / e % f`,
	`(a or b) and not (c or d)`,
	`-(a + b)`,
	`a - (b - c)`,
	`(a - b) - c`,
	`a = (b = c)`,
	`(a = b) = c`,
}

// FuzzParse checks that Parse never panics, that its errors are located
// *SyntaxErrors, and that whatever it accepts prints to text that parses
// back to the same tree and prints the same again.
func FuzzParse(f *testing.F) {
	for _, ex := range loadExamples(f) {
		f.Add(ex.expr)
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			checkParseError(t, src, err)
			return
		}
		checkRoundTrip(t, src, q)
	})
}

// checkParseError asserts what every parse error must be: a *SyntaxError
// with a position inside the query and a snippet with a caret, except for
// the query-length limit which has no position.
func checkParseError(t *testing.T, src string, err error) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("Parse(%q): error %T %v is not a *SyntaxError", src, err, err)
	}
	msg := err.Error()
	if len(src) > MaxQueryLength {
		if !errors.Is(err, ErrLimit) {
			t.Fatalf("Parse of %d bytes: %v, want ErrLimit", len(src), err)
		}
		return
	}
	if se.Pos.Line < 1 || se.Pos.Col < 1 {
		t.Fatalf("Parse(%q): error without a position: %q", src, msg)
	}
	if se.Pos.Offset < 0 || se.Pos.Offset > len(src) {
		t.Fatalf("Parse(%q): error offset %d outside the query: %q", src, se.Pos.Offset, msg)
	}
	if want := strings.Count(src[:se.Pos.Offset], "\n") + 1; se.Pos.Line != want {
		t.Fatalf("Parse(%q): error line %d, offset %d is on line %d", src, se.Pos.Line, se.Pos.Offset, want)
	}
	lineStart := strings.LastIndexByte(src[:se.Pos.Offset], '\n') + 1
	if want := utf8.RuneCountInString(src[lineStart:se.Pos.Offset]) + 1; se.Pos.Col != want {
		t.Fatalf("Parse(%q): error column %d, offset %d is at column %d", src, se.Pos.Col, se.Pos.Offset, want)
	}
	if src != "" && (!strings.Contains(msg, "\n") || !strings.HasSuffix(se.Snippet, "^")) {
		t.Fatalf("Parse(%q): error has no snippet with a caret: %q", src, msg)
	}
}

// checkRoundTrip asserts that q (parsed from src) prints to text that
// parses to the same tree and prints identically.
func checkRoundTrip(t *testing.T, src string, q *Query) {
	t.Helper()
	if q.Source != src {
		t.Fatalf("Parse(%q).Source = %q", src, q.Source)
	}
	if d := depth(q.Root, 0); d > MaxDepth {
		t.Fatalf("Parse(%q) accepted a tree %d levels deep", src, d)
	}
	s := q.String()
	q2, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q) printed as %q, which does not parse: %v\ntree: %s", src, s, err, sexpr(q.Root))
	}
	if !sameTree(q.Root, q2.Root) {
		t.Fatalf("Parse(%q) printed as %q, which parses to a different tree:\n got %s\nwant %s", src, s, sexpr(q2.Root), sexpr(q.Root))
	}
	if sx, sx2 := sexpr(q.Root), sexpr(q2.Root); sx != sx2 {
		t.Fatalf("Parse(%q) printed as %q: sexpr differs although sameTree holds:\n got %s\nwant %s", src, s, sx2, sx)
	}
	if s2 := q2.String(); s2 != s {
		t.Fatalf("Parse(%q) printed as %q, which prints again as %q", src, s, s2)
	}
}
