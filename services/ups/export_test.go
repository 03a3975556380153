package ups

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/services/ups/gen"
	"github.com/segflow/segflow/services/ups/records"
)

// exportFixture is a server with four profiles (three with fragments,
// one with events only), events for two of them and a dataset on the
// union schema.
type exportFixture struct {
	*catEnv
	profiles, events, union string
}

const exportProfileLines = `{"identityMap":{"ECID":[{"id":"e1","primary":true}],"Email":[{"id":"ann@x.com"}]},"person":{"name":{"firstName":"Ann","lastName":"Lee"},"birthDate":"1985-01-02"},"homeAddress":{"countryCode":"US","city":"Boston"},"loyalty":{"points":12}}
{"identityMap":{"ECID":[{"id":"e2","primary":true}]},"person":{"name":{"firstName":"Bob"}},"homeAddress":{"countryCode":"CA"}}
{"identityMap":{"ECID":[{"id":"e3","primary":true}],"CRMID":[{"id":"c3"}]},"person":{"name":{"firstName":"Cy"}},"homeAddress":{"countryCode":"US"}}
`

const exportEventLines = `{"_id":"x1","timestamp":"2025-01-02T10:00:00Z","eventType":"commerce.purchases","identityMap":{"ECID":[{"id":"e1","primary":true}]},"commerce":{"order":{"priceTotal":20.5}}}
{"_id":"x2","timestamp":"2025-01-01T10:00:00Z","eventType":"web.webpagedetails.pageViews","identityMap":{"ECID":[{"id":"e1","primary":true}]}}
{"_id":"x3","timestamp":"2025-01-01T11:00:00Z","eventType":"web.webpagedetails.pageViews","identityMap":{"ECID":[{"id":"nobody","primary":true}]}}
`

func newExportFixture(t *testing.T) *exportFixture {
	t.Helper()
	e := newCatEnv(t)
	f := &exportFixture{catEnv: e}
	f.profiles = e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "crm"))
	f.events = e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "web"))
	f.union = e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, "Segment Export"))
	for _, b := range []struct{ ds, data string }{{f.profiles, exportProfileLines}, {f.events, exportEventLines}} {
		id := e.ingestBatch(catDev, b.ds, false, map[string]string{"data.json": b.data})
		if st := e.waitBatch(catDev, id)["status"]; st != "success" {
			t.Fatalf("batch %s: %v", id, st)
		}
	}
	return f
}

// postExport creates an export job and returns the response.
func (f *exportFixture) postExport(body string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.call(catDev, "prod", http.MethodPost, exportJobsBase, body)
}

// startExport creates an export job, asserting success, and returns it.
func (f *exportFixture) startExport(body string) map[string]any {
	f.t.Helper()
	rec := f.postExport(body)
	if rec.Code != http.StatusOK {
		f.t.Fatalf("create export: %d %s", rec.Code, rec.Body)
	}
	job := decodeMap(f.t, rec.Body.Bytes())
	if loc := rec.Header().Get("X-Location"); loc != exportJobsBase+"/"+jsonNumber(job["id"]) {
		f.t.Errorf("X-Location %q for job %v", loc, job["id"])
	}
	return job
}

