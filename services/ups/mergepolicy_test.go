package ups

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Merge policy tests run against the HTTP API of a catEnv server, as the
// Platform's clients would, plus the internal API segmentation uses.

const (
	precedenceBody = `{"name":%q,"identityGraph":{"type":"pdg"},"attributeMerge":{"type":"dataSetPrecedence","order":["5b76f86b85d0e00000be5c8b","5b76f8d787a6af01e2ceda18"]},"schema":{"name":"_xdm.context.profile"},"default":%t,"isActiveOnEdge":true}`
	timestampBody  = `{"name":%q,"identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"},"schema":{"name":"_xdm.context.profile"}}`
)

// mp calls the merge policy API at mergePoliciesBase+path.
func (e *catEnv) mp(client, sandbox, method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.call(client, sandbox, method, mergePoliciesBase+path, body)
}

// createPolicy creates a policy and returns it.
func (e *catEnv) createPolicy(client, sandbox, body string) map[string]any {
	e.t.Helper()
	return policyBody(e.t, e.mp(client, sandbox, http.MethodPost, "", body), http.StatusOK)
}

// policyBody decodes a JSON object, asserting the status.
func policyBody(t *testing.T, rec *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	return m
}

// policyList decodes a list answer and returns its children's ids.
func policyList(t *testing.T, rec *httptest.ResponseRecorder) (ids []string, total int, next string) {
	t.Helper()
	var l struct {
		Page struct {
			TotalCount *int `json:"totalCount"`
			PageSize   *int `json:"pageSize"`
		} `json:"_page"`
		Children []map[string]any `json:"children"`
		Links    struct {
			Next struct {
				Href *string `json:"href"`
			} `json:"next"`
		} `json:"_links"`
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("list: status %d: %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	if l.Page.TotalCount == nil || l.Page.PageSize == nil || l.Children == nil || l.Links.Next.Href == nil {
		t.Fatalf("list %s: want _page.totalCount, _page.pageSize, children and _links.next.href", rec.Body)
	}
	if *l.Page.PageSize != len(l.Children) {
		t.Errorf("pageSize %d with %d children", *l.Page.PageSize, len(l.Children))
	}
	ids = []string{}
	for _, c := range l.Children {
		ids = append(ids, c["id"].(string))
	}
	return ids, *l.Page.TotalCount, *l.Links.Next.Href
}

// wantUPSError asserts the UPS error shape, its status and a message part.
func wantUPSError(t *testing.T, rec *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var body struct {
		RequestID string                      `json:"requestId"`
		Errors    map[string][]map[string]any `json:"errors"`
		Type      string                      `json:"type"`
		Title     string                      `json:"title"`
		Status    int                         `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	st := fmt.Sprint(status)
	if body.RequestID == "" || body.Status != status || !strings.HasPrefix(body.Type, "https://ns.adobe.com/aep/errors/UPAPI-") ||
		!strings.HasSuffix(body.Type, "-"+st) || len(body.Errors[st]) != 1 || body.Errors[st][0]["message"] != body.Title {
		t.Errorf("error body %s: not the UPS shape for %d", rec.Body, status)
	}
	if !strings.Contains(body.Title, msg) {
		t.Errorf("message %q does not contain %q", body.Title, msg)
	}
}

func TestMergePolicyBuiltinDefault(t *testing.T) {
	e := newCatEnv(t)
	ids, total, next := policyList(t, e.mp(catDev, "prod", http.MethodGet, "", ""))
	if !slices.Equal(ids, []string{builtinPolicyID}) || total != 1 || next != "" {
		t.Fatalf("a new sandbox lists %v (total %d, next %q), want the built-in default", ids, total, next)
	}
	rec := e.mp(catDev, "prod", http.MethodGet, "/"+builtinPolicyID, "")
	got := policyBody(t, rec, http.StatusOK)
	want := map[string]any{
		"id": builtinPolicyID, "name": builtinPolicyName, "imsOrgId": catDevOrg,
		"schema": map[string]any{"name": "_xdm.context.profile"}, "version": 1.0,
		"identityGraph": map[string]any{"type": "none"}, "attributeMerge": map[string]any{"type": "timestampOrdered"},
		"default": true, "isActiveOnEdge": false,
	}
	for k, v := range want {
		if !jsonEqual(got[k], v) {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	sb, _ := got["sandbox"].(map[string]any)
	if sb["sandboxName"] != "prod" || sb["type"] != "production" || sb["default"] != true || sb["sandboxId"] == "" {
		t.Errorf("sandbox = %v", sb)
	}
	if epoch, _ := got["updateEpoch"].(float64); epoch < 1.7e9 || epoch > 1e10 {
		t.Errorf("updateEpoch = %v, want Unix seconds", got["updateEpoch"])
	}
	// It is on disk, so a restart serves the same policy.
	path := filepath.Join(e.cfg.DataDir, "mergepolicies", orgDirName(catDevOrg), "prod", builtinPolicyID+".json")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the built-in default is not persisted: %v", err)
	}
	e.restart()
	if after := e.mp(catDev, "prod", http.MethodGet, "/"+builtinPolicyID, "").Body.String(); after != rec.Body.String() {
		t.Errorf("after restart:\n%s\nbefore:\n%s", after, rec.Body)
	}
	// The internal API finds it too, in any sandbox, without an HTTP call first.
	for _, sandbox := range []string{"prod", "dev"} {
		p, err := e.srv.policies.defaultFor(devCaller(sandbox), "")
		if err != nil || p.ID != builtinPolicyID || p.IdentityGraph != graphNone || p.AttributeMerge != mergeTimestampOrdered || !p.Default {
			t.Errorf("defaultFor(%s) = %+v, %v", sandbox, p, err)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestMergePolicyCreate(t *testing.T) {
	e := newCatEnv(t)
	rec := e.mp(catDev, "prod", http.MethodPost, "", fmt.Sprintf(precedenceBody, "Loyalty members ordered by ID", false))
	p := policyBody(t, rec, http.StatusOK)
	wantKeys := []string{"id", "name", "imsOrgId", "sandbox", "schema", "version", "identityGraph", "attributeMerge", "default", "isActiveOnEdge", "updateEpoch"}
	if got := keys(t, rec); !slices.Equal(got, wantKeys) {
		t.Errorf("fields %v, want %v", got, wantKeys)
	}
	id, _ := p["id"].(string)
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Errorf("id %q is not a UUID", id)
	}
	if p["version"] != 1.0 || p["default"] != false || p["isActiveOnEdge"] != true || p["imsOrgId"] != catDevOrg ||
		!jsonEqual(p["attributeMerge"], map[string]any{"type": "dataSetPrecedence", "order": []string{"5b76f86b85d0e00000be5c8b", "5b76f8d787a6af01e2ceda18"}}) ||
		!jsonEqual(p["identityGraph"], map[string]any{"type": "pdg"}) {
		t.Errorf("created %v", p)
	}
	if got := e.mp(catDev, "prod", http.MethodGet, "/"+id, "").Body.String(); got != rec.Body.String() {
		t.Errorf("GET:\n%s\ncreate answered:\n%s", got, rec.Body)
	}
	// The class $id is accepted for schema.name and served as the class name.
	q := e.createPolicy(catDev, "prod", `{"identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"},"schema":{"name":"https://ns.adobe.com/xdm/context/profile"}}`)
	if !jsonEqual(q["schema"], map[string]any{"name": "_xdm.context.profile"}) || q["name"] != "" {
		t.Errorf("created %v", q)
	}
	ids, total, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, "", ""))
	if total != 3 || !slices.Equal(ids, []string{q["id"].(string), builtinPolicyID, id}) {
		t.Errorf("list %v (total %d), want by name: unnamed, built-in, Loyalty", ids, total)
	}
}

func TestMergePolicyDefaultSwitching(t *testing.T) {
	e := newCatEnv(t)
	p := e.createPolicy(catDev, "prod", fmt.Sprintf(precedenceBody, "loyalty", true))
	id := p["id"].(string)
	b := policyBody(t, e.mp(catDev, "prod", http.MethodGet, "/"+builtinPolicyID, ""), http.StatusOK)
	if p["default"] != true || b["default"] != false || b["version"] != 2.0 {
		t.Fatalf("after creating a default: new %v, built-in default=%v version=%v", p["default"], b["default"], b["version"])
	}
	if ids, _, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, "?default=true", "")); !slices.Equal(ids, []string{id}) {
		t.Errorf("defaults %v, want only %s", ids, id)
	}
	if d, err := e.srv.policies.defaultFor(devCaller("prod"), profileClass); err != nil || d.ID != id || !slices.Equal(d.Order, []string{"5b76f86b85d0e00000be5c8b", "5b76f8d787a6af01e2ceda18"}) {
		t.Errorf("defaultFor = %+v, %v", d, err)
	}
	// Back to the built-in, with the documented single-operation body.
	b = policyBody(t, e.mp(catDev, "prod", http.MethodPatch, "/"+builtinPolicyID, `{"op":"add","path":"/default","value":"true"}`), http.StatusOK)
	p = policyBody(t, e.mp(catDev, "prod", http.MethodGet, "/"+id, ""), http.StatusOK)
	if b["default"] != true || b["version"] != 3.0 || p["default"] != false || p["version"] != 2.0 {
		t.Errorf("after switching back: built-in %v v%v, other %v v%v", b["default"], b["version"], p["default"], p["version"])
	}
	// Through PUT as well.
	policyBody(t, e.mp(catDev, "prod", http.MethodPut, "/"+id, fmt.Sprintf(precedenceBody, "loyalty", true)), http.StatusOK)
	e.restart()
	if ids, _, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, "?default=true", "")); !slices.Equal(ids, []string{id}) {
		t.Errorf("after restart defaults %v, want only %s", ids, id)
	}
	if d, err := e.srv.policies.resolve(devCaller("prod"), ""); err != nil || d.ID != id {
		t.Errorf("resolve(\"\") = %+v, %v", d, err)
	}
	// Unsetting the default leaves none.
	policyBody(t, e.mp(catDev, "prod", http.MethodPatch, "/"+id, `[{"op":"replace","path":"/default","value":false}]`), http.StatusOK)
	if _, err := e.srv.policies.defaultFor(devCaller("prod"), ""); !errors.Is(err, errNoDefaultMergePolicy) {
		t.Errorf("defaultFor with no default: %v", err)
	}
}

func TestMergePolicyPatch(t *testing.T) {
	e := newCatEnv(t)
	id := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "t"))["id"].(string)
	steps := []struct {
		body  string
		check func(p map[string]any) bool
	}{
		{`[{"op":"add","path":"/name","value":"renamed"}]`, func(p map[string]any) bool { return p["name"] == "renamed" }},
		{`[{"op":"add","path":"/identityGraph.type","value":"pdg"},{"op":"replace","path":"/isActiveOnEdge","value":true}]`,
			func(p map[string]any) bool {
				return jsonEqual(p["identityGraph"], map[string]any{"type": "pdg"}) && p["isActiveOnEdge"] == true
			}},
		// Type and order in one patch, in either order.
		{`[{"op":"add","path":"/attributeMerge/order","value":["a","b"]},{"op":"add","path":"/attributeMerge/type","value":"dataSetPrecedence"}]`,
			func(p map[string]any) bool {
				return jsonEqual(p["attributeMerge"], map[string]any{"type": "dataSetPrecedence", "order": []string{"a", "b"}})
			}},
		{`[{"op":"replace","path":"/attributeMerge.order","value":["b"]}]`,
			func(p map[string]any) bool {
				return jsonEqual(p["attributeMerge"], map[string]any{"type": "dataSetPrecedence", "order": []string{"b"}})
			}},
		// Back to timestampOrdered: the order goes with it.
		{`[{"op":"add","path":"/attributeMerge/type","value":"timestampOrdered"}]`,
			func(p map[string]any) bool {
				return jsonEqual(p["attributeMerge"], map[string]any{"type": "timestampOrdered"})
			}},
		{`[{"op":"replace","path":"/attributeMerge","value":{"type":"dataSetPrecedence","order":["c"]}},{"op":"add","path":"/identityGraph","value":{"type":"none"}}]`,
			func(p map[string]any) bool {
				return jsonEqual(p["attributeMerge"], map[string]any{"type": "dataSetPrecedence", "order": []string{"c"}}) &&
					jsonEqual(p["identityGraph"], map[string]any{"type": "none"})
			}},
		{`[{"op":"add","path":"/schema.name","value":"_xdm.context.profile"},{"op":"add","path":"/idActiveOnEdge","value":"false"}]`,
			func(p map[string]any) bool { return p["isActiveOnEdge"] == false }},
	}
	for i, s := range steps {
		p := policyBody(t, e.mp(catDev, "prod", http.MethodPatch, "/"+id, s.body), http.StatusOK)
		if !s.check(p) {
			t.Errorf("patch %s: got %v", s.body, p)
		}
		if p["version"] != float64(i+2) {
			t.Errorf("patch %d: version %v, want %d", i, p["version"], i+2)
		}
		if got := e.mp(catDev, "prod", http.MethodGet, "/"+id, "").Body.String(); !jsonEqual(policyBody(t, httptestBody(got), http.StatusOK), p) {
			t.Errorf("patch %d: GET %s, PATCH answered %v", i, got, p)
		}
	}
}

// httptestBody wraps a 200 body for policyBody.
func httptestBody(s string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	rec.WriteString(s)
	return rec
}

func TestMergePolicyPatchInvalid(t *testing.T) {
	e := newCatEnv(t)
	id := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "t"))["id"].(string)
	before := e.mp(catDev, "prod", http.MethodGet, "/"+id, "").Body.String()
	for _, tt := range []struct{ body, msg string }{
		{` `, "JSON array of operations"}, // e.call sends no Content-Type without a body
		{`{"op":`, "not valid JSON"},
		{`"x"`, "JSON array of operations"},
		{`[]`, "no operations"},
		{`[{"path":"/name","value":"x"}]`, "op is required"},
		{`[{"op":"remove","path":"/name"}]`, `op "remove" is not supported`},
		{`[{"op":"add","value":"x"}]`, "path is required"},
		{`[{"op":"add","path":"/name"}]`, "value is required"},
		{`[{"op":"add","path":"/colour","value":"x"}]`, `path "/colour" is not a merge policy field`},
		{`[{"op":"add","path":"/version","value":7}]`, "/version is read-only"},
		{`[{"op":"add","path":"/sandbox/sandboxName","value":"dev"}]`, "read-only"},
		{`[{"op":"add","path":"/name","value":3}]`, "value of /name must be a string"},
		{`[{"op":"add","path":"/name","value":null}]`, "value of /name must be a string"},
		{`[{"op":"add","path":"/default","value":"yes"}]`, "value of /default must be true or false"},
		{`[{"op":"add","path":"/identityGraph/type","value":"global"}]`, `identityGraph.type "global" is invalid`},
		{`[{"op":"add","path":"/attributeMerge/type","value":"newest"}]`, `attributeMerge.type "newest" is invalid`},
		{`[{"op":"add","path":"/attributeMerge/order","value":"a"}]`, "value of /attributeMerge/order must be an array"},
		{`[{"op":"add","path":"/schema/name","value":"_xdm.context.experienceevent"}]`, "schema.name"},
		// Checked against the policy: dataSetPrecedence needs an order.
		{`[{"op":"add","path":"/attributeMerge/type","value":"dataSetPrecedence"}]`, "attributeMerge.order is required"},
		{`[{"op":"add","path":"/attributeMerge/order","value":["a"]}]`, "attributeMerge.order applies only to"},
		{`[{"op":"add","path":"/name","value":"ok"},{"op":"add","path":"/nope","value":1}]`, "operation 1"},
	} {
		t.Run(tt.body, func(t *testing.T) {
			wantUPSError(t, e.mp(catDev, "prod", http.MethodPatch, "/"+id, tt.body), http.StatusBadRequest, tt.msg)
		})
	}
	if after := e.mp(catDev, "prod", http.MethodGet, "/"+id, "").Body.String(); after != before {
		t.Errorf("a rejected patch changed the policy:\n%s\nbefore:\n%s", after, before)
	}
	// A bad patch is a 400 whether or not the policy exists; a good one on an unknown id is a 404.
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPatch, "/nope", `[{"op":"add","path":"/colour","value":1}]`), http.StatusBadRequest, "/colour")
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPatch, "/nope", `[{"op":"add","path":"/name","value":"x"}]`), http.StatusNotFound, "nope is not found")
}

func TestMergePolicyPut(t *testing.T) {
	e := newCatEnv(t)
	p := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "t"))
	id := p["id"].(string)
	// Clients PUT back what they read, changed: server fields are ignored.
	p["name"] = "overwritten"
	p["identityGraph"] = map[string]any{"type": "pdg"}
	p["version"] = 42
	p["imsOrgId"] = "someone-else"
	body, _ := json.Marshal(p)
	got := policyBody(t, e.mp(catDev, "prod", http.MethodPut, "/"+id, string(body)), http.StatusOK)
	if got["name"] != "overwritten" || got["version"] != 2.0 || got["imsOrgId"] != catDevOrg || !jsonEqual(got["identityGraph"], map[string]any{"type": "pdg"}) {
		t.Errorf("PUT answered %v", got)
	}
	// PUT replaces: what the body leaves out is reset.
	got = policyBody(t, e.mp(catDev, "prod", http.MethodPut, "/"+id, `{"identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"},"schema":{"name":"_xdm.context.profile"}}`), http.StatusOK)
	if got["name"] != "" || got["version"] != 3.0 {
		t.Errorf("PUT answered %v", got)
	}
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPut, "/"+id, `{"id":"other","identityGraph":{"type":"none"},"attributeMerge":{"type":"timestampOrdered"},"schema":{"name":"_xdm.context.profile"}}`), http.StatusBadRequest, `id "other" in the body`)
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPut, "/"+id, `{"attributeMerge":{"type":"timestampOrdered"},"schema":{"name":"_xdm.context.profile"}}`), http.StatusBadRequest, "identityGraph is required")
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPut, "/nope", fmt.Sprintf(timestampBody, "x")), http.StatusNotFound, "nope is not found")
}

func TestMergePolicyDelete(t *testing.T) {
	e := newCatEnv(t)
	id := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "t"))["id"].(string)
	rec := e.mp(catDev, "prod", http.MethodDelete, "/"+id, "")
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %q, want 200 and an empty body", rec.Code, rec.Body)
	}
	wantUPSError(t, e.mp(catDev, "prod", http.MethodGet, "/"+id, ""), http.StatusNotFound, id+" is not found")
	wantUPSError(t, e.mp(catDev, "prod", http.MethodDelete, "/"+id, ""), http.StatusNotFound, "not found")
	// The built-in default can be deleted too, and stays deleted.
	if rec := e.mp(catDev, "prod", http.MethodDelete, "/"+builtinPolicyID, ""); rec.Code != http.StatusOK {
		t.Fatalf("DELETE built-in: %d %s", rec.Code, rec.Body)
	}
	e.restart()
	if ids, total, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, "", "")); len(ids) != 0 || total != 0 {
		t.Errorf("after deleting everything and a restart: %v", ids)
	}
	if _, err := e.srv.policies.defaultFor(devCaller("prod"), ""); !errors.Is(err, errNoDefaultMergePolicy) {
		t.Errorf("defaultFor: %v, want errNoDefaultMergePolicy", err)
	}
	// A new default is adopted as usual.
	n := e.createPolicy(catDev, "prod", fmt.Sprintf(precedenceBody, "n", true))
	if d, err := e.srv.policies.defaultFor(devCaller("prod"), ""); err != nil || d.ID != n["id"] {
		t.Errorf("defaultFor = %+v, %v", d, err)
	}
}

func TestMergePolicyBulkGet(t *testing.T) {
	e := newCatEnv(t)
	a := e.createPolicy(catDev, "prod", fmt.Sprintf(precedenceBody, "a", false))["id"].(string)
	other := e.createPolicy(catDev, "dev", fmt.Sprintf(timestampBody, "in dev"))["id"].(string)
	body := fmt.Sprintf(`{"ids":[{"id":%q},{"id":%q},{"id":"missing"},{"id":%q}]}`, a, builtinPolicyID, other)
	rec := e.mp(catDev, "prod", http.MethodPost, "/bulk-get", body)
	if rec.Code != http.StatusMultiStatus {
		t.Fatalf("bulk-get: %d %s", rec.Code, rec.Body)
	}
	var got struct {
		Results map[string]map[string]any `json:"results"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got.Results) != 4 {
		t.Fatalf("bulk-get %s: %v", rec.Body, err)
	}
	for _, id := range []string{a, builtinPolicyID} {
		if !jsonEqual(got.Results[id], policyBody(t, e.mp(catDev, "prod", http.MethodGet, "/"+id, ""), http.StatusOK)) {
			t.Errorf("result %s = %v", id, got.Results[id])
		}
	}
	// Unknown, and another sandbox's, ids are 404 entries in the UPS shape.
	for _, id := range []string{"missing", other} {
		r := got.Results[id]
		if r["status"] != 404.0 || !strings.HasSuffix(r["type"].(string), "-404") || !strings.Contains(r["title"].(string), id) {
			t.Errorf("result %s = %v, want a 404 entry", id, r)
		}
	}
	for _, tt := range []struct{ body, msg string }{
		{`{}`, "ids is required"},
		{`{"ids":[]}`, "ids is required"},
		{`{"ids":[{"id":""}]}`, "ids[0].id is required"},
		{`{"ids":["x"]}`, `"ids"`},
		{`[`, "not valid JSON"},
	} {
		wantUPSError(t, e.mp(catDev, "prod", http.MethodPost, "/bulk-get", tt.body), http.StatusBadRequest, tt.msg)
	}
}

