package reader_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// The reader against a fake Data Access: the manifest it publishes, the
// files it stores, and how it meets the Platform's faults.

// checkStored checks that every file of the manifest is stored at its
// URI, under the sink directory, with its size and hash.
func checkStored(t *testing.T, h *harness, b events.BatchReady) {
	t.Helper()
	for _, f := range b.Files {
		u, err := url.Parse(f.URI)
		if err != nil || u.Scheme != "file" || !strings.HasPrefix(u.Path, filepath.ToSlash(h.dir)+"/"+b.RequestID+"/") {
			t.Fatalf("uri %q (sink %s): %v", f.URI, h.dir, err)
		}
		data, err := os.ReadFile(filepath.FromSlash(u.Path))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: %d bytes, sha256 %x; the manifest says %d, %s", f.URI, len(data), sum, f.Size, f.SHA256)
		}
	}
}

// stored lists the files under the sink directory, relative to it.
func stored(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestStoreBatch(t *testing.T) {
	f := newFake(t)
	a, b := parquetFile(t, 0, 250), parquetFile(t, 250, 120)
	f.addBatch("batch-1",
		&fakeFile{name: "part-00000.parquet", data: a},
		&fakeFile{name: "part-00001.parquet", data: b},
		&fakeFile{name: "_SUCCESS", data: nil},
	)
	f.Set(func() { f.cut = 1 })
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 370))
	out := h.ready.Next(t)
	if out.RequestID != "r-1" || out.BatchID != "batch-1" || out.ProfileCount != 370 || out.ExportJobID != "100" || out.DatasetID != "ds-1" ||
		out.SegmentJobID != "sj-r-1" || out.Segment.ID != "seg-r-1" || out.Labels["team"] != "growth" || len(out.Files) != 2 {
		t.Fatalf("batch.ready %+v", out)
	}
	for i, want := range []struct {
		name string
		data []byte
		rows int64
	}{{"part-00000.parquet", a, 250}, {"part-00001.parquet", b, 120}} {
		got := out.Files[i]
		sum := sha256.Sum256(want.data)
		if got.Name != want.name || got.Size != int64(len(want.data)) || got.Records != want.rows || got.SHA256 != hex.EncodeToString(sum[:]) ||
			got.URI != "file://"+filepath.ToSlash(h.dir)+"/r-1/"+want.name {
			t.Errorf("file %d: %+v", i, got)
		}
	}
	checkStored(t, h, out)
	// No sidecar files, no temporary files, no marker file.
	if files := stored(t, h.dir); !slices.Equal(files, []string{"r-1/part-00000.parquet", "r-1/part-00001.parquet"}) {
		t.Errorf("the sink holds %v", files)
	}
	if rd := out.Timings.Reader; rd == nil || rd.End.Before(rd.Start) || out.Timings.Exporter == nil {
		t.Errorf("timings %+v", out.Timings)
	}
	// The cut download was resumed with a range.
	ranges := f.ranges()
	if !slices.ContainsFunc(ranges, func(r string) bool { return strings.HasPrefix(r, "bytes=") }) || len(ranges) != 3 {
		t.Errorf("download ranges %q: want one resumed", ranges)
	}
}

// A redelivered message (or a copy) stores the same objects again and
// publishes the same batch.ready, which the stream keeps once.
func TestSameMessageTwice(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "part-00000.parquet", data: parquetFile(t, 0, 30)})
	h := start(t, f.Client(t), nil)
	e := stagetest.NewEvent(t, events.StageExporter, exported("r-1", "batch-1", 30))
	for i := range 2 {
		h.PublishCopy(t, h.Pipeline.Subjects.ExportSucceeded, e, fmt.Sprintf("copy-%d", i))
		if i == 0 {
			checkStored(t, h, h.ready.Next(t))
		}
	}
	second := h.ready.Next(t)
	checkStored(t, h, second)
	stagetest.Eventually(t, "both handled", func() bool { return h.Counter(t, "segflow_stage_messages_total", "succeeded") == 2 })
	if files := stored(t, h.dir); !slices.Equal(files, []string{"r-1/part-00000.parquet"}) {
		t.Errorf("the sink holds %v", files)
	}
	if n := h.InStream(t, h.Pipeline.Subjects.BatchReady); n != 1 {
		t.Errorf("%d batch.ready events in the stream", n)
	}
}

