package pql

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// jsonExampleExprs returns the expressions of testdata/pql-examples.txt.
func jsonExampleExprs(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, ex := range loadExamples(tb) {
		out = append(out, ex.expr)
	}
	if len(out) < 70 {
		tb.Fatalf("testdata/pql-examples.txt: only %d examples", len(out))
	}
	return out
}

// jsonTextSeeds are pql/text queries that reach every node type, both
// scopes and the corners of the JSON mapping.
var jsonTextSeeds = []string{
	`workAddress.country = "US"`,
	`$1`,
	`$1.a`,
	`$2.a = $64`,
	`xEvent[$1.a = a]`,
	`xEvent[^.a = a and ^^.b = 1]`,
	`xEvent[^.count() > 1]`,
	`-9223372036854775808 = 9223372036854775807`,
	`a = 1.0 and b = -0.0 and c = 1e+21 and d = 1e-07 and e = 0.1`,
	`a = null and b = true and c = false`,
	`"tab\there \"q\" back\\slash <&> \u2028 é"`,
	"`and`.`a b` = `over`.x",
	`a.over = 1`,
	`sum a.over over X from b`,
	`-(a) + -5 - -(5)`,
	`not (a) or !b`,
	`a % 2 = 1 and b / 2 * 3 >= 1 and c <= 1 and d < 1 and e > 1 and f != 1`,
	`a in [1, 2] and b notIn [] and c like "x%"`,
	`if(a, date(2020, 1, 2), inSegment("s"))`,
	`currentMonth() + currentYear() + currentDayOfMonth()`,
	`mapEntry("k", {"a": 1, "b": [a, {"c": b}], "": null})`,
	`orders.map((K, G) => mapEntry(K, G.sum(price)))`,
	`orders.topN(price, 5).head().bottomN(x.y, 2)`,
	`orders.groupBy(store).keys().values().count()`,
	`a.startsWith("x", false) and a.matches("^x") and a.regexGroup("(x)", 1) = "x"`,
	`orders.exists() and orders.exists(price > 1) and orders.filter(price > 1).distinct().count() > 0`,
	`a.isNull() or a.isNotNull() or m.get("k") = 1`,
	`(P) => P.a = a`,
	`(a, b) => a`,
	`let S = (sum X.a over X from xEvent where X.b = "USD") in (S > 100 and S < 1000)`,
	`let x = (a in b) in (x)`,
	`exists E from xEvent where E.a > 50, I from E.items where I.SKU = "PS"`,
	`forall E from xEvent, I from E.items`,
	`select v from xEvent where v.x = 1`,
	`select v from xEvent`,
	`count X over X from xEvent`,
	`min X.a over X from xEvent where X.b`,
	`max (X.a + 1) over X from xEvent`,
	`average X.a over X from xEvent`,
	`a occurs last week and b occurs this day and c occurs next millennium`,
	`a occurs now or a occurs today or a occurs yesterday or a occurs tomorrow`,
	`a occurs = 3 hours before now`,
	`a occurs < 1 day after today`,
	`a occurs >= 0 centuries from date(2020, 1, 1)`,
	`a occurs before now and b occurs after b.c`,
	`a occurs on b`,
	`a occurs between date(2015, 1, 8) and date(2017, 7, 1)`,
	`xEvent[timestamp occurs < 7 days before now]`,
	`chain(xEvent, timestamp, [A: WHAT(a) WHERE(b.c) WHEN(between today and x) COUNT(2), B: WHAT(c)])`,
	"chain(xEvent, `now`, [`and`: WHAT(a) WHEN(on b)])",
	`xEvent[productListItems[SKU = "PS" or ^^.person.gender = "female"]]`,
	`[1, 2][a > 1]`,
	`{"a": 1}.a`,
	`"x".startsWith("x")`,
	`(a + b).c`,
	`x occurs before ([1].a)`,
	"`` = ``.``",
	"sum `ſum`.x over X from y where `ſum` and `liKe`",
	"(``) => ``",
}

