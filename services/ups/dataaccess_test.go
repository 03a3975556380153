package ups

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dataAccessDo makes a Data Access request with extra headers.
func (f *exportFixture) dataAccessDo(method, target string, header map[string]string) *http.Response {
	f.t.Helper()
	r, err := http.NewRequest(method, "http://ups.test"+target, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+f.token(catDev))
	r.Header.Set("x-api-key", catDev)
	r.Header.Set("x-gw-ims-org-id", catDevOrg)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	return rec.Result()
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDataAccessRangeAndHead(t *testing.T) {
	f := newExportFixture(t)
	batchID := batchIDOf(f.export(fmt.Sprintf(`{"destination":{"datasetId":%q}}`, f.union)))
	files := f.batchFileList(batchID, 100)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	file := files[0]
	fileID := file["dataSetFileId"].(string)
	name, whole := f.download(file)
	if !bytes.HasPrefix(whole, []byte("PAR1")) || !bytes.HasSuffix(whole, []byte("PAR1")) {
		t.Fatalf("%s is not a Parquet file", name)
	}
	size := len(whole)
	target := exportBase + "/files/" + fileID + "?path=" + name

	// The whole file, with its type and ranges advertised.
	resp := f.dataAccessDo(http.MethodGet, target, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/parquet" || resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("Content-Length") != strconv.Itoa(size) {
		t.Errorf("GET: %d %v", resp.StatusCode, resp.Header)
	}

	// A range: 206 with Content-Range.
	resp = f.dataAccessDo(http.MethodGet, target, map[string]string{"Range": "bytes=0-99"})
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-99/%d", size) || resp.Header.Get("Content-Length") != "100" || !bytes.Equal(body, whole[:100]) {
		t.Errorf("Range 0-99: %d %v (%d bytes)", resp.StatusCode, resp.Header, len(body))
	}
	// The footer, as Parquet readers fetch it.
	resp = f.dataAccessDo(http.MethodGet, target, map[string]string{"Range": "bytes=-8"})
	if body := readAll(t, resp); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, whole[size-8:]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", size-8, size-1, size) {
		t.Errorf("Range -8: %d %v", resp.StatusCode, resp.Header)
	}
	// A range past the end.
	resp = f.dataAccessDo(http.MethodGet, target, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size+10)})
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("Range past the end: %d", resp.StatusCode)
	}
	// If-Range with another validator: the whole file.
	resp = f.dataAccessDo(http.MethodGet, target, map[string]string{"Range": "bytes=0-9", "If-Range": "Wed, 21 Oct 2015 07:28:00 GMT"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("If-Range stale: %d", resp.StatusCode)
	}

	// HEAD: the headers, no body; it needs path.
	resp = f.dataAccessDo(http.MethodHead, target, nil)
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != strconv.Itoa(size) || resp.Header.Get("Accept-Ranges") != "bytes" || len(body) != 0 {
		t.Errorf("HEAD: %d %v %d bytes", resp.StatusCode, resp.Header, len(body))
	}
	resp = f.dataAccessDo(http.MethodHead, exportBase+"/files/"+fileID, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("HEAD without path: %d", resp.StatusCode)
	}

	// Errors.
	for _, c := range []struct {
		target string
		status int
	}{
		{exportBase + "/files/" + fileID + "?path=other.parquet", 404},
		{exportBase + "/files/" + batchID + "-2", 404},
		{exportBase + "/files/" + batchID + "-0", 404},
		{exportBase + "/files/nope", 404},
		{exportBase + "/files/5b7c86968f7b6501e21ba9df-1", 404},
		{exportBase + "/batches/5b7c86968f7b6501e21ba9df/files", 404},
	} {
		rec := f.call(catDev, "prod", http.MethodGet, c.target, "")
		if rec.Code != c.status {
			t.Errorf("GET %s: %d %s, want %d", c.target, rec.Code, rec.Body, c.status)
		}
		if rec.Code == 404 {
			wantCatalogError(t, rec, 404, titleNotFound, "not found")
		}
	}
	// Another org, another sandbox: not found.
	if rec := f.call(catA, "prod", http.MethodGet, target, ""); rec.Code != http.StatusNotFound {
		t.Errorf("another org: %d", rec.Code)
	}
	if rec := f.call(catDev, "dev", http.MethodGet, exportBase+"/batches/"+batchID+"/files", ""); rec.Code != http.StatusNotFound {
		t.Errorf("another sandbox: %d", rec.Code)
	}
}

func TestDataAccessIngestedBatch(t *testing.T) {
	f := newExportFixture(t)
	// b.json spans several of the compressed blocks it is stored in.
	var big strings.Builder
	for i := range 40000 {
		fmt.Fprintf(&big, `{"identityMap":{"ECID":[{"id":"z%d","primary":true}]},"person":{"name":{"firstName":"N%d"}}}`+"\n", i, i*7919%1000)
	}
	id := f.ingestBatch(catDev, f.profiles, false, map[string]string{
		"a.json": `{"identityMap":{"ECID":[{"id":"z1","primary":true}]}}` + "\n",
		"b.json": big.String(),
	})
	if st := f.waitBatch(catDev, id)["status"]; st != "success" {
		t.Fatalf("batch %s", st)
	}
	stored, err := os.ReadFile(filepath.Join(f.srv.ingest.filesDir(id), "b.json"))
	if err != nil || !bytes.HasPrefix(stored, s2Magic) || len(stored) > big.Len()/4 {
		t.Errorf("b.json stored in %d bytes (of %d), compressed %v, err %v", len(stored), big.Len(), bytes.HasPrefix(stored, s2Magic), err)
	}
	files := f.batchFileList(id, 1)
	if len(files) != 2 || files[0]["dataSetFileId"] != id+"-1" || files[1]["dataSetFileId"] != id+"-2" {
		t.Fatalf("files %v", files)
	}
	name, data := f.download(files[1])
	if name != "b.json" || string(data) != big.String() {
		t.Errorf("%s: %d bytes, want the %d uploaded", name, len(data), big.Len())
	}
	target := exportBase + "/files/" + id + "-2?path=b.json"
	resp := f.dataAccessDo(http.MethodGet, target, map[string]string{"Range": "bytes=1500000-1500099"})
	if body := readAll(t, resp); resp.StatusCode != http.StatusPartialContent || string(body) != big.String()[1500000:1500100] ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 1500000-1500099/%d", big.Len()) {
		t.Errorf("Range in the middle: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	listing := f.call(catDev, "prod", http.MethodGet, target[:strings.Index(target, "?")], "")
	if want := fmt.Sprintf(`"length":"%d"`, big.Len()); !strings.Contains(listing.Body.String(), want) {
		t.Errorf("listing %s, want %s", listing.Body, want)
	}
	resp = f.dataAccessDo(http.MethodGet, target, nil)
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	// The failed-rows endpoint of batch ingestion still answers.
	if rec := f.call(catDev, "prod", http.MethodGet, exportBase+"/batches/"+id+"/failed", ""); rec.Code != http.StatusOK {
		t.Errorf("failed rows: %d %s", rec.Code, rec.Body)
	}
	// A batch still loading has no files yet.
	rec := f.call(catDev, "prod", http.MethodPost, importBase+"/batches", fmt.Sprintf(`{"datasetId":%q,"inputFormat":{"format":"json"}}`, f.profiles))
	loading := decodeMap(t, rec.Body.Bytes())["id"].(string)
	f.upload(catDev, loading, f.profiles, "c.json", `{}`, http.StatusOK)
	if files := f.batchFileList(loading, 100); len(files) != 0 {
		t.Errorf("files of a loading batch: %v", files)
	}
}
