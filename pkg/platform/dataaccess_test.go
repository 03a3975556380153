package platform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The reference's Data Access examples (aep-api.md §5).
const (
	refBatchFile = `{"dataSetFileId":"8dcedb36-1cb2-4496-9a38-7b2041114b56-1","dataSetViewId":"5cc6a9b60d4a5914b7940a7f","version":"1.0.0",
  "created":"1558522305708","updated":"1558522305708","isValid":false,"records":"...","size":"...",
  "_links":{"self":{"href":"https://platform.adobe.io:443/data/foundation/export/files/8dcedb36-1cb2-4496-9a38-7b2041114b56-1"}}}`
	refFileListing = `{"data":[{"name":"{FILE_NAME}.parquet","length":"249058","_links":{"self":{"href":"https://platform.adobe.io/data/foundation/export/files/8dcedb36-1cb2-4496-9a38-7b2041114b56-1?path={FILE_NAME}.parquet"}}}],"_page":{"limit":100,"count":1}}`
)

func TestBatchFilesWalksEveryPage(t *testing.T) {
	f := newFake(t)
	const total = 6
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodGet, "/data/foundation/export/batches/b%201/files", "-")
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		// The server pages by 2 whatever the limit asked.
		var items []string
		for i := start; i < total && i < start+2; i++ {
			items = append(items, fmt.Sprintf(`{"dataSetFileId":"b1-%d","dataSetViewId":"v","version":"1.0.0","created":"1558522305708","updated":"1558522305709","isValid":true,"records":"%d","size":"%d","_links":{"self":{"href":"https://platform.adobe.io:443/data/foundation/export/files/b1-%d"}}}`, i+1, 10*i, 1000+i, i+1))
		}
		next := ""
		if start+2 < total {
			next = fmt.Sprintf(`"next":{"href":"https://platform.adobe.io:443/data/foundation/export/batches/b1/files?start=%d&limit=2"},`, start+2)
		}
		status(http.StatusOK, `{"data":[`+strings.Join(items, ",")+`],"_page":{"limit":2,"count":6},"_links":{`+next+`"page":{"href":"https://platform.adobe.io/data/foundation/export/batches/b1/files?start=0&limit=2","templated":true}}}`)(w, r)
	})
	files, err := f.client().BatchFiles(context.Background(), "b 1")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != total {
		t.Fatalf("%d files, want %d", len(files), total)
	}
	last := files[5]
	if last.DataSetFileID != "b1-6" || last.Records != 50 || last.Size != 1005 || last.Created != 1558522305708 || last.Updated != 1558522305709 || !last.IsValid ||
		!strings.HasSuffix(last.Href, "/files/b1-6") {
		t.Fatalf("last file %+v", last)
	}
	reqs, _ := f.requests()
	var queries []string
	for _, r := range reqs {
		queries = append(queries, r.URL.RawQuery)
	}
	if got := strings.Join(queries, " "); got != "limit=100 limit=100&start=2 limit=100&start=4" {
		t.Errorf("queries %s", got)
	}

	// The reference's item, whose records and size are placeholders.
	var bf BatchFile
	if err := jsonDecode(refBatchFile, &bf); err != nil || bf.DataSetFileID != "8dcedb36-1cb2-4496-9a38-7b2041114b56-1" || bf.Created != 1558522305708 || bf.Size != 0 || bf.IsValid {
		t.Fatalf("reference file %+v, %v", bf, err)
	}
}

func TestBatchFilesWithoutLinksUsesTheCount(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("start") == "" {
			status(http.StatusOK, `{"data":[`+refBatchFile+`],"_page":{"limit":1,"count":2}}`)(w, r)
			return
		}
		status(http.StatusOK, `{"data":[`+strings.Replace(refBatchFile, "-1\"", "-2\"", 1)+`],"_page":{"limit":1,"count":2}}`)(w, r)
	})
	files, err := f.client().BatchFiles(context.Background(), "b")
	if err != nil || len(files) != 2 || files[1].DataSetFileID != "8dcedb36-1cb2-4496-9a38-7b2041114b56-2" {
		t.Fatalf("files %+v, %v", files, err)
	}
	// An empty batch (not yet successful) lists nothing.
	f.handle(status(http.StatusOK, `{"data":[],"_page":{"limit":100,"count":0},"_links":{}}`))
	if files, err := f.client().BatchFiles(context.Background(), "b"); err != nil || len(files) != 0 {
		t.Fatalf("files %+v, %v", files, err)
	}
}

