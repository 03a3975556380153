package ups

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

const (
	importBase = "/data/foundation/import"
	exportBase = "/data/foundation/export"
	// maxUploadBytes is the batch ingestion API's limit on one file.
	maxUploadBytes = 256 << 20
)

// ingestRoutes registers batch ingestion (§10) and the failed rows of Data
// Access.
func (s *Server) ingestRoutes(api func(string, http.HandlerFunc)) {
	api("POST "+importBase+"/batches", s.createBatch)
	api("PUT "+importBase+"/batches/{batch}/datasets/{dataset}/files/{file}", s.uploadFile)
	api("POST "+importBase+"/batches/{batch}", s.batchAction)
	api("GET "+exportBase+"/batches/{batch}/failed", s.failedRows)
}

type createBatchRequest struct {
	DatasetID   string      `json:"datasetId"`
	InputFormat inputFormat `json:"inputFormat"`
}

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readBody(w, r, s.cfg.MaxBodyBytes)
	if !ok {
		return
	}
	var req createBatchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		catalogError(w, http.StatusBadRequest, titleBadRequest, "The body must be a JSON object: "+jsonProblem(err))
		return
	}
	switch {
	case req.DatasetID == "":
		catalogError(w, http.StatusBadRequest, titleBadRequest, "datasetId is required.")
		return
	case req.InputFormat.Format != "json" && req.InputFormat.Format != "parquet":
		catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("inputFormat.format %q is not supported: use json or parquet.", req.InputFormat.Format))
		return
	}
	ds, err := s.catalog.dataset(caller, req.DatasetID)
	if err != nil {
		s.catalogFail(w, err)
		return
	}
	if ds.schemaClass() == schemaProfileUnion {
		catalogError(w, http.StatusBadRequest, titleBadRequest, "Datasets on the profile union schema receive exports, not ingestion: use a dataset of the Individual Profile or ExperienceEvent class.")
		return
	}
	b, err := s.catalog.createBatch(caller, req.DatasetID, req.InputFormat)
	if err != nil {
		s.catalogFail(w, err)
		return
	}
	obj := b.object()
	obj["id"] = b.ID
	writeJSON(w, http.StatusCreated, obj)
}

// ingestionBatch returns the caller's batch when batch ingestion may act
// on it: not an export job's batch (on a profile union dataset), which
// only its job writes and completes.
func (s *Server) ingestionBatch(w http.ResponseWriter, caller Caller, id string) (batch, bool) {
	b, err := s.catalog.batch(caller, id)
	if err != nil {
		s.catalogFail(w, err)
		return batch{}, false
	}
	if ds, err := s.catalog.dataset(caller, b.DatasetID); err == nil && ds.schemaClass() == schemaProfileUnion {
		catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("Batch %s is written by an export job: batch ingestion cannot add files to it, complete it or abort it.", id))
		return batch{}, false
	}
	return b, true
}

// openBatch returns the caller's batch when it still takes files.
func (s *Server) openBatch(w http.ResponseWriter, caller Caller, id string) (batch, bool) {
	b, ok := s.ingestionBatch(w, caller, id)
	if !ok {
		return batch{}, false
	}
	if b.Status != batchLoading {
		catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("Batch %s is %s: it takes no more files.", id, b.Status))
		return batch{}, false
	}
	return b, true
}

func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	b, ok := s.openBatch(w, caller, r.PathValue("batch"))
	if !ok {
		return
	}
	if r.PathValue("dataset") != b.DatasetID {
		catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("Batch %s belongs to dataset %s, not %s.", b.ID, b.DatasetID, r.PathValue("dataset")))
		return
	}
	name := r.PathValue("file")
	if name == "" || name[0] == '.' || strings.ContainsAny(name, `/\`) || len(name) > 255 {
		catalogError(w, http.StatusBadRequest, titleBadRequest, "The file name must be a plain name: no slashes, not starting with a dot.")
		return
	}
	dir := s.ingest.filesDir(b.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.internalError(w, err)
		return
	}
	// Uploading the same name again replaces the file: a retried upload
	// does not duplicate records.
	var readErr error
	compress := strings.EqualFold(b.InputFormat.Format, "json") // see upload_store.go
	err := writeAtomic(filepath.Join(dir, name), 0o644, func(dst io.Writer) error {
		body := &readErrors{r: http.MaxBytesReader(w, r.Body, maxUploadBytes)}
		err := copyUpload(dst, body, compress)
		readErr = body.err
		return err
	})
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(readErr, &tooLarge):
		catalogError(w, http.StatusRequestEntityTooLarge, titleTooLarge, fmt.Sprintf("A file may hold at most %d bytes; split larger ones.", int64(maxUploadBytes)))
		return
	case readErr != nil:
		catalogError(w, http.StatusBadRequest, titleBadRequest, "The file could not be read: "+readErr.Error())
		return
	case err != nil:
		s.internalError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// batchAction is POST /batches/{id}?action=COMPLETE (or ABORT).
func (s *Server) batchAction(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("batch")
	switch action := strings.ToUpper(r.URL.Query().Get("action")); action {
	case "COMPLETE":
		b, ok := s.ingestionBatch(w, caller, id)
		if !ok {
			return
		}
		switch b.Status {
		case batchLoading:
		case batchAborted:
			catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("Batch %s was aborted: it cannot be completed.", id))
			return
		default:
			w.WriteHeader(http.StatusOK) // a repeated COMPLETE changes nothing
			return
		}
		if names, err := batchFiles(s.ingest.filesDir(id)); err != nil {
			s.internalError(w, err)
			return
		} else if len(names) == 0 {
			catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("Batch %s has no files: upload at least one before completing it.", id))
			return
		}
		if _, err := s.catalog.setBatchStatus(caller, id, batchProcessing); err != nil {
			s.catalogFail(w, err)
			return
		}
		s.ingest.enqueue(caller, id)
		w.WriteHeader(http.StatusOK)
	case "ABORT":
		if b, err := s.catalog.batch(caller, id); err == nil && b.Status == batchAborted {
			w.WriteHeader(http.StatusOK) // a repeated ABORT changes nothing
			return
		}
		if _, ok := s.openBatch(w, caller, id); !ok {
			return
		}
		if _, err := s.catalog.completeBatch(caller, id, batchOutcome{Status: batchAborted}); err != nil {
			s.catalogFail(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("action %q is not supported: use COMPLETE or ABORT.", action))
	}
}

// failedRows is Data Access's GET /batches/{id}/failed: the records that
// failed validation, with their file, row, code and message.
func (s *Server) failedRows(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	b, err := s.catalog.batch(caller, r.PathValue("batch"))
	if err != nil {
		s.catalogFail(w, err)
		return
	}
	if b.Status == batchLoading || b.Status == batchProcessing {
		catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("Batch %s is %s: its failed rows are known once it succeeds or fails.", b.ID, b.Status))
		return
	}
	rows := []rowError{}
	data, err := os.ReadFile(filepath.Join(s.ingest.batchDir(b.ID), "failed.json"))
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &rows); err != nil {
			s.internalError(w, err)
			return
		}
	case !errors.Is(err, os.ErrNotExist):
		s.internalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": rows, "_page": map[string]int{"count": len(rows)}})
}

func (s *Server) catalogFail(w http.ResponseWriter, err error) { catalogFail(w, s.log, err) }

func (s *Server) internalError(w http.ResponseWriter, err error) { internalError(w, s.log, err) }

// readErrors remembers the error of a body's reads, to tell the client's
// failures from the disk's.
type readErrors struct {
	r   io.Reader
	err error
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
