package ups

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/segflow/segflow/pkg/pql"
)

// Segment definition tests run against the HTTP API of a catEnv server,
// as the Platform's clients would, plus the internal API segmentation
// uses.

// defBody is a create body (D-SD's example) with a name and a pql/text
// query.
func defBody(name, query string) string {
	b, _ := json.Marshal(map[string]any{
		"name": name, "profileInstanceId": "ups", "description": "Last 30 days",
		"expression": map[string]any{"type": "PQL", "format": "pql/text", "value": query},
		"schema":     map[string]any{"name": "_xdm.context.profile"},
	})
	return string(b)
}

// sd calls the segment definition API at segmentDefinitionsBase+path.
func (e *catEnv) sd(client, sandbox, method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.call(client, sandbox, method, segmentDefinitionsBase+path, body)
}

// createDef creates a definition and returns it.
func (e *catEnv) createDef(client, sandbox, body string) map[string]any {
	e.t.Helper()
	return policyBody(e.t, e.sd(client, sandbox, http.MethodPost, "", body), http.StatusOK)
}

// defList decodes a list answer, checking its shape, and returns its
// segments' names, the page object and link.next.
func defList(t *testing.T, rec *httptest.ResponseRecorder) (names []string, page map[string]any, next string) {
	t.Helper()
	var l struct {
		Segments []map[string]any `json:"segments"`
		Page     map[string]any   `json:"page"`
		Link     map[string]any   `json:"link"`
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("list: status %d: %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	if l.Segments == nil || l.Page == nil || l.Link == nil {
		t.Fatalf("list %s: want segments, page and link", rec.Body)
	}
	for _, k := range []string{"totalCount", "totalPages", "sortField", "sort", "pageSize", "limit"} {
		if _, ok := l.Page[k]; !ok {
			t.Errorf("list %s: page has no %s", rec.Body, k)
		}
	}
	if l.Page["pageSize"] != float64(len(l.Segments)) {
		t.Errorf("pageSize %v with %d segments", l.Page["pageSize"], len(l.Segments))
	}
	names = []string{}
	for _, s := range l.Segments {
		names = append(names, s["name"].(string))
	}
	next, _ = l.Link["next"].(string)
	return names, l.Page, next
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSegmentDefCreate(t *testing.T) {
	e := newCatEnv(t)
	rec := e.sd(catDev, "prod", http.MethodPost, "", defBody("People who ordered in the last 30 days", `workAddress.country = "US"`))
	d := policyBody(t, rec, http.StatusOK) // 200, not 201
	id, _ := d["id"].(string)
	if !uuidRE.MatchString(id) {
		t.Fatalf("id %q is not a UUID", id)
	}
	if loc := rec.Header().Get("X-Location"); loc != segmentDefinitionsBase+"/"+id {
		t.Errorf("X-Location %q", loc)
	}
	created, _ := d["creationTime"].(float64)
	want := map[string]any{
		"id":                id,
		"schema":            map[string]any{"name": "_xdm.context.profile"},
		"ttlInDays":         30.0,
		"profileInstanceId": "ups",
		"imsOrgId":          catDevOrg,
		"sandbox": map[string]any{
			"sandboxId": sandboxOf(catDevOrg, "prod").SandboxID, "sandboxName": "prod", "type": "production", "default": true,
		},
		"name":        "People who ordered in the last 30 days",
		"description": "Last 30 days",
		"expression":  map[string]any{"type": "PQL", "format": "pql/text", "value": `workAddress.country = "US"`},
		"evaluationInfo": map[string]any{
			"batch": map[string]any{"enabled": true}, "continuous": map[string]any{"enabled": false}, "synchronous": map[string]any{"enabled": false},
		},
		"mergePolicyId":        builtinPolicyID,
		"dataGovernancePolicy": map[string]any{"excludeOptOut": true},
		"creationTime":         created,
		"updateEpoch":          float64(int64(created) / 1000),
		"updateTime":           created,
	}
	if !jsonEqual(d, want) {
		gotJSON, _ := json.Marshal(d)
		wantJSON, _ := json.Marshal(want)
		t.Errorf("created\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if created < 1e12 {
		t.Errorf("creationTime %v is not Unix ms", created)
	}
	if got := policyBody(t, e.sd(catDev, "prod", http.MethodGet, "/"+id, ""), http.StatusOK); !jsonEqual(got, d) {
		t.Errorf("GET %v, want what the create answered", got)
	}

	// pql/json (SW-SEG's example), other evaluation modes, ttlInDays, a
	// merge policy by id, the schema by $id, and excludeOptOut false.
	mp := e.createPolicy(catDev, "prod", fmt.Sprintf(timestampBody, "other"))["id"].(string)
	const jsonValue = `{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":"a","object":{"nodeType":"parameterReference","position":1}},{"nodeType":"fieldLookup","fieldName":"b","object":{"nodeType":"parameterReference","position":1}}]}`
	body, _ := json.Marshal(map[string]any{
		"name": "json", "mergePolicyId": mp, "ttlInDays": 60, "payloadSchema": "string",
		"expression":           map[string]any{"type": "PQL", "format": "pql/json", "value": jsonValue},
		"evaluationInfo":       map[string]any{"continuous": map[string]any{"enabled": true}},
		"schema":               map[string]any{"id": "https://ns.adobe.com/xdm/context/profile"},
		"dataGovernancePolicy": map[string]any{"excludeOptOut": false},
	})
	j := e.createDef(catDev, "prod", string(body))
	if j["mergePolicyId"] != mp || j["ttlInDays"] != 60.0 || j["payloadSchema"] != "string" || j["description"] != "" ||
		!jsonEqual(j["expression"], map[string]any{"type": "PQL", "format": "pql/json", "value": jsonValue}) ||
		!jsonEqual(j["schema"], map[string]any{"id": "https://ns.adobe.com/xdm/context/profile"}) ||
		!jsonEqual(j["dataGovernancePolicy"], map[string]any{"excludeOptOut": false}) ||
		!jsonEqual(j["evaluationInfo"], map[string]any{"batch": map[string]any{"enabled": false}, "continuous": map[string]any{"enabled": true}, "synchronous": map[string]any{"enabled": false}}) {
		t.Errorf("pql/json definition %v", j)
	}
	if j["creationTime"].(float64) <= created {
		t.Errorf("creationTime %v not after the first definition's %v", j["creationTime"], created)
	}
	// pql/json sent as the object itself is kept as a string.
	body, _ = json.Marshal(map[string]any{
		"name":       "json object",
		"expression": map[string]any{"type": "PQL", "format": "pql/json", "value": json.RawMessage(jsonValue)},
		"schema":     map[string]any{"name": "_xdm.context.profile"},
	})
	if o := e.createDef(catDev, "prod", string(body)); !jsonEqual(o["expression"], map[string]any{"type": "PQL", "format": "pql/json", "value": jsonValue}) {
		t.Errorf("object value stored as %v", o["expression"])
	}
}

func TestSegmentDefNoDefaultMergePolicy(t *testing.T) {
	e := newCatEnv(t)
	if rec := e.mp(catDev, "dev", http.MethodDelete, "/"+builtinPolicyID, ""); rec.Code != http.StatusOK {
		t.Fatalf("deleting the built-in: %d %s", rec.Code, rec.Body)
	}
	if d := e.createDef(catDev, "dev", defBody("x", `person.name.firstName = "A"`)); d["mergePolicyId"] != "" {
		t.Errorf("mergePolicyId %v in a sandbox without a default, want none", d["mergePolicyId"])
	}
}

func TestSegmentDefCreateInvalid(t *testing.T) {
	e := newCatEnv(t)
	obj := func(fields map[string]any) string {
		m := map[string]any{
			"name":       "n",
			"expression": map[string]any{"type": "PQL", "format": "pql/text", "value": `person.name.firstName = "A"`},
			"schema":     map[string]any{"name": "_xdm.context.profile"},
		}
		for k, v := range fields {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	expr := func(typ, format, value any) map[string]any {
		return map[string]any{"type": typ, "format": format, "value": value}
	}
	for _, tt := range []struct{ body, msg string }{
		{` `, "empty"},
		{`{"name":`, "not valid JSON"},
		{`[]`, "must be a JSON object"},
		{`{"name": 5}`, `"name"`},
		{obj(map[string]any{"name": nil}), "name is required"},
		{obj(map[string]any{"name": "  "}), "name is empty"},
		{obj(map[string]any{"name": strings.Repeat("n", 2000)}), "the limit is 1024"},
		{obj(map[string]any{"schema": nil}), "schema is required"},
		{obj(map[string]any{"schema": map[string]any{}}), "schema is required"},
		{obj(map[string]any{"schema": map[string]any{"name": "_xdm.context.experienceevent"}}), "schema.name"},
		{obj(map[string]any{"expression": nil}), "expression is required"},
		{obj(map[string]any{"expression": expr(nil, "pql/text", "a = 1")}), "expression.type is required"},
		{obj(map[string]any{"expression": expr("ARL", "pql/text", "a = 1")}), "ARL is not supported"},
		{obj(map[string]any{"expression": expr("PQL", nil, "a = 1")}), "expression.format is required"},
		{obj(map[string]any{"expression": expr("PQL", "pql/xml", "a = 1")}), `"pql/xml" is invalid`},
		{obj(map[string]any{"expression": expr("PQL", "pql/text", "")}), "expression.value is required"},
		{obj(map[string]any{"expression": expr("PQL", "pql/text", 5)}), "must be a string"},
		{obj(map[string]any{"expression": expr("PQL", "pql/text", map[string]any{})}), "must be a string"},
		// The parser's message: where, what was expected, what was found.
		{obj(map[string]any{"expression": expr("PQL", "pql/text", `workAddress.country = `)}), "at 1:"},
		{obj(map[string]any{"expression": expr("PQL", "pql/text", "person.age > 1 and\n  person.name.startswith(\"Joe\")")}), `"startsWith"`},
		{obj(map[string]any{"expression": expr("PQL", "pql/json", `{"nodeType":"fnApply"}`)}), "not valid pql/json"},
		{obj(map[string]any{"expression": expr("PQL", "pql/json", `{`)}), "not valid pql/json"},
		// Compile's hard errors; unknown fields are not errors.
		{obj(map[string]any{"expression": expr("PQL", "pql/text", `person.name.matches("(")`)}), "invalid regular expression"},
		{obj(map[string]any{"expression": expr("PQL", "pql/text", `inSegment("c8b3c7c4-0000-4000-8000-000000000000")`)}), "not a segment definition of this sandbox"},
		{obj(map[string]any{"ttlInDays": 0}), "ttlInDays 0 is invalid"},
		{obj(map[string]any{"ttlInDays": 1.5}), "ttlInDays"},
		{obj(map[string]any{"profileInstanceId": "other"}), "profileInstanceId"},
		{obj(map[string]any{"mergePolicyId": "nope"}), "not a merge policy of sandbox prod"},
		{obj(map[string]any{"evaluationInfo": map[string]any{"batch": map[string]any{"enabled": "yes"}}}), "enabled"},
	} {
		wantUPSError(t, e.sd(catDev, "prod", http.MethodPost, "", tt.body), http.StatusBadRequest, tt.msg)
	}
	// The position and the caret, as the parser gives them.
	rec := e.sd(catDev, "prod", http.MethodPost, "", defBody("x", `homeAddress.country = "US" and and`))
	wantUPSError(t, rec, http.StatusBadRequest, "expression.value is not valid pql/text: ")
	var b struct{ Title string }
	_ = json.Unmarshal(rec.Body.Bytes(), &b)
	_, perr := pql.Parse(`homeAddress.country = "US" and and`)
	if perr == nil || !strings.HasSuffix(b.Title, perr.Error()) || !strings.Contains(b.Title, " at 1:32") || !strings.Contains(b.Title, "^") {
		t.Errorf("message %q, want the parser's %q", b.Title, perr)
	}
	if names, _, _ := defList(t, e.sd(catDev, "prod", http.MethodGet, "", "")); len(names) != 0 {
		t.Errorf("invalid requests created %v", names)
	}
	// Fields unknown to the schema (nothing ingested yet) are fine.
	e.createDef(catDev, "prod", defBody("unknown fields", `loyalty.tier = "gold" and xEvent[eventType = "x"].count() > 1`))
}

func TestSegmentDefDuplicateName(t *testing.T) {
	e := newCatEnv(t)
	id := e.createDef(catDev, "prod", defBody("dup", `person.name.firstName = "A"`))["id"].(string)
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPost, "", defBody("dup", `person.name.firstName = "B"`)), http.StatusUnprocessableEntity, "already exists: "+id)
	// Names are unique per org and sandbox only.
	e.createDef(catDev, "dev", defBody("dup", `person.name.firstName = "B"`))
	e.createDef(catA, "prod", defBody("dup", `person.name.firstName = "B"`))
	e.createDef(catDev, "prod", defBody("Dup", `person.name.firstName = "B"`))
}

func TestSegmentDefListPagingAndSort(t *testing.T) {
	e := newCatEnv(t)
	for _, n := range []string{"e", "c", "a", "d", "b"} {
		body := defBody(n, `person.name.firstName = "A"`)
		if n == "d" || n == "b" {
			body = strings.Replace(body, `"name":`, `"evaluationInfo":{"continuous":{"enabled":true}},"name":`, 1)
		}
		e.createDef(catDev, "prod", body)
	}
	names, page, next := defList(t, e.sd(catDev, "prod", http.MethodGet, "", ""))
	if !slices.Equal(names, []string{"b", "d", "a", "c", "e"}) || next != "" {
		t.Errorf("default order %v (next %q), want newest first", names, next)
	}
	if !jsonEqual(page, map[string]any{"totalCount": 5.0, "totalPages": 1.0, "sortField": "creationTime", "sort": "desc", "pageSize": 5.0, "limit": 100.0}) {
		t.Errorf("page %v", page)
	}
	// Following link.next walks every page.
	var all []string
	target := "?limit=2&sort=name:asc"
	for range 5 {
		names, page, next := defList(t, e.sd(catDev, "prod", http.MethodGet, target, ""))
		all = append(all, names...)
		if page["totalPages"] != 3.0 || page["totalCount"] != 5.0 || page["limit"] != 2.0 || page["sortField"] != "name" || page["sort"] != "asc" {
			t.Errorf("page %v", page)
		}
		if next == "" {
			break
		}
		rest, ok := strings.CutPrefix(next, "@/segment/definitions")
		if !ok {
			t.Fatalf("link.next %q", next)
		}
		target = rest
	}
	if !slices.Equal(all, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("pages walked %v", all)
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"?page=2&limit=2&sort=name:asc", []string{"c", "d"}},
		{"?page=1&limit=2&sort=name:asc", []string{"a", "b"}},
		{"?page=0&limit=2&sort=name:asc", []string{"a", "b"}},
		{"?start=4&sort=name:asc", []string{"e"}},
		{"?start=9", []string{}},
		{"?sort=name:desc", []string{"e", "d", "c", "b", "a"}},
		{"?sort=creationTime:asc", []string{"e", "c", "a", "d", "b"}},
		{"?evaluationInfo.continuous.enabled=true&sort=name:asc", []string{"b", "d"}},
		{"?evaluationInfo.batch.enabled=false", []string{"b", "d"}}, // continuous only
		{"?evaluationInfo.synchronous.enabled=true", []string{}},
	} {
		if names, _, _ := defList(t, e.sd(catDev, "prod", http.MethodGet, tt.query, "")); !slices.Equal(names, tt.want) {
			t.Errorf("%s: %v, want %v", tt.query, names, tt.want)
		}
	}
	// Several keys: equal first keys fall to the second.
	def := policyBody(t, e.sd(catDev, "prod", http.MethodGet, "?sort=name:asc&limit=1", ""), http.StatusOK)
	aID := def["segments"].([]any)[0].(map[string]any)["id"].(string)
	patched := strings.Replace(defBody("a", `person.name.firstName = "Z"`), `"description":"Last 30 days"`, `"description":"zz"`, 1)
	policyBody(t, e.sd(catDev, "prod", http.MethodPatch, "/"+aID, patched), http.StatusOK)
	if names, _, _ := defList(t, e.sd(catDev, "prod", http.MethodGet, "?sort=description:asc,name:desc", "")); !slices.Equal(names, []string{"e", "d", "c", "b", "a"}) {
		t.Errorf("two keys: %v", names)
	}
	if names, _, _ := defList(t, e.sd(catDev, "prod", http.MethodGet, "?sort=updateTime:desc&limit=1", "")); !slices.Equal(names, []string{"a"}) {
		t.Errorf("updateTime:desc %v, want the patched one first", names)
	}
	for _, tt := range []struct{ query, msg string }{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=x", "limit"},
		{"?start=-1", "start"},
		{"?page=x", "page"},
		{"?sort=internal:asc", "sort by"},
		{"?sort=name", "<attribute>:asc"},
		{"?sort=name:up", "asc"},
		{"?evaluationInfo.continuous.enabled=maybe", "evaluationInfo.continuous.enabled"},
	} {
		wantUPSError(t, e.sd(catDev, "prod", http.MethodGet, tt.query, ""), http.StatusBadRequest, tt.msg)
	}
}

func TestSegmentDefPatch(t *testing.T) {
	e := newCatEnv(t)
	orig := e.createDef(catDev, "prod", strings.Replace(defBody("orig", `workAddress.country = "US"`), `"name":`, `"ttlInDays":60,"name":`, 1))
	id := orig["id"].(string)
	other := e.createDef(catDev, "prod", defBody("other", `person.name.firstName = "A"`))["id"].(string)

	// D-SD's update: the whole object, server fields echoed (ignored).
	body := `{"id":"` + id + `","name":"Updated","profileInstanceId":"ups",
		"expression":{"type":"PQL","format":"pql/text","value":"workAddress.country = \"CA\""},
		"schema":{"name":"_xdm.context.profile"},"payloadSchema":"string","creationTime":0,"updateTime":0,"updateEpoch":0,
		"imsOrgId":"someone else","sandbox":{"sandboxName":"dev"}}`
	rec := e.sd(catDev, "prod", http.MethodPatch, "/"+id, body)
	got := policyBody(t, rec, http.StatusOK)
	if loc := rec.Header().Get("X-Location"); loc != segmentDefinitionsBase+"/"+id {
		t.Errorf("X-Location %q", loc)
	}
	if got["id"] != id || got["name"] != "Updated" || got["description"] != "" || got["ttlInDays"] != 30.0 ||
		got["imsOrgId"] != catDevOrg || got["sandbox"].(map[string]any)["sandboxName"] != "prod" ||
		got["creationTime"] != orig["creationTime"] || got["updateTime"].(float64) <= orig["updateTime"].(float64) ||
		got["updateEpoch"] != float64(int64(got["updateTime"].(float64))/1000) || got["payloadSchema"] != "string" ||
		!jsonEqual(got["expression"], map[string]any{"type": "PQL", "format": "pql/text", "value": `workAddress.country = "CA"`}) {
		t.Errorf("patched %v (was %v)", got, orig)
	}
	if g := policyBody(t, e.sd(catDev, "prod", http.MethodGet, "/"+id, ""), http.StatusOK); !jsonEqual(g, got) {
		t.Errorf("GET after PATCH %v, want %v", g, got)
	}
	// Keeping its own name is fine; taking another's is not.
	policyBody(t, e.sd(catDev, "prod", http.MethodPatch, "/"+id, defBody("Updated", `workAddress.country = "FR"`)), http.StatusOK)
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/"+id, defBody("other", `workAddress.country = "FR"`)), http.StatusUnprocessableEntity, "already exists: "+other)
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/"+id, `{"id":"`+other+`",`+defBody("x", "a = 1")[1:]), http.StatusBadRequest, "is not the id in the path")
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/"+id, defBody("x", "a = ")), http.StatusBadRequest, "at 1:")
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/c8b3c7c4-0000-4000-8000-000000000000", defBody("x", "a = 1")), http.StatusNotFound, "is not found")
	// A bad body is a 400 whether or not the definition exists.
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/c8b3c7c4-0000-4000-8000-000000000000", defBody("x", "a = ")), http.StatusBadRequest, "at 1:")
	if g := policyBody(t, e.sd(catDev, "prod", http.MethodGet, "/"+id, ""), http.StatusOK); g["name"] != "Updated" {
		t.Errorf("failed PATCHes changed the definition: %v", g)
	}
}

func TestSegmentDefBulkGet(t *testing.T) {
	e := newCatEnv(t)
	a := e.createDef(catDev, "prod", defBody("a", `person.name.firstName = "A"`))
	b := e.createDef(catDev, "prod", defBody("b", `person.name.firstName = "B"`))
	other := e.createDef(catDev, "dev", defBody("c", `person.name.firstName = "C"`))["id"].(string)
	const unknown = "c8b3c7c4-0000-4000-8000-000000000000"
	body := fmt.Sprintf(`{"ids":[{"id":%q},{"id":%q},{"id":%q},{"id":%q}]}`, a["id"], b["id"], unknown, other)
	rec := e.sd(catDev, "prod", http.MethodPost, "/bulk-get", body)
	res := policyBody(t, rec, http.StatusMultiStatus)["results"].(map[string]any)
	if len(res) != 4 || !jsonEqual(res[a["id"].(string)], a) || !jsonEqual(res[b["id"].(string)], b) {
		t.Errorf("results %v", res)
	}
	for _, id := range []string{unknown, other} {
		nf, _ := res[id].(map[string]any)
		if nf["status"] != 404.0 || !strings.Contains(nf["title"].(string), id+" is not found") {
			t.Errorf("result for %s: %v", id, res[id])
		}
	}
	for _, tt := range []struct{ body, msg string }{
		{`{}`, "ids is required"},
		{`{"ids":[]}`, "ids is required"},
		{`{"ids":[{"id":""}]}`, "ids[0].id is required"},
		{`{"ids":["x"]}`, `"ids"`},
		{`[`, "not valid JSON"},
	} {
		wantUPSError(t, e.sd(catDev, "prod", http.MethodPost, "/bulk-get", tt.body), http.StatusBadRequest, tt.msg)
	}
}

func TestSegmentDefInSegmentAndDelete(t *testing.T) {
	e := newCatEnv(t)
	a := e.createDef(catDev, "prod", defBody("a", `person.name.firstName = "A"`))["id"].(string)
	b := e.createDef(catDev, "prod", defBody("b", fmt.Sprintf(`inSegment(%q) and homeAddress.country = "US"`, a)))["id"].(string)
	c := e.createDef(catDev, "prod", defBody("c", fmt.Sprintf(`inSegment(%q) or inSegment(%q)`, a, b)))["id"].(string)

	// a is used by b and c: it cannot go.
	wantUPSError(t, e.sd(catDev, "prod", http.MethodDelete, "/"+a, ""), http.StatusUnprocessableEntity, "used through inSegment by 2 other segment definition(s): "+b+` ("b"), `+c+` ("c")`)
	// Cycles: a using c (which uses a), a using itself.
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/"+a, defBody("a", fmt.Sprintf(`inSegment(%q)`, c))), http.StatusBadRequest, "cycle")
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/"+a, defBody("a", fmt.Sprintf(`not inSegment(%q)`, a))), http.StatusBadRequest, "cycle: "+a+" -> "+a)
	// Unknown and other sandboxes' ids are not definitions of the sandbox.
	dev := e.createDef(catDev, "dev", defBody("dev", `person.name.firstName = "A"`))["id"].(string)
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPost, "", defBody("d", fmt.Sprintf(`inSegment(%q)`, dev))), http.StatusBadRequest, "not a segment definition of this sandbox")
	// pql/json inSegment counts too.
	q, _ := pql.Parse(fmt.Sprintf(`inSegment(%q)`, c))
	js, _ := q.MarshalJSON()
	body, _ := json.Marshal(map[string]any{"name": "d", "schema": map[string]any{"name": "_xdm.context.profile"},
		"expression": map[string]any{"type": "PQL", "format": "pql/json", "value": string(js)}})
	d := e.createDef(catDev, "prod", string(body))["id"].(string)
	wantUPSError(t, e.sd(catDev, "prod", http.MethodDelete, "/"+c, ""), http.StatusUnprocessableEntity, d)

	// Delete from the top down.
	for _, id := range []string{d, c, b, a} {
		got := policyBody(t, e.sd(catDev, "prod", http.MethodDelete, "/"+id, ""), http.StatusOK)
		if got["status"] != true || !strings.Contains(got["message"].(string), id) {
			t.Errorf("DELETE answered %v", got)
		}
		wantUPSError(t, e.sd(catDev, "prod", http.MethodGet, "/"+id, ""), http.StatusNotFound, id+" is not found")
	}
	wantUPSError(t, e.sd(catDev, "prod", http.MethodDelete, "/"+a, ""), http.StatusNotFound, "is not found")
	if names, _, _ := defList(t, e.sd(catDev, "prod", http.MethodGet, "", "")); len(names) != 0 {
		t.Errorf("left %v", names)
	}
	// The name is free again.
	e.createDef(catDev, "prod", defBody("a", `person.name.firstName = "A"`))
}