func TestFileListingAndRefs(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/data/foundation/export/batches/b1/files":
			status(http.StatusOK, `{"data":[{"dataSetFileId":"b1-1"},{"dataSetFileId":"b1-2"}],"_page":{"limit":100,"count":2}}`)(w, r)
		case "/data/foundation/export/files/b1-1":
			checkRequest(t, r, http.MethodGet, "/data/foundation/export/files/b1-1", "limit=100")
			status(http.StatusOK, refFileListing)(w, r)
		case "/data/foundation/export/files/b1-2": // a directory
			status(http.StatusOK, `{"data":[{"dataSetFileId":"b1-2a","dataSetViewId":"v","_links":{"self":{"href":"/files/b1-2a"}}}],"_page":{"limit":100,"count":1}}`)(w, r)
		case "/data/foundation/export/files/b1-2a":
			status(http.StatusOK, `{"data":[{"name":"part-0.parquet","length":"10"},{"name":"part-1.parquet","length":20}],"_page":{"limit":100,"count":2}}`)(w, r)
		default:
			t.Errorf("unexpected %s", r.URL)
			http.NotFound(w, r)
		}
	})
	c := f.client()
	entries, err := c.FileListing(context.Background(), "b1-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name != "{FILE_NAME}.parquet" || entries[0].Length != 249058 || entries[0].IsDir() || !strings.Contains(entries[0].Href, "?path=") {
		t.Fatalf("listing %+v", entries)
	}
	refs, err := c.BatchFileRefs(context.Background(), "b1")
	if err != nil {
		t.Fatal(err)
	}
	want := []FileRef{{"b1-1", "{FILE_NAME}.parquet", 249058}, {"b1-2a", "part-0.parquet", 10}, {"b1-2a", "part-1.parquet", 20}}
	if fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Fatalf("refs %+v, want %+v", refs, want)
	}
}

// rangeServer serves one file at /data/foundation/export/files/{id}?path=
// with Range and If-Range, and injects faults per request.
type rangeServer struct {
	t    *testing.T
	mu   sync.Mutex
	data []byte
	// faults[i] says what the i-th request gets; past the end, the file.
	faults []fault
	n      int
	ranges []string // the Range header of each request ("" for none)
	ifs    []string // the If-Range header of each request
}

type fault struct {
	status      int    // an error status instead of the file (0: none)
	retryAfter  string // its Retry-After
	cutAfter    int    // > 0: break the connection after this many body bytes
	stallAfter  int    // > 0: stop sending after this many body bytes
	ignoreRange bool   // answer 200 with the whole file
	total       int    // > 0: claim this total in Content-Range
	start       int    // >= 0 with startSet: claim this first byte
	startSet    bool
	modified    bool // another Last-Modified
}

const testLastModified = "Mon, 02 Jan 2006 15:04:05 GMT"

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var ft fault
	if s.n < len(s.faults) {
		ft = s.faults[s.n]
	}
	s.n++
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	s.ifs = append(s.ifs, r.Header.Get("If-Range"))
	data := s.data
	s.mu.Unlock()

	if r.URL.Query().Get("path") != "part-0.parquet" {
		status(http.StatusNotFound, `{"type":"/placeholder/type/uri","status":404,"title":"NotFoundError","detail":"File not found."}`)(w, r)
		return
	}
	if ft.status != 0 {
		if ft.retryAfter != "" {
			w.Header().Set("Retry-After", ft.retryAfter)
		}
		status(ft.status, `{"type":"/placeholder/type/uri","status":`+strconv.Itoa(ft.status)+`,"title":"Error","detail":"injected"}`)(w, r)
		return
	}
	lm := testLastModified
	if ft.modified {
		lm = "Tue, 03 Jan 2006 15:04:05 GMT"
	}
	w.Header().Set("Last-Modified", lm)
	w.Header().Set("Content-Type", "application/octet-stream")
	start := 0
	code := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && !ft.ignoreRange && (r.Header.Get("If-Range") == "" || r.Header.Get("If-Range") == lm) {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil {
			s.t.Errorf("Range %q", rg)
		}
		start, code = n, http.StatusPartialContent
		claimStart, total := start, len(data)
		if ft.startSet {
			claimStart = ft.start
		}
		if ft.total > 0 {
			total = ft.total
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", claimStart, claimStart+len(data)-start-1, total))
	}
	body := data[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	switch {
	case ft.cutAfter > 0:
		_, _ = w.Write(body[:ft.cutAfter])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // the connection breaks mid-body
	case ft.stallAfter > 0:
		_, _ = w.Write(body[:ft.stallAfter])
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done() // until the client gives up on it
		return
	}
	_, _ = w.Write(body)
}

func (s *rangeServer) requests() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...), append([]string(nil), s.ifs...)
}