// checkJSONRoundTrip asserts the pql/json contract for q: MarshalJSON
// re-decodes to the same bytes, and Format of the decoded tree parses to a
// query with the same JSON.
func checkJSONRoundTrip(t *testing.T, what string, q *Query) []byte {
	t.Helper()
	j1, err := q.MarshalJSON()
	if err != nil {
		t.Fatalf("%s: MarshalJSON: %v", what, err)
	}
	q2, err := ParseJSON(j1)
	if err != nil {
		t.Fatalf("%s: ParseJSON(%s): %v", what, j1, err)
	}
	j2, err := q2.MarshalJSON()
	if err != nil {
		t.Fatalf("%s: MarshalJSON after ParseJSON: %v", what, err)
	}
	if string(j1) != string(j2) {
		t.Fatalf("%s: JSON not stable:\n first %s\nsecond %s", what, j1, j2)
	}
	text := Format(q2.Root)
	q3, err := Parse(text)
	if err != nil {
		t.Fatalf("%s: decoded query prints as %q, which does not parse: %v\njson: %s", what, text, err, j1)
	}
	j3, err := q3.MarshalJSON()
	if err != nil {
		t.Fatalf("%s: MarshalJSON of %q: %v", what, text, err)
	}
	if string(j3) != string(j1) {
		t.Fatalf("%s: decoded query prints as %q, which encodes differently:\n got %s\nwant %s", what, text, j3, j1)
	}
	return j1
}

func TestMarshalJSONAdobeExample(t *testing.T) {
	q, err := Parse(`workAddress.country = "US"`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":"country","object":{"nodeType":"fieldLookup","fieldName":"workAddress","object":{"nodeType":"parameterReference","position":1}}},{"nodeType":"literal","literalType":"String","value":"US"}]}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	q2, err := ParseJSON([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if s := q2.String(); s != `workAddress.country = "US"` {
		t.Fatalf("decoded to %q", s)
	}
}

func TestJSONExamples(t *testing.T) {
	for _, ex := range jsonExampleExprs(t) {
		q, err := Parse(ex)
		if err != nil {
			t.Fatalf("Parse(%q): %v", ex, err)
		}
		checkJSONRoundTrip(t, ex, q)
	}
}

func TestJSONTextSeeds(t *testing.T) {
	for _, src := range jsonTextSeeds {
		q, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		checkJSONRoundTrip(t, src, q)
	}
}