func TestSegmentDefIsolation(t *testing.T) {
	e := newCatEnv(t)
	id := e.createDef(catA, "prod", defBody("a's", `person.name.firstName = "A"`))["id"].(string)
	before := e.sd(catA, "prod", http.MethodGet, "/"+id, "").Body.String()
	for _, who := range []struct{ client, sandbox string }{{catB, "prod"}, {catA, "dev"}, {catDev, "prod"}} {
		for _, m := range []struct{ method, body string }{
			{http.MethodGet, ""},
			{http.MethodPatch, defBody("taken", `person.name.firstName = "B"`)},
			{http.MethodDelete, ""},
		} {
			wantUPSError(t, e.sd(who.client, who.sandbox, m.method, "/"+id, m.body), http.StatusNotFound, "is not found")
		}
		if names, _, _ := defList(t, e.sd(who.client, who.sandbox, http.MethodGet, "", "")); len(names) != 0 {
			t.Errorf("%s in %s lists %v", who.client, who.sandbox, names)
		}
		res := policyBody(t, e.sd(who.client, who.sandbox, http.MethodPost, "/bulk-get", `{"ids":[{"id":"`+id+`"}]}`), http.StatusMultiStatus)
		if r := res["results"].(map[string]any)[id].(map[string]any); r["status"] != 404.0 {
			t.Errorf("%s in %s bulk-gets %v", who.client, who.sandbox, r)
		}
		wantUPSError(t, e.sd(who.client, who.sandbox, http.MethodPost, "", defBody("x", fmt.Sprintf(`inSegment(%q)`, id))), http.StatusBadRequest, "not a segment definition of this sandbox")
		e.createDef(who.client, who.sandbox, defBody("a's", `person.name.firstName = "A"`)) // the name is free there
	}
	if after := e.sd(catA, "prod", http.MethodGet, "/"+id, "").Body.String(); after != before {
		t.Errorf("changed from outside:\n%s\nbefore:\n%s", after, before)
	}
	// The internal API.
	if _, ok := e.srv.segments.get(Caller{Org: catOrgB, Sandbox: "prod"}, id); ok {
		t.Error("another org's get found the definition")
	}
	if all := e.srv.segments.all(Caller{Org: catOrgA, Sandbox: "prod"}); len(all) != 1 || all[0].ID != id {
		t.Errorf("all = %v", all)
	}
}