func testFile(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func newRangeFake(t *testing.T, data []byte, faults ...fault) (*fakePlatform, *rangeServer) {
	f := newFake(t)
	rs := &rangeServer{t: t, data: data, faults: faults}
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/data/foundation/export/files/b1-1" {
			t.Errorf("download from %s", r.URL.Path)
		}
		checkRequest(t, r, http.MethodGet, "/data/foundation/export/files/b1-1", "-")
		rs.ServeHTTP(w, r)
	})
	return f, rs
}

func TestDownload(t *testing.T) {
	data := testFile(100_000)
	f, rs := newRangeFake(t, data)
	var buf bytes.Buffer
	n, err := f.client().Download(context.Background(), "b1-1", "part-0.parquet", &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download = %d, %v; %d bytes match: %v", n, err, buf.Len(), bytes.Equal(buf.Bytes(), data))
	}
	if ranges, _ := rs.requests(); len(ranges) != 1 || ranges[0] != "" {
		t.Fatalf("ranges %q", ranges)
	}
	var discard bytes.Buffer
	if _, err := f.client().Download(context.Background(), "b1-1", "other.parquet", &discard); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown path: %v", err)
	}
}

func TestDownloadResumesWithRange(t *testing.T) {
	data := testFile(100_000)
	// Broken twice mid-body, refused (429, then a burst of 503s shorter
	// than the retries) in between.
	f, rs := newRangeFake(t, data,
		fault{cutAfter: 30_000},
		fault{status: http.StatusTooManyRequests, retryAfter: "0.05"},
		fault{cutAfter: 25_000},
		fault{status: http.StatusServiceUnavailable},
		fault{status: http.StatusServiceUnavailable},
		fault{status: http.StatusServiceUnavailable},
	)
	m, _ := NewMetrics(prometheus.NewRegistry())
	h := sha256.New()
	n, err := f.client(func(o *Options) { o.Metrics = m }).Download(context.Background(), "b1-1", "part-0.parquet", h)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Download = %d, %v", n, err)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("the bytes written are not the file's")
	}
	ranges, ifs := rs.requests()
	if got := strings.Join(ranges, ","); got != ",bytes=30000-,bytes=30000-,bytes=55000-,bytes=55000-,bytes=55000-,bytes=55000-" {
		t.Errorf("ranges %s", got)
	}
	for i, v := range ifs[1:] {
		if v != testLastModified {
			t.Errorf("resume %d: If-Range %q", i+1, v)
		}
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("Download", "2xx")); got != 3 {
		t.Errorf("%v 2xx attempts, want 3", got)
	}
}

func TestDownloadServerIgnoringRange(t *testing.T) {
	data := testFile(50_000)
	f, rs := newRangeFake(t, data, fault{cutAfter: 12_345}, fault{ignoreRange: true, cutAfter: 20_000}, fault{ignoreRange: true})
	var buf bytes.Buffer
	n, err := f.client().Download(context.Background(), "b1-1", "part-0.parquet", &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download = %d, %v", n, err)
	}
	if ranges, _ := rs.requests(); strings.Join(ranges, ",") != ",bytes=12345-,bytes=20000-" {
		t.Errorf("ranges %q", ranges)
	}
}