func TestMergePolicyIsolation(t *testing.T) {
	e := newCatEnv(t)
	id := e.createPolicy(catA, "prod", fmt.Sprintf(timestampBody, "a's"))["id"].(string)
	before := e.mp(catA, "prod", http.MethodGet, "/"+id, "").Body.String()
	for _, who := range []struct{ client, sandbox string }{{catB, "prod"}, {catA, "dev"}, {catDev, "prod"}} {
		for _, m := range []struct{ method, body string }{
			{http.MethodGet, ""},
			{http.MethodPut, fmt.Sprintf(timestampBody, "taken")},
			{http.MethodPatch, `[{"op":"add","path":"/name","value":"taken"}]`},
			{http.MethodDelete, ""},
		} {
			wantUPSError(t, e.mp(who.client, who.sandbox, m.method, "/"+id, m.body), http.StatusNotFound, "not found")
		}
		ids, _, _ := policyList(t, e.mp(who.client, who.sandbox, http.MethodGet, "", ""))
		if slices.Contains(ids, id) {
			t.Errorf("%s in %s lists org A's prod policy", who.client, who.sandbox)
		}
	}
	if after := e.mp(catA, "prod", http.MethodGet, "/"+id, "").Body.String(); after != before {
		t.Errorf("changed from outside:\n%s\nbefore:\n%s", after, before)
	}
	// Every org and sandbox has its own built-in default.
	policyBody(t, e.mp(catA, "prod", http.MethodPatch, "/"+builtinPolicyID, `[{"op":"add","path":"/identityGraph/type","value":"pdg"}]`), http.StatusOK)
	for _, who := range []struct{ client, sandbox string }{{catB, "prod"}, {catA, "dev"}} {
		b := policyBody(t, e.mp(who.client, who.sandbox, http.MethodGet, "/"+builtinPolicyID, ""), http.StatusOK)
		if !jsonEqual(b["identityGraph"], map[string]any{"type": "none"}) || b["version"] != 1.0 || b["imsOrgId"] != e.orgs[who.client] {
			t.Errorf("%s in %s: built-in %v", who.client, who.sandbox, b)
		}
		sb := b["sandbox"].(map[string]any)
		if sb["sandboxName"] != who.sandbox {
			t.Errorf("sandbox %v", sb)
		}
	}
	// A default set in one sandbox leaves the others' alone.
	e.createPolicy(catA, "dev", fmt.Sprintf(precedenceBody, "dev default", true))
	if d, err := e.srv.policies.defaultFor(Caller{ClientID: catA, Org: catOrgA, Sandbox: "prod"}, ""); err != nil || d.ID != builtinPolicyID {
		t.Errorf("prod default = %+v, %v", d, err)
	}
	if _, err := e.srv.policies.get(Caller{ClientID: catB, Org: catOrgB, Sandbox: "prod"}, id); !errors.Is(err, errMergePolicyNotFound) {
		t.Errorf("another org's get: %v", err)
	}
}

