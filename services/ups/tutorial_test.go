package ups_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/services/ups/gen"
	"github.com/segflow/segflow/services/ups/upstest"
)

// TestTutorial follows ../shared/seed/segmentation-api-tutorial.md step by
// step over HTTP against a real ups loaded with its generated sample:
// define a segment, preview and estimate it, run a segment job, create a
// dataset, export the audience, list and download its files and read them
// as Parquet. The members must be exactly those an independent reading of
// the generated data finds.
func TestTutorial(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated data set")
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	const profiles = 3000
	cfg := upstest.Config(t)
	cfg.SampleProfiles = profiles
	base := upstest.Start(t, cfg, func() time.Time { return now })
	want := tutorialMembers(t, gen.Config{Profiles: profiles, Seed: 1, Now: now})
	if len(want) < 10 || len(want) > profiles/2 {
		t.Fatalf("the segment has %d of %d members: pick one that tells more", len(want), profiles)
	}

	t.Logf("%d of %d generated profiles qualify", len(want), profiles)
	api := newTutorialClient(t, base)
	api.waitSample()

	// Step 1: develop a segment definition (200, not 201).
	var def struct {
		ID            string `json:"id"`
		MergePolicyID string `json:"mergePolicyId"`
	}
	api.do("POST", "/data/core/ups/segment/definitions", `{
		"name": "US buyers", "profileInstanceId": "ups", "description": "US profiles with a purchase",
		"expression": {"type": "PQL", "format": "pql/text", "value": "homeAddress.countryCode = \"US\" and xEvent[eventType = \"commerce.purchases\"].count() > 0"},
		"evaluationInfo": {"batch": {"enabled": true}, "continuous": {"enabled": false}, "synchronous": {"enabled": false}},
		"schema": {"name": "_xdm.context.profile"}, "ttlInDays": 60}`, http.StatusOK, &def)
	if def.ID == "" || def.MergePolicyID == "" {
		t.Fatalf("definition: %+v", def)
	}

	// Step 2: estimate and preview (201, then poll the estimate).
	var preview struct {
		PreviewID string `json:"previewId"`
		State     string `json:"state"`
	}
	api.do("POST", "/data/core/ups/preview", `{"predicateExpression": "homeAddress.countryCode = \"US\" and xEvent[eventType = \"commerce.purchases\"].count() > 0",
		"predicateType": "pql/text", "predicateModel": "_xdm.context.profile", "graphType": "none"}`, http.StatusCreated, &preview)
	var estimate struct {
		State         string `json:"state"`
		EstimatedSize int    `json:"estimatedSize"`
		StandardError float64
	}
	api.poll("/data/core/ups/estimate/"+preview.PreviewID, &estimate, func() bool { return estimate.State == "RESULT_READY" })
	if estimate.EstimatedSize != len(want) || estimate.StandardError != 0 {
		t.Errorf("estimate %+v, want exactly %d (the whole population is read)", estimate, len(want))
	}
	var page struct {
		Results []map[string]any `json:"results"`
		State   string           `json:"state"`
	}
	api.do("GET", "/data/core/ups/preview/"+preview.PreviewID+"?limit=5", "", http.StatusOK, &page)
	if len(page.Results) != 5 {
		t.Errorf("preview page: %d results", len(page.Results))
	}

	// Step 3: segment the user base.
	var job struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Metrics struct {
			SegmentedProfileCounter map[string]int `json:"segmentedProfileCounter"`
		} `json:"metrics"`
	}
	api.do("POST", "/data/core/ups/segment/jobs", fmt.Sprintf(`[{"segmentId": %q}]`, def.ID), http.StatusOK, &job)
	api.poll("/data/core/ups/segment/jobs/"+job.ID, &job, func() bool { return job.Status == "SUCCEEDED" || job.Status == "FAILED" })
	if job.Status != "SUCCEEDED" || job.Metrics.SegmentedProfileCounter[def.ID] != len(want) {
		t.Fatalf("segment job: %+v, want %d members", job, len(want))
	}

	// Step 4: export the audience into a dataset on the union schema.
	var created []string
	api.do("POST", "/data/foundation/catalog/dataSets", `{"name": "Segment Export",
		"schemaRef": {"id": "https://ns.adobe.com/xdm/context/profile__union", "contentType": "application/vnd.adobe.xed+json;version=1"},
		"fileDescription": {"persisted": true, "containerFormat": "parquet", "format": "parquet"}}`, http.StatusCreated, &created)
	if len(created) != 1 || !strings.HasPrefix(created[0], "@/dataSets/") {
		t.Fatalf("dataset: %v", created)
	}
	datasetID := strings.TrimPrefix(created[0], "@/dataSets/")
	var export struct {
		ID          int64  `json:"id"`
		Status      string `json:"status"`
		Destination struct {
			BatchID string `json:"batchId"`
		} `json:"destination"`
		Metrics struct {
			TotalExportedProfileCounter int `json:"totalExportedProfileCounter"`
		} `json:"metrics"`
	}
	api.do("POST", "/data/core/ups/export/jobs", fmt.Sprintf(`{
		"fields": "identityMap,person.name,homeAddress.countryCode",
		"mergePolicy": {"id": %q, "version": 1},
		"filter": {"segments": [{"segmentId": %q, "segmentNs": "ups", "status": ["realized"]}]},
		"destination": {"datasetId": %q, "segmentPerBatch": false},
		"schema": {"name": "_xdm.context.profile"}}`, def.MergePolicyID, def.ID, datasetID), http.StatusOK, &export)
	api.poll(fmt.Sprintf("/data/core/ups/export/jobs/%d", export.ID), &export, func() bool { return export.Status == "SUCCEEDED" || export.Status == "FAILED" })
	if export.Status != "SUCCEEDED" || export.Metrics.TotalExportedProfileCounter != len(want) || export.Destination.BatchID == "" {
		t.Fatalf("export job: %+v", export)
	}

	// Step 4 continued: the batch in Catalog, its files through Data Access.
	var batches map[string]struct {
		Status  string `json:"status"`
		Metrics struct {
			RecordsWritten int `json:"recordsWritten"`
		} `json:"metrics"`
	}
	api.do("GET", "/data/foundation/catalog/batches/"+export.Destination.BatchID, "", http.StatusOK, &batches)
	if b := batches[export.Destination.BatchID]; b.Status != "success" || b.Metrics.RecordsWritten != len(want) {
		t.Errorf("catalog batch: %+v", b)
	}
	got := api.exportedMembers(export.Destination.BatchID)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("exported %d profiles, want %d; first differences: %v", len(got), len(want), firstDiff(got, want))
	}
}

