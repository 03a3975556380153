package pql

import (
	"os"
	"strings"
	"testing"
)

// example is one documented query of testdata/pql-examples.txt.
type example struct {
	line   int    // line in the file
	ref    string // the example number in aep-api.md section 7
	source string
	expr   string
}

// loadExamples reads testdata/pql-examples.txt: comment lines start with
// #, the others are "ref<TAB>source<TAB>expression".
func loadExamples(tb testing.TB) []example {
	tb.Helper()
	data, err := os.ReadFile("testdata/pql-examples.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var out []example
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 || parts[2] == "" {
			tb.Fatalf("testdata/pql-examples.txt:%d: want ref<TAB>source<TAB>expression, got %q", i+1, line)
		}
		out = append(out, example{line: i + 1, ref: parts[0], source: parts[1], expr: parts[2]})
	}
	if len(out) < 70 {
		tb.Fatalf("testdata/pql-examples.txt: only %d examples", len(out))
	}
	return out
}
