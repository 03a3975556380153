package ups_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/gen"
	"github.com/segflow/segflow/services/ups/upstest"
)

// An end-to-end test of batch ingestion over HTTP, driven by pkg/platform
// as the pipeline drives the Platform: ups on a loopback port, datasets,
// Parquet, single-line JSON and JSON-array files, Catalog counts, and a
// failed batch's rows through Data Access.

// e2eUPS runs ups on 127.0.0.1 over a temporary data directory, with its
// default configuration (the dev client), and returns its base URL.
func e2eUPS(t *testing.T) string {
	t.Helper()
	return upstest.Start(t, upstest.Config(t), nil)
}

var e2eConfig = platform.Config{ClientID: "segflow-dev", ClientSecret: "segflow-dev-secret", OrgID: "SEGFLOWDEV@AdobeOrg", Sandbox: "prod"}

// XDM ExperienceEvents as Parquet columns: the fields gen writes for
// page views and product views (other events' extra fields are left out).
type pqIdentity struct {
	ID                 string `parquet:"id" json:"id"`
	AuthenticatedState string `parquet:"authenticatedState" json:"authenticatedState"`
	Primary            bool   `parquet:"primary" json:"primary"`
}

type pqPage struct {
	Name string `parquet:"name" json:"name"`
	URL  string `parquet:"URL" json:"URL"`
}

type pqWeb struct {
	WebPageDetails pqPage `parquet:"webPageDetails" json:"webPageDetails"`
}

type pqItem struct {
	SKU          string  `parquet:"SKU" json:"SKU"`
	Name         string  `parquet:"name" json:"name"`
	Quantity     int32   `parquet:"quantity" json:"quantity"`
	PriceTotal   float64 `parquet:"priceTotal" json:"priceTotal"`
	CurrencyCode string  `parquet:"currencyCode" json:"currencyCode"`
}

type pqEvent struct {
	ID               string                  `parquet:"_id" json:"_id"`
	Timestamp        time.Time               `parquet:"timestamp,timestamp(millisecond)" json:"timestamp"`
	EventType        string                  `parquet:"eventType" json:"eventType"`
	IdentityMap      map[string][]pqIdentity `parquet:"identityMap" json:"identityMap"`
	Web              *pqWeb                  `parquet:"web,optional" json:"web"`
	ProductListItems []pqItem                `parquet:"productListItems,list" json:"productListItems"`
}