func TestDownloadRefusesASplice(t *testing.T) {
	data := testFile(10_000)
	for _, tt := range []struct {
		name  string
		ft    fault
		check func(error) bool
	}{
		{"another total", fault{total: 20_000}, func(err error) bool { return errors.Is(err, ErrFileChanged) }},
		{"another file", fault{modified: true}, func(err error) bool { return errors.Is(err, ErrFileChanged) }},
		{"another start", fault{start: 0, startSet: true}, func(err error) bool {
			return err != nil && !errors.Is(err, ErrFileChanged) && strings.Contains(err.Error(), "starts at 0")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, rs := newRangeFake(t, data, fault{cutAfter: 4000}, tt.ft)
			var buf bytes.Buffer
			n, err := f.client().Download(context.Background(), "b1-1", "part-0.parquet", &buf)
			if !tt.check(err) || n != 4000 || Transient(err) {
				t.Fatalf("Download = %d, %v", n, err)
			}
			if ranges, _ := rs.requests(); len(ranges) != 2 {
				t.Fatalf("%d requests, want 2: a splice is not retried", len(ranges))
			}
		})
	}
}

func TestDownloadResumesAStalledBody(t *testing.T) {
	old := downloadStallTimeout
	downloadStallTimeout = 100 * time.Millisecond
	t.Cleanup(func() { downloadStallTimeout = old })
	data := testFile(20_000)
	f, rs := newRangeFake(t, data, fault{stallAfter: 7000})
	var buf bytes.Buffer
	n, err := f.client().Download(context.Background(), "b1-1", "part-0.parquet", &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download = %d, %v", n, err)
	}
	if ranges, _ := rs.requests(); strings.Join(ranges, ",") != ",bytes=7000-" {
		t.Errorf("ranges %q", ranges)
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		n := w.after
		w.after = 0
		return n, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestDownloadStopsWhenTheWriterFails(t *testing.T) {
	f, rs := newRangeFake(t, testFile(50_000))
	n, err := f.client().Download(context.Background(), "b1-1", "part-0.parquet", &failingWriter{after: 10_000})
	if err == nil || !strings.Contains(err.Error(), "disk full") || n != 10_000 || Transient(err) {
		t.Fatalf("Download = %d, %v", n, err)
	}
	if ranges, _ := rs.requests(); len(ranges) != 1 {
		t.Fatalf("%d requests, want 1", len(ranges))
	}
}

func TestDownloadGivesUpWithoutProgress(t *testing.T) {
	// Every answer breaks before a byte: MaxAttempts tries, then the error.
	var faults []fault
	for range 10 {
		faults = append(faults, fault{status: http.StatusBadGateway})
	}
	f, rs := newRangeFake(t, testFile(1000), faults...)
	_, err := f.client().Download(context.Background(), "b1-1", "part-0.parquet", io.Discard)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if ranges, _ := rs.requests(); len(ranges) != fastRetry.MaxAttempts {
		t.Fatalf("%d requests, want %d", len(ranges), fastRetry.MaxAttempts)
	}

	// But attempts that make progress go on past MaxAttempts.
	faults = nil
	for i := range 2 * fastRetry.MaxAttempts {
		faults = append(faults, fault{cutAfter: 100 + i})
	}
	data := testFile(10_000)
	f, _ = newRangeFake(t, data, faults...)
	var buf bytes.Buffer
	if n, err := f.client().Download(context.Background(), "b1-1", "part-0.parquet", &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download = %d, %v", n, err)
	}
}

func TestDownloadEndsWithTheContext(t *testing.T) {
	old := downloadStallTimeout
	downloadStallTimeout = time.Hour
	t.Cleanup(func() { downloadStallTimeout = old })
	f, _ := newRangeFake(t, testFile(10_000), fault{stallAfter: 500})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	n, err := f.client().Download(ctx, "b1-1", "part-0.parquet", io.Discard)
	if !errors.Is(err, context.DeadlineExceeded) || n != 500 || Transient(err) {
		t.Fatalf("Download = %d, %v", n, err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tt := range []struct {
		in          string
		first, size int64
		ok          bool
	}{
		{"bytes 0-99/249058", 0, 249058, true},
		{"bytes 100-249057/249058", 100, 249058, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes 5-9/9", 0, 0, false},
		{"bytes 9-5/100", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"bytes */100", 0, 0, false},
		{"", 0, 0, false},
	} {
		first, size, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok || first != tt.first || size != tt.size {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tt.in, first, size, err)
		}
	}
}