// TestParseJSONDecodes checks decoding of hand-written JSON, including forms
// MarshalJSON never writes (member order, whitespace, omitted objects).
func TestParseJSONDecodes(t *testing.T) {
	lit := func(typ, v string) string {
		return `{"nodeType":"literal","literalType":"` + typ + `","value":` + v + `}`
	}
	field := func(name, obj string) string {
		if obj == "" {
			return `{"nodeType":"fieldLookup","fieldName":"` + name + `"}`
		}
		return `{"nodeType":"fieldLookup","fieldName":"` + name + `","object":` + obj + `}`
	}
	fn := func(name string, params ...string) string {
		return `{"nodeType":"fnApply","fnName":"` + name + `","params":[` + strings.Join(params, ",") + `]}`
	}
	p1 := `{"nodeType":"parameterReference","position":1}`
	tests := []struct {
		json string
		text string // Format of the decoded query
		out  string // MarshalJSON of it, when it differs from json
	}{
		{json: lit("Double", "1"), text: "1.0"},
		{json: lit("Double", "1.5e300"), text: "1.5e+300", out: lit("Double", "1.5e+300")},
		{json: lit("Double", "-0"), text: "-0.0"},
		{json: lit("Double", "1E2"), text: "100.0", out: lit("Double", "100")},
		{json: lit("Integer", "-9223372036854775808"), text: "-9223372036854775808"},
		{json: lit("Integer", "9007199254740993"), text: "9007199254740993"},
		{json: lit("String", `"a\u0001\"b\u00e9\ud83d\ude00"`), text: "\"a\x01\\\"bé😀\"", out: lit("String", "\"a\\u0001\\\"bé😀\"")},
		{json: lit("Null", "null"), text: "null"},
		{json: lit("Boolean", "false"), text: "false"},
		{json: " {\n \"value\" : \"US\", \"literalType\":\"String\",\"nodeType\":\"literal\" } \n", text: `"US"`, out: lit("String", `"US"`)},
		{json: p1, text: "$1"},
		{json: `{"nodeType":"parameterReference","position":2}`, text: "$2"},
		{json: field("a", p1), text: "a"},
		{json: field("a", ""), text: "a", out: field("a", p1)},
		{json: field("a b", field("and", "")), text: "`and`.`a b`", out: field("a b", field("and", p1))},
		{json: fn("neg", lit("Integer", "5")), text: "-(5)"},
		{json: fn("-", lit("Integer", "5"), lit("Integer", "-5")), text: "5 - -5"},
		{json: fn("not", fn("=", field("a", p1), lit("Integer", "1"))), text: "not (a = 1)"},
		{json: fn("count", field("a", p1)), text: "a.count()"},
		{json: fn("sum", field("a", p1), field("b", "")), text: "a.sum(b)"},
		{json: fn("sum", field("a", p1), field("b", p1)), text: "a.sum($1.b)"},
		{json: fn("date", lit("Integer", "2020"), lit("Integer", "1"), lit("Integer", "2")), text: "date(2020, 1, 2)"},
		{json: `{"nodeType":"filter","object":` + field("xEvent", p1) + `,"condition":` + fn("=", field("a", ""), field("b", field("c", `{"nodeType":"upReference","levels":1}`))) + `}`,
			text: "xEvent[a = ^.c.b]"},
		{json: `{"nodeType":"filter","object":` + field("xEvent", p1) + `,"condition":` + fn("=", field("a", p1), lit("Integer", "1")) + `}`,
			text: "xEvent[$1.a = 1]"},
		{json: `{"nodeType":"lambda","params":["P"],"body":` + field("a", `{"nodeType":"variableReference","name":"P"}`) + `}`, text: "(P) => P.a"},
		// A field hidden by a variable of the same name is written $1.name.
		{json: `{"nodeType":"lambda","params":["a"],"body":` + field("a", p1) + `}`, text: "(a) => $1.a"},
		{json: `{"nodeType":"lambda","params":["a"],"body":` + field("a", "") + `}`, text: "(a) => $1.a", out: `{"nodeType":"lambda","params":["a"],"body":` + field("a", p1) + `}`},
		{json: `{"nodeType":"arrayLiteral","items":[]}`, text: "[]"},
		{json: `{"nodeType":"objectLiteral","fields":[{"value":` + lit("Integer", "1") + `,"name":"k\""}]}`, text: `{"k\"": 1}`,
			out: `{"nodeType":"objectLiteral","fields":[{"name":"k\"","value":` + lit("Integer", "1") + `}]}`},
		{json: `{"nodeType":"quantifier","quantifier":"forall","bindings":[{"name":"E","source":` + field("xEvent", p1) + `},{"name":"I","source":` + field("items", `{"nodeType":"variableReference","name":"E"}`) + `,"condition":{"nodeType":"variableReference","name":"I"}}]}`,
			text: "forall E from xEvent, I from E.items where I"},
		{json: `{"nodeType":"occurs","object":` + field("a", p1) + `,"spec":{"form":"on","time":{"kind":"expression","expression":` + lit("String", `"2020"`) + `}}}`,
			text: `a occurs on ("2020")`},
		{json: `{"nodeType":"occurs","object":` + field("a", p1) + `,"spec":{"unit":"hour","time":{"kind":"now"},"form":"offset","op":"<=","amount":3,"direction":"before"}}`,
			text: "a occurs <= 3 hours before now",
			out:  `{"nodeType":"occurs","object":` + field("a", p1) + `,"spec":{"form":"offset","op":"<=","amount":3,"unit":"hour","direction":"before","time":{"kind":"now"}}}`},
	}
	for _, tt := range tests {
		q, err := ParseJSON([]byte(tt.json))
		if err != nil {
			t.Errorf("ParseJSON(%s): %v", tt.json, err)
			continue
		}
		if got := Format(q.Root); got != tt.text {
			t.Errorf("ParseJSON(%s) formats as %q, want %q", tt.json, got, tt.text)
		}
		want := tt.out
		if want == "" {
			want = tt.json
		}
		if got := checkJSONRoundTrip(t, tt.json, q); string(got) != want {
			t.Errorf("ParseJSON(%s) encodes as\n %s\nwant %s", tt.json, got, want)
		}
	}
}