func TestMergePolicyCreateInvalid(t *testing.T) {
	e := newCatEnv(t)
	const ig, am, sc = `"identityGraph":{"type":"none"}`, `"attributeMerge":{"type":"timestampOrdered"}`, `"schema":{"name":"_xdm.context.profile"}`
	obj := func(parts ...string) string { return "{" + strings.Join(parts, ",") + "}" }
	for _, tt := range []struct{ body, msg string }{
		{` `, "empty"}, // e.call sends no Content-Type without a body
		{`{"name":`, "not valid JSON"},
		{`[1]`, "JSON object"},
		{`{} {}`, "not valid JSON"},
		{obj(am, sc), "identityGraph is required"},
		{obj(ig, sc), "attributeMerge is required"},
		{obj(ig, am), "schema is required"},
		{obj(`"identityGraph":{}`, am, sc), "identityGraph.type is required"},
		{obj(`"identityGraph":"none"`, am, sc), `"identityGraph"`},
		{obj(`"identityGraph":{"type":"global"}`, am, sc), `identityGraph.type "global" is invalid`},
		{obj(ig, `"attributeMerge":{"type":"newest"}`, sc), `attributeMerge.type "newest" is invalid`},
		{obj(ig, `"attributeMerge":{"type":"dataSetPrecedence"}`, sc), "attributeMerge.order is required"},
		{obj(ig, `"attributeMerge":{"type":"dataSetPrecedence","order":[]}`, sc), "attributeMerge.order is required"},
		{obj(ig, `"attributeMerge":{"type":"dataSetPrecedence","order":["a",""]}`, sc), "attributeMerge.order[1] is empty"},
		{obj(ig, `"attributeMerge":{"type":"dataSetPrecedence","order":["a","a"]}`, sc), `lists dataset "a" twice`},
		{obj(ig, `"attributeMerge":{"type":"dataSetPrecedence","order":[1]}`, sc), "attributeMerge.order"},
		{obj(ig, `"attributeMerge":{"type":"timestampOrdered","order":["a"]}`, sc), "attributeMerge.order applies only to"},
		{obj(ig, am, `"schema":{}`), "schema.name is required"},
		{obj(ig, am, `"schema":{"name":"_xdm.context.experienceevent"}`), `schema.name "_xdm.context.experienceevent" is not supported`},
		{obj(ig, am, sc, `"default":"yes"`), `"default"`},
		{obj(ig, am, sc, `"name":7`), `"name"`},
	} {
		t.Run(tt.body, func(t *testing.T) {
			wantUPSError(t, e.mp(catDev, "prod", http.MethodPost, "", tt.body), http.StatusBadRequest, tt.msg)
		})
	}
	if _, total, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, "", "")); total != 1 {
		t.Errorf("rejected creates left %d policies, want the built-in only", total)
	}
}

