package reader_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/segflow/segflow/pkg/platform"
)

// fakeFile is one file of a fake batch.
type fakeFile struct {
	fileID string
	name   string
	data   []byte
	// listed, if not 0, is the length the listing says (a lie).
	listed int64
	etag   string
}

// fakePlatform is an httptest Data Access: IMS tokens, a batch's files,
// their listings and their bytes (with Range and If-Range), with faults
// a test scripts.
type fakePlatform struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	files map[string][]*fakeFile // batch id → files
	calls map[string]int
	// fault may answer a request itself (true); n counts the calls of
	// its kind from 1.
	fault func(w http.ResponseWriter, r *http.Request, kind string, n int) bool
	// cut, when positive, breaks the body of that many whole-file
	// downloads halfway.
	cut   int
	delay time.Duration
	// ranges are the Range headers of the downloads, in order.
	ranges []string
}

func newFake(t *testing.T) *fakePlatform {
	f := &fakePlatform{t: t, files: map[string][]*fakeFile{}, calls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePlatform) client(t *testing.T) *platform.Client {
	t.Helper()
	c, err := platform.New(platform.Config{BaseURL: f.srv.URL, ClientID: "c", ClientSecret: "s", OrgID: "O@AdobeOrg", Sandbox: "prod"},
		platform.Options{Retry: platform.RetryPolicy{MaxAttempts: 4, Backoff: platform.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}, MaxRetryAfter: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakePlatform) set(fn func(f *fakePlatform)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakePlatform) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[kind]
}

// addBatch adds a batch of files.
func (f *fakePlatform) addBatch(batchID string, files ...*fakeFile) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ff := range files {
		if ff.fileID == "" {
			ff.fileID = fmt.Sprintf("%s-f%d", batchID, i)
		}
		if ff.etag == "" {
			ff.etag = `"v1"`
		}
	}
	f.files[batchID] = files
}

func kindOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/ims/token/v3":
		return "token"
	case strings.HasPrefix(p, "/data/foundation/export/batches/"):
		return "batch-files"
	case strings.HasPrefix(p, "/data/foundation/export/files/") && r.URL.Query().Has("path"):
		return "download"
	case strings.HasPrefix(p, "/data/foundation/export/files/"):
		return "listing"
	}
	return "other"
}

func (f *fakePlatform) serve(w http.ResponseWriter, r *http.Request) {
	kind := kindOf(r)
	f.mu.Lock()
	f.calls[kind]++
	n := f.calls[kind]
	fault, delay := f.fault, f.delay
	if kind == "download" {
		f.ranges = append(f.ranges, r.Header.Get("Range"))
	}
	f.mu.Unlock()
	if delay > 0 && kind != "token" {
		time.Sleep(delay)
	}
	if fault != nil && fault(w, r, kind, n) {
		return
	}
	switch kind {
	case "token":
		writeJSON(w, 200, map[string]any{"access_token": "tok", "token_type": "bearer", "expires_in": 3600})
	case "batch-files":
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/data/foundation/export/batches/"), "/files")
		f.mu.Lock()
		files := f.files[id]
		f.mu.Unlock()
		var data []map[string]any
		seen := map[string]bool{}
		for _, ff := range files {
			if seen[ff.fileID] {
				continue
			}
			seen[ff.fileID] = true
			data = append(data, map[string]any{"dataSetFileId": ff.fileID, "dataSetViewId": "view", "version": "1.0.0", "created": "1", "updated": "1", "isValid": true,
				"_links": map[string]any{"self": map[string]string{"href": f.srv.URL + "/data/foundation/export/files/" + ff.fileID}}})
		}
		writeJSON(w, 200, map[string]any{"data": data, "_page": map[string]any{"limit": 100, "count": len(data)}, "_links": map[string]any{}})
	case "listing":
		id := strings.TrimPrefix(r.URL.Path, "/data/foundation/export/files/")
		var data []map[string]any
		for _, ff := range f.byID(id) {
			length := int64(len(ff.data))
			if ff.listed != 0 {
				length = ff.listed
			}
			data = append(data, map[string]any{"name": ff.name, "length": strconv.FormatInt(length, 10),
				"_links": map[string]any{"self": map[string]string{"href": f.srv.URL + r.URL.Path + "?path=" + ff.name}}})
		}
		writeJSON(w, 200, map[string]any{"data": data, "_page": map[string]any{"limit": 100, "count": len(data)}})
	case "download":
		id := strings.TrimPrefix(r.URL.Path, "/data/foundation/export/files/")
		var file *fakeFile
		for _, ff := range f.byID(id) {
			if ff.name == r.URL.Query().Get("path") {
				file = ff
			}
		}
		if file == nil {
			writeJSON(w, 404, map[string]any{"title": "NotFoundError", "status": 404, "detail": "no such file"})
			return
		}
		f.mu.Lock()
		data, etag := file.data, file.etag
		cut := r.Header.Get("Range") == "" && f.cut > 0
		if cut {
			f.cut--
		}
		f.mu.Unlock()
		w.Header().Set("ETag", etag)
		if cut {
			// Promise the whole file, send half, drop the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(200)
			_, _ = w.Write(data[:len(data)/2])
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, file.name, time.Unix(1_700_000_000, 0), bytes.NewReader(data))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakePlatform) byID(fileID string) []*fakeFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeFile
	for _, files := range f.files {
		for _, ff := range files {
			if ff.fileID == fileID {
				out = append(out, ff)
			}
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func answer(w http.ResponseWriter, status int, body string, header ...string) {
	for i := 0; i+1 < len(header); i += 2 {
		w.Header().Set(header[i], header[i+1])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// row is a row of the test Parquet files.
type row struct {
	ID    string `parquet:"id"`
	Name  string `parquet:"name"`
	Score int64  `parquet:"score"`
}

// parquetFile is a Parquet file of n rows (from first), in row groups of
// at most 100 rows, padded to some size with a repeated name.
func parquetFile(t *testing.T, first, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf, parquet.MaxRowsPerRowGroup(100))
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{ID: fmt.Sprintf("p-%05d", first+i), Name: strings.Repeat("n", 20) + strconv.Itoa(first+i), Score: int64(first + i)}
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
