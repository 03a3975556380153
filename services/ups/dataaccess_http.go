package ups

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Data Access (aep-api.md §5, SW-DA) under /data/foundation/export: the
// files of a batch, then each file's bytes. It serves export batches
// (their manifest) and ingested batches (the uploaded files) alike, once
// Catalog says the batch succeeded: a batch still loading, failed or
// replaced ("deleted") lists no files. GET /batches/{id}/failed, the
// failed rows of an ingested batch, lives with batch ingestion
// (ingest_http.go).
//
// A dataSetFileId is "<batch id>-<n>", the batch's n-th file (from 1, in
// name order), and stands for that one file.

// dataAccessRoutes registers the Data Access endpoints.
func (s *Server) dataAccessRoutes(api func(string, http.HandlerFunc)) {
	api("GET "+exportBase+"/batches/{batch}/files", s.dataAccessBatchFiles)
	api("GET "+exportBase+"/files/{id}", s.dataAccessFile) // and HEAD
}

// Paging of a batch's files (Data Access's default and maximum).
const dataAccessMaxLimit = 100

// dataAccessFile is one file a batch holds.
type dataAccessFile struct {
	id      string // dataSetFileId
	name    string
	path    string
	size    int64
	records int64 // -1: not known (ingested files)
	created int64 // Unix ms
}

// dataAccessFiles lists the files of the caller's batch. A batch that has
// not succeeded has none.
func (s *Server) dataAccessFiles(caller Caller, batchID string) (batch, dataset, []dataAccessFile, error) {
	b, err := s.catalog.batch(caller, batchID)
	if err != nil {
		return batch{}, dataset{}, nil, err
	}
	ds, err := s.catalog.dataset(caller, b.DatasetID)
	if err != nil {
		return batch{}, dataset{}, nil, err
	}
	if b.Status != batchSuccess {
		return b, ds, nil, nil
	}
	var files []dataAccessFile
	if ds.schemaClass() == schemaProfileUnion {
		data, err := os.ReadFile(s.exports.manifestPath(b.ID))
		if errors.Is(err, os.ErrNotExist) {
			return b, ds, nil, nil
		}
		if err != nil {
			return batch{}, dataset{}, nil, err
		}
		var man exportManifest
		if err := json.Unmarshal(data, &man); err != nil {
			return batch{}, dataset{}, nil, fmt.Errorf("%s: %w", s.exports.manifestPath(b.ID), err)
		}
		for _, f := range man.Files {
			files = append(files, dataAccessFile{name: f.Name, path: filepath.Join(s.exports.batchDir(b.ID), f.Name), size: f.Size, records: f.Records, created: man.Created})
		}
	} else {
		dir := s.ingest.filesDir(b.ID)
		names, err := batchFiles(dir)
		if err != nil {
			return batch{}, dataset{}, nil, err
		}
		for _, n := range names {
			f, err := openUpload(filepath.Join(dir, n))
			if err != nil {
				return batch{}, dataset{}, nil, err
			}
			f.Close()
			files = append(files, dataAccessFile{name: n, path: filepath.Join(dir, n), size: f.Size(), records: -1, created: f.ModTime().UnixMilli()})
		}
	}
	for i := range files {
		files[i].id = b.ID + "-" + strconv.Itoa(i+1)
	}
	return b, ds, files, nil
}

// dataAccessBase is the absolute URL of Data Access as the client reached
// it, for links.
func dataAccessBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + exportBase
}