func TestSegmentDefInternalAPI(t *testing.T) {
	e := newCatEnv(t)
	c := Caller{ClientID: catDev, Org: catDevOrg, Sandbox: "prod"}
	if all := e.srv.segments.all(c); all == nil || len(all) != 0 {
		t.Errorf("all of an empty sandbox = %#v, want empty", all)
	}
	var ids []string
	for i, q := range []string{`person.name.firstName = "A"`, `homeAddress.country = "US"`, `xEvent[eventType = "commerce.purchases"].count() > 0`} {
		ids = append(ids, e.createDef(catDev, "prod", defBody(fmt.Sprint("d", i), q))["id"].(string))
	}
	// pql/json as well.
	q0, _ := pql.Parse(`person.name.lastName = "B"`)
	js, _ := q0.MarshalJSON()
	body, _ := json.Marshal(map[string]any{"name": "json", "schema": map[string]any{"name": "_xdm.context.profile"},
		"expression": map[string]any{"type": "PQL", "format": "pql/json", "value": string(js)}})
	ids = append(ids, e.createDef(catDev, "prod", string(body))["id"].(string))

	all := e.srv.segments.all(c)
	if len(all) != 4 {
		t.Fatalf("all = %d definitions, want 4", len(all))
	}
	for i, d := range all {
		if d.ID != ids[i] {
			t.Errorf("all[%d] = %s, want %s (creation order)", i, d.ID, ids[i])
		}
		got, ok := e.srv.segments.get(c, d.ID)
		if !ok || got != d {
			t.Errorf("get(%s) = %+v, %v", d.ID, got, ok)
		}
		q, err := d.query()
		if err != nil {
			t.Fatalf("query of %s: %v", d.Name, err)
		}
		if _, err := pql.Compile(q, pql.Options{Schema: pql.NewXDMSchema()}); err != nil {
			t.Errorf("compile %s: %v", d.Name, err)
		}
	}
	if q, _ := all[3].query(); pql.Format(q.Root) != `person.name.lastName = "B"` {
		t.Errorf("pql/json query = %s", pql.Format(q.Root))
	}
	if _, ok := e.srv.segments.get(Caller{Org: catDevOrg, Sandbox: "dev"}, ids[0]); ok {
		t.Error("another sandbox's get found the definition")
	}
	if _, err := (SegmentDefinition{Expression: PQLExpression{Type: "PQL", Format: "pql/xml", Value: "a"}}).query(); err == nil {
		t.Error("query of an unknown format succeeded")
	}
}

