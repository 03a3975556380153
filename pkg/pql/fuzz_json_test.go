package pql

import (
	"errors"
	"strings"
	"testing"
)

// jsonBadSeeds are malformed or borderline pql/json inputs for FuzzParseJSON.
var jsonBadSeeds = []string{
	``,
	`null`,
	`"x"`,
	`{`,
	`{"nodeType":"literal","literalType":"String","value":"a"}}`,
	`{"nodeType":"literal","literalType":"String","value":"\ud800"}`,
	`{"nodeType":"literal","literalType":"String","value":"a\u0000b` + "\x7f\xff" + `"}`,
	`{"nodeType":"literal","literalType":"Integer","value":-0}`,
	`{"nodeType":"literal","literalType":"Integer","value":1e2}`,
	`{"nodeType":"literal","literalType":"Double","value":-1e-400}`,
	`{"nodeType":"literal","literalType":"Double","value":5e-324}`,
	`{"nodeType":"literal","literalType":"Null","value":null,"nodeType":"literal"}`,
	`{"nodeType":"parameterReference","position":1.0}`,
	`{"nodeType":"variableReference","name":"a"}`,
	`{"nodeType":"fieldLookup","fieldName":"over"}`,
	`{"nodeType":"fieldLookup","fieldName":"a","object":{"nodeType":"upReference","levels":128}}`,
	`{"nodeType":"fnApply","fnName":"count","params":[{"nodeType":"upReference","levels":2}]}`,
	`{"nodeType":"fnApply","fnName":"fieldLookup","params":[]}`,
	`{"nodeType":"fnApply","fnName":"Not","params":[{"nodeType":"literal","literalType":"Boolean","value":true}]}`,
	`{"nodeType":"fnApply","fnName":"neg","params":[{"nodeType":"literal","literalType":"Integer","value":-9223372036854775808}]}`,
	`{"nodeType":"filter","object":{"nodeType":"arrayLiteral","items":[]},"condition":{"nodeType":"parameterReference","position":1}}`,
	`{"nodeType":"lambda","params":["a","a"],"body":{"nodeType":"variableReference","name":"a"}}`,
	`{"nodeType":"let","name":"in","value":{"nodeType":"fnApply","fnName":"in","params":[{"nodeType":"arrayLiteral","items":[]},{"nodeType":"arrayLiteral","items":[]}]},"body":{"nodeType":"variableReference","name":"in"}}`,
	`{"nodeType":"aggregate","fnName":"sum","expression":{"nodeType":"literal","literalType":"Integer","value":-1},"name":"X","source":{"nodeType":"fieldLookup","fieldName":"xEvent"}}`,
	`{"nodeType":"occurs","object":{"nodeType":"fieldLookup","fieldName":"a"},"spec":{"form":"on","time":{"kind":"expression","expression":{"nodeType":"fieldLookup","fieldName":"x","object":{"nodeType":"literal","literalType":"Integer","value":-5}}}}}`,
	`{"nodeType":"occurs","object":{"nodeType":"fieldLookup","fieldName":"a"},"spec":{"form":"between","time":{"kind":"this","unit":"week"},"time2":{"kind":"expression","expression":{"nodeType":"objectLiteral","fields":[]}}}}`,
	`{"nodeType":"chain","source":{"nodeType":"fieldLookup","fieldName":"xEvent"},"timeField":"now","steps":[{"label":"WHAT","what":{"nodeType":"parameterReference","position":1},"count":1048576}]}`,
	strings.Repeat(`{"nodeType":"fnApply","fnName":"not","params":[`, 130) + `{"nodeType":"literal","literalType":"Null","value":null}` + strings.Repeat(`]}`, 130),
	strings.Repeat(`[`, 700),
}

// FuzzParseJSON checks that ParseJSON never panics, that its errors are
// position-less *SyntaxErrors, and that whatever it accepts re-encodes to
// stable JSON and prints to pql/text that parses to the same JSON.
func FuzzParseJSON(f *testing.F) {
	for _, src := range append(jsonExampleExprs(f), jsonTextSeeds...) {
		q, err := Parse(src)
		if err != nil {
			f.Fatalf("Parse(%q): %v", src, err)
		}
		j, err := q.MarshalJSON()
		if err != nil {
			f.Fatalf("MarshalJSON(%q): %v", src, err)
		}
		f.Add(j)
	}
	for _, s := range jsonBadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseJSON(data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseJSON: error %T %v is not a *SyntaxError", err, err)
			}
			if strings.HasPrefix(se.Msg, jUnprintable) {
				t.Fatalf("ParseJSON(%q): %v", data, err)
			}
			if se.Pos != (Pos{}) {
				t.Fatalf("ParseJSON(%q): error with a position: %v", data, err)
			}
			return
		}
		checkJSONRoundTrip(t, string(data), q)
	})
}

// FuzzJSONText checks the other direction: every query Parse accepts
// encodes, decodes (unless a limit is hit: JSON is longer than text) and
// round-trips as FuzzParseJSON requires.
func FuzzJSONText(f *testing.F) {
	for _, src := range append(jsonExampleExprs(f), jsonTextSeeds...) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			return
		}
		j, err := q.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(Parse(%q)): %v", src, err)
		}
		q2, err := ParseJSON(j)
		if err != nil {
			if errors.Is(err, ErrLimit) {
				return
			}
			t.Fatalf("ParseJSON(MarshalJSON(Parse(%q))): %v\njson: %s", src, err, j)
		}
		if got := checkJSONRoundTrip(t, src, q2); string(got) != string(j) {
			t.Fatalf("Parse(%q): JSON changed on decoding:\n got %s\nwant %s", src, got, j)
		}
	})
}