// tutorialMembers reads the generated data independently of ups and pql:
// the ECIDs of US profiles with at least one purchase, sorted.
func tutorialMembers(t *testing.T, cfg gen.Config) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := gen.Events(cfg, &buf); err != nil {
		t.Fatal(err)
	}
	buyers := map[string]bool{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			EventType   string                           `json:"eventType"`
			IdentityMap map[string][]struct{ ID string } `json:"identityMap"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.EventType == "commerce.purchases" {
			buyers[e.IdentityMap["ECID"][0].ID] = true
		}
	}
	buf.Reset()
	if err := gen.Profiles(cfg, &buf); err != nil {
		t.Fatal(err)
	}
	var out []string
	sc = bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p struct {
			IdentityMap map[string][]struct{ ID string } `json:"identityMap"`
			HomeAddress struct{ CountryCode string }     `json:"homeAddress"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if ecid := p.IdentityMap["ECID"][0].ID; p.HomeAddress.CountryCode == "US" && buyers[ecid] {
			out = append(out, ecid)
		}
	}
	slices.Sort(out)
	return out
}

func firstDiff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var extra, missing []string
	for _, s := range got {
		if !w[s] && len(extra) < 3 {
			extra = append(extra, s)
		}
	}
	for _, s := range want {
		if !g[s] && len(missing) < 3 {
			missing = append(missing, s)
		}
	}
	return fmt.Sprintf("extra %v, missing %v", extra, missing)
}

// tutorialClient makes the tutorial's calls as curl would: a token from
// IMS, then the four headers on every call.
type tutorialClient struct {
	t     *testing.T
	base  string
	token string
}

func newTutorialClient(t *testing.T, base string) *tutorialClient {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"segflow-dev"}, "client_secret": {"segflow-dev-secret"}, "scope": {"openid,AdobeID"}}
	resp, err := http.PostForm(base+"/ims/token/v3", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return &tutorialClient{t: t, base: base, token: tok.AccessToken}
}

func (c *tutorialClient) request(method, path, body string, header map[string]string) *http.Response {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("x-api-key", "segflow-dev")
	req.Header.Set("x-gw-ims-org-id", "SEGFLOWDEV@AdobeOrg")
	req.Header.Set("x-sandbox-name", "prod")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// do makes a call, checks its status and decodes its JSON answer into v.
func (c *tutorialClient) do(method, path, body string, status int, v any) {
	c.t.Helper()
	resp := c.request(method, path, body, nil)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, status)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// poll GETs path into v until done reports true.
func (c *tutorialClient) poll(path string, v any, done func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.do("GET", path, "", http.StatusOK, v)
		if done() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("GET %s: not done after a minute: %+v", path, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSample waits until the sample's batches are in the profile store.
func (c *tutorialClient) waitSample() {
	c.t.Helper()
	var batches map[string]struct {
		Status string `json:"status"`
	}
	c.poll("/data/foundation/catalog/batches", &batches, func() bool {
		if len(batches) < 2 {
			return false
		}
		for _, b := range batches {
			if b.Status != "success" {
				return false
			}
		}
		return true
	})
}

// exportedMembers lists an export batch's files through Data Access,
// downloads each and returns the ECIDs of the profiles in them.
func (c *tutorialClient) exportedMembers(batchID string) []string {
	c.t.Helper()
	var files struct {
		Data []struct {
			DataSetFileID string `json:"dataSetFileId"`
		} `json:"data"`
	}
	c.do("GET", "/data/foundation/export/batches/"+batchID+"/files", "", http.StatusOK, &files)
	if len(files.Data) == 0 {
		c.t.Fatal("the export batch has no files")
	}
	var out []string
	for _, f := range files.Data {
		var listing struct {
			Data []struct {
				Name   string `json:"name"`
				Length string `json:"length"`
			} `json:"data"`
		}
		c.do("GET", "/data/foundation/export/files/"+f.DataSetFileID, "", http.StatusOK, &listing)
		for _, file := range listing.Data {
			resp := c.request("GET", "/data/foundation/export/files/"+f.DataSetFileID+"?path="+url.QueryEscape(file.Name), "", nil)
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || fmt.Sprint(len(data)) != file.Length {
				c.t.Fatalf("download %s: %d, %d bytes of %s: %v", file.Name, resp.StatusCode, len(data), file.Length, err)
			}
			ids, err := upstest.ParquetIdentities(data, "ECID")
			if err != nil {
				c.t.Fatalf("%s: %v", file.Name, err)
			}
			out = append(out, ids...)
		}
	}
	return out
}