func TestParseJSONErrors(t *testing.T) {
	p1 := `{"nodeType":"parameterReference","position":1}`
	a := `{"nodeType":"fieldLookup","fieldName":"a","object":` + p1 + `}`
	one := `{"nodeType":"literal","literalType":"Integer","value":1}`
	tests := []struct {
		json  string
		msg   string // substring of the SyntaxError's Msg
		hint  string // substring of its Hint
		limit bool
	}{
		{json: ``, msg: "unexpected end"},
		{json: `{`, msg: "invalid JSON"},
		{json: `{"nodeType":"literal"} x`, msg: "invalid JSON"},
		{json: one + one, msg: "data after the query"},
		{json: `[]`, msg: "expected a node object, found an array"},
		{json: `{}`, msg: `missing member "nodeType"`},
		{json: `{"nodeType":1}`, msg: "nodeType: expected a string"},
		{json: `{"nodeType":"fnApply","fnName":"=","params":[` + a + `,{"nodeType":"fieldLookup","fieldName":"b","object":{"nodeType":"fieldLookp"}}]}`,
			msg: `params[1].object: unknown nodeType "fieldLookp"`, hint: `"fieldLookup"`},
		{json: `{"nodeType":"literal","literalType":"String","value":"x","extra":1}`, msg: `unknown member "extra"`},
		{json: `{"nodeType":"literal","literalType":"String","value":"x","value":"y"}`, msg: `"value" given twice`},
		{json: `{"nodeType":"literal","literalType":"String"}`, msg: `missing member "value"`},
		{json: `{"nodeType":"literal","literalType":"Integer","value":1.5}`, msg: "value: 1.5 is not a whole number"},
		{json: `{"nodeType":"literal","literalType":"Integer","value":1.0}`, msg: "not a whole number"},
		{json: `{"nodeType":"literal","literalType":"Integer","value":9223372036854775808}`, msg: "out of range"},
		{json: `{"nodeType":"literal","literalType":"Integer","value":"1"}`, msg: "needs a whole number, found a string"},
		{json: `{"nodeType":"literal","literalType":"Double","value":1e400}`, msg: "out of range"},
		{json: `{"nodeType":"literal","literalType":"Null","value":0}`, msg: "needs null"},
		{json: `{"nodeType":"literal","literalType":"Date","value":0}`, msg: `unknown literalType "Date"`},
		{json: `{"nodeType":"fnApply","fnName":"startswith","params":[` + a + `]}`, msg: `unknown function "startswith"`, hint: `"startsWith"`},
		{json: `{"nodeType":"fnApply","fnName":"==","params":[` + a + `,` + a + `]}`, msg: `unknown function "=="`, hint: `"="`},
		{json: `{"nodeType":"fnApply","fnName":"startsWith","params":[` + a + `]}`, msg: "params: startsWith takes 1 to 2 arguments after the receiver, got 0"},
		{json: `{"nodeType":"fnApply","fnName":"count","params":[]}`, msg: "needs its receiver"},
		{json: `{"nodeType":"fnApply","fnName":"date","params":[` + one + `]}`, msg: "date takes 3 arguments, got 1"},
		{json: `{"nodeType":"fnApply","fnName":"=","params":[` + a + `]}`, msg: "params: = takes 2 operands, got 1"},
		{json: `{"nodeType":"fnApply","fnName":"-","params":[` + a + `]}`, msg: "- takes 2 operands", hint: "neg"},
		{json: `{"nodeType":"fnApply","fnName":"not","params":[]}`, msg: "not takes 1 operand, got 0"},
		{json: `{"nodeType":"fnApply","fnName":"=","params":{}}`, msg: "params: expected an array"},
		{json: `{"nodeType":"parameterReference","position":0}`, msg: "position: 0 is out of range"},
		{json: `{"nodeType":"parameterReference","position":65}`, msg: "out of range"},
		{json: `{"nodeType":"variableReference","name":"x"}`, msg: `variable "x" is not bound`},
		{json: `{"nodeType":"fieldLookup","fieldName":"a` + "`" + `b"}`, msg: "backquote"},
		{json: `{"nodeType":"upReference","levels":1}`, msg: "upReference is only allowed"},
		{json: `{"nodeType":"fieldLookup","fieldName":"a","object":{"nodeType":"upReference","levels":0}}`, msg: "levels: 0 is out of range"},
		{json: `{"nodeType":"fieldLookup","fieldName":"a","object":{"nodeType":"upReference","levels":-1}}`, msg: "levels: -1 is out of range"},
		{json: `{"nodeType":"fieldLookup","fieldName":"a","object":{"nodeType":"upReference","levels":` + strconv.Itoa(MaxDepth+1) + `}}`, msg: "levels is more than the limit", limit: true},
		{json: `{"nodeType":"fieldLookup","fieldName":"a","object":{"nodeType":"upReference","levels":"1"}}`, msg: "levels: expected a whole number"},
		{json: `{"nodeType":"filter","object":` + a + `,"condition":{"nodeType":"lambda","params":["a"],"body":{"nodeType":"fieldLookup","fieldName":"a"}}}`,
			msg: "hidden by the variable"},
		{json: `{"nodeType":"lambda","params":[],"body":` + a + `}`, msg: "at least one parameter"},
		{json: `{"nodeType":"lambda","params":[1],"body":` + a + `}`, msg: "params[0]: expected a parameter name"},
		{json: `{"nodeType":"quantifier","quantifier":"some","bindings":[]}`, msg: `unknown quantifier "some"`},
		{json: `{"nodeType":"quantifier","quantifier":"exists","bindings":[]}`, msg: "at least one binding"},
		{json: `{"nodeType":"quantifier","quantifier":"exists","bindings":[{"name":"x","source":{"nodeType":"variableReference","name":"x"}}]}`,
			msg: `bindings[0].source.name: variable "x" is not bound`},
		{json: `{"nodeType":"aggregate","fnName":"avg","expression":` + a + `,"name":"X","source":` + a + `}`, msg: `unknown aggregate "avg"`},
		{json: `{"nodeType":"select","name":"v","source":{"nodeType":"variableReference","name":"v"}}`, msg: "not bound"},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"on"}}`, msg: `spec: missing member "time"`},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"on","time":{"kind":"now"},"op":"="}}`, msg: `unknown member "op"`},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"offset","op":"=","amount":1,"unit":"days","direction":"before","time":{"kind":"now"}}}`,
			msg: `spec.unit: unknown unit "days"`, hint: `"day"`},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"offset","op":"~","amount":1,"unit":"day","direction":"before","time":{"kind":"now"}}}`, msg: `unknown op "~"`},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"offset","op":"=","amount":-1,"unit":"day","direction":"before","time":{"kind":"now"}}}`, msg: "amount: -1 is out of range"},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"direction","direction":"from","time":{"kind":"now"}}}`, msg: `unknown direction "from"`},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"on","time":{"kind":"last"}}}`, msg: `spec.time: missing member "unit"`},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"on","time":{"kind":"now","unit":"day"}}}`, msg: `unknown member "unit"`},
		{json: `{"nodeType":"occurs","object":` + a + `,"spec":{"form":"on","time":{"kind":"soon"}}}`, msg: `unknown time kind "soon"`},
		{json: `{"nodeType":"chain","source":` + a + `,"timeField":"timestamp","steps":[]}`, msg: "at least one step"},
		{json: `{"nodeType":"chain","source":` + a + `,"timeField":"timestamp","steps":[{"label":"A","what":` + a + `,"count":0}]}`, msg: "steps[0].count: 0 is out of range"},
		{json: `{"nodeType":"chain","source":` + a + `,"timeField":"timestamp","steps":[{"label":"A"}]}`, msg: `steps[0]: missing member "what"`},
		{json: `{"nodeType":"fieldLookup","fieldName":"a","object":` + strings.Repeat(`{"nodeType":"fnApply","fnName":"not","params":[`, MaxDepth) + a + strings.Repeat(`]}`, MaxDepth) + `}`,
			msg: "nests deeper", limit: true},
		{json: strings.Repeat("[", jMaxDepth+1) + strings.Repeat("]", jMaxDepth+1), msg: "JSON nests deeper", limit: true},
		{json: `{"nodeType":"literal","literalType":"String","value":"` + strings.Repeat("x", MaxQueryLength) + `"}`, msg: "bytes long", limit: true},
		// Fits as JSON, but 700 runs of 128 ^ do not fit as pql/text.
		{json: `{"nodeType":"arrayLiteral","items":[` + strings.TrimSuffix(strings.Repeat(`{"nodeType":"fieldLookup","fieldName":"a","object":{"nodeType":"upReference","levels":128}},`, 700), ",") + `]}`,
			msg: "as pql/text", limit: true},
	}
	for _, tt := range tests {
		q, err := ParseJSON([]byte(tt.json))
		if err == nil {
			t.Errorf("ParseJSON(%.200s) = %s, want an error", tt.json, q)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseJSON(%.200s): %T is not a *SyntaxError", tt.json, err)
			continue
		}
		if !strings.Contains(se.Msg, tt.msg) || !strings.Contains(se.Hint, tt.hint) {
			t.Errorf("ParseJSON(%.200s):\n got msg %q hint %q\nwant msg %q hint %q", tt.json, se.Msg, se.Hint, tt.msg, tt.hint)
		}
		if errors.Is(err, ErrLimit) != tt.limit {
			t.Errorf("ParseJSON(%.200s): errors.Is(ErrLimit) = %v, want %v (%v)", tt.json, !tt.limit, tt.limit, err)
		}
		if se.Pos != (Pos{}) {
			t.Errorf("ParseJSON(%.200s): error has a position %+v", tt.json, se.Pos)
		}
	}
}