// generated returns gen's profiles and events of profiles [lo, hi), one
// JSON record a line.
func generated(t *testing.T, g *gen.Generator, lo, hi int) (profiles, events []string) {
	t.Helper()
	for i := lo; i < hi; i++ {
		profiles = append(profiles, lines(g.AppendProfile(nil, i))...)
		evs, _ := g.AppendEvents(nil, i)
		events = append(events, lines(evs)...)
	}
	return profiles, events
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// parquetEvents writes events (JSON lines) as a Parquet file.
func parquetEvents(t *testing.T, events []string) []byte {
	t.Helper()
	rows := make([]pqEvent, len(events))
	for i, e := range events {
		if err := json.Unmarshal([]byte(e), &rows[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[pqEvent](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ingestFile runs one batch of one file to its end.
func ingestFile(t *testing.T, c *platform.Client, datasetID, format string, multiLine bool, name string, data []byte) (platform.Batch, error) {
	t.Helper()
	ctx := context.Background()
	b, err := c.CreateBatch(ctx, datasetID, format, multiLine)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadFile(ctx, b.ID, datasetID, name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.WaitBatch(wctx, b.ID, platform.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond})
}

func TestUploadEndToEnd(t *testing.T) {
	base := e2eUPS(t)
	cfg := e2eConfig
	cfg.BaseURL = base
	c, err := platform.New(cfg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	profilesDS, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "e2e profiles", Schema: platform.SchemaProfile, Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	eventsDS, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "e2e events", Schema: platform.SchemaExperienceEvent, Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{profilesDS, eventsDS} {
		if d, err := c.Dataset(ctx, id); err != nil || !d.ProfileEnabled() {
			t.Fatalf("dataset %s: %+v, %v", id, d, err)
		}
	}

	g, err := gen.New(gen.Config{Profiles: 6, EventsPerProfile: 5, Seed: 3, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	profiles, events := generated(t, g, 0, 6)
	// Parquet holds the page and product views (the columns pqEvent has);
	// the JSON array the rest.
	var pqRows, arrayRows []string
	for _, e := range events {
		if strings.Contains(e, `"eventType":"web.webpagedetails.pageViews"`) || strings.Contains(e, `"eventType":"commerce.productViews"`) {
			pqRows = append(pqRows, e)
		} else {
			arrayRows = append(arrayRows, e)
		}
	}
	if len(pqRows) == 0 || len(arrayRows) == 0 {
		t.Fatalf("seed gives %d Parquet and %d array events: pick another", len(pqRows), len(arrayRows))
	}

	steps := []struct {
		name, dataset, format string
		multiLine             bool
		data                  []byte
		records               int
	}{
		{"profiles.json", profilesDS, platform.FormatJSON, false, []byte(strings.Join(profiles, "\n") + "\n"), len(profiles)},
		{"views.parquet", eventsDS, platform.FormatParquet, false, parquetEvents(t, pqRows), len(pqRows)},
		{"commerce.json", eventsDS, platform.FormatJSON, true, []byte("[\n" + strings.Join(arrayRows, ",\n") + "\n]\n"), len(arrayRows)},
	}
	written := map[string]int64{}
	for _, s := range steps {
		b, err := ingestFile(t, c, s.dataset, s.format, s.multiLine, s.name, s.data)
		if err != nil {
			rows, _ := c.FailedRows(ctx, b.ID)
			t.Fatalf("%s: %v; failed rows %+v", s.name, err, rows)
		}
		m := b.Metrics
		if b.Status != platform.BatchSuccess || m.RecordsRead != int64(s.records) || m.RecordsWritten != int64(s.records) || m.RecordsFailed != 0 {
			t.Errorf("%s: batch %s %s, metrics %+v; want %d records", s.name, b.ID, b.Status, m, s.records)
		}
		if b.DatasetID() != s.dataset || b.InputFormat.Format != s.format || b.InputFormat.IsMultiLineJSON != s.multiLine {
			t.Errorf("%s: batch %+v", s.name, b)
		}
		written[s.dataset] += int64(s.records)
	}
	// Catalog's batches per dataset add up to what was sent.
	for ds, want := range written {
		bs, err := c.ListBatches(ctx, platform.BatchListOptions{DatasetID: ds, Status: platform.BatchSuccess})
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		for _, b := range bs {
			got += b.Metrics.RecordsWritten
		}
		if got != want {
			t.Errorf("dataset %s: Catalog counts %d records written, want %d", ds, got, want)
		}
	}

	// One event without a timestamp fails its whole batch.
	var bad map[string]any
	if err := json.Unmarshal([]byte(arrayRows[0]), &bad); err != nil {
		t.Fatal(err)
	}
	delete(bad, "timestamp")
	badLine, _ := json.Marshal(bad)
	data := []byte(events[1] + "\n" + string(badLine) + "\n" + events[2] + "\n")
	b, err := ingestFile(t, c, eventsDS, platform.FormatJSON, false, "bad.json", data)
	var failed *platform.BatchFailedError
	if !errors.Is(err, platform.ErrBatchFailed) || !errors.As(err, &failed) || b.Status != platform.BatchFailed {
		t.Fatalf("bad batch: %+v, %v", b, err)
	}
	if m := b.Metrics; m.RecordsRead != 3 || m.RecordsFailed != 1 || m.RecordsWritten != 0 {
		t.Errorf("bad batch metrics %+v, want 3 read, 1 failed, 0 written", m)
	}
	if len(b.Errors) == 0 || b.Errors[0].Code != "MissingRequiredField" {
		t.Errorf("bad batch errors %+v", b.Errors)
	}
	want := platform.FailedRow{File: "bad.json", Row: 2, Code: "MissingRequiredField"}

	// Through the client …
	rows, err := c.FailedRows(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].File != want.File || rows[0].Row != want.Row || rows[0].Code != want.Code || !strings.Contains(rows[0].Message, "timestamp") {
		t.Fatalf("FailedRows = %+v", rows)
	}
	// … and as plain HTTP, the way any Platform client reads it.
	var raw struct {
		Data []platform.FailedRow `json:"data"`
		Page struct {
			Count int `json:"count"`
		} `json:"_page"`
	}
	getJSON(t, base, "/data/foundation/export/batches/"+b.ID+"/failed", &raw)
	if raw.Page.Count != 1 || len(raw.Data) != 1 || raw.Data[0] != rows[0] {
		t.Fatalf("GET /failed = %+v", raw)
	}
	// Nothing of the failed batch was counted.
	bs, err := c.ListBatches(ctx, platform.BatchListOptions{DatasetID: eventsDS, Status: platform.BatchSuccess})
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	for _, b := range bs {
		got += b.Metrics.RecordsWritten
	}
	if got != written[eventsDS] {
		t.Errorf("events dataset: %d records after the failed batch, want %d", got, written[eventsDS])
	}
}

// getJSON gets path with a fresh token and the gateway headers, and
// decodes the 200 answer into v.
func getJSON(t *testing.T, base, path string, v any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e2eConfig.ClientID}, "client_secret": {e2eConfig.ClientSecret}, "scope": {"openid,AdobeID,read_organizations"}}
	resp, err := http.PostForm(base+"/ims/token/v3", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("x-api-key", e2eConfig.ClientID)
	req.Header.Set("x-gw-ims-org-id", e2eConfig.OrgID)
	req.Header.Set("x-sandbox-name", e2eConfig.Sandbox)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}
