package ups

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

const segmentJobsBase = "/data/core/ups/segment/jobs"

// segmentJobHTTP serves /data/core/ups/segment/jobs (§3 of the reference):
// create answers 200 with the job (NEW), cancel 204, bulk-get 207.
type segmentJobHTTP struct {
	runner  *segmentJobs
	maxBody int64
	log     zerolog.Logger
}

func (s *Server) segmentJobRoutes(api func(string, http.HandlerFunc)) {
	h := &segmentJobHTTP{runner: s.segJobs, maxBody: s.cfg.MaxBodyBytes, log: s.log}
	api("GET "+segmentJobsBase, h.list)
	api("POST "+segmentJobsBase, h.create)
	api("POST "+segmentJobsBase+"/bulk-get", h.bulkGet)
	api("GET "+segmentJobsBase+"/{id}", h.get)
	api("DELETE "+segmentJobsBase+"/{id}", h.remove)
}

// segmentJobRequest is the object form of a create: the array form is
// its segments alone.
type segmentJobRequest struct {
	Schema   *schemaNameView `json:"schema"`
	Segments []struct {
		SegmentID string `json:"segmentId"`
	} `json:"segments"`
}

// POST /segment/jobs: [{"segmentId": ...}] or {"schema": ..., "segments": [...]}.
func (h *segmentJobHTTP) create(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	var req segmentJobRequest
	trimmed := bytes.TrimSpace(body)
	var err error
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		err = json.Unmarshal(trimmed, &req.Segments)
		if err != nil {
			err = badRequestf("The request body is not valid: %s", jsonProblem(err))
		}
	default:
		err = decodeObject(body, &req)
	}
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	if len(req.Segments) == 0 {
		h.fail(w, r, "", badRequestf(`The request names no segments: send [{"segmentId": "<id>"}] or [{"segmentId": "*"}].`))
		return
	}
	schema := profileSchemaName
	if req.Schema != nil && req.Schema.Name != "" {
		if req.Schema.Name != profileSchemaName {
			h.fail(w, r, "", badRequestf("schema.name %q is not supported: segment jobs run on %s.", truncate(req.Schema.Name, 100), profileSchemaName))
			return
		}
	}
	ids := make([]string, len(req.Segments))
	for i, s := range req.Segments {
		if s.SegmentID == "" {
			h.fail(w, r, "", badRequestf("segments[%d].segmentId is required.", i))
			return
		}
		ids[i] = s.SegmentID
	}
	job, err := h.runner.submit(caller, ids, schema)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}

// profileSchemaName is the XDM class segment jobs evaluate.
const profileSchemaName = "_xdm.context.profile"

// GET /segment/jobs/{id}
func (h *segmentJobHTTP) get(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	job, err := h.runner.jobs.get(caller, id)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}

// DELETE /segment/jobs/{id}: 204. The reference's doc shows a body on the
// 204; HTTP forbids one, so there is none.
func (h *segmentJobHTTP) remove(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	if _, err := h.runner.cancelJob(caller, id); err != nil {
		h.fail(w, r, id, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /segment/jobs?start=&limit=&status=&sort=creationTime:desc&property=segments~segmentId==X
func (h *segmentJobHTTP) list(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	q := r.URL.Query()
	start, err := queryInt(q, "start", 0, 0, 1<<31)
	if err == nil {
		var limit int
		limit, err = queryInt(q, "limit", 100, 1, 1000)
		if err == nil {
			h.page(w, r, caller, q, start, limit)
			return
		}
	}
	h.fail(w, r, "", err)
}

func (h *segmentJobHTTP) page(w http.ResponseWriter, r *http.Request, caller Caller, q url.Values, start, limit int) {
	status := strings.ToUpper(q.Get("status"))
	var segment string
	if p := q.Get("property"); p != "" {
		var ok bool
		if segment, ok = strings.CutPrefix(p, "segments~segmentId=="); !ok {
			h.fail(w, r, "", badRequestf("property %q is not supported: use segments~segmentId==<id>.", truncate(p, 100)))
			return
		}
	}
	asc := false
	switch s := q.Get("sort"); s {
	case "", "creationTime:desc":
	case "creationTime:asc":
		asc = true
	default:
		h.fail(w, r, "", badRequestf("sort %q is not supported: use creationTime:desc or creationTime:asc.", truncate(s, 100)))
		return
	}
	all := h.runner.jobs.list(caller)
	var kept []SegmentJob
	for _, j := range all {
		if status != "" && j.Status != status {
			continue
		}
		if segment != "" && !hasSegment(j, segment) {
			continue
		}
		kept = append(kept, j)
	}
	if asc {
		for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
			kept[i], kept[j] = kept[j], kept[i]
		}
	}
	total := len(kept)
	kept = kept[min(start, total):min(start+limit, total)]
	if kept == nil {
		kept = []SegmentJob{}
	}
	links := map[string]any{"next": map[string]any{}}
	if start+limit < total {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("start", strconv.Itoa(start+limit))
		next.Set("limit", strconv.Itoa(limit))
		links["next"] = map[string]string{"href": "/segment/jobs?" + next.Encode()}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"_page":    map[string]int{"totalCount": total, "pageSize": len(kept), "start": start, "limit": limit},
		"children": kept,
		"_links":   links,
	})
}

func hasSegment(j SegmentJob, id string) bool {
	for _, s := range j.Segments {
		if s.SegmentID == id {
			return true
		}
	}
	return false
}

// POST /segment/jobs/bulk-get: 207 {"results": {id: job or error}}.
func (h *segmentJobHTTP) bulkGet(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	var req struct {
		IDs []struct {
			ID string `json:"id"`
		} `json:"ids"`
	}
	if err := decodeObject(body, &req); err != nil {
		h.fail(w, r, "", err)
		return
	}
	if len(req.IDs) == 0 {
		h.fail(w, r, "", badRequestf(`ids is required: a list of segment job ids, as in {"ids": [{"id": "..."}]}`))
		return
	}
	results := map[string]any{}
	for _, item := range req.IDs {
		job, err := h.runner.jobs.get(caller, item.ID)
		if err != nil {
			results[item.ID] = upsErrorBody(requestID(r), http.StatusNotFound, upsCodeNotFound, segmentJobNotFound(item.ID))
			continue
		}
		results[item.ID] = job
	}
	writeJSON(w, http.StatusMultiStatus, map[string]any{"results": results})
}

func segmentJobNotFound(id string) string {
	return fmt.Sprintf("The segment job %s is not found.", truncate(id, 100))
}

func (h *segmentJobHTTP) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, errSegmentJobNotFound):
		upsError(w, r, http.StatusNotFound, upsCodeNotFound, segmentJobNotFound(id))
	case errors.Is(err, errTooManyJobs):
		w.Header().Set("Retry-After", "10")
		upsError(w, r, http.StatusTooManyRequests, upsCodeInvalid, "Too many segment jobs are waiting to run; try again later.")
	default:
		upsFail(w, r, h.log, "segment job", truncate(id, 100), err)
	}
}

// queryInt reads an integer query parameter within [lo, hi], def when
// absent.
func queryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequestf("%s must be an integer from %d to %d, not %q.", name, lo, hi, truncate(s, 40))
	}
	return n, nil
}