func TestMergePolicyGuardrail(t *testing.T) {
	e := newCatEnv(t)
	// Five per org, across its sandboxes; built-in defaults aside.
	var ids []string
	for i := range maxPoliciesPerOrg {
		ids = append(ids, e.createPolicy(catA, []string{"prod", "dev"}[i%2], fmt.Sprintf(timestampBody, fmt.Sprint(i)))["id"].(string))
	}
	for _, sandbox := range []string{"prod", "dev", "staging"} {
		wantUPSError(t, e.mp(catA, sandbox, http.MethodPost, "", fmt.Sprintf(timestampBody, "sixth")), http.StatusBadRequest, "guardrail: 5 merge policies per organization")
	}
	// A full org still gets the built-in default of a new sandbox, and
	// can still change its policies; other orgs are unaffected.
	policyBody(t, e.mp(catA, "staging", http.MethodGet, "/"+builtinPolicyID, ""), http.StatusOK)
	policyBody(t, e.mp(catA, "prod", http.MethodPut, "/"+ids[0], fmt.Sprintf(precedenceBody, "changed", true)), http.StatusOK)
	e.createPolicy(catB, "prod", fmt.Sprintf(timestampBody, "b"))
	// Deleting one frees room, also after a restart.
	if rec := e.mp(catA, "dev", http.MethodDelete, "/"+ids[1], ""); rec.Code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	e.restart()
	e.createPolicy(catA, "staging", fmt.Sprintf(timestampBody, "again"))
	wantUPSError(t, e.mp(catA, "prod", http.MethodPost, "", fmt.Sprintf(timestampBody, "one too many")), http.StatusBadRequest, "5 merge policies")
}