func TestSegmentDefRestartKeepsEverything(t *testing.T) {
	e := newCatEnv(t)
	a := e.createDef(catDev, "prod", defBody("a", `person.name.firstName = "A"`))["id"].(string)
	b := e.createDef(catDev, "prod", defBody("b", fmt.Sprintf(`inSegment(%q)`, a)))["id"].(string)
	c := e.createDef(catDev, "prod", defBody("c", `person.name.firstName = "C"`))["id"].(string)
	policyBody(t, e.sd(catDev, "prod", http.MethodPatch, "/"+c, defBody("c2", `person.name.firstName = "C2"`)), http.StatusOK)
	d := e.createDef(catDev, "prod", defBody("d", `person.name.firstName = "D"`))["id"].(string)
	policyBody(t, e.sd(catDev, "prod", http.MethodDelete, "/"+d, ""), http.StatusOK)
	e.createDef(catB, "dev", defBody("other org", `person.name.firstName = "B"`))
	before := e.sd(catDev, "prod", http.MethodGet, "", "").Body.String()
	beforeB := e.sd(catB, "dev", http.MethodGet, "", "").Body.String()
	last := policyBody(t, e.sd(catDev, "prod", http.MethodGet, "/"+c, ""), http.StatusOK)

	e.restart()
	if after := e.sd(catDev, "prod", http.MethodGet, "", "").Body.String(); after != before {
		t.Errorf("after restart:\n%s\nbefore:\n%s", after, before)
	}
	if after := e.sd(catB, "dev", http.MethodGet, "", "").Body.String(); after != beforeB {
		t.Errorf("after restart:\n%s\nbefore:\n%s", after, beforeB)
	}
	wantUPSError(t, e.sd(catDev, "prod", http.MethodGet, "/"+d, ""), http.StatusNotFound, "is not found")
	// The rules hold on what was loaded: names, inSegment users, cycles.
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPost, "", defBody("c2", "a = 1")), http.StatusUnprocessableEntity, "already exists")
	wantUPSError(t, e.sd(catDev, "prod", http.MethodDelete, "/"+a, ""), http.StatusUnprocessableEntity, b)
	wantUPSError(t, e.sd(catDev, "prod", http.MethodPatch, "/"+a, defBody("a", fmt.Sprintf(`inSegment(%q)`, b))), http.StatusBadRequest, "cycle")
	// Times keep increasing.
	n := e.createDef(catDev, "prod", defBody("new", "a = 1"))
	if n["creationTime"].(float64) <= last["updateTime"].(float64) {
		t.Errorf("creationTime after restart %v, not after %v", n["creationTime"], last["updateTime"])
	}
	// One file per definition, where the brief says.
	files, _ := filepath.Glob(filepath.Join(e.cfg.DataDir, "segments", orgDirName(catDevOrg), "prod", "*.json"))
	if len(files) != 4 {
		t.Errorf("files %v, want 4", files)
	}
}

