package ups

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/segflow/segflow/pkg/pql"
)

const (
	profileClassBody = `{"name":%q,"schemaRef":{"id":"https://ns.adobe.com/xdm/context/profile","contentType":"application/vnd.adobe.xed+json;version=1"},"tags":{"unifiedProfile":["enabled:true"],"unifiedIdentity":["enabled:true"]}}`
	eventClassBody   = `{"name":%q,"schemaRef":{"id":"https://ns.adobe.com/xdm/context/experienceevent","contentType":"application/vnd.adobe.xed+json;version=1"},"tags":{"unifiedProfile":["enabled:true"]}}`
)

// ingestBatch creates a batch, uploads files (name → content) and
// completes it, returning the batch id.
func (e *catEnv) ingestBatch(client, dataset string, multiLine bool, files map[string]string) string {
	e.t.Helper()
	body := fmt.Sprintf(`{"datasetId":%q,"inputFormat":{"format":"json","isMultiLineJson":%v}}`, dataset, multiLine)
	rec := e.call(client, "prod", http.MethodPost, importBase+"/batches", body)
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("create batch: %d %s", rec.Code, rec.Body)
	}
	var b struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.ID == "" || b.Status != "loading" {
		e.t.Fatalf("create batch body %s: %v", rec.Body, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		e.upload(client, b.ID, dataset, n, files[n], http.StatusOK)
	}
	if rec := e.call(client, "prod", http.MethodPost, importBase+"/batches/"+b.ID+"?action=COMPLETE", "{}"); rec.Code != http.StatusOK {
		e.t.Fatalf("complete: %d %s", rec.Code, rec.Body)
	}
	return b.ID
}

func (e *catEnv) upload(client, batchID, dataset, name, content string, want int) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPut, importBase+"/batches/"+batchID+"/datasets/"+dataset+"/files/"+name, strings.NewReader(content))
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("Authorization", "Bearer "+e.token(client))
	r.Header.Set("x-api-key", client)
	r.Header.Set("x-gw-ims-org-id", e.orgs[client])
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	if rec.Code != want {
		e.t.Fatalf("upload %s: %d %s, want %d", name, rec.Code, rec.Body, want)
	}
}

