package ups

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// createSegment creates a pql/text definition as the dev client and
// returns its id.
func (e *catEnv) createSegment(name, pql string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"name": name, "schema": map[string]string{"name": profileSchemaName},
		"expression": map[string]string{"type": "PQL", "format": "pql/text", "value": pql},
	})
	rec := e.call(catDev, "prod", http.MethodPost, segmentDefinitionsBase, string(body))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("create segment %s: %d %s", name, rec.Code, rec.Body)
	}
	var d struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || d.ID == "" {
		e.t.Fatalf("create segment body %s: %v", rec.Body, err)
	}
	return d.ID
}

// runSegmentJob submits a job for ids and waits until it is final.
func (e *catEnv) runSegmentJob(ids ...string) SegmentJob {
	e.t.Helper()
	var body []map[string]string
	for _, id := range ids {
		body = append(body, map[string]string{"segmentId": id})
	}
	b, _ := json.Marshal(body)
	rec := e.call(catDev, "prod", http.MethodPost, segmentJobsBase, string(b))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("create segment job: %d %s", rec.Code, rec.Body)
	}
	var job SegmentJob
	if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil {
		e.t.Fatal(err)
	}
	if job.Status != jobNew || job.ID == "" || len(job.Segments) != len(ids) {
		e.t.Fatalf("new job: %s", rec.Body)
	}
	return e.waitSegmentJob(job.ID)
}

func (e *catEnv) waitSegmentJob(id string) SegmentJob {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := e.call(catDev, "prod", http.MethodGet, segmentJobsBase+"/"+id, "")
		if rec.Code != http.StatusOK {
			e.t.Fatalf("get job: %d %s", rec.Code, rec.Body)
		}
		var job SegmentJob
		if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil {
			e.t.Fatal(err)
		}
		if finished(job.Status) {
			return job
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("segment job %s still %s", id, job.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// memberIDs returns the profile ids with status st in segment id.
func (e *catEnv) memberIDs(id string, st memberStatus) []string {
	e.t.Helper()
	c := Caller{Org: catDevOrg, Sandbox: "prod"}
	m := e.srv.members.view(c)[id]
	var out []string
	sc := e.srv.store.scopes[scopeKey{c.Org, c.Sandbox}]
	for i, n := range m.ids {
		if got, _ := m.entry(i); got == st {
			ns, v, _ := cutIdentity(identityKey(sc.ids.key(n)))
			out = append(out, ns+":"+v)
		}
	}
	slices.Sort(out)
	return out
}

func TestSegmentJobLifecycle(t *testing.T) {
	e := newCatEnv(t)
	profiles := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "profiles"))
	events := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "events"))
	e.waitBatch(catDev, e.ingestBatch(catDev, profiles, false, map[string]string{"p.json": `{"identityMap":{"ECID":[{"id":"e1","primary":true}],"Email":[{"id":"ann@x.com"}]},"person":{"name":{"firstName":"Ann"}},"homeAddress":{"countryCode":"US"}}
{"identityMap":{"ECID":[{"id":"e2","primary":true}]},"person":{"name":{"firstName":"Bob"}},"homeAddress":{"countryCode":"US"}}
{"identityMap":{"ECID":[{"id":"e3","primary":true}]},"person":{"name":{"firstName":"Cid"}},"homeAddress":{"countryCode":"FR"}}
`}))
	e.waitBatch(catDev, e.ingestBatch(catDev, events, false, map[string]string{"e.json": `{"_id":"x1","timestamp":"2025-01-02T10:00:00Z","eventType":"commerce.purchases","identityMap":{"ECID":[{"id":"e2"}]}}
{"_id":"x2","timestamp":"2025-01-03T10:00:00Z","eventType":"commerce.purchases","identityMap":{"ECID":[{"id":"e3"}]}}
`}))
	us := e.createSegment("US", `homeAddress.countryCode = "US"`)
	buyers := e.createSegment("US buyers", fmt.Sprintf(`inSegment(%q) and xEvent[eventType = "commerce.purchases"].count() > 0`, us))
	ann := e.createSegment("Ann", `person.name.firstName = "Ann"`)

	// The dependent segment is listed first: the job orders them itself.
	job := e.runSegmentJob(buyers, us)
	if job.Status != jobSucceeded {
		t.Fatalf("job: %+v", job)
	}
	m := job.Metrics
	if m.TotalProfiles != 3 || m.SegmentedProfileCounter[us] != 2 || m.SegmentedProfileCounter[buyers] != 1 {
		t.Fatalf("metrics: %+v", m)
	}
	if got := m.SegmentedProfileByNamespaceCounter[us]; got["ECID"] != 2 || got["Email"] != 1 {
		t.Errorf("by namespace: %v", got)
	}
	if m.TotalTime == nil || m.TotalTime.EndTimeInMs < m.TotalTime.StartTimeInMs || m.ProfileSegmentationTime == nil {
		t.Errorf("timings: %+v %+v", m.TotalTime, m.ProfileSegmentationTime)
	}
	if got := e.memberIDs(us, statusRealized); !slices.Equal(got, []string{"ECID:e1", "ECID:e2"}) {
		t.Errorf("US members %v", got)
	}
	if got := e.memberIDs(buyers, statusRealized); !slices.Equal(got, []string{"ECID:e2"}) {
		t.Errorf("buyer members %v", got)
	}

	// Bob moves to France: a second job makes him exit both segments.
	e.waitBatch(catDev, e.ingestBatch(catDev, profiles, false, map[string]string{"p.json": `{"identityMap":{"ECID":[{"id":"e2","primary":true}]},"person":{"name":{"firstName":"Bob"}},"homeAddress":{"countryCode":"FR"}}
`}))
	job = e.runSegmentJob(us, buyers, ann)
	if job.Status != jobSucceeded {
		t.Fatalf("second job: %+v", job)
	}
	if got := job.Metrics.SegmentedProfileByStatusCounter[us]; got["realized"] != 1 || got["exited"] != 1 {
		t.Errorf("US by status: %v", got)
	}
	if got := e.memberIDs(us, statusExited); !slices.Equal(got, []string{"ECID:e2"}) {
		t.Errorf("US exited %v", got)
	}
	if got := e.memberIDs(buyers, statusExited); !slices.Equal(got, []string{"ECID:e2"}) {
		t.Errorf("buyers exited %v", got)
	}

	// A segment evaluated alone reads the memberships the last job left.
	usFR := e.createSegment("US or FR buyers", fmt.Sprintf(`inSegment(%q) or homeAddress.countryCode = "FR"`, us))
	job = e.runSegmentJob(usFR)
	if job.Metrics.SegmentedProfileCounter[usFR] != 3 {
		t.Errorf("inSegment of an earlier job: %v", job.Metrics.SegmentedProfileCounter)
	}

	// Memberships and jobs survive a restart.
	before := e.memberIDs(us, statusRealized)
	e.restart()
	if got := e.memberIDs(us, statusRealized); !slices.Equal(got, before) {
		t.Errorf("after restart US members %v, want %v", got, before)
	}
	if got := e.waitSegmentJob(job.ID); got.Status != jobSucceeded || got.Metrics.SegmentedProfileCounter[usFR] != 3 {
		t.Errorf("job after restart: %+v", got)
	}
}