// 429 with Retry-After and bursts of 503 are waited out; the message is
// not redelivered.
func TestRateLimitedAndUnavailable(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: parquetFile(t, 0, 10)}, &fakeFile{name: "b.parquet", data: parquetFile(t, 10, 5)})
	f.Set(func() {
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			switch {
			case kind == "batch-files" && n == 1:
				stagetest.Answer(w, 429, `{"title":"Too many requests","status":429}`, "Retry-After", "1")
			case kind == "listing" && n <= 2:
				stagetest.Answer(w, 503, `{"title":"Service unavailable","status":503}`)
			case kind == "download" && n <= 3:
				stagetest.Answer(w, 503, `{"title":"Service unavailable","status":503}`)
			default:
				return false
			}
			return true
		}
	})
	h := start(t, f.Client(t), nil)
	begin := time.Now()
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 15))
	out := h.ready.Next(t)
	if time.Since(begin) < time.Second {
		t.Error("the Retry-After second was not waited out")
	}
	if len(out.Files) != 2 || out.Files[0].Records+out.Files[1].Records != 15 {
		t.Fatalf("batch.ready %+v", out)
	}
	checkStored(t, h, out)
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 0 {
		t.Errorf("%v redeliveries", n)
	}
}

// A 503 that outlasts the client's retries hands the message back; the
// next delivery stores the batch.
func TestUnavailableLonger(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: parquetFile(t, 0, 10)})
	f.Set(func() {
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			if kind == "download" && n <= 4 {
				stagetest.Answer(w, 503, `{"title":"Service unavailable","status":503}`)
				return true
			}
			return false
		}
	})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 10))
	checkStored(t, h, h.ready.Next(t))
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 1 {
		t.Errorf("%v redeliveries, want 1", n)
	}
}

// Slow answers: the message is kept alive while the files come.
func TestSlowPlatform(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: parquetFile(t, 0, 10)}, &fakeFile{name: "b.parquet", data: parquetFile(t, 10, 10)},
		&fakeFile{name: "c.parquet", data: parquetFile(t, 20, 10)})
	f.Set(func() { f.Delay = 250 * time.Millisecond })
	h := start(t, f.Client(t), nil)
	begin := time.Now()
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 30))
	out := h.ready.Next(t)
	if d := time.Since(begin); d < 1200*time.Millisecond {
		t.Fatalf("done in %v: not slow enough to test anything", d)
	}
	checkStored(t, h, out)
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 0 {
		t.Errorf("%v redeliveries", n)
	}
}

// A file whose bytes are not as long as its listing says fails the
// batch, and nothing of it stays in the sink.
func TestLengthMismatch(t *testing.T) {
	f := newFake(t)
	good, bad := parquetFile(t, 0, 10), parquetFile(t, 10, 10)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: good}, &fakeFile{name: "b.parquet", data: bad, listed: int64(len(bad)) + 10})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 20))
	fl := h.failed.Next(t)
	if fl.Stage != events.StageReader || fl.Retryable || !strings.Contains(fl.Reason, "b.parquet") || !strings.Contains(fl.Reason, fmt.Sprint(len(bad)+10)) ||
		fl.BatchID != "batch-1" || fl.ExportJobID != "100" {
		t.Fatalf("batch.failed %+v", fl)
	}
	stagetest.Eventually(t, "the message settled", func() bool { return h.Counter(t, "segflow_stage_messages_total", "failed") == 1 })
	if files := stored(t, h.dir); len(files) != 0 {
		t.Errorf("the sink holds %v", files)
	}
}

// A file that is not Parquet fails the batch.
func TestNotParquet(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: parquetFile(t, 0, 10)}, &fakeFile{name: "b.parquet", data: []byte("id,name\n1,not parquet at all\n")})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 11))
	fl := h.failed.Next(t)
	if fl.Retryable || !strings.Contains(fl.Reason, "b.parquet") || !strings.Contains(fl.Reason, "not Parquet") {
		t.Fatalf("batch.failed %+v", fl)
	}
	stagetest.Eventually(t, "the message settled", func() bool { return h.Counter(t, "segflow_stage_messages_total", "failed") == 1 })
	if files := stored(t, h.dir); len(files) != 0 {
		t.Errorf("the sink holds %v", files)
	}
}

