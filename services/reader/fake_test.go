package reader_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/segflow/segflow/services/stage/stagetest"
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
	*stagetest.Fake

	// Under Mu.
	files map[string][]*fakeFile // batch id → files
	// cut, when positive, breaks the body of that many whole-file
	// downloads halfway.
	cut int
}

func newFake(t *testing.T) *fakePlatform {
	f := &fakePlatform{Fake: stagetest.NewFake(t), files: map[string][]*fakeFile{}}
	f.Handle("GET /data/foundation/export/batches/{id}/files", "batch-files", f.batchFiles)
	f.HandleKinds("GET /data/foundation/export/files/{id}", func(r *http.Request) string {
		if r.URL.Query().Has("path") {
			return "download"
		}
		return "listing"
	}, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Query().Has("path") {
			f.download(w, r)
		} else {
			f.listing(w, r)
		}
	})
	return f
}

// addBatch adds a batch of files.
func (f *fakePlatform) addBatch(batchID string, files ...*fakeFile) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
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

// ranges are the Range headers of the downloads, in order.
func (f *fakePlatform) ranges() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var out []string
	for _, c := range f.Requests {
		if c.Kind == "download" {
			out = append(out, c.Header.Get("Range"))
		}
	}
	return out
}

func (f *fakePlatform) batchFiles(w http.ResponseWriter, r *http.Request, _ int) {
	f.Mu.Lock()
	files := f.files[r.PathValue("id")]
	f.Mu.Unlock()
	var data []map[string]any
	seen := map[string]bool{}
	for _, ff := range files {
		if seen[ff.fileID] {
			continue
		}
		seen[ff.fileID] = true
		data = append(data, map[string]any{"dataSetFileId": ff.fileID, "dataSetViewId": "view", "version": "1.0.0", "created": "1", "updated": "1", "isValid": true,
			"_links": map[string]any{"self": map[string]string{"href": f.URL + "/data/foundation/export/files/" + ff.fileID}}})
	}
	stagetest.WriteJSON(w, 200, map[string]any{"data": data, "_page": map[string]any{"limit": 100, "count": len(data)}, "_links": map[string]any{}})
}

func (f *fakePlatform) listing(w http.ResponseWriter, r *http.Request) {
	var data []map[string]any
	for _, ff := range f.byID(r.PathValue("id")) {
		length := int64(len(ff.data))
		if ff.listed != 0 {
			length = ff.listed
		}
		data = append(data, map[string]any{"name": ff.name, "length": strconv.FormatInt(length, 10),
			"_links": map[string]any{"self": map[string]string{"href": f.URL + r.URL.Path + "?path=" + ff.name}}})
	}
	stagetest.WriteJSON(w, 200, map[string]any{"data": data, "_page": map[string]any{"limit": 100, "count": len(data)}})
}

func (f *fakePlatform) download(w http.ResponseWriter, r *http.Request) {
	var file *fakeFile
	for _, ff := range f.byID(r.PathValue("id")) {
		if ff.name == r.URL.Query().Get("path") {
			file = ff
		}
	}
	if file == nil {
		stagetest.WriteJSON(w, 404, map[string]any{"title": "NotFoundError", "status": 404, "detail": "no such file"})
		return
	}
	f.Mu.Lock()
	data, etag := file.data, file.etag
	cut := r.Header.Get("Range") == "" && f.cut > 0
	if cut {
		f.cut--
	}
	f.Mu.Unlock()
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
}

func (f *fakePlatform) byID(fileID string) []*fakeFile {
	f.Mu.Lock()
	defer f.Mu.Unlock()
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
