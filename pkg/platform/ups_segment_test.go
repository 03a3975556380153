package platform_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/segflow/segflow/pkg/platform"
)

// The segmentation workflow through the client against a real ups:
// define, convert, preview and estimate, segment, export into a dataset on
// the union schema, list the batch's files, download them (one download
// cut mid-body and resumed with Range) and read them as Parquet.
//
// ups is gaining these endpoints piece by piece; a part whose endpoint ups
// does not serve yet (404 "no such endpoint") is skipped, saying so.

// skipIfMissing skips the test (or subtest) when err is ups's answer to
// an endpoint it does not have.
func skipIfMissing(t *testing.T, err error, what string) {
	t.Helper()
	var pe *platform.Error
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound && strings.Contains(pe.Message, "no such endpoint") {
		t.Skipf("ups does not serve %s yet (%s %s: %s)", what, pe.Method, pe.Path, pe.Message)
	}
}

// cutOnce is a transport that breaks the body of the first whole-file
// download halfway, as a dropped connection would.
type cutOnce struct {
	base http.RoundTripper
	done atomic.Bool
	mu   sync.Mutex
	seen []string // "<Range> -> <status> <Content-Range>" of every file download
}

func (c *cutOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/data/foundation/export/files/") || !req.URL.Query().Has("path") {
		return resp, err
	}
	c.mu.Lock()
	c.seen = append(c.seen, fmt.Sprintf("%q -> %d %q", req.Header.Get("Range"), resp.StatusCode, resp.Header.Get("Content-Range")))
	c.mu.Unlock()
	if resp.StatusCode == http.StatusOK && req.Header.Get("Range") == "" && resp.ContentLength > 1 && c.done.CompareAndSwap(false, true) {
		resp.Body = &cutBody{rc: resp.Body, left: resp.ContentLength / 2}
	}
	return resp, nil
}

func (c *cutOnce) downloads() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

type cutBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cutBody) Close() error { return b.rc.Close() }

// profile is one test profile: its ECID, first name and country.
type profile struct{ ecid, name, country string }

func testProfiles() []profile {
	var ps []profile
	for i := range 12 {
		country := "US"
		if i%3 == 1 {
			country = "CA"
		}
		ps = append(ps, profile{fmt.Sprintf("ecid-%02d", i), fmt.Sprintf("Person%02d", i), country})
	}
	return ps
}

// ingestProfiles loads ps into a new Profile-enabled dataset.
func ingestProfiles(t *testing.T, c *platform.Client, ps []profile) {
	t.Helper()
	ctx := context.Background()
	ds, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "crm", Schema: platform.SchemaProfile, Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateBatch(ctx, ds, platform.FormatJSON, false)
	if err != nil {
		t.Fatal(err)
	}
	var data strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&data, `{"_id":"%s","identityMap":{"ECID":[{"id":"%s","primary":true}]},"person":{"name":{"firstName":"%s"}},"homeAddress":{"countryCode":"%s"}}`+"\n", p.ecid, p.ecid, p.name, p.country)
	}
	if err := c.UploadFile(ctx, b.ID, ds, "crm.json", strings.NewReader(data.String()), int64(data.Len())); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitBatch(ctx, b.ID, fastPoll); err != nil {
		t.Fatal(err)
	}
}