func TestSegmentJobHTTP(t *testing.T) {
	e := newCatEnv(t)
	seg := e.createSegment("all", `true`)
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"malformed", `[{"segmentId":`, http.StatusBadRequest, "not valid"},
		{"empty array", `[]`, http.StatusBadRequest, "names no segments"},
		{"no id", `[{}]`, http.StatusBadRequest, "segmentId is required"},
		{"unknown", `[{"segmentId":"nope"}]`, http.StatusBadRequest, "nope is not found"},
		{"bad schema", `{"schema":{"name":"_xdm.context.experienceevent"},"segments":[{"segmentId":"*"}]}`, http.StatusBadRequest, "not supported"},
	} {
		rec := e.call(catDev, "prod", http.MethodPost, segmentJobsBase, tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	// The object form with "*".
	rec := e.call(catDev, "prod", http.MethodPost, segmentJobsBase, `{"schema":{"name":"_xdm.context.profile"},"segments":[{"segmentId":"*"}]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("create *: %d %s", rec.Code, rec.Body)
	}
	var job SegmentJob
	_ = json.Unmarshal(rec.Body.Bytes(), &job)
	if len(job.Segments) != 1 || job.Segments[0].SegmentID != seg || job.Segments[0].Segment.MergePolicyID == "" {
		t.Fatalf("job segments: %s", rec.Body)
	}
	if got := e.waitSegmentJob(job.ID); got.Status != jobSucceeded {
		t.Fatalf("job: %+v", got)
	}
	second := e.runSegmentJob(seg)

	// Other sandboxes and orgs do not see it.
	if rec := e.call(catDev, "dev", http.MethodGet, segmentJobsBase+"/"+job.ID, ""); rec.Code != http.StatusNotFound {
		t.Errorf("other sandbox: %d", rec.Code)
	}
	if rec := e.call(catA, "prod", http.MethodGet, segmentJobsBase+"/"+job.ID, ""); rec.Code != http.StatusNotFound {
		t.Errorf("other org: %d", rec.Code)
	}
	// Cancelling a finished job changes nothing.
	if rec := e.call(catDev, "prod", http.MethodDelete, segmentJobsBase+"/"+job.ID, ""); rec.Code != http.StatusNoContent {
		t.Errorf("delete: %d %s", rec.Code, rec.Body)
	}
	if got := e.waitSegmentJob(job.ID); got.Status != jobSucceeded {
		t.Errorf("after delete: %s", got.Status)
	}
	if rec := e.call(catDev, "prod", http.MethodDelete, segmentJobsBase+"/nope", ""); rec.Code != http.StatusNotFound {
		t.Errorf("delete unknown: %d", rec.Code)
	}

	// Paging, newest first.
	rec = e.call(catDev, "prod", http.MethodGet, segmentJobsBase+"?limit=1", "")
	var page struct {
		Page     map[string]int `json:"_page"`
		Children []SegmentJob   `json:"children"`
		Links    struct {
			Next map[string]string `json:"next"`
		} `json:"_links"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	if page.Page["totalCount"] != 2 || len(page.Children) != 1 || page.Children[0].ID != second.ID || page.Links.Next["href"] == "" {
		t.Errorf("page 1: %s", rec.Body)
	}
	rec = e.call(catDev, "prod", http.MethodGet, segmentJobsBase+"?limit=1&start=1&status=succeeded", "")
	_ = json.Unmarshal(rec.Body.Bytes(), &page)
	if len(page.Children) != 1 || page.Children[0].ID != job.ID {
		t.Errorf("page 2: %s", rec.Body)
	}
	if rec := e.call(catDev, "prod", http.MethodGet, segmentJobsBase+"?limit=0", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("limit=0: %d", rec.Code)
	}
	rec = e.call(catDev, "prod", http.MethodPost, segmentJobsBase+"/bulk-get", fmt.Sprintf(`{"ids":[{"id":%q},{"id":"nope"}]}`, job.ID))
	if rec.Code != http.StatusMultiStatus || !strings.Contains(rec.Body.String(), job.ID) || !strings.Contains(rec.Body.String(), "not found") {
		t.Errorf("bulk-get: %d %s", rec.Code, rec.Body)
	}
}

func TestSegmentMembersNext(t *testing.T) {
	var m *segmentMembers
	m, exits := m.next([]uint32{5, 1, 3, 3}, 100)
	if exits != 0 || !slices.Equal(m.ids, []uint32{1, 3, 5}) {
		t.Fatalf("first: %+v", m)
	}
	m, exits = m.next([]uint32{3, 7}, 200)
	if exits != 2 || !slices.Equal(m.ids, []uint32{1, 3, 5, 7}) {
		t.Fatalf("second: %+v %d", m, exits)
	}
	if st, at := m.get(1); st != statusExited || at != 200 {
		t.Errorf("1: %v %d", st, at)
	}
	if st, at := m.get(3); st != statusRealized || at != 200 {
		t.Errorf("3: %v %d", st, at)
	}
	// Exits stay exited (with their time) until the retention drops them.
	m, exits = m.next(nil, 300)
	if exits != 2 {
		t.Errorf("third exits %d", exits)
	}
	if st, at := m.get(1); st != statusExited || at != 200 {
		t.Errorf("1 later: %v %d", st, at)
	}
	m, _ = m.next(nil, 300+exitedRetention)
	if m.len() != 0 {
		t.Errorf("after retention: %+v", m)
	}
	// The file format round-trips.
	m, _ = (*segmentMembers)(nil).next([]uint32{0, 9, 1 << 20}, 1<<40)
	m, _ = m.next([]uint32{9}, 1<<41)
	dirs := dirTree{root: t.TempDir()}
	c := Caller{Org: "o@AdobeOrg", Sandbox: "prod"}
	if err := saveMembers(&dirs, c, "seg", m); err != nil {
		t.Fatal(err)
	}
	ms := newMemberships()
	if err := loadMembers(dirs.root, ms, func(Caller) int { return 1<<20 + 1 }); err != nil {
		t.Fatal(err)
	}
	got := ms.view(c)["seg"]
	if !slices.Equal(got.ids, m.ids) || !slices.Equal(got.status, m.status) || !slices.Equal(got.at, m.at) {
		t.Errorf("round trip: %+v, want %+v", got, m)
	}
	if err := loadMembers(dirs.root, newMemberships(), func(Caller) int { return 10 }); err == nil {
		t.Error("a file naming unknown identities loaded")
	}
}

// Jobs submitted together may share one pass; each still reports only
// its own segments, with the right counts.
func TestSegmentJobsShareAPass(t *testing.T) {
	e := newCatEnv(t)
	profiles := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "profiles"))
	var lines strings.Builder
	for i := range 30 {
		fmt.Fprintf(&lines, `{"identityMap":{"ECID":[{"id":"e%d","primary":true}]},"homeAddress":{"countryCode":%q}}`+"\n", i, []string{"US", "FR", "DE"}[i%3])
	}
	e.waitBatch(catDev, e.ingestBatch(catDev, profiles, false, map[string]string{"p.json": lines.String()}))
	want := map[string]int64{}
	var ids []string
	for i, cc := range []string{"US", "FR", "DE", "US", "IT"} {
		id := e.createSegment(fmt.Sprintf("seg %d", i), fmt.Sprintf(`homeAddress.countryCode = %q`, cc))
		want[id] = map[string]int64{"US": 10, "FR": 10, "DE": 10}[cc]
		ids = append(ids, id)
	}
	var jobs []string
	for _, id := range ids {
		rec := e.call(catDev, "prod", http.MethodPost, segmentJobsBase, fmt.Sprintf(`[{"segmentId":%q}]`, id))
		var job SegmentJob
		if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		jobs = append(jobs, job.ID)
	}
	for i, jobID := range jobs {
		job := e.waitSegmentJob(jobID)
		c := job.Metrics.SegmentedProfileCounter
		if job.Status != jobSucceeded || len(c) != 1 || c[ids[i]] != want[ids[i]] || job.Metrics.TotalProfiles != 30 {
			t.Errorf("job %d: %s %v total %d, want %s: %d", i, job.Status, c, job.Metrics.TotalProfiles, ids[i], want[ids[i]])
		}
	}
}