func TestMarshalNodeErrors(t *testing.T) {
	a := &Field{X: &Implicit{}, Name: "a"}
	tests := []struct {
		name string
		n    Node
	}{
		{"nil", nil},
		{"typed nil", (*Field)(nil)},
		{"nil child", &Binary{Op: "=", X: a}},
		{"bad op", &Binary{Op: "==", X: a, Y: a}},
		{"bad unary", &Unary{Op: "+", X: a}},
		{"bare implicit in element scope", &Filter{X: a, Cond: &Implicit{}}},
		{"method as call", &Call{Name: "count"}},
		{"call as method", &Method{X: a, Name: "date"}},
		{"param 0", &Param{}},
		{"up 0", &Field{X: &Up{}, Name: "a"}},
		{"NaN", &Literal{Kind: LitDouble, Float: jNaN()}},
		{"literal kind", &Literal{}},
		{"no bindings", &Quantifier{}},
		{"no steps", &Chain{Source: a, TimeField: "t"}},
		{"bad unit", &Occurs{X: a, Spec: OccursSpec{Form: OccursOn, T: TimeRef{Kind: TimeLast}}}},
		{"bad form", &Occurs{X: a, Spec: OccursSpec{T: TimeRef{Kind: TimeNow}}}},
		{"object keys", &ObjectLit{Keys: []string{"a"}}},
	}
	for _, tt := range tests {
		if b, err := MarshalNode(tt.n); err == nil {
			t.Errorf("%s: MarshalNode = %s, want an error", tt.name, b)
		}
	}
	deep := Node(a)
	for range MaxDepth {
		deep = &Unary{Op: "not", X: deep}
	}
	if _, err := MarshalNode(deep); !errors.Is(err, ErrLimit) {
		t.Errorf("MarshalNode of a tree deeper than MaxDepth: %v, want ErrLimit", err)
	}
	if _, err := (*Query)(nil).MarshalJSON(); err == nil {
		t.Error("MarshalJSON of a nil query succeeded")
	}
}