// GET /batches/{batch}/files?start=&limit=
func (s *Server) dataAccessBatchFiles(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	q := r.URL.Query()
	start, limit := 0, dataAccessMaxLimit
	if v := q.Get("start"); q.Has("start") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("start %q is invalid: it must be an integer from 0", truncate(v, 50)))
			return
		}
		start = n
	}
	if v := q.Get("limit"); q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("limit %q is invalid: it must be an integer from 1 to %d", truncate(v, 50), dataAccessMaxLimit))
			return
		}
		limit = min(n, dataAccessMaxLimit)
	}
	batchID := r.PathValue("batch")
	b, ds, files, err := s.dataAccessFiles(caller, batchID)
	if err != nil {
		s.dataAccessFail(w, err)
		return
	}
	base := dataAccessBase(r)
	data := []map[string]any{}
	for i := start; i < len(files) && i < start+limit; i++ {
		f := files[i]
		item := map[string]any{
			"dataSetFileId": f.id,
			"dataSetViewId": ds.ViewID,
			"version":       objectVersion,
			"created":       strconv.FormatInt(f.created, 10),
			"updated":       strconv.FormatInt(b.Updated, 10),
			"isValid":       true,
			"size":          strconv.FormatInt(f.size, 10),
			"_links":        map[string]any{"self": map[string]string{"href": base + "/files/" + f.id}},
		}
		if f.records >= 0 {
			item["records"] = strconv.FormatInt(f.records, 10)
		}
		data = append(data, item)
	}
	filesURL := base + "/batches/" + url.PathEscape(batchID) + "/files"
	links := map[string]any{
		"page": map[string]any{"href": filesURL + "?start={start}&limit={limit}", "templated": true},
	}
	if start+limit < len(files) {
		links["next"] = map[string]string{"href": fmt.Sprintf("%s?start=%d&limit=%d", filesURL, start+limit, limit)}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"data":   data,
		"_page":  map[string]int{"limit": limit, "count": len(files)},
		"_links": links,
	})
}

// GET /files/{id}: without path, the file's listing; with
// ?path=<its name>, its bytes (Range, If-Range, HEAD as net/http serves
// them: 206 with Content-Range for a range). HEAD needs path.
func (s *Server) dataAccessFile(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	q := r.URL.Query()
	if r.Method == http.MethodHead && !q.Has("path") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest) // a HEAD answer has no body
		return
	}
	batchID, n, ok := parseDataSetFileID(id)
	if !ok {
		catalogError(w, http.StatusNotFound, titleNotFound, fmt.Sprintf("File %s not found: a dataSetFileId is listed by GET %s/batches/{batchId}/files.", truncate(id, 100), exportBase))
		return
	}
	_, _, files, err := s.dataAccessFiles(caller, batchID)
	if err != nil {
		s.dataAccessFail(w, err)
		return
	}
	if n > len(files) {
		catalogError(w, http.StatusNotFound, titleNotFound, fmt.Sprintf("File %s not found.", truncate(id, 100)))
		return
	}
	f := files[n-1]
	if !q.Has("path") {
		writeJSON(w, http.StatusOK, map[string]any{
			"data": []map[string]any{{
				"name":   f.name,
				"length": strconv.FormatInt(f.size, 10),
				"_links": map[string]any{"self": map[string]string{"href": dataAccessBase(r) + "/files/" + f.id + "?path=" + url.QueryEscape(f.name)}},
			}},
			"_page": map[string]int{"limit": dataAccessMaxLimit, "count": 1},
		})
		return
	}
	if q.Get("path") != f.name {
		catalogError(w, http.StatusNotFound, titleNotFound, fmt.Sprintf("File %s not found at path %q: its file is %s.", f.id, truncate(q.Get("path"), 100), f.name))
		return
	}
	file, err := openUpload(f.path) // an export's Parquet reads as it is
	if errors.Is(err, os.ErrNotExist) {
		// Replaced by a newer export between the listing and now.
		catalogError(w, http.StatusNotFound, titleNotFound, fmt.Sprintf("File %s not found.", f.id))
		return
	}
	if err != nil {
		s.internalError(w, err)
		return
	}
	defer file.Close()
	w.Header().Set("Content-Type", dataAccessContentType(f.name))
	http.ServeContent(w, r, f.name, file.ModTime().Truncate(time.Second), file)
}

func dataAccessContentType(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".parquet":
		return "application/parquet"
	case ".json":
		return "application/json"
	case ".csv":
		return "text/csv"
	}
	return "application/octet-stream"
}

// parseDataSetFileID reads "<batch id>-<n>".
func parseDataSetFileID(id string) (string, int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 || !isCatalogID(id[:i]) {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 1 || strconv.Itoa(n) != id[i+1:] {
		return "", 0, false
	}
	return id[:i], n, true
}

// dataAccessFail answers an error in Catalog's shape (Data Access shares
// it); a batch of another org or sandbox is not found.
func (s *Server) dataAccessFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errBatchNotFound):
		catalogError(w, http.StatusNotFound, titleNotFound, "Batch not found.")
	case errors.Is(err, errDatasetNotFound):
		catalogError(w, http.StatusNotFound, titleNotFound, "Batch not found.")
	default:
		s.internalError(w, err)
	}
}