// Two jobs of one pass that list the same segment with different
// expressions (the definition changed in between) evaluate it as the
// newer job has it.
func TestSegmentJobsEvaluateTheNewestExpression(t *testing.T) {
	e := newCatEnv(t)
	profiles := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "profiles"))
	var lines strings.Builder
	for i := range 6 {
		fmt.Fprintf(&lines, `{"identityMap":{"ECID":[{"id":"e%d","primary":true}]},"homeAddress":{"countryCode":%q}}`+"\n", i, []string{"US", "FR", "DE"}[i%3])
	}
	e.waitBatch(catDev, e.ingestBatch(catDev, profiles, false, map[string]string{"p.json": lines.String()}))
	id := e.createSegment("s", `homeAddress.countryCode = "US"`)
	rec := e.call(catDev, "prod", http.MethodPost, segmentJobsBase, fmt.Sprintf(`[{"segmentId":%q}]`, id))
	var job SegmentJob
	if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil || rec.Code != http.StatusOK || len(job.Segments) != 1 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	e.waitSegmentJob(job.ID)
	older := job.Segments[0]
	newer := older
	newer.Segment.Expression.Value = `homeAddress.countryCode = "IT"`
	res, err := e.srv.segJobs.evaluate(context.Background(), devCaller("prod"), []segmentJobEntry{older, newer})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.segments[id].qualifying; got != 0 {
		t.Errorf("%d profiles qualify: the older expression was evaluated", got)
	}
}

// A job of a batch whose merge policy is gone fails alone: check names
// it, and passes the others.
func TestSegmentJobCheck(t *testing.T) {
	e := newCatEnv(t)
	id := e.createSegment("s", `homeAddress.countryCode = "US"`)
	rec := e.call(catDev, "prod", http.MethodPost, segmentJobsBase, fmt.Sprintf(`[{"segmentId":%q}]`, id))
	var job SegmentJob
	if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil || len(job.Segments) != 1 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	c := devCaller("prod")
	if err := e.srv.segJobs.check(c, job.Segments); err != nil {
		t.Errorf("a valid job: %v", err)
	}
	gone := job.Segments[0]
	gone.Segment.MergePolicyID = "no-such-policy"
	if err := e.srv.segJobs.check(c, []segmentJobEntry{gone}); err == nil || !strings.Contains(err.Error(), "no-such-policy") {
		t.Errorf("a job whose merge policy is gone: %v", err)
	}
}