// waitExport polls an export job until it is final.
func (f *exportFixture) waitExport(id any) map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec := f.call(catDev, "prod", http.MethodGet, exportJobsBase+"/"+jsonNumber(id), "")
		if rec.Code != http.StatusOK {
			f.t.Fatalf("get export %v: %d %s", id, rec.Code, rec.Body)
		}
		job := decodeMap(f.t, rec.Body.Bytes())
		if st := job["status"]; st == exportSucceeded || st == exportFailed {
			return job
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("export %v still %v", id, job["status"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// export runs an export to the end and asserts it succeeded.
func (f *exportFixture) export(body string) map[string]any {
	f.t.Helper()
	job := f.waitExport(f.startExport(body)["id"])
	if job["status"] != exportSucceeded {
		f.t.Fatalf("export failed: %v", job)
	}
	return job
}

func decodeMap(t testing.TB, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return m
}

func jsonNumber(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmt.Sprint(v)
}

func batchIDOf(job map[string]any) string {
	return job["destination"].(map[string]any)["batchId"].(string)
}

// requestURI turns a Data Access link into what to request.
func requestURI(t testing.TB, href string) string {
	t.Helper()
	u, err := url.Parse(href)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// batchFileList lists a batch's files through Data Access, following
// next links.
func (f *exportFixture) batchFileList(batchID string, limit int) []map[string]any {
	f.t.Helper()
	target := fmt.Sprintf("%s/batches/%s/files?limit=%d", exportBase, batchID, limit)
	var out []map[string]any
	for target != "" {
		rec := f.call(catDev, "prod", http.MethodGet, target, "")
		if rec.Code != http.StatusOK {
			f.t.Fatalf("files of %s: %d %s", batchID, rec.Code, rec.Body)
		}
		var page struct {
			Data  []map[string]any `json:"data"`
			Page  map[string]int   `json:"_page"`
			Links map[string]struct {
				Href string `json:"href"`
			} `json:"_links"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, page.Data...)
		target = ""
		if next, ok := page.Links["next"]; ok {
			target = requestURI(f.t, next.Href)
		}
	}
	return out
}

// download fetches one file of a listing (listing, then ?path=).
func (f *exportFixture) download(file map[string]any) (string, []byte) {
	f.t.Helper()
	self := file["_links"].(map[string]any)["self"].(map[string]any)["href"].(string)
	rec := f.call(catDev, "prod", http.MethodGet, requestURI(f.t, self), "")
	if rec.Code != http.StatusOK {
		f.t.Fatalf("file listing: %d %s", rec.Code, rec.Body)
	}
	var listing struct {
		Data []struct {
			Name   string `json:"name"`
			Length string `json:"length"`
			Links  struct {
				Self struct {
					Href string `json:"href"`
				} `json:"self"`
			} `json:"_links"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &listing); err != nil || len(listing.Data) != 1 {
		f.t.Fatalf("file listing %s: %v", rec.Body, err)
	}
	item := listing.Data[0]
	rec = f.call(catDev, "prod", http.MethodGet, requestURI(f.t, item.Links.Self.Href), "")
	if rec.Code != http.StatusOK {
		f.t.Fatalf("download %s: %d %s", item.Name, rec.Code, rec.Body)
	}
	if strconv.Itoa(rec.Body.Len()) != item.Length || item.Length != file["size"] {
		f.t.Errorf("%s: %d bytes, listed length %s, size %v", item.Name, rec.Body.Len(), item.Length, file["size"])
	}
	return item.Name, rec.Body.Bytes()
}

// exportedRows downloads every file of a batch and reads its rows, in
// file order.
func (f *exportFixture) exportedRows(batchID string) []map[string]any {
	f.t.Helper()
	var rows []map[string]any
	for _, file := range f.batchFileList(batchID, 100) {
		name, data := f.download(file)
		path := filepath.Join(f.t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			f.t.Fatal(err)
		}
		rows = append(rows, readParquetRows(f.t, path)...)
	}
	return rows
}

// firstNames are the rows' person.name.firstName, sorted.
func firstNames(rows []map[string]any) []string {
	var out []string
	for _, r := range rows {
		name := "?"
		if p, ok := r["person"].(map[string]any); ok {
			if n, ok := p["name"].(map[string]any); ok {
				name, _ = n["firstName"].(string)
			}
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// identityNumbers maps the profiles' ids (namespace:id) to the identity
// numbers segment memberships are keyed by.
func (f *exportFixture) identityNumbers() map[string]uint32 {
	f.t.Helper()
	out := map[string]uint32{}
	var mu = make(chan struct{}, 1)
	_, err := f.srv.store.scan(context.Background(), Caller{Org: catDevOrg, Sandbox: "prod"}, scanSpec{rule: mergeRule{Graph: "none", Attribute: "timestampOrdered"}, noEvents: true}, scanOptions{}, func(_ int, p *scanPerson) error {
		mu <- struct{}{}
		out[p.ID()] = p.Identity
		<-mu
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// publish sets segment memberships: segment -> profile id -> status.
func (f *exportFixture) publish(at int64, segs map[string]map[string]memberStatus) {
	f.t.Helper()
	ids := f.identityNumbers()
	out := map[string]*segmentMembers{}
	for seg, members := range segs {
		m := &segmentMembers{}
		keys := make([]string, 0, len(members))
		for k := range members {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return int(ids[a]) - int(ids[b]) })
		for _, k := range keys {
			id, ok := ids[k]
			if !ok {
				f.t.Fatalf("no profile %s", k)
			}
			m.ids = append(m.ids, id)
			m.status = append(m.status, members[k])
			m.at = append(m.at, at)
		}
		out[seg] = m
	}
	f.srv.members.publish(Caller{Org: catDevOrg, Sandbox: "prod"}, out)
}

func TestExportJobLifecycle(t *testing.T) {
	f := newExportFixture(t)
	job := f.startExport(fmt.Sprintf(`{"fields":"person.name.firstName, homeAddress.countryCode","destination":{"datasetId":%q},"schema":{"name":"_xdm.context.profile"}}`, f.union))
	if _, ok := job["id"].(float64); !ok || job["jobType"] != "BATCH" || job["imsOrgId"] != catDevOrg || job["profileInstanceId"] != "ups" {
		t.Errorf("job %v", job)
	}
	mp := job["mergePolicy"].(map[string]any)
	if mp["id"] != builtinPolicyID || mp["version"] != float64(1) {
		t.Errorf("mergePolicy %v: want the sandbox default", mp)
	}
	batchID := batchIDOf(job)
	b := objects(t, f.get(catDev, "prod", "/batches/"+batchID))[batchID]
	if b["status"] != "loading" || b["relatedObjects"].([]any)[0].(map[string]any)["id"] != f.union {
		t.Errorf("batch at creation: %v", b)
	}
	// No files while the batch is not a success.
	if files := f.batchFileList(batchID, 10); len(files) != 0 && b["status"] != "success" {
		t.Errorf("files of a loading batch: %v", files)
	}
	// Batch ingestion keeps its hands off an export's batch.
	for _, action := range []string{"COMPLETE", "ABORT"} {
		if rec := f.call(catDev, "prod", http.MethodPost, importBase+"/batches/"+batchID+"?action="+action, ""); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "export job") {
			t.Errorf("%s of an export batch: %d %s", action, rec.Code, rec.Body)
		}
	}
	f.upload(catDev, batchID, f.union, "x.json", "{}\n", http.StatusBadRequest)

	job = f.waitExport(job["id"])
	if job["status"] != exportSucceeded {
		t.Fatalf("job %v", job)
	}
	m := job["metrics"].(map[string]any)
	if m["totalExportedProfileCounter"] != float64(3) {
		t.Errorf("metrics %v: want 3 profiles (the event-only one left out)", m)
	}
	if ns := m["exportedProfileByNamespaceCounter"].(map[string]any); ns["ECID"] != float64(3) || ns["Email"] != float64(1) || ns["CRMID"] != float64(1) {
		t.Errorf("by namespace %v", ns)
	}
	for _, k := range []string{"totalTime", "profileExportTime", "aCPDatasetWriteTime"} {
		tm, _ := m[k].(map[string]any)
		if tm["startTimeInMs"] == nil || tm["endTimeInMs"] == nil || tm["totalTimeInMs"] == nil {
			t.Errorf("metrics.%s = %v", k, m[k])
		}
	}
	b = objects(t, f.get(catDev, "prod", "/batches/"+batchID))[batchID]
	if b["status"] != "success" || b["metrics"].(map[string]any)["recordsWritten"] != json.Number("3") {
		t.Errorf("batch after the export: %v", b)
	}

	rows := f.exportedRows(batchID)
	if got := firstNames(rows); !slices.Equal(got, []string{"Ann", "Bob", "Cy"}) {
		t.Fatalf("exported %v", got)
	}
	for _, r := range rows {
		// The projection: only the fields asked for, plus identityMap.
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !slices.Equal(keys, []string{"homeAddress", "identityMap", "person"}) {
			t.Errorf("row %v: keys %v", r, keys)
		}
		if p := r["person"].(map[string]any); len(p) != 1 || len(p["name"].(map[string]any)) != 1 {
			t.Errorf("person %v: want name.firstName only", p)
		}
		if h := r["homeAddress"].(map[string]any); len(h) != 1 || h["countryCode"] == nil {
			t.Errorf("homeAddress %v", h)
		}
		if r["person"].(map[string]any)["name"].(map[string]any)["firstName"] == "Ann" {
			im := r["identityMap"].(map[string]any)
			ecid := im["ECID"].([]any)[0].(map[string]any)
			if ecid["id"] != "e1" || ecid["primary"] != true || im["Email"] == nil {
				t.Errorf("identityMap %v", im)
			}
		}
	}

	// The list, newest first, filtered by status.
	rec := f.call(catDev, "prod", http.MethodGet, exportJobsBase+"?status=SUCCEEDED", "")
	list := decodeMap(t, rec.Body.Bytes())
	if recs, _ := list["records"].([]any); rec.Code != http.StatusOK || len(recs) != 1 || recs[0].(map[string]any)["id"] != job["id"] {
		t.Errorf("list: %d %s", rec.Code, rec.Body)
	}
	if page := list["page"].(map[string]any); page["sortField"] != "createdTime" || page["sort"] != "desc" || page["pageSize"] != float64(1) {
		t.Errorf("list page %v", page)
	}
	rec = f.call(catDev, "prod", http.MethodGet, exportJobsBase+"?status=FAILED", "")
	if recs := decodeMap(t, rec.Body.Bytes())["records"].([]any); len(recs) != 0 {
		t.Errorf("FAILED jobs: %v", recs)
	}
	// Another org does not see it.
	if rec := f.call(catA, "prod", http.MethodGet, exportJobsBase+"/"+jsonNumber(job["id"]), ""); rec.Code != http.StatusNotFound {
		t.Errorf("another org's job: %d", rec.Code)
	}
	// Cancelling a finished job changes nothing.
	rec = f.call(catDev, "prod", http.MethodDelete, exportJobsBase+"/"+jsonNumber(job["id"]), "")
	if body := decodeMap(t, rec.Body.Bytes()); rec.Code != http.StatusOK || body["status"] != false {
		t.Errorf("cancel a finished job: %d %s", rec.Code, rec.Body)
	}

	// Jobs survive a restart as they are.
	f.restart()
	if again := f.waitExport(job["id"]); again["status"] != exportSucceeded || again["updateTime"] != job["updateTime"] {
		t.Errorf("after restart: %v", again)
	}
}

func TestExportListPaging(t *testing.T) {
	f := newExportFixture(t)
	f.srv.exports.close() // the jobs stay NEW
	var ids []string
	for range 5 {
		ids = append(ids, jsonNumber(f.startExport(fmt.Sprintf(`{"destination":{"datasetId":%q}}`, f.union))["id"]))
	}
	slices.Reverse(ids) // newest first
	var got []string
	target := exportJobsBase + "?limit=2"
	for target != "" {
		rec := f.call(catDev, "prod", http.MethodGet, target, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("list %s: %d %s", target, rec.Code, rec.Body)
		}
		var page struct {
			Records []ExportJob       `json:"records"`
			Link    map[string]string `json:"link"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Records {
			got = append(got, strconv.FormatInt(j.ID, 10))
		}
		target = ""
		if next := page.Link["next"]; next != "" {
			target = "/data/core/ups" + next
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged %v, want %v", got, ids)
	}
}

func TestExportBadRequests(t *testing.T) {
	f := newExportFixture(t)
	ds := fmt.Sprintf(`"destination":{"datasetId":%q}`, f.union)
	cases := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"malformed JSON", `{"destination":`, 400, "not valid JSON"},
		{"not an object", `[1]`, 400, "JSON object"},
		{"empty", ``, 400, "empty"},
		{"wrong type", `{"fields": 3, ` + ds + `}`, 400, `"fields"`},
		{"no destination", `{"fields":"person"}`, 400, "destination is required"},
		{"no dataset id", `{"destination":{}}`, 400, "destination.datasetId is required"},
		{"unknown dataset", `{"destination":{"datasetId":"5b7c86968f7b6501e21ba9df"}}`, 422, "is not a dataset of this org and sandbox"},
		{"not a union dataset", fmt.Sprintf(`{"destination":{"datasetId":%q}}`, f.profiles), 422, "profile union schema"},
		{"unknown merge policy", `{"mergePolicy":{"id":"nope"},` + ds + `}`, 422, `mergePolicy.id "nope"`},
		{"old merge policy version", `{"mergePolicy":{"id":"timestampOrdered-none-mp","version":2},` + ds + `}`, 422, "not its current version"},
		{"bad status", `{"filter":{"segments":[{"segmentId":"s","status":["gone"]}]},` + ds + `}`, 400, `"gone" is invalid`},
		{"no segment id", `{"filter":{"segments":[{"status":["realized"]}]},` + ds + `}`, 400, "segmentId is required"},
		{"bad ingest time", `{"filter":{"fromIngestTimestamp":"yesterday"},` + ds + `}`, 400, "RFC 3339"},
		{"event ingest filter", `{"additionalFields":{"eventList":{"fields":"_id","filter":{"fromIngestTimestamp":"2018-01-01T00:00:00Z"}}},` + ds + `}`, 400, "not supported"},
		{"segmentation first", `{"evaluationInfo":{"segmentation":true},` + ds + `}`, 400, "not supported"},
		{"segmentPerBatch without segments", `{"destination":{"datasetId":"x","segmentPerBatch":true}}`, 400, "needs filter.segments"},
		{"path through a string", `{"fields":"person.name.firstName.initial",` + ds + `}`, 400, "has no field"},
		{"empty field", `{"fields":"person,,homeAddress",` + ds + `}`, 400, "empty field"},
		{"other schema", `{"schema":{"name":"_xdm.context.experienceevent"},` + ds + `}`, 400, "schema.name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantUPSError(t, f.postExport(c.body), c.status, c.detail)
		})
	}
	for _, c := range []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, exportJobsBase + "/999", 404},
		{http.MethodGet, exportJobsBase + "/abc", 404},
		{http.MethodDelete, exportJobsBase + "/999", 404},
		{http.MethodGet, exportJobsBase + "?limit=0", 400},
		{http.MethodGet, exportJobsBase + "?status=DONE", 400},
		{http.MethodGet, exportJobsBase + "?offset=yesterday", 400},
	} {
		rec := f.call(catDev, "prod", c.method, c.target, "")
		if rec.Code != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.target, rec.Code, rec.Body, c.status)
		}
	}
	// Nothing was created by the bad requests.
	if jobs := f.srv.exports.jobs.list(Caller{Org: catDevOrg, Sandbox: "prod"}); len(jobs) != 0 {
		t.Errorf("%d jobs created", len(jobs))
	}
}

func TestExportSegmentFilter(t *testing.T) {
	f := newExportFixture(t)
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC).UnixMicro()
	f.publish(at, map[string]map[string]memberStatus{
		"seg-1": {"ECID:e1": statusRealized, "ECID:e2": statusExited},
		"seg-2": {"ECID:e3": statusExisting, "ECID:e1": statusRealized},
	})
	run := func(filter string) []map[string]any {
		t.Helper()
		job := f.export(fmt.Sprintf(`{"fields":"person.name.firstName","filter":%s,"destination":{"datasetId":%q}}`, filter, f.union))
		return f.exportedRows(batchIDOf(job))
	}
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{`{"segments":[{"segmentId":"seg-1"}]}`, []string{"Ann"}},
		{`{"segments":[{"segmentId":"seg-1","segmentNs":"ups","status":["exited"]}]}`, []string{"Bob"}},
		{`{"segments":[{"segmentId":"seg-1"},{"segmentId":"seg-2"}]}`, []string{"Ann", "Cy"}},
		{`{"segments":[{"segmentId":"seg-2","status":["realized"]}]}`, []string{"Ann"}},
		{`{"segments":[{"segmentId":"seg-1","segmentNs":"Email"}]}`, nil},
		{`{"segments":[{"segmentId":"unknown"}]}`, nil},
		{`{"segments":[{"segmentId":"seg-1"}],"segmentQualificationTime":{"startTime":"2025-03-01T10:00:00Z"}}`, nil},
		{`{"segments":[{"segmentId":"seg-1"}],"segmentQualificationTime":{"startTime":"2025-03-01T08:00:00Z","endTime":"2025-03-01T09:00:00Z"}}`, []string{"Ann"}},
		{`{}`, []string{"Ann", "Bob", "Cy"}},
		{`{"emptyProfiles":true}`, []string{"?", "Ann", "Bob", "Cy"}},
	} {
		if got := firstNames(run(c.filter)); !slices.Equal(got, c.want) {
			t.Errorf("filter %s: exported %v, want %v", c.filter, got, c.want)
		}
	}

	// segmentMembership holds every segment of the profile, from the
	// latest memberships.
	rows := run(`{"segments":[{"segmentId":"seg-2","status":["realized"]}]}`)
	want := map[string]any{"ups": map[string]any{
		"seg-1": map[string]any{"status": "realized", "lastQualificationTime": "2025-03-01T09:00:00Z"},
		"seg-2": map[string]any{"status": "realized", "lastQualificationTime": "2025-03-01T09:00:00Z"},
	}}
	if len(rows) != 1 || mustJSON(rows[0]["segmentMembership"]) != mustJSON(want) {
		t.Errorf("segmentMembership %v, want %v", rows, want)
	}

	// The event-only profile gets an identityMap of its identity.
	rows = run(`{"emptyProfiles":true}`)
	found := false
	for _, r := range rows {
		if r["person"] == nil {
			found = true
			want := `{"ECID":[{"authenticatedState":"ambiguous","id":"nobody","primary":true}]}`
			if got := mustJSON(r["identityMap"]); got != want {
				t.Errorf("event-only identityMap %s, want %s", got, want)
			}
		}
	}
	if !found {
		t.Errorf("no event-only profile in %v", rows)
	}

	// One batch per segment.
	job := f.export(fmt.Sprintf(`{"fields":"person.name.firstName","filter":{"segments":[{"segmentId":"seg-1"},{"segmentId":"seg-2"}]},"destination":{"datasetId":%q,"segmentPerBatch":true}}`, f.union))
	batches := job["destination"].(map[string]any)["batches"].([]any)
	if len(batches) != 2 {
		t.Fatalf("destination %v", job["destination"])
	}
	wantNames := map[string][]string{"seg-1": {"Ann"}, "seg-2": {"Ann", "Cy"}}
	for _, b := range batches {
		b := b.(map[string]any)
		seg, id := b["segmentId"].(string), b["batchId"].(string)
		if got := firstNames(f.exportedRows(id)); !slices.Equal(got, wantNames[seg]) {
			t.Errorf("batch of %s: %v, want %v", seg, got, wantNames[seg])
		}
		if st := objects(t, f.get(catDev, "prod", "/batches/"+id))[id]["status"]; st != "success" {
			t.Errorf("batch of %s: %v", seg, st)
		}
	}
	if n := job["metrics"].(map[string]any)["totalExportedProfileCounter"]; n != float64(2) {
		t.Errorf("profiles counted %v, want 2 (Ann once)", n)
	}
}

func TestExportFromIngestTimestamp(t *testing.T) {
	f := newExportFixture(t)
	caller := Caller{Org: catDevOrg, Sandbox: "prod"}
	var first int64
	for _, o := range f.srv.catalog.batchObjects(caller) {
		b, _ := f.srv.catalog.batch(caller, o.id)
		if b.DatasetID == f.profiles {
			first = b.Metrics.EndTime
		}
	}
	// Bob again, later: only he was ingested after the first batch.
	id := f.ingestBatch(catDev, f.profiles, false, map[string]string{"b.json": `{"identityMap":{"ECID":[{"id":"e2","primary":true}]},"person":{"name":{"firstName":"Bobby"}}}` + "\n"})
	f.waitBatch(catDev, id)
	since := time.UnixMilli(first).UTC().Format(time.RFC3339Nano)
	job := f.export(fmt.Sprintf(`{"fields":"person.name.firstName","filter":{"fromIngestTimestamp":%q},"destination":{"datasetId":%q}}`, since, f.union))
	if got := firstNames(f.exportedRows(batchIDOf(job))); !slices.Equal(got, []string{"Bobby"}) {
		t.Errorf("exported %v, want [Bobby]", got)
	}
	job = f.export(fmt.Sprintf(`{"filter":{"fromIngestTimestamp":"2000-01-01T00:00:00Z"},"destination":{"datasetId":%q}}`, f.union))
	if n := job["metrics"].(map[string]any)["totalExportedProfileCounter"]; n != float64(3) {
		t.Errorf("everything ingested since 2000: %v profiles", n)
	}
	job = f.export(fmt.Sprintf(`{"filter":{"fromIngestTimestamp":"2100-01-01T00:00:00Z"},"destination":{"datasetId":%q}}`, f.union))
	if n := job["metrics"].(map[string]any)["totalExportedProfileCounter"]; n != float64(0) {
		t.Errorf("ingested after 2100: %v profiles", n)
	}
	if files := f.batchFileList(batchIDOf(job), 100); len(files) != 0 {
		t.Errorf("an empty export has files: %v", files)
	}
}

func TestExportAllFieldsAndEvents(t *testing.T) {
	f := newExportFixture(t)
	job := f.export(fmt.Sprintf(`{"additionalFields":{"eventList":{"fields":"eventType, timestamp, commerce.order.priceTotal"}},"destination":{"datasetId":%q}}`, f.union))
	rows := f.exportedRows(batchIDOf(job))
	var ann map[string]any
	for _, r := range rows {
		if firstNames([]map[string]any{r})[0] == "Ann" {
			ann = r
		}
	}
	if ann == nil {
		t.Fatalf("no Ann in %v", rows)
	}
	// Every field of the profile.
	want := `{"city":"Boston","countryCode":"US"}`
	if got := mustJSON(ann["homeAddress"]); got != want {
		t.Errorf("homeAddress %s, want %s", got, want)
	}
	if got := mustJSON(ann["person"]); got != `{"birthDate":"1985-01-02T00:00:00Z","name":{"firstName":"Ann","lastName":"Lee"}}` {
		t.Errorf("person %s", got)
	}
	if got := mustJSON(ann["loyalty"]); got != `{"points":12}` {
		t.Errorf("loyalty %s", got)
	}
	// Its events, in time order, projected.
	wantEvents := `[{"eventType":"web.webpagedetails.pageViews","timestamp":"2025-01-01T10:00:00Z"},{"commerce":{"order":{"priceTotal":20.5}},"eventType":"commerce.purchases","timestamp":"2025-01-02T10:00:00Z"}]`
	if got := mustJSON(dropNulls(asJSON(t, ann["eventList"]))); got != wantEvents {
		t.Errorf("eventList %s, want %s", got, wantEvents)
	}
	// The file schema: events are a LIST of groups with a microsecond
	// timestamp.
	files := f.batchFileList(batchIDOf(job), 100)
	name, data := f.download(files[0])
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	schema := parquetFileSchema(t, path)
	for p, want := range map[string]string{
		"eventList":                          "LIST",
		"eventList.list.element.timestamp":   "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"eventList.list.element.commerce":    "group",
		"identityMap":                        "MAP",
		"segmentMembership":                  "MAP",
		"person.birthDate":                   "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"person.name":                        "group",
		"eventList.list.element.identityMap": "",
	} {
		n := lookupNode(schema, strings.Split(p, "."))
		switch {
		case want == "" && n != nil:
			t.Errorf("%s: in the file, but not asked for", p)
		case want != "" && n == nil:
			t.Errorf("%s: not in the file schema %s", p, schema)
		case n != nil && describeNode(n) != want:
			t.Errorf("%s: %s, want %s", p, describeNode(n), want)
		}
	}
}

func TestExportChunkingAndPaging(t *testing.T) {
	f := newExportFixture(t)
	var lines strings.Builder
	for i := range 7 {
		fmt.Fprintf(&lines, `{"identityMap":{"ECID":[{"id":"n%d","primary":true}]},"person":{"name":{"firstName":"N%d"}}}`+"\n", i, i)
	}
	f.waitBatch(catDev, f.ingestBatch(catDev, f.profiles, false, map[string]string{"more.json": lines.String()}))
	f.srv.exports.rowsPerFile = 3
	job := f.export(fmt.Sprintf(`{"fields":"person.name.firstName","destination":{"datasetId":%q}}`, f.union))
	batchID := batchIDOf(job)
	// 10 profiles, one part, three rows a file.
	files := f.batchFileList(batchID, 2)
	if len(files) != 4 {
		t.Fatalf("%d files: %v", len(files), files)
	}
	total := 0
	for i, file := range files {
		n, _ := strconv.Atoi(file["records"].(string))
		total += n
		if want := fmt.Sprintf("%s-%d", batchID, i+1); file["dataSetFileId"] != want {
			t.Errorf("file %d: id %v, want %s", i, file["dataSetFileId"], want)
		}
		for _, k := range []string{"created", "updated", "size", "records"} {
			if _, ok := file[k].(string); !ok {
				t.Errorf("file %d: %s is %T, want a string", i, k, file[k])
			}
		}
		if n > 3 {
			t.Errorf("file %d holds %d rows", i, n)
		}
	}
	if total != 10 || len(f.exportedRows(batchID)) != 10 {
		t.Errorf("%d records listed", total)
	}
	rec := f.call(catDev, "prod", http.MethodGet, exportBase+"/batches/"+batchID+"/files?start=3&limit=2", "")
	var page struct {
		Data  []any          `json:"data"`
		Page  map[string]int `json:"_page"`
		Links map[string]any `json:"_links"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Page["limit"] != 2 || page.Page["count"] != 4 || page.Links["next"] != nil {
		t.Errorf("last page: %s", rec.Body)
	}
	for _, bad := range []string{"?start=-1", "?limit=0", "?limit=x"} {
		if rec := f.call(catDev, "prod", http.MethodGet, exportBase+"/batches/"+batchID+"/files"+bad, ""); rec.Code != http.StatusBadRequest {
			t.Errorf("files%s: %d", bad, rec.Code)
		}
	}
}

func TestExportReplacesEarlierBatches(t *testing.T) {
	f := newExportFixture(t)
	first := batchIDOf(f.export(fmt.Sprintf(`{"destination":{"datasetId":%q}}`, f.union)))
	if n := len(f.exportedRows(first)); n != 3 {
		t.Fatalf("first export: %d rows", n)
	}
	f.publish(1, map[string]map[string]memberStatus{"seg": {"ECID:e2": statusRealized}})
	second := batchIDOf(f.export(fmt.Sprintf(`{"filter":{"segments":[{"segmentId":"seg"}]},"destination":{"datasetId":%q}}`, f.union)))
	if got := firstNames(f.exportedRows(second)); !slices.Equal(got, []string{"Bob"}) {
		t.Fatalf("second export: %v", got)
	}
	// The first batch is gone from the dataset: Catalog says deleted,
	// Data Access lists nothing, its files are removed.
	b := objects(t, f.get(catDev, "prod", "/batches/"+first))[first]
	if b["status"] != "deleted" {
		t.Errorf("first batch: %v", b["status"])
	}
	if files := f.batchFileList(first, 100); len(files) != 0 {
		t.Errorf("first batch files: %v", files)
	}
	if _, err := os.Stat(f.srv.exports.batchDir(first)); !os.IsNotExist(err) {
		t.Errorf("first batch directory: %v", err)
	}
	got := objects(t, f.get(catDev, "prod", "/batches?dataSet="+f.union+"&status=success"))
	if len(got) != 1 || got[second] == nil {
		t.Errorf("the dataset's successful batches: %v", got)
	}
	if rec := f.call(catDev, "prod", http.MethodGet, exportBase+"/files/"+first+"-1", ""); rec.Code != http.StatusNotFound {
		t.Errorf("a replaced file: %d", rec.Code)
	}
}

func TestExportCancel(t *testing.T) {
	f := newExportFixture(t)
	f.srv.exports.close() // the job stays NEW
	job := f.startExport(fmt.Sprintf(`{"destination":{"datasetId":%q}}`, f.union))
	rec := f.call(catDev, "prod", http.MethodDelete, exportJobsBase+"/"+jsonNumber(job["id"]), "")
	if body := decodeMap(t, rec.Body.Bytes()); rec.Code != http.StatusOK || body["status"] != true || body["message"] != "Export job has been marked for cancelling" {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	got := f.waitExport(job["id"])
	errs, _ := got["errors"].([]any)
	if got["status"] != exportFailed || len(errs) != 1 || !strings.Contains(mustJSON(errs[0]), "cancelled") {
		t.Errorf("cancelled job: %v", got)
	}
	batchID := batchIDOf(job)
	if st := objects(t, f.get(catDev, "prod", "/batches/"+batchID))[batchID]["status"]; st != "aborted" {
		t.Errorf("batch of a cancelled job: %v", st)
	}
	// Still cancelled after a restart.
	f.restart()
	if again := f.waitExport(job["id"]); again["status"] != exportFailed {
		t.Errorf("after restart: %v", again)
	}
}

// TestExportRestart: a job a kill left PROCESSING, with half-written
// files, runs again from scratch; one whose batch was already published
// is finished; one cancelled, or interrupted too often, fails.
func TestExportRestart(t *testing.T) {
	f := newExportFixture(t)
	f.srv.exports.close() // jobs stay NEW until we say
	body := fmt.Sprintf(`{"fields":"person.name.firstName","destination":{"datasetId":%q}}`, f.union)
	rerun := f.startExport(body)
	cancelled := f.startExport(body)
	tooOften := f.startExport(body)
	x := f.srv.exports
	for _, j := range []map[string]any{rerun, cancelled, tooOften} {
		id := int64(j["id"].(float64))
		if _, err := x.jobs.update(id, func(r *exportRecord) bool {
			r.Job.Status = exportProcessing
			r.Job.Metrics.TotalTime = startTiming(1)
			r.Attempts = 1
			r.Cancel = id == int64(cancelled["id"].(float64))
			if id == int64(tooOften["id"].(float64)) {
				r.Attempts = exportMaxAttempts
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		// What a kill mid-export leaves: a half-written file.
		dir := filepath.Join(x.tmpDir(id), batchIDOf(j))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "part-00000-00000.parquet"), []byte("PAR1 half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.restart()
	got := f.waitExport(rerun["id"])
	if got["status"] != exportSucceeded {
		t.Fatalf("re-run job: %v", got)
	}
	if names := firstNames(f.exportedRows(batchIDOf(got))); !slices.Equal(names, []string{"Ann", "Bob", "Cy"}) {
		t.Errorf("re-run exported %v", names)
	}
	for _, j := range []map[string]any{cancelled, tooOften} {
		got := f.waitExport(j["id"])
		batchID := batchIDOf(j)
		st := objects(t, f.get(catDev, "prod", "/batches/"+batchID))[batchID]["status"]
		if got["status"] != exportFailed || got["errors"] == nil || (st != "failed" && st != "aborted") {
			t.Errorf("job %v: %v, batch %v", j["id"], got, st)
		}
	}
	entries, _ := os.ReadDir(f.srv.exports.tmpRoot())
	if len(entries) != 0 {
		t.Errorf("temporary directories left: %v", entries)
	}

	// A kill after the batch was published but before Catalog heard of
	// it: the restart finishes the job.
	f.srv.exports.close()
	job := f.startExport(body)
	id := int64(job["id"].(float64))
	r, err := f.srv.exports.jobs.get(Caller{Org: catDevOrg, Sandbox: "prod"}, id)
	if err != nil {
		t.Fatal(err)
	}
	// What the rename leaves: the batch directory with its files and
	// manifest, the batch still loading in Catalog, the job PROCESSING.
	x = f.srv.exports
	batchID := batchIDOf(job)
	if err := os.MkdirAll(x.batchDir(batchID), 0o755); err != nil {
		t.Fatal(err)
	}
	w := newFileWriter(mustLayout(t, f).plan, x.batchDir(batchID), "part-00000", 10)
	files, err := w.close()
	if err != nil {
		t.Fatal(err)
	}
	man, _ := json.Marshal(exportManifest{Job: id, BatchID: batchID, Records: 0, Created: 1, Files: files})
	if err := os.WriteFile(x.manifestPath(batchID), man, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := x.jobs.update(r.Job.ID, func(r *exportRecord) bool {
		r.Job.Status = exportProcessing
		r.Job.Metrics = exportMetrics{TotalTime: startTiming(1), ProfileExportTime: startTiming(1), ACPDatasetWriteTime: startTiming(2)}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	f.restart()
	if got := f.waitExport(job["id"]); got["status"] != exportSucceeded {
		t.Errorf("published job after restart: %v", got)
	}
	if st := objects(t, f.get(catDev, "prod", "/batches/"+batchID))[batchID]["status"]; st != "success" {
		t.Errorf("its batch: %v", st)
	}
}

func mustLayout(t *testing.T, f *exportFixture) *exportLayout {
	t.Helper()
	lay, err := newExportLayout(f.srv.store.schema(Caller{Org: catDevOrg, Sandbox: "prod"}).Clone(), "person.name.firstName", nil)
	if err != nil {
		t.Fatal(err)
	}
	return lay
}

func TestExportUnknownFieldsAreNullColumns(t *testing.T) {
	f := newExportFixture(t)
	job := f.export(fmt.Sprintf(`{"fields":"identities.id,person.name.nickname,person.name.firstName","destination":{"datasetId":%q}}`, f.union))
	files := f.batchFileList(batchIDOf(job), 100)
	name, data := f.download(files[0])
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	schema := parquetFileSchema(t, path)
	for _, p := range []string{"identities.id", "person.name.nickname", "person.name.firstName"} {
		if n := lookupNode(schema, strings.Split(p, ".")); n == nil || describeNode(n) != "STRING" {
			t.Errorf("%s: %v", p, n)
		}
	}
	if got := firstNames(readParquetRows(t, path)); !slices.Equal(got, []string{"Ann", "Bob", "Cy"}) {
		t.Errorf("rows %v", got)
	}
}

// BenchmarkExportParquet exports generated profiles (five fields, plus
// identityMap and a segment's memberships) from an in-memory store to
// Parquet through the export runner, and reports profiles per second.
// SEGFLOW_EXPORT_BENCH_PROFILES sets how many (default 50,000).
func BenchmarkExportParquet(b *testing.B) {
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("SEGFLOW_EXPORT_BENCH_PROFILES")); err == nil && v > 0 {
		n = v
	}
	x, caller, union := newBenchExporter(b, n)
	body := exportBenchJob(union)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		in, err := parseExportRequest([]byte(body))
		if err != nil {
			b.Fatal(err)
		}
		job, err := x.submit(caller, in, "bench", "")
		if err != nil {
			b.Fatal(err)
		}
		for {
			j, _ := x.get(caller, job.ID)
			if j.Status == exportFailed {
				b.Fatalf("export failed: %+v", j.Errors)
			}
			if j.Status == exportSucceeded {
				if j.Metrics.TotalExportedProfileCounter != int64(n) {
					b.Fatalf("exported %d profiles, want %d", j.Metrics.TotalExportedProfileCounter, n)
				}
				m := j.Metrics
				b.Logf("total %d ms: profiles %d ms, dataset write %d ms", m.TotalTime.TotalTimeInMs, m.ProfileExportTime.TotalTimeInMs, m.ACPDatasetWriteTime.TotalTimeInMs)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "profiles/s")
}

func exportBenchJob(union string) string {
	return fmt.Sprintf(`{"fields":"person.name.firstName,person.name.lastName,person.birthDate,homeAddress.countryCode,loyalty.points","destination":{"datasetId":%q}}`, union)
}

// newBenchExporter loads n generated profiles straight into a store (no
// HTTP, no files) and opens an exporter over it.
func newBenchExporter(b testing.TB, n int) (*exporter, Caller, string) {
	dir := b.TempDir()
	now := time.Now
	cat, err := openCatalog(filepath.Join(dir, "catalog"), now)
	if err != nil {
		b.Fatal(err)
	}
	policies, err := openPolicyStore(filepath.Join(dir, "mergepolicies"), now)
	if err != nil {
		b.Fatal(err)
	}
	caller := Caller{ClientID: "bench", Org: "ORG", Sandbox: "prod"}
	ds, err := cat.createDataset(caller, datasetInput{Name: "export", SchemaRef: schemaRef{ID: schemaProfileUnion}})
	if err != nil {
		b.Fatal(err)
	}
	store := newProfileStore()
	pr, pw := io.Pipe()
	cfg := gen.Config{Profiles: n, EventsPerProfile: 1, Seed: 1, Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	go func() { pw.CloseWithError(gen.Profiles(cfg, pw)) }()
	schema := store.schema(caller).Clone()
	a := store.begin(caller, schema, 1)
	a.reserveFragments(n)
	conv := newApplier(schema, false, "ds", a.sc.pdict)
	_, err = records.ConvertJSONLines(pr, conv.worker, func(row int, r any) error {
		if l, ok := r.(learn); ok {
			r = conv.learn(l)
		}
		frag, ok := r.(newFragment)
		if !ok {
			return fmt.Errorf("row %d: %v", row, r)
		}
		a.fragment(frag)
		return nil
	}, 0)
	a.end()
	if err != nil {
		b.Fatal(err)
	}
	members := newMemberships()
	// Every third profile in a segment.
	seg := &segmentMembers{}
	for i := uint32(0); i < uint32(3*n); i += 9 {
		seg.ids = append(seg.ids, i)
		seg.status = append(seg.status, statusRealized)
		seg.at = append(seg.at, 1)
	}
	members.publish(caller, map[string]*segmentMembers{"seg": seg})
	x, err := openExporter(dir, cat, policies, store, members, filepath.Join(dir, "ingest", "commits.log"), zerolog.Nop(), now)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(x.close)
	return x, caller, ds.ID
}