// waitBatch polls Catalog until the batch is final and returns it.
func (e *catEnv) waitBatch(client, id string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := e.get(client, "prod", "/batches/"+id)
		var m map[string]map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			e.t.Fatalf("batch %s: %s", id, rec.Body)
		}
		if st := m[id]["status"]; st == "success" || st == "failed" {
			return m[id]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("batch %s still %v", id, m[id]["status"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// merged returns the merged profiles of the dev client's prod sandbox as
// "id: profile" lines.
func (e *catEnv) merged(rule mergeRule) []string {
	e.t.Helper()
	var out []string
	e.srv.store.each(Caller{Org: catDevOrg, Sandbox: "prod"}, scanSpec{rule: rule}, func(p *Profile) bool {
		out = append(out, fmt.Sprintf("%s: %s events=%d", p.ID(), p.Subject.Profile, len(p.Subject.Events)))
		return true
	})
	return out
}

func TestIngestProfilesAndEvents(t *testing.T) {
	e := newCatEnv(t)
	profiles := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "crm"))
	events := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "web"))
	id := e.ingestBatch(catDev, profiles, false, map[string]string{"p.json": `{"identityMap":{"ECID":[{"id":"e1","primary":true}]},"person":{"name":{"firstName":"Ann"}}}
{"identityMap":{"ECID":[{"id":"e2","primary":true}]},"person":{"name":{"firstName":"Bob"}}}
`})
	b := e.waitBatch(catDev, id)
	if b["status"] != "success" || b["metrics"].(map[string]any)["recordsWritten"] != float64(2) {
		t.Fatalf("profile batch: %v", b)
	}
	id = e.ingestBatch(catDev, events, true, map[string]string{"e.json": `[
		{"_id":"x1","timestamp":"2025-01-02T10:00:00Z","eventType":"commerce.purchases","identityMap":{"ECID":[{"id":"e1"}]}},
		{"_id":"x2","timestamp":"2025-01-01T10:00:00Z","eventType":"web.webpagedetails.pageViews","identityMap":{"ECID":[{"id":"e1"}]}},
		{"_id":"x3","timestamp":"2025-01-01T11:00:00Z","eventType":"web.webpagedetails.pageViews","identityMap":{"ECID":[{"id":"nobody"}]}}
	]`})
	if b := e.waitBatch(catDev, id); b["status"] != "success" {
		t.Fatalf("event batch: %v", b)
	}
	got := e.merged(mergeRule{Graph: "none", Attribute: "timestampOrdered"})
	want := []string{
		// _id, identityMap, segmentMembership, person {birthDate, name}
		`ECID:e1: {null, {"ECID": [{"e1", null, true}]}, null, {null, {"Ann"}}} events=2`,
		`ECID:e2: {null, {"ECID": [{"e2", null, true}]}, null, {null, {"Bob"}}} events=0`,
		`ECID:nobody: null events=1`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("merged profiles:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	e.noSpills()
	// Events come in time order.
	e.srv.store.each(Caller{Org: catDevOrg, Sandbox: "prod"}, scanSpec{rule: mergeRule{Graph: "none", Attribute: "timestampOrdered"}}, func(p *Profile) bool {
		if p.ID() == "ECID:e1" && p.Subject.Events[0].Index(0).Str() != "x2" {
			t.Errorf("events of e1 not in time order: %v", p.Subject.Events)
		}
		return true
	})

	// A restart replays the committed batches.
	e.restart()
	if again := e.merged(mergeRule{Graph: "none", Attribute: "timestampOrdered"}); !slices.Equal(again, got) {
		t.Fatalf("after restart:\n%s\nwant\n%s", strings.Join(again, "\n"), strings.Join(got, "\n"))
	}
}

func TestIngestAllOrNothing(t *testing.T) {
	e := newCatEnv(t)
	events := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "web"))
	id := e.ingestBatch(catDev, events, false, map[string]string{"a.json": `{"_id":"ok","timestamp":"2025-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"1"}]}}
{"timestamp":"2025-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"1"}]}}
{"_id":"x","timestamp":"yesterday","identityMap":{"ECID":[{"id":"1"}]}}
{"_id":"y","timestamp":"2025-01-01T00:00:00Z"}
not json
`})
	b := e.waitBatch(catDev, id)
	if b["status"] != "failed" {
		t.Fatalf("batch: %v", b)
	}
	m := b["metrics"].(map[string]any)
	if m["recordsFailed"] != float64(4) || m["recordsRead"] != float64(5) {
		t.Errorf("metrics %v, want 4 failed of 5 read", m)
	}
	if frags, evs := e.srv.store.counts(Caller{Org: catDevOrg, Sandbox: "prod"}); frags != 0 || evs != 0 {
		t.Fatalf("a failed batch applied %d fragments and %d events", frags, evs)
	}
	e.noSpills()
	rec := e.call(catDev, "prod", http.MethodGet, exportBase+"/batches/"+id+"/failed", "")
	var failed struct {
		Data []rowError `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &failed); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("failed rows: %d %s", rec.Code, rec.Body)
	}
	var codes []string
	for _, r := range failed.Data {
		codes = append(codes, fmt.Sprintf("%d:%s", r.Row, r.Code))
	}
	slices.Sort(codes)
	if want := []string{"2:MissingRequiredField", "3:TypeCompatibilityException", "4:MissingIdentity", "5:MalformedRecord"}; !slices.Equal(codes, want) {
		t.Fatalf("row errors %v, want %v", codes, want)
	}
}

func TestIngestIdempotent(t *testing.T) {
	e := newCatEnv(t)
	events := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "web"))
	file := `{"_id":"a","timestamp":"2025-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"1"}]}}` + "\n"
	id := e.ingestBatch(catDev, events, false, map[string]string{"a.json": file})
	e.waitBatch(catDev, id)
	// COMPLETE again: nothing changes.
	if rec := e.call(catDev, "prod", http.MethodPost, importBase+"/batches/"+id+"?action=COMPLETE", "{}"); rec.Code != http.StatusOK {
		t.Fatalf("second complete: %d %s", rec.Code, rec.Body)
	}
	// The same records in a new batch replace, not duplicate.
	e.waitBatch(catDev, e.ingestBatch(catDev, events, false, map[string]string{"a.json": file}))
	if _, evs := e.srv.store.counts(Caller{Org: catDevOrg, Sandbox: "prod"}); evs != 1 {
		t.Fatalf("%d events, want 1", evs)
	}
	// A completed batch takes no more files.
	e.upload(catDev, id, events, "b.json", file, http.StatusBadRequest)
}

func TestMergeRules(t *testing.T) {
	e := newCatEnv(t)
	crm := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "crm"))
	web := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "web"))
	// crm knows Ann by email and ECID; web, ingested later, by ECID only.
	e.waitBatch(catDev, e.ingestBatch(catDev, crm, false, map[string]string{"a.json": `{"identityMap":{"Email":[{"id":"ann@x","primary":true}],"ECID":[{"id":"e1"}]},"person":{"name":{"firstName":"Ann","lastName":"Lee"}}}` + "\n"}))
	e.waitBatch(catDev, e.ingestBatch(catDev, web, false, map[string]string{"a.json": `{"identityMap":{"ECID":[{"id":"e1","primary":true}]},"person":{"name":{"firstName":"Annie"}}}` + "\n"}))
	names := func(rule mergeRule) []string {
		var out []string
		e.srv.store.each(Caller{Org: catDevOrg, Sandbox: "prod"}, scanSpec{rule: rule}, func(p *Profile) bool {
			out = append(out, p.ID()+"="+p.Subject.Profile.String())
			return true
		})
		return out
	}
	tests := []struct {
		name string
		rule mergeRule
		want int    // profiles
		has  string // substring of the first profile
	}{
		{"none keeps fragments with different primaries apart", mergeRule{Graph: "none", Attribute: "timestampOrdered"}, 2, ""},
		{"pdg joins them; the newer fragment wins per attribute", mergeRule{Graph: "pdg", Attribute: "timestampOrdered"}, 1, `"Annie", "Lee"`},
		{"pdg with crm first: crm wins", mergeRule{Graph: "pdg", Attribute: "dataSetPrecedence", Order: []string{crm, web}}, 1, `"Ann", "Lee"`},
		{"pdg with web first: web wins, crm fills in", mergeRule{Graph: "pdg", Attribute: "dataSetPrecedence", Order: []string{web, crm}}, 1, `"Annie", "Lee"`},
		{"unlisted datasets are left out", mergeRule{Graph: "pdg", Attribute: "dataSetPrecedence", Order: []string{crm}}, 1, `"Ann", "Lee"`},
	}
	// The built-in default policy is timestamp-ordered without stitching.
	def, err := e.srv.policies.defaultFor(Caller{Org: catDevOrg, Sandbox: "prod"}, "")
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, struct {
		name string
		rule mergeRule
		want int
		has  string
	}{"the default policy", def.rule(), 2, ""})
	for _, tt := range tests {
		got := names(tt.rule)
		if len(got) != tt.want || tt.has != "" && !strings.Contains(got[0], tt.has) {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
}

func TestIngestDatasetNotForProfile(t *testing.T) {
	e := newCatEnv(t)
	plain := e.createDataset(catDev, "prod", `{"name":"archive","schemaRef":{"id":"https://ns.adobe.com/xdm/context/experienceevent","contentType":"application/vnd.adobe.xed+json;version=1"}}`)
	id := e.ingestBatch(catDev, plain, false, map[string]string{"a.json": `{"_id":"a","timestamp":"2025-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"1"}]}}` + "\n"})
	b := e.waitBatch(catDev, id)
	if b["status"] != "success" || b["metrics"].(map[string]any)["recordsWritten"] != float64(1) {
		t.Fatalf("batch: %v", b)
	}
	if _, evs := e.srv.store.counts(Caller{Org: catDevOrg, Sandbox: "prod"}); evs != 0 {
		t.Fatalf("a dataset not enabled for Profile put %d events in the profile store", evs)
	}
}

// A committed batch whose files were tampered with stops ups at start with
// a message saying where and what to do, rather than losing the batch.
func TestIngestReplayTamperedFiles(t *testing.T) {
	e := newCatEnv(t)
	events := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "web"))
	id := e.ingestBatch(catDev, events, false, map[string]string{"a.json": `{"_id":"a","timestamp":"2025-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"1"}]}}` + "\n"})
	e.waitBatch(catDev, id)
	e.srv.Close()
	// Without the snapshot written at shutdown, the batch must be replayed.
	if err := os.Remove(filepath.Join(e.cfg.DataDir, "ingest", "store.snapshot")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.cfg.DataDir, "ingest", id, "files", "a.json")
	if err := os.WriteFile(path, []byte(`{"_id":"a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(e.cfg, Options{Registerer: prometheus.NewRegistry(), Now: e.clock.now})
	if err == nil || !strings.Contains(err.Error(), filepath.Dir(path)) || !strings.Contains(err.Error(), "commits.log") {
		t.Fatalf("New: %v, want an error naming the files and commits.log", err)
	}
}

// A damaged snapshot is ignored: the commits rebuild the same store.
func TestIngestDamagedSnapshot(t *testing.T) {
	e := newCatEnv(t)
	profiles := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "crm"))
	events := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "web"))
	e.waitBatch(catDev, e.ingestBatch(catDev, profiles, false, map[string]string{"p.json": `{"identityMap":{"ECID":[{"id":"e1","primary":true}]},"person":{"name":{"firstName":"Ann"}}}` + "\n"}))
	e.waitBatch(catDev, e.ingestBatch(catDev, events, false, map[string]string{"e.json": `{"_id":"x1","timestamp":"2025-01-02T10:00:00Z","identityMap":{"ECID":[{"id":"e1"}]}}` + "\n"}))
	rule := mergeRule{Graph: "none", Attribute: "timestampOrdered"}
	want := e.merged(rule)
	e.srv.Close()
	path := filepath.Join(e.cfg.DataDir, "ingest", "store.snapshot")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if got := e.merged(rule); !slices.Equal(got, want) {
		t.Fatalf("after a damaged snapshot:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The batch actions' edge cases answer as a client following Adobe's
// guide expects, and never leave a batch in a state it cannot leave.
func TestBatchActionEdgeCases(t *testing.T) {
	e := newCatEnv(t)
	events := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "web"))
	create := func() string {
		rec := e.call(catDev, "prod", http.MethodPost, importBase+"/batches", fmt.Sprintf(`{"datasetId":%q,"inputFormat":{"format":"json"}}`, events))
		var b struct{ ID string }
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != http.StatusCreated {
			t.Fatalf("create batch: %d %s", rec.Code, rec.Body)
		}
		return b.ID
	}
	action := func(id, action string) *httptest.ResponseRecorder {
		// No body and no Content-Type, as in Adobe's guide.
		return e.call(catDev, "prod", http.MethodPost, importBase+"/batches/"+id+"?action="+action, "")
	}
	empty := create()
	if rec := action(empty, "COMPLETE"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "no files") {
		t.Errorf("COMPLETE of a batch without files: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call(catDev, "prod", http.MethodGet, exportBase+"/batches/"+empty+"/failed", ""); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "loading") {
		t.Errorf("failed rows of a loading batch: %d %s", rec.Code, rec.Body)
	}
	for range 2 {
		if rec := action(empty, "ABORT"); rec.Code != http.StatusOK {
			t.Errorf("ABORT (twice is fine): %d %s", rec.Code, rec.Body)
		}
	}
	if rec := action(empty, "COMPLETE"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "aborted") {
		t.Errorf("COMPLETE of an aborted batch: %d %s", rec.Code, rec.Body)
	}
	id := create()
	e.upload(catDev, id, events, "a.json", `{"_id":"a","timestamp":"2025-01-01T00:00:00Z","identityMap":{"ECID":[{"id":"1"}]}}`+"\n", http.StatusOK)
	if rec := action(id, "COMPLETE"); rec.Code != http.StatusOK {
		t.Fatalf("COMPLETE without a Content-Type: %d %s", rec.Code, rec.Body)
	}
	if b := e.waitBatch(catDev, id); b["status"] != "success" {
		t.Fatalf("batch: %v", b)
	}
	if rec := action(id, "ABORT"); rec.Code != http.StatusBadRequest {
		t.Errorf("ABORT of a successful batch: %d %s", rec.Code, rec.Body)
	}
	// A body still needs its content type.
	r := httptest.NewRequest(http.MethodPost, importBase+"/batches", strings.NewReader(`{}`))
	r.Header.Set("Authorization", "Bearer "+e.token(catDev))
	r.Header.Set("x-api-key", catDev)
	r.Header.Set("x-gw-ims-org-id", e.orgs[catDev])
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "content-type") {
		t.Errorf("a body without Content-Type: %d %s", rec.Code, rec.Body)
	}
}

// The first start of an empty data directory loads the sample data set
// when asked; later starts do not load it again.
func TestSampleOnFirstStart(t *testing.T) {
	e := newCatEnv(t, func(c *Config) { c.SampleProfiles = 30 })
	rec := e.get(catDev, "prod", "/dataSets")
	var sets map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &sets); err != nil || len(sets) != 2 {
		t.Fatalf("datasets after the first start: %s", rec.Body)
	}
	rec = e.get(catDev, "prod", "/batches")
	var batches map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &batches); err != nil || len(batches) != 2 {
		t.Fatalf("batches after the first start: %s", rec.Body)
	}
	for id := range batches {
		if b := e.waitBatch(catDev, id); b["status"] != "success" {
			t.Fatalf("sample batch %s: %v", id, b)
		}
	}
	profiles, events := e.srv.store.counts(Caller{Org: catDevOrg, Sandbox: "prod"})
	if profiles != 30 || events == 0 {
		t.Fatalf("the store holds %d profiles and %d events, want 30 and some", profiles, events)
	}
	e.restart()
	rec = e.get(catDev, "prod", "/dataSets")
	if err := json.Unmarshal(rec.Body.Bytes(), &sets); err != nil || len(sets) != 2 {
		t.Fatalf("datasets after a restart: %s", rec.Body)
	}
}

// A snapshot left half-written by a kill is removed at the next start.
func TestUnfinishedSnapshotRemoved(t *testing.T) {
	e := newCatEnv(t)
	e.srv.Close()
	tmp := filepath.Join(e.cfg.DataDir, "ingest", ".store.snapshot.12345")
	if err := os.WriteFile(tmp, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is still there: %v", tmp, err)
	}
}

// noSpills fails the test if a spill file (ingest_spill.go) outlived its
// batch.
func (e *catEnv) noSpills() {
	e.t.Helper()
	err := filepath.WalkDir(e.cfg.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == spillName {
			e.t.Errorf("%s is left behind", path)
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// Batches are validated while the one before is applied. Each of these
// teaches the schema a field of its own; one validated against the
// store's schema before the last batch was applied would lay its fields
// out over that batch's, so every field must read back as written.
func TestIngestPipelinedBatchesLearnInOrder(t *testing.T) {
	e := newCatEnv(t)
	ds := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "crm"))
	const batches, perBatch = 6, 3000
	var ids []string
	for b := range batches {
		var lines strings.Builder
		for i := range perBatch {
			fmt.Fprintf(&lines, `{"identityMap":{"ECID":[{"id":"b%d-%d","primary":true}]},"attrs":{"f%d":"v%d","n%d":%d}}`+"\n", b, i, b, b, b, i)
		}
		ids = append(ids, e.ingestBatch(catDev, ds, false, map[string]string{"p.json": lines.String()}))
	}
	for _, id := range ids {
		if b := e.waitBatch(catDev, id); b["status"] != "success" {
			t.Fatalf("batch %s: %v", id, b)
		}
	}
	c := Caller{Org: catDevOrg, Sandbox: "prod"}
	schema := e.srv.store.schema(c)
	for b := range batches {
		q, err := pql.Parse(fmt.Sprintf(`attrs.f%d = "v%d" and attrs.n%d >= 0`, b, b, b))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pql.Compile(q, pql.Options{Schema: schema})
		if err != nil || len(plan.Warnings()) > 0 {
			t.Fatalf("batch %d's fields: %v %v", b, err, plan.Warnings())
		}
		run := plan.NewRunner(time.Now())
		n := 0
		e.srv.store.each(c, scanSpec{rule: mergeRule{Graph: "none", Attribute: "timestampOrdered"}, noEvents: true}, func(p *Profile) bool {
			if ok, _ := run.Match(&p.Subject); ok {
				n++
			}
			return true
		})
		if n != perBatch {
			t.Errorf("batch %d: %d profiles read back with its fields, want %d", b, n, perBatch)
		}
	}
}