func TestMergePolicyBodyTooLarge(t *testing.T) {
	e := newCatEnv(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := fmt.Sprintf(timestampBody, strings.Repeat("x", 2048))
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPost, "", big), http.StatusRequestEntityTooLarge, "larger than 1024 bytes")
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPut, "/"+builtinPolicyID, big), http.StatusRequestEntityTooLarge, "larger than")
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPatch, "/"+builtinPolicyID, `[{"op":"add","path":"/name","value":"`+strings.Repeat("x", 2048)+`"}]`), http.StatusRequestEntityTooLarge, "larger than")
	wantUPSError(t, e.mp(catDev, "prod", http.MethodPost, "/bulk-get", `{"ids":[{"id":"`+strings.Repeat("x", 2048)+`"}]}`), http.StatusRequestEntityTooLarge, "larger than")
}

func TestMergePolicyListQuery(t *testing.T) {
	e := newCatEnv(t)
	c := e.createPolicy(catDev, "prod", fmt.Sprintf(precedenceBody, "c", false))["id"].(string)
	a := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "a"))["id"].(string)
	b := e.createPolicy(catDev, "prod", fmt.Sprintf(precedenceBody, "b", false))["id"].(string)
	d := builtinPolicyID // "Default timestamp-ordered" sorts first

	// Paging follows _links.next.href to the end, whose href is "".
	var seen []string
	target := "?limit=2"
	for range 5 {
		ids, total, next := policyList(t, e.mp(catDev, "prod", http.MethodGet, target, ""))
		if total != 4 {
			t.Errorf("totalCount %d, want 4", total)
		}
		seen = append(seen, ids...)
		if next == "" {
			break
		}
		q, ok := strings.CutPrefix(next, "@/mergePolicies?")
		if !ok {
			t.Fatalf("next href %q", next)
		}
		target = "?" + q
	}
	if !slices.Equal(seen, []string{d, a, b, c}) {
		t.Errorf("paged through %v, want by name %v", seen, []string{d, a, b, c})
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{d, a, b, c}},
		{"?orderBy=-name", []string{c, b, a, d}},
		{"?orderBy=+name", []string{d, a, b, c}}, // the "+" arrives as a space
		{"?orderby=name", []string{d, a, b, c}},
		{"?default=true", []string{d}},
		{"?default=false", []string{a, b, c}},
		{"?schema.name=_xdm.context.profile", []string{d, a, b, c}},
		{"?schema.name=_xdm.context.experienceevent", []string{}},
		{"?identityGraph.type=pdg", []string{b, c}},
		{"?attributeMerge.type=timestampOrdered", []string{d, a}},
		{"?attributeMerge.type=dataSetPrecedence&orderBy=-name&limit=1", []string{c}},
		{"?version=1", []string{d, a, b, c}},
		{"?version=2", []string{}},
		{"?start=3", []string{c}},
		{"?start=9", []string{}},
	} {
		if ids, _, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, tt.query, "")); !slices.Equal(ids, tt.want) {
			t.Errorf("%s lists %v, want %v", tt.query, ids, tt.want)
		}
	}
	// A filtered page links to the next page of the same query.
	_, total, next := policyList(t, e.mp(catDev, "prod", http.MethodGet, "?default=false&limit=1", ""))
	if total != 3 || !strings.Contains(next, "default=false") || !strings.Contains(next, "start=1") || !strings.Contains(next, "limit=1") {
		t.Errorf("total %d, next %q", total, next)
	}
	for _, tt := range []struct{ query, msg string }{
		{"?limit=0", "limit"},
		{"?limit=x", "limit"},
		{"?start=-1", "start"},
		{"?orderBy=created", "orderBy"},
		{"?default=maybe", "default"},
		{"?identityGraph.type=global", "identityGraph.type"},
		{"?attributeMerge.type=x", "attributeMerge.type"},
		{"?version=0", "version"},
	} {
		wantUPSError(t, e.mp(catDev, "prod", http.MethodGet, tt.query, ""), http.StatusBadRequest, tt.msg)
	}
}

