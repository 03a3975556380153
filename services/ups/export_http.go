package ups

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// exportHTTP serves /data/core/ups/export/jobs (SW-SEG, D-EJ): create
// answers 200 with the job and X-Location, cancel (DELETE) 200 with a
// MessageResponse; errors are in the UPS shape.
type exportHTTP struct {
	x       *exporter
	maxBody int64
	log     zerolog.Logger
}

// exportRoutes registers the export job endpoints.
func (s *Server) exportRoutes(api func(string, http.HandlerFunc)) {
	h := &exportHTTP{x: s.exports, maxBody: s.cfg.MaxBodyBytes, log: s.log}
	api("POST "+exportJobsBase, h.create)
	api("GET "+exportJobsBase, h.list)
	api("GET "+exportJobsBase+"/{$}", h.list) // the documented next link has the slash
	api("GET "+exportJobsBase+"/{id}", h.get)
	api("DELETE "+exportJobsBase+"/{id}", h.cancel)
}

// POST /export/jobs
func (h *exportHTTP) create(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	in, err := parseExportRequest(body)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	job, err := h.x.submit(caller, in, requestID(r), r.Header.Get("x-profile-instance-id"))
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	w.Header().Set("X-Location", exportJobsBase+"/"+strconv.FormatInt(job.ID, 10))
	writeJSON(w, http.StatusOK, job) // SW-SEG: 200, not 201
}

// GET /export/jobs/{id}
func (h *exportHTTP) get(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id, ok := parseExportID(r.PathValue("id"))
	if !ok {
		h.fail(w, r, r.PathValue("id"), errExportJobNotFound)
		return
	}
	job, err := h.x.get(caller, id)
	if err != nil {
		h.fail(w, r, r.PathValue("id"), err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}

// DELETE /export/jobs/{id}: {"status": true, "message": ...} when the job
// was marked for cancelling, status false when it had already finished.
func (h *exportHTTP) cancel(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id, ok := parseExportID(r.PathValue("id"))
	if !ok {
		h.fail(w, r, r.PathValue("id"), errExportJobNotFound)
		return
	}
	job, cancelled, err := h.x.cancel(caller, id)
	if err != nil {
		h.fail(w, r, r.PathValue("id"), err)
		return
	}
	if !cancelled {
		writeJSON(w, http.StatusOK, map[string]any{"status": false, "message": fmt.Sprintf("Export job %d has already finished (%s): there is nothing to cancel.", job.ID, job.Status)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": true, "message": "Export job has been marked for cancelling"})
}

// Listing bounds.
const (
	exportListDefault = 20
	exportListMax     = 100
)

// GET /export/jobs?limit=&offset=&status=: newest first; offset is the
// "<creationTime>_<id>" cursor of the last job of the previous page.
func (h *exportHTTP) list(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	q := r.URL.Query()
	limit := exportListDefault
	if v := q.Get("limit"); q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > exportListMax {
			h.fail(w, r, "", badRequestf("limit %q is invalid: it must be an integer from 1 to %d", truncate(v, 50), exportListMax))
			return
		}
		limit = n
	}
	status := strings.ToUpper(q.Get("status"))
	switch status {
	case "", exportNew, exportProcessing, exportSucceeded, exportFailed:
	default:
		h.fail(w, r, "", badRequestf("status %q is invalid: use NEW, PROCESSING, SUCCEEDED or FAILED", truncate(q.Get("status"), 50)))
		return
	}
	offset := q.Get("offset")
	var afterTime, afterID int64
	if offset != "" {
		ms, id, ok := strings.Cut(offset, "_")
		var err1, err2 error
		afterTime, err1 = strconv.ParseInt(ms, 10, 64)
		afterID, err2 = strconv.ParseInt(id, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			h.fail(w, r, "", badRequestf("offset %q is invalid: it is the <creationTime>_<id> of the last job of the previous page, as the next link gives it", truncate(offset, 50)))
			return
		}
	}
	records := []ExportJob{}
	more := false
	for _, j := range h.x.jobs.list(caller) {
		if status != "" && j.Status != status {
			continue
		}
		if offset != "" && (j.CreationTime > afterTime || j.CreationTime == afterTime && j.ID >= afterID) {
			continue
		}
		if len(records) == limit {
			more = true
			break
		}
		records = append(records, j)
	}
	link := map[string]string{}
	if more {
		last := records[len(records)-1]
		next := fmt.Sprintf("/export/jobs/?limit=%d&offset=%d_%d", limit, last.CreationTime, last.ID)
		if status != "" {
			next += "&status=" + status
		}
		link["next"] = next
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"records": records,
		"page":    map[string]any{"sortField": "createdTime", "sort": "desc", "pageOffset": offset, "pageSize": len(records)},
		"link":    link,
	})
}

func parseExportID(s string) (int64, bool) {
	if !validExportID(s) {
		return 0, false
	}
	id, _ := strconv.ParseInt(s, 10, 64)
	return id, true
}

// fail answers err in the UPS shape; id is the job the request names.
func (h *exportHTTP) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	var unprocessable *exportUnprocessableError
	switch {
	case errors.Is(err, errExportJobNotFound):
		upsError(w, r, http.StatusNotFound, upsCodeNotFound, fmt.Sprintf("The export job %s is not found. Use a valid export job and try again.", truncate(id, 50)))
	case errors.As(err, &unprocessable):
		upsError(w, r, http.StatusUnprocessableEntity, upsCodeInvalid, unprocessable.detail)
	default:
		upsFail(w, r, h.log, "export job", truncate(id, 50), err)
	}
}
