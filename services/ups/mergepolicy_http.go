package ups

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
)

// policyHTTP serves /data/core/ups/config/mergePolicies. Statuses follow
// SW-PROF: create and update answer 200 with the policy, delete 200 with
// an empty body, bulk-get 207; errors are in the UPS shape.
type policyHTTP struct {
	store   *policyStore
	maxBody int64
	log     zerolog.Logger
}

// mergePolicyRoutes registers the merge policy endpoints.
func (s *Server) mergePolicyRoutes(api func(string, http.HandlerFunc)) {
	(&policyHTTP{store: s.policies, maxBody: s.cfg.MaxBodyBytes, log: s.log}).register(api)
}

func (h *policyHTTP) register(api func(string, http.HandlerFunc)) {
	api("GET "+mergePoliciesBase, h.list)
	api("POST "+mergePoliciesBase, h.create)
	api("POST "+mergePoliciesBase+"/bulk-get", h.bulkGet)
	api("GET "+mergePoliciesBase+"/{id}", h.get)
	api("PUT "+mergePoliciesBase+"/{id}", h.put)
	api("PATCH "+mergePoliciesBase+"/{id}", h.patch)
	api("DELETE "+mergePoliciesBase+"/{id}", h.remove)
}

// GET /mergePolicies
func (h *policyHTTP) list(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	q, err := parsePolicyQuery(r.URL.Query())
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	all, err := h.store.list(caller)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, q.page(all))
}

// POST /mergePolicies
func (h *policyHTTP) create(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	in, _, err := parsePolicyBody(body)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	pol, err := h.store.create(caller, in)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, pol.view()) // SW-PROF: 200, not 201
}

// GET /mergePolicies/{id}
func (h *policyHTTP) get(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	pol, err := h.store.get(caller, id)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, pol.view())
}

// PUT /mergePolicies/{id}: the body is the whole policy. Fields the
// server maintains (imsOrgId, sandbox, version, updateEpoch) are ignored,
// as clients send back what they read.
func (h *policyHTTP) put(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	in, bodyID, err := parsePolicyBody(body)
	if err == nil && bodyID != "" && bodyID != id {
		err = badRequestf("id %q in the body is not the id in the path, %q", truncate(bodyID, 100), truncate(id, 100))
	}
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	pol, err := h.store.replace(caller, id, in)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, pol.view())
}

// PATCH /mergePolicies/{id}
func (h *policyHTTP) patch(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	change, err := parsePolicyPatch(body)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	pol, err := h.store.update(caller, id, change)
	if err != nil {
		h.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, pol.view())
}

// DELETE /mergePolicies/{id}: 200 and an empty body (D-MP).
func (h *policyHTTP) remove(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	id := r.PathValue("id")
	if err := h.store.remove(caller, id); err != nil {
		h.fail(w, r, id, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// POST /mergePolicies/bulk-get: 207 with {"results": {id: policy}}; an
// unknown id gets a 404 error body, in the UPS shape, as its result.
func (h *policyHTTP) bulkGet(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readUPSBody(w, r, h.maxBody)
	if !ok {
		return
	}
	ids, err := parseBulkGetIDs(body, "merge policy", 0)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	reqID := requestID(r)
	results := make(map[string]any, len(ids))
	for _, id := range ids {
		pol, err := h.store.get(caller, id)
		switch {
		case err == nil:
			results[id] = pol.view()
		case errors.Is(err, errMergePolicyNotFound):
			results[id] = upsErrorBody(reqID, http.StatusNotFound, upsCodeNotFound, notFoundMessage(id))
		default:
			h.fail(w, r, id, err)
			return
		}
	}
	writeJSON(w, http.StatusMultiStatus, map[string]any{"results": results})
}

// fail answers err in the UPS shape; id is the policy the request names.
func (h *policyHTTP) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	if errors.Is(err, errMergePolicyNotFound) {
		upsError(w, r, http.StatusNotFound, upsCodeNotFound, notFoundMessage(id))
		return
	}
	upsFail(w, r, h.log, "merge policy", truncate(id, 100), err)
}

// notFoundMessage words a 404 the way UPS does for its entities.
func notFoundMessage(id string) string {
	return fmt.Sprintf("The merge policy %s is not found. Use a valid merge policy and try again.", truncate(id, 100))
}