func TestMergePolicyRestartKeepsEverything(t *testing.T) {
	e := newCatEnv(t)
	a := e.createPolicy(catDev, "prod", fmt.Sprintf(precedenceBody, "a", true))["id"].(string)
	b := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "b"))["id"].(string)
	policyBody(t, e.mp(catDev, "prod", http.MethodPatch, "/"+b, `[{"op":"add","path":"/name","value":"b2"},{"op":"add","path":"/default","value":true}]`), http.StatusOK)
	policyBody(t, e.mp(catDev, "prod", http.MethodPut, "/"+a, fmt.Sprintf(precedenceBody, "a2", false)), http.StatusOK)
	e.createPolicy(catB, "dev", fmt.Sprintf(timestampBody, "other org"))
	before := e.mp(catDev, "prod", http.MethodGet, "", "").Body.String()
	beforeB := e.mp(catB, "dev", http.MethodGet, "", "").Body.String()

	e.restart()
	if after := e.mp(catDev, "prod", http.MethodGet, "", "").Body.String(); after != before {
		t.Errorf("after restart:\n%s\nbefore:\n%s", after, before)
	}
	if after := e.mp(catB, "dev", http.MethodGet, "", "").Body.String(); after != beforeB {
		t.Errorf("after restart:\n%s\nbefore:\n%s", after, beforeB)
	}
	// Versions continue after a restart.
	p := policyBody(t, e.mp(catDev, "prod", http.MethodPatch, "/"+b, `[{"op":"add","path":"/name","value":"b3"}]`), http.StatusOK)
	if p["version"] != 3.0 {
		t.Errorf("version after restart %v, want 3", p["version"])
	}
}

