package reader_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/parquet-go/parquet-go"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/upstest"
)

// The reader against a real ups: an export made with the client, its
// batch read through Data Access (one download cut and resumed), stored,
// and read back as Parquet.

// cutOnce breaks the body of the first whole-file download halfway.
type cutOnce struct {
	base http.RoundTripper
	done atomic.Bool
	seen atomic.Int32 // downloads asking for a range
}

func (c *cutOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/data/foundation/export/files/") || !req.URL.Query().Has("path") {
		return resp, err
	}
	if req.Header.Get("Range") != "" {
		c.seen.Add(1)
	}
	if resp.StatusCode == http.StatusOK && req.Header.Get("Range") == "" && resp.ContentLength > 1 && c.done.CompareAndSwap(false, true) {
		resp.Body = &cutBody{rc: resp.Body, left: resp.ContentLength / 2}
	}
	return resp, nil
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

func upsClient(t *testing.T, base string, rt http.RoundTripper) *platform.Client {
	t.Helper()
	cfg := platform.Config{BaseURL: base, ClientID: "segflow-dev", ClientSecret: "segflow-dev-secret", OrgID: "SEGFLOWDEV@AdobeOrg", Sandbox: "prod"}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	c, err := platform.New(cfg, platform.Options{Retry: platform.RetryPolicy{Backoff: platform.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loadProfiles ingests n profiles, every third one in Canada, and returns
// the first names of those in the US.
func loadProfiles(t *testing.T, c *platform.Client, n int) []string {
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
	var us []string
	for i := range n {
		country := "US"
		if i%3 == 1 {
			country = "CA"
		} else {
			us = append(us, fmt.Sprintf("Person%03d", i))
		}
		fmt.Fprintf(&data, `{"_id":"p-%03d","identityMap":{"ECID":[{"id":"ecid-%03d","primary":true}]},"person":{"name":{"firstName":"Person%03d"}},"homeAddress":{"countryCode":"%s"}}`+"\n", i, i, i, country)
	}
	if err := c.UploadFile(ctx, b.ID, ds, "crm.json", strings.NewReader(data.String()), int64(data.Len())); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitBatch(ctx, b.ID, platform.Backoff{Initial: 2 * time.Millisecond, Max: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	return us
}

// export runs the workflow up to the export in ups, as the definer, the
// segmenter and the exporter would, and returns the export.succeeded of
// request id.
func export(t *testing.T, c *platform.Client, id, pql string) events.ExportSucceeded {
	t.Helper()
	ctx := context.Background()
	wait := platform.WaitOptions{Poll: platform.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}, Timeout: time.Minute}
	def, err := c.CreateSegmentDefinition(ctx, platform.SegmentDefinition{Name: "US people", Expression: platform.PQL(pql)})
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.CreateSegmentJob(ctx, def.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job, err = c.WaitSegmentJob(ctx, job.ID, wait); err != nil {
		t.Fatal(err)
	}
	ds, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "segflow-us-people", Schema: platform.SchemaProfileUnion})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := c.CreateExportJob(ctx, platform.ExportJobRequest{
		Fields:      "identityMap,person.name,homeAddress.countryCode",
		MergePolicy: &platform.MergePolicyRef{ID: def.MergePolicyID},
		Filter:      &platform.ExportFilter{Segments: []platform.SegmentFilter{{SegmentID: def.ID, SegmentNs: "ups", Status: []string{platform.MembershipRealized}}}},
		Destination: platform.ExportDestination{DatasetID: ds},
	})
	if err != nil {
		t.Fatal(err)
	}
	if exp, err = c.WaitExportJob(ctx, exp.ID, wait); err != nil {
		t.Fatal(err)
	}
	r := events.Request{RequestID: id, Definition: events.Definition{Name: def.Name, Expression: events.Expression{Type: "PQL", Format: "pql/text", Value: pql}}}
	r.SetDefaults()
	d := events.NewDefinitionCreated(r, events.Segment{ID: def.ID, Name: def.Name, Expression: r.Definition.Expression})
	x := events.NewExportSucceeded(events.NewJobSucceeded(d, job.ID, events.JobMetrics{}))
	x.DatasetID, x.DatasetName, x.ExportJobID, x.BatchID = ds, "segflow-us-people", exp.ID.String(), exp.Destination.BatchID
	x.ProfileCount = exp.Metrics.TotalExportedProfileCounter
	return x
}

// firstNames reads the person.name.firstName column of a stored file.
func firstNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, p := range pf.Schema().Columns() {
		if strings.Join(p, ".") == "person.name.firstName" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no person.name.firstName in %v", pf.Schema().Columns())
	}
	var out []string
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 16)
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				for _, v := range r {
					if v.Column() == col {
						out = append(out, v.String())
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
	return out
}

func TestUPS(t *testing.T) {
	base := upstest.Start(t, upstest.Config(t), nil)
	admin := upsClient(t, base, nil)
	us := loadProfiles(t, admin, 30)
	x := export(t, admin, "r-1", `homeAddress.countryCode = "US"`)
	if x.ProfileCount != int64(len(us)) {
		t.Fatalf("the export counted %d profiles, %d are in the US", x.ProfileCount, len(us))
	}

	cut := &cutOnce{base: http.DefaultTransport}
	h := start(t, upsClient(t, base, cut), nil)
	ctx := context.Background()
	// Two copies of the message (another Nats-Msg-Id each).
	e, err := events.NewEvent(events.Source(events.StageExporter), x, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		m, err := e.Msg(h.env.Pipeline.Subjects.ExportSucceeded)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set(events.MsgIDHeader, fmt.Sprintf("%s/copy-%d", e.ID, i))
		if _, err := h.env.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	first, second := h.nextReady(t), h.nextReady(t)
	if len(first.Files) == 0 || first.ProfileCount != int64(len(us)) || first.BatchID != x.BatchID || first.ExportJobID != x.ExportJobID {
		t.Fatalf("batch.ready %+v", first)
	}
	if fmt.Sprint(first.Files) != fmt.Sprint(second.Files) {
		t.Errorf("two deliveries stored different files:\n%+v\n%+v", first.Files, second.Files)
	}
	checkStored(t, h, first)
	var names []string
	var rows int64
	for _, f := range first.Files {
		u, _ := url.Parse(f.URI)
		got := firstNames(t, filepath.FromSlash(u.Path))
		if int64(len(got)) != f.Records {
			t.Errorf("%s: %d rows, the manifest says %d", f.Name, len(got), f.Records)
		}
		rows += f.Records
		names = append(names, got...)
	}
	slices.Sort(names)
	if !slices.Equal(names, us) || rows != x.ProfileCount {
		t.Fatalf("stored %v, want %v", names, us)
	}
	if cut.seen.Load() == 0 {
		t.Error("the cut download was not resumed with a range")
	}
	if files := stored(t, h.dir); len(files) != len(first.Files) {
		t.Errorf("the sink holds %v for %d files", files, len(first.Files))
	}
	eventually(t, "both copies handled", func() bool { return h.counter(t, "segflow_stage_messages_total", "succeeded") == 2 })
	subj := h.env.Pipeline.Subjects.BatchReady
	info, err := h.env.Pipeline.Stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[subj]; n != 1 {
		t.Errorf("%d batch.ready events in the stream, want 1", n)
	}
	var b events.BatchReady
	msg, err := h.env.Pipeline.Stream.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatal(err)
	}
	if _, b, err = events.DecodeAs[events.BatchReady](msg.Data); err != nil || b.RequestID != "r-1" || len(b.Files) != len(first.Files) {
		t.Fatalf("the stored batch.ready %+v: %v", b, err)
	}
}