func jNaN() float64 {
	zero := 0.0
	return zero / zero
}

// jTreeGen builds random trees for TestJSONRandomTrees; it keeps variables
// bound the way the parser does, so most trees are valid.
type jTreeGen struct {
	r    *rand.Rand
	vars []string
}

// jGenNames mixes plain names with keywords, time words, case-folding
// look-alikes and names that need backquotes.
var jGenNames = []string{"a", "b", "X", "over", "from", "where", "now", "this", "and", "sum", "exists",
	"WHAT", "x y", "é", "_1", "1a", "ſelect", "ſum", "İn", "li\u212Ae", "occurſ", "in", "let", "chain", "$1", "^"}

func (g *jTreeGen) name() string { return jGenNames[g.r.IntN(len(jGenNames))] }

func (g *jTreeGen) bindName() string {
	if len(g.vars) > 0 && g.r.IntN(4) == 0 {
		return g.vars[g.r.IntN(len(g.vars))]
	}
	return g.name()
}

func (g *jTreeGen) leaf(scope int) Node {
	switch g.r.IntN(9) {
	case 0:
		return &Literal{Kind: LitString, Str: []string{"", "x", `a"b\c`, "\n\t\x01", "é😀"}[g.r.IntN(5)]}
	case 1:
		return &Literal{Kind: LitInt, Int: []int64{0, 1, -1, 1 << 62, -1 << 63}[g.r.IntN(5)]}
	case 2:
		return &Literal{Kind: LitDouble, Float: []float64{1, -0.5, 1e21, 1e-7, 0.1, -1e300}[g.r.IntN(6)]}
	case 3:
		return &Literal{Kind: []LitKind{LitBool, LitNull}[g.r.IntN(2)], Bool: g.r.IntN(2) == 0}
	case 4:
		if len(g.vars) > 0 {
			return &Var{Name: g.vars[g.r.IntN(len(g.vars))]}
		}
		fallthrough
	case 5:
		return &Param{Index: 1 + g.r.IntN(3)}
	case 6:
		if scope == 0 {
			return &Implicit{}
		}
		fallthrough
	case 7:
		return &Field{X: &Up{Levels: 1 + g.r.IntN(3)}, Name: g.name()}
	}
	return &Field{X: &Implicit{}, Name: g.name()}
}

