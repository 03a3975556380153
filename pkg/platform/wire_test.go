package platform

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameJSON fails the test unless got and want are the same JSON value.
func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: the wanted JSON: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, compactJSON(got), compactJSON(want))
	}
}

func compactJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// checkRequest fails the test unless r is method on path (the escaped
// path, and the raw query when query is not "-"), with the gateway
// headers, and a JSON content type when it has a body.
func checkRequest(t *testing.T, r *http.Request, method, path, query string) {
	t.Helper()
	if r.Method != method || r.URL.EscapedPath() != path {
		t.Errorf("request %s %s, want %s %s", r.Method, r.URL.EscapedPath(), method, path)
	}
	if query != "-" && r.URL.RawQuery != query {
		t.Errorf("%s %s: query %q, want %q", r.Method, r.URL.Path, r.URL.RawQuery, query)
	}
	for h, want := range map[string]string{
		"X-Api-Key":       testClient,
		"X-Gw-Ims-Org-Id": testOrg,
		"X-Sandbox-Name":  "dev-1",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s %s: %s = %q, want %q", r.Method, r.URL.Path, h, got, want)
		}
	}
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "Bearer tok-") {
		t.Errorf("%s %s: Authorization %q", r.Method, r.URL.Path, a)
	}
	if r.Header.Get("x-request-id") == "" {
		t.Errorf("%s %s: no x-request-id", r.Method, r.URL.Path)
	}
	if (method == http.MethodPost || method == http.MethodPatch) && r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
}

func TestNumberDecoding(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{`12`, 12, true},
		{`-3`, -3, true},
		{`1.0`, 1, true},
		{`1.23456789E+11`, 123456789000, true},
		{`"249058"`, 249058, true},
		{`" 17 "`, 17, true},
		{`"1.5e3"`, 1500, true},
		{`null`, 0, true},
		{`"..."`, 0, true}, // a documentation placeholder: 0, not a failure
		{`"9223372036854775807"`, 9223372036854775807, true},
		{`true`, 0, false},
		{`{}`, 0, false},
		{`1e400`, 0, false},
	} {
		var n number
		err := json.Unmarshal([]byte(tt.in), &n)
		if (err == nil) != tt.ok || (tt.ok && int64(n) != tt.want) {
			t.Errorf("number %s = %d, %v; want %d, ok %v", tt.in, n, err, tt.want, tt.ok)
		}
	}
}

func TestWireTypesAreLenient(t *testing.T) {
	var s Sandbox
	if err := json.Unmarshal([]byte(`{"sandboxId":"x","sandboxName":"prod","type":"production","default":"true","extra":1}`), &s); err != nil || !s.Default || s.SandboxName != "prod" {
		t.Fatalf("sandbox %+v, %v", s, err)
	}
	var m MergePolicyRef
	if err := json.Unmarshal([]byte(`{"id":"timestampOrdered-none-mp","version":1.0}`), &m); err != nil || m.Version != 1 || m.ID != "timestampOrdered-none-mp" {
		t.Fatalf("merge policy %+v, %v", m, err)
	}
	var jt JobTiming
	if err := json.Unmarshal([]byte(`{"startTimeInMs":1.23456789E+11,"endTimeInMs":1.23456799E+11,"totalTimeInMs":10000.0}`), &jt); err != nil ||
		jt != (JobTiming{123456789000, 123456799000, 10000}) {
		t.Fatalf("timing %+v, %v", jt, err)
	}
	var errs []JobError
	if err := json.Unmarshal([]byte(`[{"code":"0100000003","msg":"Error in Export Job","callStack":"com.adobe"},{"code":8.0000018E7,"msg":"Request rate is large"}]`), &errs); err != nil ||
		errs[0].Code != "0100000003" || errs[1].Code != "8.0000018E7" || errs[1].String() != "8.0000018E7: Request rate is large" {
		t.Fatalf("job errors %+v, %v", errs, err)
	}
	var e Expression
	if err := json.Unmarshal([]byte(`{"type":"PQL","format":"pql/json","value":{"nodeType":"literal", "literalType":"Boolean","value":true}}`), &e); err != nil ||
		e.Value != `{"nodeType":"literal","literalType":"Boolean","value":true}` {
		t.Fatalf("expression %+v, %v", e, err)
	}
}

// fastPollBackoff keeps polling waits short in tests.
var fastPollBackoff = Backoff{Initial: time.Millisecond, Max: 4 * time.Millisecond, Multiplier: 2}

func jsonDecode(s string, v any) error { return json.Unmarshal([]byte(s), v) }