// Rows that do not add up to the export's profile count fail the batch.
func TestRowCountMismatch(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: parquetFile(t, 0, 250)}, &fakeFile{name: "b.parquet", data: parquetFile(t, 250, 120)})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 371))
	fl := h.failed.Next(t)
	if fl.Retryable || !strings.Contains(fl.Reason, "370 rows") || !strings.Contains(fl.Reason, "371 profiles") {
		t.Fatalf("batch.failed %+v", fl)
	}
	stagetest.Eventually(t, "the message settled", func() bool { return h.Counter(t, "segflow_stage_messages_total", "failed") == 1 })
	if files := stored(t, h.dir); len(files) != 0 {
		t.Errorf("the sink holds %v", files)
	}
}

// A file that changes between a cut download and its resumption is not
// spliced: the message is retried, lists the batch again and downloads
// the new file whole; the manifest has the new bytes.
func TestFileChangedDuringDownload(t *testing.T) {
	f := newFake(t)
	v1, v2 := parquetFile(t, 0, 40), parquetFile(t, 100, 40)
	file := &fakeFile{name: "a.parquet", data: v1}
	f.addBatch("batch-1", file)
	f.Set(func() {
		f.cut = 1
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			if kind == "download" && n == 2 { // the resumption finds another file
				f.Mu.Lock()
				file.data, file.etag = v2, `"v2"`
				f.Mu.Unlock()
			}
			return false
		}
	})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 40))
	out := h.ready.Next(t)
	sum := sha256.Sum256(v2)
	if len(out.Files) != 1 || out.Files[0].SHA256 != hex.EncodeToString(sum[:]) || out.Files[0].Size != int64(len(v2)) {
		t.Fatalf("batch.ready %+v", out.Files)
	}
	checkStored(t, h, out)
	if n := f.Count("download"); n != 3 {
		t.Errorf("%d downloads, want the cut one, its resumption and a whole new one", n)
	}
	if n := h.Counter(t, "segflow_stage_redeliveries_total", ""); n != 1 {
		t.Errorf("%v redeliveries, want 1", n)
	}
}

// A file Data Access no longer has fails the batch with its answer.
func TestDownloadNotFound(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: parquetFile(t, 0, 10)})
	f.Set(func() {
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			if kind == "download" {
				stagetest.Answer(w, 404, `{"type":"/placeholder/type/uri","status":404,"title":"NotFoundError","detail":"File not found"}`)
				return true
			}
			return false
		}
	})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 10))
	fl := h.failed.Next(t)
	if fl.PlatformError == nil || fl.PlatformError.Status != 404 || fl.Retryable {
		t.Fatalf("batch.failed %+v", fl)
	}
}

// A batch that lists no files yet is tried again.
func TestFilesNotListedYet(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{name: "a.parquet", data: parquetFile(t, 0, 10)})
	f.Set(func() {
		f.Fault = func(w http.ResponseWriter, r *http.Request, kind string, n int) bool {
			if kind == "batch-files" && n == 1 {
				stagetest.WriteJSON(w, 200, map[string]any{"data": []any{}, "_page": map[string]any{"limit": 100, "count": 0}})
				return true
			}
			return false
		}
	})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 10))
	out := h.ready.Next(t)
	if len(out.Files) != 1 || h.Counter(t, "segflow_stage_redeliveries_total", "") != 1 {
		t.Fatalf("batch.ready %+v", out)
	}
}

// An empty export: no files, no profiles, an empty manifest.
func TestEmptyBatch(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1")
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 0))
	if out := h.ready.Next(t); out.Files == nil || len(out.Files) != 0 {
		t.Fatalf("batch.ready %+v", out)
	}
}

// Files of one name in two dataSetFileIds get one object each.
func TestSameNameTwice(t *testing.T) {
	f := newFake(t)
	f.addBatch("batch-1", &fakeFile{fileID: "fa", name: "part-00000.parquet", data: parquetFile(t, 0, 10)},
		&fakeFile{fileID: "fb", name: "part-00000.parquet", data: parquetFile(t, 10, 7)})
	h := start(t, f.Client(t), nil)
	h.Publish(t, events.StageExporter, exported("r-1", "batch-1", 17))
	out := h.ready.Next(t)
	checkStored(t, h, out)
	if files := stored(t, h.dir); !slices.Equal(files, []string{"r-1/fa/part-00000.parquet", "r-1/fb/part-00000.parquet"}) {
		t.Errorf("the sink holds %v", files)
	}
}