func TestSegmentDefUnreadableState(t *testing.T) {
	e := newCatEnv(t)
	id := e.createDef(catA, "prod", defBody("x", `person.name.firstName = "A"`))["id"].(string)
	root := filepath.Join(e.cfg.DataDir, "segments")
	dir := filepath.Join(root, orgDirName(catOrgA), "prod")
	// A leftover temporary file is not an acknowledged definition.
	if err := os.WriteFile(filepath.Join(dir, "."+id+".json.123"), []byte(`{"torn`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.restart()
	policyBody(t, e.sd(catA, "prod", http.MethodGet, "/"+id, ""), http.StatusOK)
	open := func() error {
		_, err := openDefinitionStore(root, e.clock.now, e.srv.policies, e.srv.store.schema)
		return err
	}
	// A misplaced or torn file stops the start, naming the file.
	path := filepath.Join(dir, id+".json")
	data, _ := os.ReadFile(path)
	toDir := filepath.Join(root, orgDirName(catOrgB), "prod")
	if err := os.MkdirAll(toDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(toDir, id+".json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := open(); err == nil || !strings.Contains(err.Error(), "another org") {
		t.Errorf("misplaced file: %v", err)
	}
	os.Remove(filepath.Join(toDir, id+".json"))
	if err := os.WriteFile(path, []byte(`{"id":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := open(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("torn file: %v, want an error naming %s", err, path)
	}
}

func TestConversion(t *testing.T) {
	e := newCatEnv(t)
	conv := func(body string) map[string]any {
		t.Helper()
		return policyBody(t, e.call(catDev, "prod", http.MethodPost, segmentConversionPath, body), http.StatusOK)
	}
	// D-SD's example, answer for answer.
	got := conv(`{"name":"People who ordered in the last 30 days","profileInstanceId":"ups","description":"Last 30 days",
		"expression":{"type":"PQL","format":"pql/text","value":"workAddress.country = \"US\""},
		"schema":{"name":"_xdm.context.profile"},"payloadSchema":"string"}`)
	const docJSON = `{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":"country","object":{"nodeType":"fieldLookup","fieldName":"workAddress","object":{"nodeType":"parameterReference","position":1}}},{"nodeType":"literal","literalType":"String","value":"US"}]}`
	want := map[string]any{
		"imsOrgId": catDevOrg,
		"sandbox": map[string]any{
			"sandboxId": sandboxOf(catDevOrg, "prod").SandboxID, "sandboxName": "prod", "type": "production", "default": true,
		},
		"description": "Last 30 days",
		"expression":  map[string]any{"type": "PQL", "format": "pql/json", "value": docJSON},
	}
	if !jsonEqual(got, want) {
		t.Errorf("conversion\n%v\nwant\n%v", got, want)
	}
	// D-CONV's example: ttlInDays is echoed; and back to text.
	got = conv(`{"name":"n","expression":{"type":"PQL","format":"pql/json","value":` + jsonQuote(docJSON) + `},"schema":{"name":"_xdm.context.profile"},"ttlInDays":60}`)
	if got["ttlInDays"] != 60.0 || got["description"] != nil ||
		!jsonEqual(got["expression"], map[string]any{"type": "PQL", "format": "pql/text", "value": `workAddress.country = "US"`}) {
		t.Errorf("json to text: %v", got)
	}
	// Both ways round-trip.
	for _, q := range []string{
		`homeAddress.country = "US" and person.birthYear >= 1980`,
		`exists X from xEvent where X.eventType = "commerce.purchases" and X.timestamp occurs <= 3 days before now`,
		`let S = (sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD") in (S > 100 and S < 1000)`,
		`person.name.firstName.startsWith("Jo") or not inSegment("s1")`,
		`exists O from orders where O.price > 10`,
	} {
		j := conv(`{"expression":{"type":"PQL","format":"pql/text","value":` + jsonQuote(q) + `}}`)["expression"].(map[string]any)
		if j["format"] != "pql/json" {
			t.Fatalf("%s: %v", q, j)
		}
		back := conv(`{"expression":{"type":"PQL","format":"pql/json","value":` + jsonQuote(j["value"].(string)) + `}}`)["expression"].(map[string]any)
		p, err := pql.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if back["format"] != "pql/text" || back["value"] != pql.Format(p.Root) {
			t.Errorf("%s: round trip gave %v", q, back)
		}
		again := conv(`{"expression":{"type":"PQL","format":"pql/text","value":` + jsonQuote(back["value"].(string)) + `}}`)["expression"].(map[string]any)
		if again["value"] != j["value"] {
			t.Errorf("%s: json %s, then %s", q, j["value"], again["value"])
		}
	}
	// Nothing was stored.
	if names, _, _ := defList(t, e.sd(catDev, "prod", http.MethodGet, "", "")); len(names) != 0 {
		t.Errorf("conversion stored %v", names)
	}
	for _, tt := range []struct{ body, msg string }{
		{`{}`, "expression is required"},
		{`{"expression":{"type":"PQL","format":"pql/text","value":"a = "}}`, "at 1:"},
		{`{"expression":{"type":"PQL","format":"pql/json","value":"{}"}}`, "not valid pql/json"},
		{`{"expression":{"type":"ARL","format":"pql/text","value":"a = 1"}}`, "ARL"},
		{`{"expression":{"type":"PQL","format":"pql/text","value":"a = 1"},"ttlInDays":-1}`, "ttlInDays"},
		{`{"expression":`, "not valid JSON"},
	} {
		wantUPSError(t, e.call(catDev, "prod", http.MethodPost, segmentConversionPath, tt.body), http.StatusBadRequest, tt.msg)
	}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestSegmentDefConcurrentChanges(t *testing.T) {
	e := newCatEnv(t)
	e.token(catDev) // the test's token cache is not for concurrent use
	// Racing creates of one name: exactly one wins.
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for w := range codes {
		wg.Go(func() {
			codes[w] = e.sd(catDev, "prod", http.MethodPost, "", defBody("same", `person.name.firstName = "A"`)).Code
			if rec := e.sd(catDev, "prod", http.MethodGet, "", ""); rec.Code != http.StatusOK {
				t.Errorf("list: %d %s", rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	slices.Sort(codes)
	if codes[0] != http.StatusOK || codes[1] != http.StatusUnprocessableEntity || codes[7] != http.StatusUnprocessableEntity {
		t.Errorf("racing creates answered %v, want one 200 and 422s", codes)
	}
	// Racing PATCHes that would close a cycle together: at most one wins.
	a := e.createDef(catDev, "prod", defBody("a", `person.name.firstName = "A"`))["id"].(string)
	b := e.createDef(catDev, "prod", defBody("b", `person.name.firstName = "B"`))["id"].(string)
	for range 10 {
		var ca, cb int
		wg.Go(func() {
			ca = e.sd(catDev, "prod", http.MethodPatch, "/"+a, defBody("a", fmt.Sprintf(`inSegment(%q)`, b))).Code
		})
		wg.Go(func() {
			cb = e.sd(catDev, "prod", http.MethodPatch, "/"+b, defBody("b", fmt.Sprintf(`inSegment(%q)`, a))).Code
		})
		wg.Wait()
		if ok := (ca == http.StatusOK) != (cb == http.StatusOK); !ok {
			t.Fatalf("racing PATCHes answered %d and %d, want one 200 and one 400", ca, cb)
		}
		for _, id := range []string{a, b} {
			policyBody(t, e.sd(catDev, "prod", http.MethodPatch, "/"+id, defBody(map[string]string{a: "a", b: "b"}[id], `person.name.firstName = "X"`)), http.StatusOK)
		}
	}
}
