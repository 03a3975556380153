package ups

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
)

// defHTTP serves /data/core/ups/segment/definitions and
// /segment/conversion. Statuses follow SW-SEG and D-SD: create answers
// 200 (not 201) with X-Location, PATCH 200 with X-Location, DELETE 200
// with a MessageResponse, bulk-get 207; a name already taken and a
// definition still used by others are 422. Errors are in the UPS shape.
type defHTTP struct {
	store   *definitionStore
	maxBody int64
	log     zerolog.Logger
}

// segmentDefinitionRoutes registers the segment definition endpoints.
func (s *Server) segmentDefinitionRoutes(api func(string, http.HandlerFunc)) {
	(&defHTTP{store: s.segments, maxBody: s.cfg.MaxBodyBytes, log: s.log}).register(api)
}

func (h *defHTTP) register(api func(string, http.HandlerFunc)) {
	api("GET "+segmentDefinitionsBase, h.list)
	api("POST "+segmentDefinitionsBase, h.create)
	api("POST "+segmentDefinitionsBase+"/bulk-get", h.bulkGet)
	api("GET "+segmentDefinitionsBase+"/{id}", h.get)
	api("PATCH "+segmentDefinitionsBase+"/{id}", h.patch)
	api("DELETE "+segmentDefinitionsBase+"/{id}", h.remove)
	api("POST "+segmentConversionPath, h.convert)
}

// GET /segment/definitions
func (h *defHTTP) list(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	q, err := parseDefinitionQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, q.page(h.store.all(caller)))
}

// POST /segment/definitions
func (h *defHTTP) create(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	in, _, err := parseDefinitionBody(body)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	d, err := h.store.create(caller, in)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	w.Header().Set("X-Location", definitionLocation(d.ID))
	writeJSON(w, http.StatusOK, d) // SW-SEG: 200, not 201
}

// GET /segment/definitions/{id}
func (h *defHTTP) get(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	d, ok := h.store.get(caller, id)
	if !ok {
		h.fail(w, r, id, errDefinitionNotFound)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// PATCH /segment/definitions/{id}: "Overwrite a segment definition", the
// body being the whole object (not JSON Patch). An id in the body must be
// the path's.
func (h *defHTTP) patch(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	in, bodyID, err := parseDefinitionBody(body)
	if err == nil && bodyID != "" && bodyID != id {
		err = badRequestf("id %q in the body is not the id in the path, %q", truncate(bodyID, 100), truncate(id, 100))
	}
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	d, err := h.store.replace(caller, id, in)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	w.Header().Set("X-Location", definitionLocation(d.ID))
	writeJSON(w, http.StatusOK, d)
}

// DELETE /segment/definitions/{id}: 200 with SW-SEG's MessageResponse.
func (h *defHTTP) remove(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	if err := h.store.remove(caller, id); err != nil {
		h.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status":  true,
		"message": fmt.Sprintf("The segment definition %s was deleted.", id),
	})
}

// maxBulkGet bounds the ids of one bulk-get.
const maxBulkGet = 1000

// POST /segment/definitions/bulk-get: {"ids": [{"id": "..."}, ...]} → 207
// with {"results": {id: definition}}; an unknown id gets a 404 error body,
// in the UPS shape, as its result (as merge policies' bulk-get does).
func (h *defHTTP) bulkGet(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	ids, err := parseBulkGetIDs(body, "segment definition", maxBulkGet)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	reqID := requestID(r)
	results := make(map[string]any, len(ids))
	for _, id := range ids {
		if d, ok := h.store.get(caller, id); ok {
			results[id] = d
		} else {
			results[id] = upsErrorBody(reqID, http.StatusNotFound, upsCodeNotFound, definitionNotFound(id))
		}
	}
	writeJSON(w, http.StatusMultiStatus, map[string]any{"results": results})
}

// fail answers err in the UPS shape; id is the definition the request
// names.
func (h *defHTTP) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	var conflict *conflictError
	switch {
	case errors.Is(err, errDefinitionNotFound):
		upsError(w, r, http.StatusNotFound, upsCodeNotFound, definitionNotFound(id))
	case errors.As(err, &conflict):
		upsError(w, r, http.StatusUnprocessableEntity, upsCodeInvalid, conflict.detail)
	default:
		upsFail(w, r, h.log, "segment definition", truncate(id, 100), err)
	}
}
