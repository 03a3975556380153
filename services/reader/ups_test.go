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

	"github.com/parquet-go/parquet-go"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage/stagetest"
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

// export runs the workflow up to the export in ups, as the definer, the
// segmenter and the exporter would, and returns the export.succeeded of
// request id.
func export(t *testing.T, c *platform.Client, id, pql string) events.ExportSucceeded {
	t.Helper()
	ctx := context.Background()
	def, job := stagetest.Segment(t, c, "US people", pql)
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
	if exp, err = c.WaitExportJob(ctx, exp.ID, stagetest.Wait); err != nil {
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
	base, us := stagetest.StartUPS(t, 30)
	admin := stagetest.Client(t, base, nil)
	x := export(t, admin, "r-1", `homeAddress.countryCode = "US"`)
	if x.ProfileCount != int64(len(us)) {
		t.Fatalf("the export counted %d profiles, %d are in the US", x.ProfileCount, len(us))
	}

	cut := &cutOnce{base: http.DefaultTransport}
	h := start(t, stagetest.Client(t, base, cut), nil)
	ctx := context.Background()
	// Two copies of the message (another Nats-Msg-Id each).
	e := stagetest.NewEvent(t, events.StageExporter, x)
	for i := range 2 {
		h.PublishCopy(t, h.Pipeline.Subjects.ExportSucceeded, e, fmt.Sprintf("copy-%d", i))
	}
	first, second := h.ready.Next(t), h.ready.Next(t)
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
	stagetest.Eventually(t, "both copies handled", func() bool { return h.Counter(t, "segflow_stage_messages_total", "succeeded") == 2 })
	subj := h.Pipeline.Subjects.BatchReady
	if n := h.InStream(t, subj); n != 1 {
		t.Errorf("%d batch.ready events in the stream, want 1", n)
	}
	var b events.BatchReady
	msg, err := h.Pipeline.Stream.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatal(err)
	}
	if _, b, err = events.DecodeAs[events.BatchReady](msg.Data); err != nil || b.RequestID != "r-1" || len(b.Files) != len(first.Files) {
		t.Fatalf("the stored batch.ready %+v: %v", b, err)
	}
}
