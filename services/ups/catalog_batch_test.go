package ups

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Batches are created and driven by batch ingestion through the internal
// API; these tests drive it directly and read the result over HTTP.

func devCaller(sandbox string) Caller {
	return Caller{ClientID: catDev, Org: catDevOrg, Sandbox: sandbox}
}

// newTestCatalog is a catalog on a fresh directory with one profile
// dataset of the dev org in prod.
func newTestCatalog(t *testing.T) (*catalog, dataset) {
	t.Helper()
	c, err := openCatalog(filepath.Join(t.TempDir(), "catalog"), newCatClock().now)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.createDataset(devCaller("prod"), datasetInput{
		Name:      "profiles",
		SchemaRef: schemaRef{ID: "_xdm.context.profile"},
		Tags:      map[string][]string{"unifiedProfile": {"enabled: true"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, d
}

func TestCatalogDatasetInternalAPI(t *testing.T) {
	c, d := newTestCatalog(t)
	got, err := c.dataset(devCaller("prod"), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "profiles" || got.schemaClass() != schemaProfile || !got.profileEnabled() {
		t.Errorf("dataset %+v: class %s, profile-enabled %v", got, got.schemaClass(), got.profileEnabled())
	}
	for _, caller := range []Caller{
		devCaller("dev"),
		{ClientID: catA, Org: catOrgA, Sandbox: "prod"},
	} {
		if _, err := c.dataset(caller, d.ID); !errors.Is(err, errDatasetNotFound) {
			t.Errorf("%+v: %v, want errDatasetNotFound", caller, err)
		}
	}
	var bad *badRequestError
	for _, caller := range []Caller{{ClientID: "x", Org: catDevOrg, Sandbox: "../etc"}, {ClientID: "x", Sandbox: "prod"}} {
		_, err := c.createDataset(caller, datasetInput{Name: "x", SchemaRef: schemaRef{ID: schemaEvent}})
		if !errors.As(err, &bad) {
			t.Errorf("createDataset as %+v: %v, want a bad request", caller, err)
		}
	}
}

func TestProfileEnabled(t *testing.T) {
	for _, tc := range []struct {
		tags map[string][]string
		want bool
	}{
		{map[string][]string{"unifiedProfile": {"enabled:true"}}, true},
		{map[string][]string{"unifiedProfile": {"isUpsert: true", "enabled: true"}}, true},
		{map[string][]string{"unifiedProfile": {"enabled:false"}}, false},
		{map[string][]string{"unifiedIdentity": {"enabled:true"}}, false},
		{nil, false},
	} {
		if got := (dataset{Tags: tc.tags}).profileEnabled(); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.tags, got, tc.want)
		}
	}
}

func TestCatalogBatchLifecycle(t *testing.T) {
	c, d := newTestCatalog(t)
	caller := devCaller("prod")

	b, err := c.createBatch(caller, d.ID, inputFormat{Format: "JSON"})
	if err != nil {
		t.Fatal(err)
	}
	if !isCatalogID(b.ID) || b.Status != batchLoading || b.DatasetID != d.ID || b.InputFormat.Format != "json" || b.Created == 0 || b.Created != b.Updated {
		t.Fatalf("new batch %+v", b)
	}
	if got, err := c.batch(caller, b.ID); err != nil || got.Status != batchLoading {
		t.Fatalf("batch: %+v %v", got, err)
	}

	p, err := c.setBatchStatus(caller, b.ID, batchProcessing)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != batchProcessing || p.Metrics.StartTime == 0 || p.Metrics.EndTime != 0 || p.Updated <= b.Updated || p.Revision != 1 {
		t.Fatalf("processing %+v", p)
	}

	rowErrs := []batchError{{Code: "INGEST-1212-400", Description: "record 3: birthDate is not a date", Rows: []string{"3"}}}
	s, err := c.completeBatch(caller, b.ID, batchOutcome{Status: batchSuccess, RecordsRead: 10, RecordsWritten: 9, RecordsFailed: 1, Errors: rowErrs})
	if err != nil {
		t.Fatal(err)
	}
	rowErrs[0].Rows[0] = "changed" // the caller's slices are not kept
	if s.Status != batchSuccess || s.Metrics.RecordsRead != 10 || s.Metrics.RecordsWritten != 9 || s.Metrics.RecordsFailed != 1 ||
		s.Metrics.StartTime != p.Metrics.StartTime || s.Metrics.EndTime < s.Metrics.StartTime || s.Revision != 2 {
		t.Fatalf("success %+v", s)
	}
	if got, _ := c.batch(caller, b.ID); len(got.Errors) != 1 || got.Errors[0].Rows[0] != "3" {
		t.Errorf("errors %+v", got.Errors)
	}

	// A final status is final: a second completion does not rewrite the first.
	if _, err := c.completeBatch(caller, b.ID, batchOutcome{Status: batchFailed}); !errors.Is(err, errBatchClosed) {
		t.Errorf("second completion: %v, want errBatchClosed", err)
	}
	if _, err := c.setBatchStatus(caller, b.ID, batchProcessing); !errors.Is(err, errBatchClosed) {
		t.Errorf("processing after success: %v, want errBatchClosed", err)
	}
	if got, _ := c.batch(caller, b.ID); got.Status != batchSuccess || got.Metrics.RecordsRead != 10 {
		t.Errorf("after refused changes %+v", got)
	}
	// ... except for deletion, once.
	if del, err := c.setBatchStatus(caller, b.ID, "deleted"); err != nil || del.Status != "deleted" {
		t.Errorf("delete: %+v %v", del, err)
	}
	if _, err := c.setBatchStatus(caller, b.ID, "deleted"); !errors.Is(err, errBatchClosed) {
		t.Errorf("second delete: %v, want errBatchClosed", err)
	}
}

func TestCatalogBatchFailsBeforeProcessing(t *testing.T) {
	c, d := newTestCatalog(t)
	caller := devCaller("prod")
	b, _ := c.createBatch(caller, d.ID, inputFormat{Format: "json"})
	f, err := c.completeBatch(caller, b.ID, batchOutcome{Status: batchFailed, Errors: []batchError{{Code: "no-files", Description: "the batch has no files"}}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != batchFailed || f.Metrics.StartTime == 0 || f.Metrics.EndTime != f.Metrics.StartTime {
		t.Errorf("failed %+v", f)
	}
	// Other enum statuses are stored as given.
	b2, _ := c.createBatch(caller, d.ID, inputFormat{Format: "parquet"})
	for _, st := range []string{"queued", "staging", "retrying"} {
		if got, err := c.setBatchStatus(caller, b2.ID, st); err != nil || got.Status != st {
			t.Errorf("status %s: %+v %v", st, got, err)
		}
	}
}

func TestCatalogBatchInvalid(t *testing.T) {
	c, d := newTestCatalog(t)
	caller := devCaller("prod")
	var bad *badRequestError
	if _, err := c.createBatch(caller, d.ID, inputFormat{Format: "xml"}); !errors.As(err, &bad) {
		t.Errorf("format xml: %v", err)
	}
	if _, err := c.createBatch(caller, d.ID, inputFormat{}); !errors.As(err, &bad) {
		t.Errorf("no format: %v", err)
	}
	if _, err := c.createBatch(caller, "0123456789abcdef01234567", inputFormat{Format: "json"}); !errors.Is(err, errDatasetNotFound) {
		t.Errorf("unknown dataset: %v", err)
	}
	for _, other := range []Caller{devCaller("dev"), {ClientID: catB, Org: catOrgB, Sandbox: "prod"}} {
		if _, err := c.createBatch(other, d.ID, inputFormat{Format: "json"}); !errors.Is(err, errDatasetNotFound) {
			t.Errorf("another scope's dataset: %v", err)
		}
	}
	b, _ := c.createBatch(caller, d.ID, inputFormat{Format: "json"})
	for _, other := range []Caller{devCaller("dev"), {ClientID: catB, Org: catOrgB, Sandbox: "prod"}} {
		if _, err := c.batch(other, b.ID); !errors.Is(err, errBatchNotFound) {
			t.Errorf("batch from another scope: %v", err)
		}
		if _, err := c.setBatchStatus(other, b.ID, batchProcessing); !errors.Is(err, errBatchNotFound) {
			t.Errorf("setBatchStatus from another scope: %v", err)
		}
		if _, err := c.completeBatch(other, b.ID, batchOutcome{Status: batchSuccess}); !errors.Is(err, errBatchNotFound) {
			t.Errorf("completeBatch from another scope: %v", err)
		}
	}
	if _, err := c.setBatchStatus(caller, b.ID, "done"); !errors.As(err, &bad) {
		t.Errorf("status done: %v", err)
	}
	for _, out := range []batchOutcome{{Status: batchProcessing}, {Status: "deleted"}, {Status: batchSuccess, RecordsRead: -1}} {
		if _, err := c.completeBatch(caller, b.ID, out); !errors.As(err, &bad) {
			t.Errorf("outcome %+v: %v", out, err)
		}
	}
	if got, _ := c.batch(caller, b.ID); got.Status != batchLoading || got.Revision != 0 {
		t.Errorf("refused calls changed the batch: %+v", got)
	}
}

func TestCatalogBatchErrorsBounded(t *testing.T) {
	c, d := newTestCatalog(t)
	caller := devCaller("prod")
	b, _ := c.createBatch(caller, d.ID, inputFormat{Format: "json"})
	errs := make([]batchError, 250)
	for i := range errs {
		errs[i] = batchError{Code: "bad-row", Rows: []string{fmt.Sprint(i + 1)}}
	}
	got, err := c.completeBatch(caller, b.ID, batchOutcome{Status: batchFailed, RecordsRead: 250, RecordsFailed: 250, Errors: errs})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Errors) != maxBatchErrors || got.Errors[maxBatchErrors-1].Description != "151 more errors not listed" {
		t.Errorf("%d errors, last %+v", len(got.Errors), got.Errors[len(got.Errors)-1])
	}
}

func TestCatalogUnfinishedBatches(t *testing.T) {
	c, d := newTestCatalog(t)
	caller := devCaller("prod")
	done, _ := c.createBatch(caller, d.ID, inputFormat{Format: "json"})
	loading, _ := c.createBatch(caller, d.ID, inputFormat{Format: "json"})
	processing, _ := c.createBatch(caller, d.ID, inputFormat{Format: "json"})
	c.completeBatch(caller, done.ID, batchOutcome{Status: batchSuccess})
	c.setBatchStatus(caller, processing.ID, batchProcessing)

	// Reopened, as after a restart.
	c2, err := openCatalog(c.dir, newCatClock().now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range c2.unfinishedBatches() {
		ids = append(ids, b.ID)
		if b.owner() != caller {
			t.Errorf("owner %+v, want %+v", b.owner(), caller)
		}
	}
	if !slices.Equal(ids, []string{loading.ID, processing.ID}) {
		t.Errorf("unfinished %v, want %v", ids, []string{loading.ID, processing.ID})
	}
}

func TestCatalogBatchConcurrentUpdates(t *testing.T) {
	c, d := newTestCatalog(t)
	caller := devCaller("prod")
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Go(func() {
			b, err := c.createBatch(caller, d.ID, inputFormat{Format: "json"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = b.ID
			c.setBatchStatus(caller, b.ID, batchProcessing)
			c.completeBatch(caller, b.ID, batchOutcome{Status: batchSuccess, RecordsRead: int64(i)})
		})
		wg.Go(func() { _ = c.batchObjects(caller); _ = c.unfinishedBatches() })
	}
	wg.Wait()
	for i, id := range ids {
		if b, err := c.batch(caller, id); err != nil || b.Status != batchSuccess || b.Metrics.RecordsRead != int64(i) || b.Revision != 2 {
			t.Errorf("batch %d: %+v %v", i, b, err)
		}
	}
}

// batchHTTPFixture: datasets and batches in two orgs and two sandboxes,
// made through the internal API, then served by a restarted server.
type batchHTTPFixture struct {
	e                   *catEnv
	ds1, ds2, dsDev     string
	b1, b2, b3, bDev, o batch
}

func newBatchHTTPFixture(t *testing.T) *batchHTTPFixture {
	f := &batchHTTPFixture{e: newCatEnv(t)}
	e := f.e
	f.ds1 = e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, "one"))
	f.ds2 = e.createDataset(catDev, "prod", fmt.Sprintf(profileUnionBody, "two"))
	f.dsDev = e.createDataset(catDev, "dev", fmt.Sprintf(profileUnionBody, "in dev"))
	dsB := e.createDataset(catB, "prod", fmt.Sprintf(profileUnionBody, "org B"))
	e.withCatalog(func(c *catalog) {
		must := func(b batch, err error) batch {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		prod := devCaller("prod")
		f.b1 = must(c.createBatch(prod, f.ds1, inputFormat{Format: "json"}))
		must(c.setBatchStatus(prod, f.b1.ID, batchProcessing))
		f.b1 = must(c.completeBatch(prod, f.b1.ID, batchOutcome{
			Status: batchSuccess, RecordsRead: 4, RecordsWritten: 4,
		}))
		f.b2 = must(c.createBatch(prod, f.ds2, inputFormat{Format: "parquet"}))
		f.b2 = must(c.completeBatch(prod, f.b2.ID, batchOutcome{
			Status: batchFailed, RecordsRead: 2, RecordsFailed: 2,
			Errors: []batchError{{Code: "TypeCompatibilityException", Description: "birthDate", Rows: []string{"1-2"}}},
		}))
		f.b3 = must(c.createBatch(prod, f.ds1, inputFormat{Format: "json", IsMultiLineJSON: true}))
		f.bDev = must(c.createBatch(devCaller("dev"), f.dsDev, inputFormat{Format: "json"}))
		f.o = must(c.createBatch(Caller{ClientID: catB, Org: catOrgB, Sandbox: "prod"}, dsB, inputFormat{Format: "json"}))
	})
	return f
}

func TestCatalogGetBatch(t *testing.T) {
	f := newBatchHTTPFixture(t)
	rec := f.e.get(catDev, "prod", "/batches/"+f.b1.ID)
	got := objects(t, rec)
	if len(got) != 1 {
		t.Fatalf("%d objects", len(got))
	}
	b := got[f.b1.ID]
	var shape struct {
		ImsOrg         string              `json:"imsOrg"`
		Status         string              `json:"status"`
		Created        int64               `json:"created"`
		Updated        int64               `json:"updated"`
		CreatedClient  string              `json:"createdClient"`
		Version        string              `json:"version"`
		RelatedObjects []map[string]string `json:"relatedObjects"`
		Metrics        map[string]int64    `json:"metrics"`
		Errors         []any               `json:"errors"`
		Tags           map[string][]string `json:"tags"`
		InputFormat    map[string]any      `json:"inputFormat"`
	}
	raw, _ := json.Marshal(b)
	if err := json.Unmarshal(raw, &shape); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if shape.ImsOrg != catDevOrg || shape.Status != "success" || shape.CreatedClient != catDev || shape.Version != "1.0.2" ||
		shape.Created == 0 || shape.Updated <= shape.Created || shape.Errors == nil || len(shape.Errors) != 0 || shape.Tags == nil ||
		shape.InputFormat["format"] != "json" {
		t.Errorf("batch %s", raw)
	}
	if len(shape.RelatedObjects) != 1 || shape.RelatedObjects[0]["type"] != "dataSet" || shape.RelatedObjects[0]["id"] != f.ds1 {
		t.Errorf("relatedObjects %v", shape.RelatedObjects)
	}
	m := shape.Metrics
	if m["recordsRead"] != 4 || m["recordsWritten"] != 4 || m["recordsFailed"] != 0 || m["startTime"] == 0 || m["endTime"] < m["startTime"] {
		t.Errorf("metrics %v", m)
	}

	failed := objects(t, f.e.get(catDev, "prod", "/batches/"+f.b2.ID))[f.b2.ID]
	if failed["status"] != "failed" || !strings.Contains(fmt.Sprint(failed["errors"]), "TypeCompatibilityException") {
		t.Errorf("failed batch %v", failed)
	}
	loading := objects(t, f.e.get(catDev, "prod", "/batches/"+f.b3.ID))[f.b3.ID]
	if loading["status"] != "loading" || loading["version"] != "1.0.0" || fmt.Sprint(loading["inputFormat"]) != "map[format:json isMultiLineJson:true]" {
		t.Errorf("loading batch %v", loading)
	}
	if p := objects(t, f.e.get(catDev, "prod", "/batches/"+f.b1.ID+"?properties=status,metrics"))[f.b1.ID]; len(p) != 2 {
		t.Errorf("projected %v", p)
	}
}

func TestCatalogBatchIsolation(t *testing.T) {
	f := newBatchHTTPFixture(t)
	for _, tc := range []struct {
		client, sandbox, id string
	}{
		{catB, "prod", f.b1.ID},   // another org
		{catDev, "dev", f.b1.ID},  // another sandbox
		{catDev, "prod", f.o.ID},  // org B's batch
		{catDev, "prod", f.ds1},   // a dataset id is not a batch id
		{catDev, "prod", "nope"},  // not an id at all
		{catA, "prod", f.bDev.ID}, // org A sees nothing
	} {
		rec := f.e.get(tc.client, tc.sandbox, "/batches/"+tc.id)
		wantCatalogError(t, rec, http.StatusNotFound, titleNotFound, "Batch not found.")
	}
	if got := keys(t, f.e.get(catB, "prod", "/batches")); !slices.Equal(got, []string{f.o.ID}) {
		t.Errorf("org B lists %v", got)
	}
	if got := keys(t, f.e.get(catDev, "dev", "/batches")); !slices.Equal(got, []string{f.bDev.ID}) {
		t.Errorf("dev sandbox lists %v", got)
	}
	if got := keys(t, f.e.get(catA, "prod", "/batches")); len(got) != 0 {
		t.Errorf("org A lists %v", got)
	}
}

func TestCatalogListBatches(t *testing.T) {
	f := newBatchHTTPFixture(t)
	b1, b2, b3 := f.b1.ID, f.b2.ID, f.b3.ID
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{b1, b2, b3}},
		{"?orderBy=desc:created", []string{b3, b2, b1}},
		{"?limit=1&start=1", []string{b2}},
		{"?dataSet=" + f.ds1, []string{b1, b3}},
		{"?dataSet=" + f.ds2, []string{b2}},
		{"?dataSet=" + f.dsDev, []string{}}, // another sandbox's dataset
		{"?dataSet=" + f.ds1 + "&orderBy=desc:created", []string{b3, b1}},
		{fmt.Sprint("?createdAfter=", f.b1.Created), []string{b2, b3}}, // exclusive
		{fmt.Sprint("?createdAfter=", f.b1.Created-1), []string{b1, b2, b3}},
		{fmt.Sprint("?createdBefore=", f.b3.Created), []string{b1, b2}},
		{fmt.Sprint("?createdAfter=", f.b1.Created, "&createdBefore=", f.b3.Created), []string{b2}},
		{"?status=loading", []string{b3}},
		{"?status=success", []string{b1}},
		{"?property=" + "metrics.recordsFailed%3E0", []string{b2}},
		{"?property=" + "inputFormat.format==parquet", []string{b2}},
		{"?orderBy=desc:metrics.recordsRead", []string{b1, b2, b3}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			if got := keys(t, f.e.get(catDev, "prod", "/batches"+tc.query)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