func TestMergePolicyRepairsInterruptedDefaultSwitch(t *testing.T) {
	e := newCatEnv(t)
	id := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "new"))["id"].(string)
	// A crash between the two writes of a switch leaves the new default
	// on disk while the old one is still marked default.
	dir := filepath.Join(e.cfg.DataDir, "mergepolicies", orgDirName(catDevOrg), "prod")
	data, err := os.ReadFile(filepath.Join(dir, id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r policyRecord
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	r.Default, r.Version, r.Updated = true, 2, r.Updated+1000
	data, _ = json.Marshal(r)
	if err := os.WriteFile(filepath.Join(dir, id+".json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if ids, _, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, "?default=true", "")); !slices.Equal(ids, []string{id}) {
		t.Errorf("defaults after repair %v, want the newest, %s", ids, id)
	}
	b := policyBody(t, e.mp(catDev, "prod", http.MethodGet, "/"+builtinPolicyID, ""), http.StatusOK)
	if b["default"] != false || b["version"] != 2.0 {
		t.Errorf("built-in after repair %v", b)
	}
}

func TestMergePolicyUnreadableState(t *testing.T) {
	e := newCatEnv(t)
	id := e.createPolicy(catA, "prod", fmt.Sprintf(timestampBody, "x"))["id"].(string)
	dir := filepath.Join(e.cfg.DataDir, "mergepolicies", orgDirName(catOrgA), "prod")
	// A leftover temporary file is not an acknowledged policy.
	if err := os.WriteFile(filepath.Join(dir, "."+id+".json.123"), []byte(`{"torn`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.restart()
	policyBody(t, e.mp(catA, "prod", http.MethodGet, "/"+id, ""), http.StatusOK)
	// A torn or misplaced file stops the start, naming the file.
	path := filepath.Join(dir, id+".json")
	data, _ := os.ReadFile(path)
	toDir := filepath.Join(e.cfg.DataDir, "mergepolicies", orgDirName(catOrgB), "prod")
	if err := os.MkdirAll(toDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(toDir, id+".json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openPolicyStore(filepath.Join(e.cfg.DataDir, "mergepolicies"), e.clock.now); err == nil || !strings.Contains(err.Error(), "another org") {
		t.Errorf("misplaced file: %v", err)
	}
	os.Remove(filepath.Join(toDir, id+".json"))
	if err := os.WriteFile(path, []byte(`{"id":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openPolicyStore(filepath.Join(e.cfg.DataDir, "mergepolicies"), e.clock.now); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("torn file: %v, want an error naming %s", err, path)
	}
}

func TestMergePolicyConcurrentDefaultSwitches(t *testing.T) {
	e := newCatEnv(t)
	var ids []string
	for i := range 3 {
		ids = append(ids, e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, fmt.Sprint(i)))["id"].(string))
	}
	ids = append(ids, builtinPolicyID)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				id := ids[(w+i)%len(ids)]
				if rec := e.mp(catDev, "prod", http.MethodPatch, "/"+id, `[{"op":"add","path":"/default","value":true}]`); rec.Code != http.StatusOK {
					t.Errorf("PATCH: %d %s", rec.Code, rec.Body)
				}
				if _, err := e.srv.policies.defaultFor(devCaller("prod"), ""); err != nil {
					t.Errorf("defaultFor: %v", err)
				}
				if rec := e.mp(catDev, "prod", http.MethodGet, "", ""); rec.Code != http.StatusOK {
					t.Errorf("list: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
	wg.Wait()
	check := func(when string) {
		got, _, _ := policyList(t, e.mp(catDev, "prod", http.MethodGet, "?default=true", ""))
		if len(got) != 1 {
			t.Errorf("%s: defaults %v, want exactly one", when, got)
		}
	}
	check("after the switches")
	e.restart()
	check("after a restart")
}

func TestMergePolicyInternalAPI(t *testing.T) {
	e := newCatEnv(t)
	pol := e.srv.policies
	c := devCaller("prod")
	p, err := pol.create(c, MergePolicy{Name: "x", Schema: profileClass, IdentityGraph: graphPDG, AttributeMerge: mergeDataSetPrecedence, Order: []string{"d1"}, Default: true})
	if err != nil || p.Version != 1 || p.Org != catDevOrg || p.Sandbox != "prod" {
		t.Fatalf("create = %+v, %v", p, err)
	}
	for _, schema := range []string{"", profileClass, schemaProfile} {
		if d, err := pol.defaultFor(c, schema); err != nil || d.ID != p.ID {
			t.Errorf("defaultFor(%q) = %+v, %v", schema, d, err)
		}
	}
	var bad *badRequestError
	if _, err := pol.defaultFor(c, "_xdm.context.experienceevent"); !errors.As(err, &bad) {
		t.Errorf("defaultFor(experienceevent): %v", err)
	}
	// Values handed out are copies.
	got, _ := pol.get(c, p.ID)
	got.Order[0] = "changed"
	if again, _ := pol.get(c, p.ID); again.Order[0] != "d1" {
		t.Errorf("a caller changed the index: %v", again.Order)
	}
	if _, err := pol.resolve(c, "nope"); !errors.Is(err, errMergePolicyNotFound) {
		t.Errorf("resolve(nope): %v", err)
	}
	if _, err := pol.get(Caller{Org: catDevOrg, Sandbox: "../x"}, p.ID); !errors.As(err, &bad) {
		t.Errorf("a bad sandbox: %v", err)
	}
	list, err := pol.list(c)
	if err != nil || len(list) != 2 || list[0].ID != builtinPolicyID || list[1].ID != p.ID {
		t.Errorf("list = %+v, %v", list, err)
	}
}