var jGenMethods, jGenCalls = func() (ms, cs []string) {
	for name, spec := range functions {
		if spec.method {
			ms = append(ms, name)
		} else {
			cs = append(cs, name)
		}
	}
	slices.Sort(ms)
	slices.Sort(cs)
	return ms, cs
}()

func (g *jTreeGen) node(depth, scope int) Node {
	if depth <= 0 || g.r.IntN(5) == 0 {
		return g.leaf(scope)
	}
	sub := func() Node { return g.node(depth-1-g.r.IntN(2), scope) }
	elem := func() Node { return g.node(depth-1-g.r.IntN(2), scope+1) }
	bound := func(v string, f func() Node) Node {
		g.vars = append(g.vars, v)
		defer func() { g.vars = g.vars[:len(g.vars)-1] }()
		return f()
	}
	opt := func(f func() Node) Node {
		if g.r.IntN(2) == 0 {
			return nil
		}
		return f()
	}
	switch g.r.IntN(17) {
	case 0:
		return &Field{X: sub(), Name: g.name()}
	case 1:
		name := jGenMethods[g.r.IntN(len(jGenMethods))]
		spec := functions[name]
		m := &Method{X: sub(), Name: name}
		for i := range spec.minArgs + g.r.IntN(spec.maxArgs-spec.minArgs+1) {
			if isElemArg(name, i) {
				m.Args = append(m.Args, elem())
			} else {
				m.Args = append(m.Args, sub())
			}
		}
		return m
	case 2:
		name := jGenCalls[g.r.IntN(len(jGenCalls))]
		c := &Call{Name: name}
		for range functions[name].minArgs {
			c.Args = append(c.Args, sub())
		}
		return c
	case 3:
		return &Filter{X: sub(), Cond: elem()}
	case 4:
		return &Unary{Op: []string{"not", "-"}[g.r.IntN(2)], X: sub()}
	case 5, 6:
		ops := []string{"=", "!=", "<", "<=", ">", ">=", "and", "or", "+", "-", "*", "/", "%", "in", "notIn", "like"}
		return &Binary{Op: ops[g.r.IntN(len(ops))], X: sub(), Y: sub()}
	case 7:
		l := &Lambda{Params: []string{g.bindName()}}
		if g.r.IntN(2) == 0 {
			l.Params = append(l.Params, g.name())
		}
		mark := len(g.vars)
		g.vars = append(g.vars, l.Params...)
		l.Body = sub()
		g.vars = g.vars[:mark]
		return l
	case 8:
		v := g.bindName()
		return &Let{Name: v, Value: sub(), Body: bound(v, sub)}
	case 9:
		q := &Quantifier{All: g.r.IntN(2) == 0}
		mark := len(g.vars)
		for range 1 + g.r.IntN(2) {
			v := g.bindName()
			src := sub()
			g.vars = append(g.vars, v)
			q.Bindings = append(q.Bindings, Binding{Var: v, Source: src, Cond: opt(sub)})
		}
		g.vars = g.vars[:mark]
		return q
	case 10:
		v := g.bindName()
		return &Select{Var: v, Source: sub(), Cond: bound(v, func() Node { return opt(sub) })}
	case 11:
		v := g.bindName()
		fns := []string{"sum", "count", "min", "max", "average"}
		return &Aggregate{Fn: fns[g.r.IntN(len(fns))], Expr: bound(v, sub), Var: v, Source: sub(), Cond: bound(v, func() Node { return opt(sub) })}
	case 12:
		return &Occurs{X: sub(), Spec: g.spec(sub)}
	case 13:
		c := &Chain{Source: sub(), TimeField: g.name()}
		for range 1 + g.r.IntN(2) {
			st := Step{Label: g.name(), What: elem()}
			if g.r.IntN(2) == 0 {
				st.Where = elem()
			}
			if g.r.IntN(2) == 0 {
				s := g.spec(sub)
				st.When = &s
			}
			st.Count = int64(g.r.IntN(3))
			c.Steps = append(c.Steps, st)
		}
		return c
	case 14:
		a := &ArrayLit{}
		for range g.r.IntN(3) {
			a.Elems = append(a.Elems, sub())
		}
		return a
	case 15:
		o := &ObjectLit{}
		for range g.r.IntN(3) {
			o.Keys = append(o.Keys, g.name())
			o.Values = append(o.Values, sub())
		}
		return o
	}
	return &Field{X: &Param{Index: 1}, Name: g.name()}
}