func TestUPSSegmentationWorkflow(t *testing.T) {
	base := startUPS(t, "segflow-dev:segflow-dev-secret@SEGFLOWDEV@AdobeOrg", nil)
	cut := &cutOnce{base: http.DefaultTransport}
	c, err := platform.New(platform.Config{BaseURL: base, ClientID: devClient, ClientSecret: devSecret, OrgID: devOrg, HTTPClient: &http.Client{Transport: cut}},
		platform.Options{Retry: platform.RetryPolicy{Backoff: platform.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wait := platform.WaitOptions{Poll: platform.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}, Timeout: time.Minute}

	ps := testProfiles()
	ingestProfiles(t, c, ps)
	var us []profile
	for _, p := range ps {
		if p.country == "US" {
			us = append(us, p)
		}
	}
	const pqlUS = `homeAddress.countryCode = "US"`

	// 1. The definition.
	def, err := c.CreateSegmentDefinition(ctx, platform.SegmentDefinition{
		Name:           "US people",
		Description:    "profiles living in the US",
		Expression:     platform.PQL(pqlUS),
		EvaluationInfo: &platform.EvaluationInfo{Batch: platform.EvaluationMode{Enabled: true}},
	})
	skipIfMissing(t, err, "segment definitions")
	if err != nil {
		t.Fatal(err)
	}
	if def.ID == "" || def.Name != "US people" || def.MergePolicyID == "" || def.Sandbox == nil || def.Sandbox.SandboxName != "prod" || def.CreationTime == 0 {
		t.Fatalf("definition %+v", def)
	}
	if _, err := c.CreateSegmentDefinition(ctx, platform.SegmentDefinition{Name: "US people", Expression: platform.PQL(pqlUS)}); !errors.Is(err, platform.ErrBadRequest) {
		t.Fatalf("a second definition of the same name: %v", err)
	}
	if found, err := c.FindSegmentDefinitions(ctx, "US people"); err != nil || len(found) != 1 || found[0].ID != def.ID {
		t.Fatalf("FindSegmentDefinitions = %+v, %v", found, err)
	}
	def.Description = "profiles whose home is in the US"
	if upd, err := c.UpdateSegmentDefinition(ctx, def); err != nil || upd.Description != def.Description || upd.ID != def.ID {
		t.Fatalf("UpdateSegmentDefinition = %+v, %v", upd, err)
	}
	if got, err := c.SegmentDefinition(ctx, def.ID); err != nil || got.Description != def.Description || got.Expression.Value != pqlUS {
		t.Fatalf("SegmentDefinition = %+v, %v", got, err)
	}
	if _, err := c.SegmentDefinition(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, platform.ErrNotFound) {
		t.Fatalf("an unknown definition: %v", err)
	}
	t.Run("conversion", func(t *testing.T) {
		js, err := c.ConvertExpression(ctx, platform.PQL(pqlUS))
		skipIfMissing(t, err, "segment conversion")
		if err != nil {
			t.Fatal(err)
		}
		if js.Format != platform.FormatPQLJSON || !strings.Contains(js.Value, `"fnApply"`) {
			t.Fatalf("pql/json %+v", js)
		}
		back, err := c.ConvertExpression(ctx, js)
		if err != nil || back.Format != platform.FormatPQLText || !strings.Contains(back.Value, "countryCode") {
			t.Fatalf("back to text %+v, %v", back, err)
		}
	})
	t.Run("definition lifecycle", func(t *testing.T) {
		tmp, err := c.CreateSegmentDefinition(ctx, platform.SegmentDefinition{Name: "to delete", Expression: platform.PQL(`homeAddress.countryCode = "CA"`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteSegmentDefinition(ctx, tmp.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SegmentDefinition(ctx, tmp.ID); !errors.Is(err, platform.ErrNotFound) {
			t.Fatalf("a deleted definition: %v", err)
		}
	})

	// 2. Preview and estimate (optional in the workflow: a subtest).
	t.Run("preview", func(t *testing.T) {
		p, err := c.CreatePreview(ctx, platform.PreviewRequest{PredicateExpression: pqlUS, GraphType: platform.GraphNone})
		skipIfMissing(t, err, "previews")
		if err != nil {
			t.Fatal(err)
		}
		est, err := c.WaitEstimate(ctx, p.PreviewID, wait)
		if err != nil {
			t.Fatal(err)
		}
		if est.EstimatedSize != int64(len(us)) || est.TotalRows != int64(len(ps)) || est.ConfidenceInterval != "95%" {
			t.Fatalf("estimate %+v, want %d of %d", est, len(us), len(ps))
		}
		profiles, err := c.PreviewProfiles(ctx, p.PreviewID, 5, 0) // three pages
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, pp := range profiles {
			ids = append(ids, pp.ID)
		}
		slices.Sort(ids)
		var want []string
		for _, p := range us {
			want = append(want, "ECID:"+p.ecid)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("previewed %v, want %v", ids, want)
		}
		if err := c.DeletePreview(ctx, p.PreviewID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Estimate(ctx, p.PreviewID); !errors.Is(err, platform.ErrNotFound) {
			t.Fatalf("a deleted preview's estimate: %v", err)
		}
	})

	// 3. The segment job.
	job, err := c.CreateSegmentJob(ctx, def.ID)
	skipIfMissing(t, err, "segment jobs")
	if err != nil {
		t.Fatal(err)
	}
	polls := 0
	w := wait
	w.OnPoll = func(string, error) { polls++ }
	job, err = c.WaitSegmentJob(ctx, job.ID, w)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := job.SegmentCount(def.ID); !ok || n != int64(len(us)) || job.Status != platform.JobSucceeded || polls == 0 ||
		job.Metrics.TotalTime.EndTimeInMs == 0 || len(job.Segments) != 1 || job.Segments[0].SegmentID != def.ID {
		t.Fatalf("segment job %+v (%d polls), want %d members", job, polls, len(us))
	}
	if page, err := c.ListSegmentJobs(ctx, platform.SegmentJobListOptions{SegmentID: def.ID, Status: platform.JobSucceeded}); err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != job.ID {
		t.Fatalf("ListSegmentJobs = %+v, %v", page, err)
	}
	if _, err := c.CreateSegmentJob(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, platform.ErrBadRequest) && !errors.Is(err, platform.ErrNotFound) {
		t.Fatalf("a job of an unknown definition: %v", err)
	}

	// 4. The export, into a dataset on the profile union schema.
	dsID, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "Segment Export", Schema: platform.SchemaProfileUnion})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := c.CreateExportJob(ctx, platform.ExportJobRequest{
		Fields:      "identityMap,person.name,homeAddress.countryCode",
		MergePolicy: &platform.MergePolicyRef{ID: def.MergePolicyID},
		Filter: &platform.ExportFilter{Segments: []platform.SegmentFilter{
			{SegmentID: def.ID, SegmentNs: "ups", Status: []string{platform.MembershipRealized}},
		}},
		Destination: platform.ExportDestination{DatasetID: dsID},
	})
	skipIfMissing(t, err, "export jobs")
	if err != nil {
		t.Fatal(err)
	}
	if exp.ID == 0 || exp.Destination.DatasetID != dsID {
		t.Fatalf("export job %+v", exp)
	}
	exp, err = c.WaitExportJob(ctx, exp.ID, wait)
	if err != nil {
		t.Fatal(err)
	}
	batchIDs := exp.BatchIDs()
	if exp.Status != platform.ExportSucceeded || exp.Metrics.TotalExportedProfileCounter != int64(len(us)) || len(batchIDs) != 1 {
		t.Fatalf("export job %+v, want %d profiles in one batch", exp, len(us))
	}
	if found, err := c.FindExportJobs(ctx, dsID); err != nil || len(found) != 1 || found[0].ID != exp.ID {
		t.Fatalf("FindExportJobs = %+v, %v", found, err)
	}
	if b, err := c.Batch(ctx, batchIDs[0]); err != nil || b.Status != platform.BatchSuccess || b.DatasetID() != dsID {
		t.Fatalf("export batch %+v, %v", b, err)
	}

	// 5. Data Access: the batch's files, downloaded (the first one cut
	// halfway and resumed) and read as Parquet.
	files, err := c.BatchFiles(ctx, batchIDs[0])
	skipIfMissing(t, err, "Data Access")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("the export batch has no files")
	}
	refs, err := c.BatchFileRefs(ctx, batchIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var rows int64
	for _, ref := range refs {
		var buf bytes.Buffer
		n, err := c.Download(ctx, ref.FileID, ref.Path, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != ref.Length || int64(buf.Len()) != ref.Length {
			t.Fatalf("downloaded %d bytes (%d written) of %s, listed as %d", n, buf.Len(), ref.Path, ref.Length)
		}
		got, countries := readExport(t, buf.Bytes())
		rows += int64(len(got))
		names = append(names, got...)
		for _, cc := range countries {
			if cc != "US" {
				t.Errorf("an exported profile of %q", cc)
			}
		}
	}
	slices.Sort(names)
	var want []string
	for _, p := range us {
		want = append(want, p.name)
	}
	if rows != int64(len(us)) || !slices.Equal(names, want) {
		t.Fatalf("exported %v, want %v", names, want)
	}
	seen := cut.downloads()
	if len(seen) < 2 || !strings.Contains(seen[1], `"bytes=`) || !strings.Contains(seen[1], "-> 206") {
		t.Fatalf("downloads %v: want the cut one resumed with a 206 range", seen)
	}
}

// readExport reads an export file: the first names and countries of its
// rows.
func readExport(t *testing.T, data []byte) (names, countries []string) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	nameCol, countryCol := -1, -1
	for i, path := range f.Schema().Columns() {
		switch strings.Join(path, ".") {
		case "person.name.firstName":
			nameCol = i
		case "homeAddress.countryCode":
			countryCol = i
		}
	}
	if nameCol < 0 || countryCol < 0 {
		t.Fatalf("no person.name.firstName or homeAddress.countryCode column in %v", f.Schema().Columns())
	}
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				for _, v := range row {
					switch v.Column() {
					case nameCol:
						names = append(names, v.String())
					case countryCol:
						countries = append(countries, v.String())
					}
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		_ = rows.Close()
	}
	if int64(len(names)) != f.NumRows() {
		t.Fatalf("%d names in %d rows", len(names), f.NumRows())
	}
	return names, countries
}
