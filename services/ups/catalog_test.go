package ups

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Test clients: the default dev client plus one client in each of two
// other orgs.
const (
	catDev     = "segflow-dev"
	catDevOrg  = "SEGFLOWDEV@AdobeOrg"
	catA       = "a"
	catOrgA    = "ORGA@AdobeOrg"
	catB       = "b"
	catOrgB    = "ORGB@AdobeOrg"
	catClients = "segflow-dev:segflow-dev-secret@SEGFLOWDEV@AdobeOrg,a:sa@ORGA@AdobeOrg,b:sb@ORGB@AdobeOrg"

	profileUnionBody = `{"name":%q,"schemaRef":{"id":"https://ns.adobe.com/xdm/context/profile__union","contentType":"application/vnd.adobe.xed+json;version=1"}}`
)

// catClock is a test clock that moves 1 ms at every reading, so objects
// created one after another have distinct, increasing times.
type catClock struct{ ms atomic.Int64 }

func newCatClock() *catClock {
	c := &catClock{}
	c.ms.Store(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	return c
}

func (c *catClock) now() time.Time { return time.UnixMilli(c.ms.Add(1)) }

// catEnv is a ups server on a temporary data directory, restartable.
type catEnv struct {
	t       *testing.T
	cfg     Config
	clock   *catClock
	h       http.Handler
	srv     *Server
	secrets map[string]string // client id -> secret
	orgs    map[string]string // client id -> org
	tokens  map[string]string // client id -> access token
}

func newCatEnv(t *testing.T, mutate ...func(*Config)) *catEnv {
	t.Helper()
	cfg := Config{
		Addr:            "127.0.0.1:0",
		DataDir:         t.TempDir(),
		Clients:         catClients,
		TokenTTL:        time.Hour,
		MaxBodyBytes:    1 << 20,
		SnapshotRecords: 1_000_000,
		ColumnCacheMB:   1024,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	e := &catEnv{
		t: t, cfg: cfg, clock: newCatClock(),
		secrets: map[string]string{catDev: "segflow-dev-secret", catA: "sa", catB: "sb"},
		orgs:    map[string]string{catDev: catDevOrg, catA: catOrgA, catB: catOrgB},
		tokens:  map[string]string{},
	}
	e.restart()
	return e
}

// restart builds a new Server on the same data directory, as a process
// restart would: nothing is carried over but the files.
func (e *catEnv) restart() {
	e.t.Helper()
	if e.srv != nil {
		e.srv.Close()
	}
	s, err := New(e.cfg, Options{Registerer: prometheus.NewRegistry(), Now: e.clock.now})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	if e.srv == nil {
		e.t.Cleanup(func() { e.srv.Close() })
	}
	e.srv, e.h = s, s.Handler()
}

// withCatalog runs fn on the server's catalog (the internal API batch
// ingestion uses), then restarts the server, so that what fn did is also
// read back from disk.
func (e *catEnv) withCatalog(fn func(c *catalog)) {
	e.t.Helper()
	fn(e.srv.catalog)
	e.restart()
}

func (e *catEnv) token(client string) string {
	e.t.Helper()
	if tok, ok := e.tokens[client]; ok {
		return tok
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {e.secrets[client]}}
	req := httptest.NewRequest(http.MethodPost, "/ims/token/v3", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("token for %s: %d %s", client, rec.Code, rec.Body)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.AccessToken == "" {
		e.t.Fatalf("token for %s: %v %s", client, err, rec.Body)
	}
	e.tokens[client] = body.AccessToken
	return body.AccessToken
}

// call makes an API call as client in sandbox ("" sends no sandbox header).
func (e *catEnv) call(client, sandbox, method, target, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+e.token(client))
	r.Header.Set("x-api-key", client)
	r.Header.Set("x-gw-ims-org-id", e.orgs[client])
	if sandbox != "" {
		r.Header.Set("x-sandbox-name", sandbox)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	return rec
}

func (e *catEnv) get(client, sandbox, target string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.call(client, sandbox, http.MethodGet, catalogBase+target, "")
}

// createDataset creates a dataset and returns its id.
func (e *catEnv) createDataset(client, sandbox, body string) string {
	e.t.Helper()
	rec := e.call(client, sandbox, http.MethodPost, catalogBase+"/dataSets", body)
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("create dataset: %d %s", rec.Code, rec.Body)
	}
	var refs []string
	if err := json.Unmarshal(rec.Body.Bytes(), &refs); err != nil || len(refs) != 1 {
		e.t.Fatalf("create dataset body %s: %v", rec.Body, err)
	}
	id, ok := strings.CutPrefix(refs[0], "@/dataSets/")
	if !ok {
		e.t.Fatalf("create dataset body %s: want [\"@/dataSets/<id>\"]", rec.Body)
	}
	return id
}

// objects decodes a Catalog map keyed by id, asserting a 200.
func objects(t *testing.T, rec *httptest.ResponseRecorder) map[string]map[string]any {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	var m map[string]map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	return m
}

// keys returns the top-level keys of a JSON object in document order.
func keys(t *testing.T, rec *httptest.ResponseRecorder) []string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", rec.Body)
	}
	out := []string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// wantCatalogError asserts Catalog's error shape.
func wantCatalogError(t *testing.T, rec *httptest.ResponseRecorder, status int, title, detail string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	if len(body) != 4 || body["type"] != "/placeholder/type/uri" || body["status"] != float64(status) || body["title"] != title {
		t.Errorf("error body %s: want {type: /placeholder/type/uri, status: %d, title: %s, detail}", rec.Body, status, title)
	}
	if d, _ := body["detail"].(string); !strings.Contains(d, detail) {
		t.Errorf("detail %q does not contain %q", d, detail)
	}
}

func TestCatalogCreateDataset(t *testing.T) {
	e := newCatEnv(t)
	body := `{"name":"Segment Export","description":"for the audience",
		"schemaRef":{"id":"https://ns.adobe.com/xdm/context/profile__union","contentType":"application/vnd.adobe.xed+json;version=1"},
		"tags":{"unifiedProfile":["enabled: true"],"unifiedIdentity":["enabled: true"]},
		"fileDescription":{"persisted":true,"containerFormat":"parquet","format":"parquet"},
		"enableErrorDiagnostics":true,"myOwnField":{"x":[1,2]},
		"imsOrg":"SOMEONEELSE@AdobeOrg","created":1,"viewId":"mine"}`
	rec := e.call(catDev, "prod", http.MethodPost, catalogBase+"/dataSets", body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var refs []string
	if err := json.Unmarshal(rec.Body.Bytes(), &refs); err != nil || len(refs) != 1 {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	id := strings.TrimPrefix(refs[0], "@/dataSets/")
	if !isCatalogID(id) || refs[0] != "@/dataSets/"+id {
		t.Fatalf("body %s: want [\"@/dataSets/<24 hex>\"]", rec.Body)
	}
	if loc := rec.Header().Get("Location"); loc != catalogBase+"/dataSets/"+id {
		t.Errorf("Location %q", loc)
	}

	got := objects(t, e.get(catDev, "prod", "/dataSets/"+id))
	if len(got) != 1 {
		t.Fatalf("GET by id: %d objects, want 1", len(got))
	}
	d := got[id]
	want := map[string]any{
		"name":          "Segment Export",
		"description":   "for the audience",
		"imsOrg":        catDevOrg, // not the body's
		"createdClient": catDev,
		"createdUser":   catDev + "@AdobeID",
		"files":         "@/dataSetFiles?dataSetId=" + id,
		"version":       "1.0.0",
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	created, _ := d["created"].(json.Number).Int64()
	updated, _ := d["updated"].(json.Number).Int64()
	if created < time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() || updated != created {
		t.Errorf("created %d updated %d: want epoch ms, equal", created, updated)
	}
	if v, _ := d["viewId"].(string); !isCatalogID(v) || v == id {
		t.Errorf("viewId %q", v)
	}
	if sr := d["schemaRef"].(map[string]any); sr["id"] != schemaProfileUnion || sr["contentType"] != "application/vnd.adobe.xed+json;version=1" {
		t.Errorf("schemaRef %v", sr)
	}
	if tags := fmt.Sprint(d["tags"]); tags != "map[unifiedIdentity:[enabled: true] unifiedProfile:[enabled: true]]" {
		t.Errorf("tags %s", tags)
	}
	if fd := fmt.Sprint(d["fileDescription"]); fd != "map[containerFormat:parquet format:parquet persisted:true]" {
		t.Errorf("fileDescription %s", fd)
	}
	if d["enableErrorDiagnostics"] != true || fmt.Sprint(d["myOwnField"]) != "map[x:[1 2]]" {
		t.Errorf("unknown fields not kept: %v %v", d["enableErrorDiagnostics"], d["myOwnField"])
	}
	if _, ok := d["sandboxName"]; ok {
		t.Errorf("sandboxName is served; Catalog does not")
	}
}

func TestCatalogCreateDatasetSchemas(t *testing.T) {
	e := newCatEnv(t)
	for _, id := range []string{
		schemaProfile, "_xdm.context.profile",
		schemaEvent, "_xdm.context.experienceevent",
		schemaProfileUnion, "_xdm.context.profile__union",
	} {
		dsID := e.createDataset(catDev, "prod", fmt.Sprintf(`{"name":"n","schemaRef":{"id":%q}}`, id))
		got := objects(t, e.get(catDev, "prod", "/dataSets/"+dsID))[dsID]
		if sr := got["schemaRef"].(map[string]any); sr["id"] != id {
			t.Errorf("schemaRef.id %v, want %q as given", sr["id"], id)
		}
	}
	// The legacy "schema" field stands for schemaRef.id.
	dsID := e.createDataset(catDev, "prod", `{"name":"legacy","schema":"_xdm.context.profile"}`)
	if sr := objects(t, e.get(catDev, "prod", "/dataSets/"+dsID))[dsID]["schemaRef"].(map[string]any); sr["id"] != "_xdm.context.profile" {
		t.Errorf("legacy schema: schemaRef %v", sr)
	}
}

func TestCatalogCreateDatasetInvalid(t *testing.T) {
	e := newCatEnv(t)
	for _, tc := range []struct {
		name, body, detail string
	}{
		{"bad JSON", `{"name":"x",`, "not valid JSON"},
		{"bad JSON token", `{"name": nope}`, "not valid JSON"},
		{"trailing garbage", `{"name":"x","schemaRef":{"id":"_xdm.context.profile"}} {}`, "not valid JSON"},
		{"array body", `["x"]`, "must be a JSON object"},
		{"string body", `"x"`, "must be a JSON object"},
		{"null body", `null`, "must be a JSON object"},
		{"missing name", `{"schemaRef":{"id":"_xdm.context.profile"}}`, "name is required"},
		{"blank name", `{"name":"  ","schemaRef":{"id":"_xdm.context.profile"}}`, "name is required"},
		{"missing schemaRef", `{"name":"x"}`, "schemaRef.id is required"},
		{"empty schema id", `{"name":"x","schemaRef":{"id":""}}`, "schemaRef.id is required"},
		{"unknown schema", `{"name":"x","schemaRef":{"id":"https://ns.adobe.com/acme/schemas/123"}}`,
			"not a schema ups knows: use one of " + knownSchemasText},
		{"name not a string", `{"name":5,"schemaRef":{"id":"_xdm.context.profile"}}`, `field "name" must be a string, not a JSON number`},
		{"schemaRef not an object", `{"name":"x","schemaRef":"_xdm.context.profile"}`, `field "schemaRef" must be an object`},
		{"tags not arrays", `{"name":"x","schemaRef":{"id":"_xdm.context.profile"},"tags":{"unifiedProfile":"enabled:true"}}`, `must be an array of strings`},
		{"fileDescription not an object", `{"name":"x","schemaRef":{"id":"_xdm.context.profile"},"fileDescription":[]}`, `field "fileDescription" must be an object`},
		{"enableErrorDiagnostics not a bool", `{"name":"x","schemaRef":{"id":"_xdm.context.profile"},"enableErrorDiagnostics":"yes"}`, `must be true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.call(catDev, "prod", http.MethodPost, catalogBase+"/dataSets", tc.body)
			wantCatalogError(t, rec, http.StatusBadRequest, titleBadRequest, tc.detail)
		})
	}
	// Empty body: the gateway wants a content type; with one, it is still 400.
	rec := e.call(catDev, "prod", http.MethodPost, catalogBase+"/dataSets", " ")
	wantCatalogError(t, rec, http.StatusBadRequest, titleBadRequest, "must be a JSON object")
	if got := objects(t, e.get(catDev, "prod", "/dataSets")); len(got) != 0 {
		t.Errorf("rejected creates left %d datasets", len(got))
	}
}

func TestCatalogCreateDatasetTooLarge(t *testing.T) {
	e := newCatEnv(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := fmt.Sprintf(`{"name":"x","schemaRef":{"id":"_xdm.context.profile"},"pad":%q}`, strings.Repeat("a", 2000))
	rec := e.call(catDev, "prod", http.MethodPost, catalogBase+"/dataSets", big)
	wantCatalogError(t, rec, http.StatusRequestEntityTooLarge, titleTooLarge, "larger than 1024 bytes")
	// Just under the limit is fine.
	fits := fmt.Sprintf(`{"name":"x","schemaRef":{"id":"_xdm.context.profile"},"pad":%q}`, strings.Repeat("a", 900))
	e.createDataset(catDev, "prod", fits)
}

// fiveDatasets creates datasets named e, c, a, d, b in that order.
func fiveDatasets(e *catEnv) []string {
	var ids []string
	for _, n := range []string{"e", "c", "a", "d", "b"} {
		ids = append(ids, e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, n)))
	}
	return ids
}

func TestCatalogListPaging(t *testing.T) {
	e := newCatEnv(t)
	ids := fiveDatasets(e)
	rev := slices.Clone(ids)
	slices.Reverse(rev)
	byName := []string{ids[2], ids[4], ids[1], ids[3], ids[0]} // a b c d e

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", ids}, // asc:created by default
		{"?limit=2", ids[:2]},
		{"?limit=2&start=2", ids[2:4]},
		{"?limit=2&start=4", ids[4:]},
		{"?start=5", []string{}},
		{"?start=1000", []string{}},
		{"?limit=100", ids},
		{"?orderBy=desc:created", rev},
		{"?orderBy=desc:created&limit=2&start=1", rev[1:3]},
		{"?orderBy=asc:created", ids},
		{"?orderBy=created", ids},
		{"?orderBy=-created", rev},
		{"?sort=desc:created", rev}, // orderBy's former name
		{"?orderBy=asc:name", byName},
		{"?orderBy=desc:name&limit=1", byName[4:]},
		{"?orderBy=asc:schemaRef.id,desc:created", rev}, // ties on the first key
	} {
		t.Run(tc.query, func(t *testing.T) {
			if got := keys(t, e.get(catDev, "prod", "/dataSets"+tc.query)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCatalogListDefaultLimit(t *testing.T) {
	e := newCatEnv(t)
	for i := range defaultListLimit + 1 {
		e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, fmt.Sprint("ds", i)))
	}
	if n := len(keys(t, e.get(catDev, "prod", "/dataSets"))); n != defaultListLimit {
		t.Errorf("default page: %d datasets, want %d", n, defaultListLimit)
	}
	if n := len(keys(t, e.get(catDev, "prod", "/dataSets?start=20"))); n != 1 {
		t.Errorf("second page: %d datasets, want 1", n)
	}
}

func TestCatalogListInvalidQuery(t *testing.T) {
	e := newCatEnv(t)
	e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, "x"))
	long := url.QueryEscape("name~" + strings.Repeat("a", maxRegexLen+1))
	for _, tc := range []struct {
		path, detail string
	}{
		{"/dataSets?limit=0", "limit"},
		{"/dataSets?limit=101", "from 1 to 100"},
		{"/dataSets?limit=-1", "limit"},
		{"/dataSets?limit=ten", "limit"},
		{"/dataSets?limit=", "limit"},
		{"/dataSets?start=-1", "start"},
		{"/dataSets?start=x", "start"},
		{"/dataSets?orderBy=sideways:name", "asc or desc"},
		{"/dataSets?orderBy=desc:", "property name is empty"},
		{"/dataSets?orderBy=a,b,c,d,e,f", "more than 5 keys"},
		{"/dataSets?property=" + url.QueryEscape("name~(unclosed"), "missing closing )"},
		{"/dataSets?property=" + long, "longer than 256"},
		{"/dataSets?property=", "property name is empty"},
		{"/dataSets?property=" + url.QueryEscape("name=foo"), "the operator must be"},
		{"/dataSets?property=" + url.QueryEscape("a..b==1"), "not a property name"},
		{"/dataSets?properties=,", "properties is empty"},
		{"/dataSets?tags=" + url.QueryEscape(":x"), "tags"},
		{"/dataSets/" + "0123456789abcdef01234567" + "?properties=", "properties is empty"},
		{"/batches?createdAfter=yesterday", "createdAfter"},
		{"/batches?createdBefore=1.5", "createdBefore"},
		{"/batches?limit=1000", "limit"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			wantCatalogError(t, e.get(catDev, "prod", tc.path), http.StatusBadRequest, titleBadRequest, tc.detail)
		})
	}
	many := "/dataSets?" + strings.Repeat("property=name&", maxFilters+1)
	wantCatalogError(t, e.get(catDev, "prod", many), http.StatusBadRequest, titleBadRequest, "at most 20")
}

func TestCatalogPropertyFilters(t *testing.T) {
	e := newCatEnv(t)
	testA := e.createDataset(catDev, "prod", `{"name":"test-a","description":"first","schemaRef":{"id":"_xdm.context.profile"},"tags":{"unifiedProfile":["enabled:true"]}}`)
	testB := e.createDataset(catDev, "prod", `{"name":"test-b","schemaRef":{"id":"_xdm.context.experienceevent"}}`)
	other := e.createDataset(catDev, "prod", `{"name":"other","description":"third","schemaRef":{"id":"https://ns.adobe.com/xdm/context/profile__union"},"tags":{"unifiedProfile":["enabled:false"],"team":["x"]}}`)
	createdB, _ := objects(t, e.get(catDev, "prod", "/dataSets/"+testB))[testB]["created"].(json.Number).Int64()

	q := url.QueryEscape
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"property=" + q("name==test-a"), []string{testA}},
		{"property=" + q("name==nothing"), []string{}},
		{"property=" + q("name!=test-a"), []string{testB, other}},
		{"property=" + q("name~^test"), []string{testA, testB}},
		{"property=" + q("name~-b$"), []string{testB}},
		{"property=" + q("name~^test") + "&property=" + q("description"), []string{testA}}, // AND
		{"property=description", []string{testA, other}},
		{"property=" + q("!description"), []string{testB}},
		{"property=" + q(fmt.Sprint("created>", createdB)), []string{other}},
		{"property=" + q(fmt.Sprint("created>=", createdB)), []string{testB, other}},
		{"property=" + q(fmt.Sprint("created<", createdB)), []string{testA}},
		{"property=" + q(fmt.Sprint("created<=", createdB)), []string{testA, testB}},
		{"property=" + q("schemaRef.id==_xdm.context.experienceevent"), []string{testB}},
		{"property=" + q("tags.unifiedProfile==enabled:true"), []string{testA}},
		{"property=" + q("tags.unifiedProfile~enabled"), []string{testA, other}},
		{"tags=" + q("unifiedProfile:enabled:true"), []string{testA}},
		{"tags=" + q("unifiedProfile:*"), []string{testA, other}},
		{"tags=" + q("unifiedProfile:*,team:x"), []string{other}},
		{"name=other", []string{other}},
		{"name=test-b&description=first", []string{}},
		{"createdClient=" + catDev, []string{testA, testB, other}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			if got := keys(t, e.get(catDev, "prod", "/dataSets?"+tc.query)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCatalogPropertiesProjection(t *testing.T) {
	e := newCatEnv(t)
	ids := fiveDatasets(e)
	got := objects(t, e.get(catDev, "prod", "/dataSets?properties=name,created,noSuchField&limit=3"))
	if len(got) != 3 {
		t.Fatalf("%d objects, want 3", len(got))
	}
	for id, d := range got {
		if len(d) != 2 || d["name"] == nil || d["created"] == nil {
			t.Errorf("%s: %v, want only name and created", id, d)
		}
	}
	one := objects(t, e.get(catDev, "prod", "/dataSets/"+ids[0]+"?properties=schemaRef"))
	if d := one[ids[0]]; len(d) != 1 || d["schemaRef"] == nil {
		t.Errorf("by id: %v, want only schemaRef", d)
	}
	// A projection does not change what is stored.
	if d := objects(t, e.get(catDev, "prod", "/dataSets/"+ids[0]))[ids[0]]; d["name"] != "e" || d["viewId"] == nil {
		t.Errorf("after projection: %v", d)
	}
}

func TestCatalogGetUnknownDataset(t *testing.T) {
	e := newCatEnv(t)
	for _, id := range []string{"0123456789abcdef01234567", "nope", "..%2F..%2Fetc", strings.Repeat("f", 300)} {
		rec := e.get(catDev, "prod", "/dataSets/"+id)
		wantCatalogError(t, rec, http.StatusNotFound, titleNotFound, "DataSet not found.")
		if got := strings.TrimSpace(rec.Body.String()); got != `{"detail":"DataSet not found.","status":404,"title":"NotFoundError","type":"/placeholder/type/uri"}` {
			t.Errorf("body %s", got)
		}
	}
}

func TestCatalogOrgIsolation(t *testing.T) {
	e := newCatEnv(t)
	mine := e.createDataset(catA, "prod", fmt.Sprintf(profileUnionBody, "org A's"))
	theirs := e.createDataset(catB, "prod", fmt.Sprintf(profileUnionBody, "org B's"))

	wantCatalogError(t, e.get(catB, "prod", "/dataSets/"+mine), http.StatusNotFound, titleNotFound, "DataSet not found.")
	wantCatalogError(t, e.get(catDev, "prod", "/dataSets/"+mine), http.StatusNotFound, titleNotFound, "DataSet not found.")
	wantCatalogError(t, e.get(catA, "prod", "/dataSets/"+theirs), http.StatusNotFound, titleNotFound, "DataSet not found.")
	objects(t, e.get(catA, "prod", "/dataSets/"+mine))

	for client, want := range map[string][]string{catA: {mine}, catB: {theirs}, catDev: {}} {
		if got := keys(t, e.get(client, "prod", "/dataSets")); !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", client, got, want)
		}
		// A filter matching everything still stays within the org.
		if got := keys(t, e.get(client, "prod", "/dataSets?property=name")); !slices.Equal(got, want) {
			t.Errorf("%s lists %v with a filter, want %v", client, got, want)
		}
	}
}

func TestCatalogSandboxIsolation(t *testing.T) {
	e := newCatEnv(t)
	inDev := e.createDataset(catDev, "dev", fmt.Sprintf(profileUnionBody, "dev's"))
	inProd := e.createDataset(catDev, "", fmt.Sprintf(profileUnionBody, "prod's")) // no header: prod

	wantCatalogError(t, e.get(catDev, "prod", "/dataSets/"+inDev), http.StatusNotFound, titleNotFound, "DataSet not found.")
	wantCatalogError(t, e.get(catDev, "dev", "/dataSets/"+inProd), http.StatusNotFound, titleNotFound, "DataSet not found.")
	objects(t, e.get(catDev, "dev", "/dataSets/"+inDev))
	objects(t, e.get(catDev, "prod", "/dataSets/"+inProd))
	if got := keys(t, e.get(catDev, "dev", "/dataSets")); !slices.Equal(got, []string{inDev}) {
		t.Errorf("dev lists %v", got)
	}
	if got := keys(t, e.get(catDev, "prod", "/dataSets")); !slices.Equal(got, []string{inProd}) {
		t.Errorf("prod lists %v", got)
	}
	if got := keys(t, e.get(catDev, "staging", "/dataSets")); len(got) != 0 {
		t.Errorf("staging lists %v", got)
	}
}

func TestCatalogRestartKeepsEverything(t *testing.T) {
	e := newCatEnv(t)
	ids := fiveDatasets(e)
	other := e.createDataset(catB, "dev", fmt.Sprintf(profileUnionBody, "b"))
	before := e.get(catDev, "prod", "/dataSets?orderBy=desc:created").Body.String()
	beforeOne := e.get(catB, "dev", "/dataSets/"+other).Body.String()

	e.restart()
	if after := e.get(catDev, "prod", "/dataSets?orderBy=desc:created").Body.String(); after != before {
		t.Errorf("after restart:\n%s\nbefore:\n%s", after, before)
	}
	if after := e.get(catB, "dev", "/dataSets/"+other).Body.String(); after != beforeOne {
		t.Errorf("after restart:\n%s\nbefore:\n%s", after, beforeOne)
	}
	// New objects after a restart get new ids and sort after the old ones.
	newer := e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, "f"))
	if got := keys(t, e.get(catDev, "prod", "/dataSets")); !slices.Equal(got, append(ids, newer)) {
		t.Errorf("after restart lists %v", got)
	}
}

func TestCatalogFilesLayout(t *testing.T) {
	e := newCatEnv(t)
	id := e.createDataset(catA, "dev", fmt.Sprintf(profileUnionBody, "x"))
	var files []string
	err := filepath.WalkDir(e.cfg.DataDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(e.cfg.DataDir, path)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("catalog", catalogOrgKey(catOrgA), "dev", "datasets", id+".json")
	if !slices.Contains(files, want) {
		t.Fatalf("files %v, want %s among them", files, want)
	}
	for _, f := range files {
		if strings.Contains(f, "ORGA") || strings.Contains(f, "@") {
			t.Errorf("%s: the raw org id is in a path", f)
		}
		if strings.HasPrefix(filepath.Base(f), ".") {
			t.Errorf("%s: a temporary file was left", f)
		}
	}
	var stored dataset
	data, err := os.ReadFile(filepath.Join(e.cfg.DataDir, want))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &stored); err != nil || stored.ID != id || stored.Org != catOrgA || stored.Sandbox != "dev" {
		t.Errorf("stored %s: %v", data, err)
	}
}

func TestCatalogUnreadableState(t *testing.T) {
	e := newCatEnv(t)
	id := e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, "x"))
	path := filepath.Join(e.cfg.DataDir, "catalog", catalogOrgKey(catDevOrg), "prod", "datasets", id+".json")
	if err := os.WriteFile(path, []byte(`{"id":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openCatalog(filepath.Join(e.cfg.DataDir, "catalog"), e.clock.now); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("openCatalog: %v, want an error naming %s", err, path)
	}
	// ups does not start on a partial state: New fails, naming the file.
	if _, err := New(e.cfg, Options{Registerer: prometheus.NewRegistry(), Now: e.clock.now}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("New: %v, want an error naming %s", err, path)
	}
}

func TestCatalogMisplacedFile(t *testing.T) {
	e := newCatEnv(t)
	id := e.createDataset(catA, "prod", fmt.Sprintf(profileUnionBody, "x"))
	from := filepath.Join(e.cfg.DataDir, "catalog", catalogOrgKey(catOrgA), "prod", "datasets", id+".json")
	toDir := filepath.Join(e.cfg.DataDir, "catalog", catalogOrgKey(catOrgB), "prod", "datasets")
	if err := os.MkdirAll(toDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, filepath.Join(toDir, id+".json")); err != nil {
		t.Fatal(err)
	}
	// A file moved into another org's directory must not become that org's.
	if _, err := openCatalog(filepath.Join(e.cfg.DataDir, "catalog"), e.clock.now); err == nil || !strings.Contains(err.Error(), "another org") {
		t.Errorf("openCatalog: %v, want a misplaced-file error", err)
	}
}

func TestCatalogLeftoverTempFilesIgnored(t *testing.T) {
	e := newCatEnv(t)
	id := e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, "x"))
	dir := filepath.Join(e.cfg.DataDir, "catalog", catalogOrgKey(catDevOrg), "prod", "datasets")
	tmp := filepath.Join(dir, "."+id+".json.123456")
	if err := os.WriteFile(tmp, []byte(`{"torn`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.restart()
	objects(t, e.get(catDev, "prod", "/dataSets/"+id))
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestCatalogConcurrentCreatesAndReads(t *testing.T) {
	e := newCatEnv(t)
	for _, c := range []string{catDev, catA} {
		e.token(c) // e.tokens is not safe for concurrent first use
	}
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		client := []string{catDev, catA}[w%2]
		wg.Go(func() {
			for i := range each {
				rec := e.call(client, "prod", http.MethodPost, catalogBase+"/dataSets", fmt.Sprintf(profileUnionBody, fmt.Sprint(w, "-", i)))
				if rec.Code != http.StatusCreated {
					t.Errorf("create: %d %s", rec.Code, rec.Body)
				}
				if rec := e.get(client, "prod", "/dataSets?limit=100&property="+url.QueryEscape("name~-")); rec.Code != http.StatusOK {
					t.Errorf("list: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []string{catDev, catA} {
		if n := len(keys(t, e.get(c, "prod", "/dataSets?limit=100"))); n != writers/2*each {
			t.Errorf("%s has %d datasets, want %d", c, n, writers/2*each)
		}
	}
	e.restart()
	if n := len(keys(t, e.get(catDev, "prod", "/dataSets?limit=100"))); n != writers/2*each {
		t.Errorf("after restart: %d datasets, want %d", n, writers/2*each)
	}
}

func TestCatalogStampsIncrease(t *testing.T) {
	frozen := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := filepath.Join(t.TempDir(), "catalog")
	c, err := openCatalog(dir, func() time.Time { return frozen })
	if err != nil {
		t.Fatal(err)
	}
	in := datasetInput{Name: "x", SchemaRef: schemaRef{ID: schemaProfile}}
	a, _ := c.createDataset(devCaller("prod"), in)
	b, _ := c.createDataset(devCaller("prod"), in)
	if a.Created != frozen.UnixMilli() || b.Created != a.Created+1 {
		t.Errorf("created %d then %d, want %d then +1", a.Created, b.Created, frozen.UnixMilli())
	}
	// A restart (or a clock that went back) continues after the last stamp.
	c2, err := openCatalog(dir, func() time.Time { return frozen.Add(-time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	d, _ := c2.createDataset(devCaller("prod"), in)
	if d.Created != b.Created+1 {
		t.Errorf("after restart created %d, want %d", d.Created, b.Created+1)
	}
}

func TestCatalogWriteFailureIsNotAcknowledged(t *testing.T) {
	e := newCatEnv(t)
	// A file where org A's directory should be: every write for org A fails.
	catDir := filepath.Join(e.cfg.DataDir, "catalog")
	if err := os.WriteFile(filepath.Join(catDir, catalogOrgKey(catOrgA)), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := e.call(catA, "prod", http.MethodPost, catalogBase+"/dataSets", fmt.Sprintf(profileUnionBody, "x"))
	wantCatalogError(t, rec, http.StatusInternalServerError, titleInternal, "internal error")
	if got := keys(t, e.get(catA, "prod", "/dataSets")); len(got) != 0 {
		t.Errorf("an unwritten dataset is listed: %v", got)
	}
	// Other orgs are unaffected, and the stray file does not stop a restart.
	id := e.createDataset(catB, "prod", fmt.Sprintf(profileUnionBody, "y"))
	e.restart()
	objects(t, e.get(catB, "prod", "/dataSets/"+id))
}