func (g *jTreeGen) spec(sub func() Node) OccursSpec {
	t := func() TimeRef {
		k := TimeKind(1 + g.r.IntN(int(TimeExpr)))
		tr := TimeRef{Kind: k}
		switch k {
		case TimeThis, TimeLast, TimeNext:
			tr.Unit = Unit(1 + g.r.IntN(int(UnitMillennium)))
		case TimeExpr:
			tr.X = sub()
		}
		return tr
	}
	s := OccursSpec{Form: OccursForm(1 + g.r.IntN(int(OccursBetween))), T: t()}
	switch s.Form {
	case OccursOffset:
		s.Op = []string{"=", "!=", "<", "<=", ">", ">="}[g.r.IntN(6)]
		s.N = int64(g.r.IntN(3))
		s.Unit = Unit(1 + g.r.IntN(int(UnitMillennium)))
		s.Dir = []string{"before", "after", "from"}[g.r.IntN(3)]
	case OccursDir:
		s.Dir = []string{"before", "after"}[g.r.IntN(2)]
	case OccursBetween:
		s.T2 = t()
	}
	return s
}

// TestJSONRandomTrees encodes random trees and checks that whatever
// ParseJSON accepts comes back as the same JSON and survives pql/text.
func TestJSONRandomTrees(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 1000
	}
	if s := os.Getenv("PQL_RANDOM_TREES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	accepted := 0
	for i := range n {
		g := &jTreeGen{r: rand.New(rand.NewPCG(uint64(i), 7))}
		tree := g.node(8, 0)
		j, err := MarshalNode(tree)
		if err != nil {
			continue // e.g. a bare implicit parameter inside an element scope
		}
		q, err := ParseJSON(j)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || strings.HasPrefix(se.Msg, jUnprintable) {
				t.Fatalf("tree %d: ParseJSON(%s): %v\ntext: %s", i, j, err, Format(tree))
			}
			continue
		}
		accepted++
		if got := checkJSONRoundTrip(t, fmt.Sprintf("tree %d (%s)", i, Format(tree)), q); string(got) != string(j) {
			t.Fatalf("tree %d: JSON changed:\n got %s\nwant %s", i, got, j)
		}
	}
	if accepted < n/4 {
		t.Fatalf("only %d of %d random trees decoded", accepted, n)
	}
	t.Logf("%d of %d random trees decoded", accepted, n)
}
