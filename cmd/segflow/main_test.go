package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunPQL(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    string // substring of stdout
		wantErr string // substring of the error
	}{
		{name: "check", args: []string{"pql", "check", `homeAddress.country = "US"`}, want: `"profilePaths": [`},
		{name: "check prints canonical text", args: []string{"pql", "check", `!(a=1)`}, want: "not (a = 1)\n"},
		{name: "check from stdin", args: []string{"pql", "check", "-"}, stdin: `xEvent[eventType = "x"]`, want: `"readsEvents": true`},
		{name: "check reports position", args: []string{"pql", "check", `person.name.startswith("Joe")`}, wantErr: `did you mean "startsWith"?`},
		{name: "to json", args: []string{"pql", "convert", "-to", "json", `workAddress.country = "US"`}, want: `"fnName":"="`},
		{name: "to text", args: []string{"pql", "convert", "-to", "text", `{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":"country","object":{"nodeType":"fieldLookup","fieldName":"workAddress","object":{"nodeType":"parameterReference","position":1}}},{"nodeType":"literal","literalType":"String","value":"US"}]}`}, want: `workAddress.country = "US"`},
		{name: "convert without target", args: []string{"pql", "convert", "a = 1"}, wantErr: "-to json or -to text"},
		{name: "no command", args: nil, wantErr: "usage"},
		{name: "unknown command", args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate"`},
		{name: "up takes no arguments", args: []string{"up", "now"}, wantErr: "takes no arguments"},
		{name: "a stage takes no arguments", args: []string{"reader", "x"}, wantErr: "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, nil, strings.NewReader(tt.stdin), &out, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) && !(tt.wantErr == "usage" && errors.Is(err, errUsage)) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v (stderr %q)", err, errOut.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("stdout = %q, want it to contain %q", out.String(), tt.want)
			}
		})
	}
}
