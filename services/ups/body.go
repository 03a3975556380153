package ups

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rs/zerolog"
)

// readBody reads a request body of at most limit bytes. On failure it has
// answered the request (413 or 400, Catalog's shape) and returns false.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	return readLimited(w, r, limit, func(status int, msg string) {
		title := titleBadRequest
		if status == http.StatusRequestEntityTooLarge {
			title = titleTooLarge
		}
		catalogError(w, status, title, msg)
	})
}

// readUPSBody is readBody for the UPS endpoints: it answers in the UPS
// shape.
func readUPSBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	return readLimited(w, r, limit, func(status int, msg string) {
		upsError(w, r, status, upsCodeInvalid, msg)
	})
}

// readLimited reads a request body of at most limit bytes; on failure it
// answers with fail (413 or 400) and returns false.
func readLimited(w http.ResponseWriter, r *http.Request, limit int64, fail func(status int, msg string)) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit))
	} else {
		fail(http.StatusBadRequest, "The request body could not be read.")
	}
	return nil, false
}

// decodeObject decodes a JSON object body into v, naming in its error
// (a *badRequestError) what is wrong and where.
func decodeObject(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return badRequestf("The request body is empty: it must be a JSON object.")
	}
	if !json.Valid(body) {
		return badRequestf("The request body is not valid JSON: %s", jsonProblem(json.Unmarshal(body, new(any))))
	}
	if body[0] != '{' {
		return badRequestf("The request body must be a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequestf("The request body is not valid: %s", jsonProblem(err))
	}
	return nil
}

// bulkGetRequest is {"ids": [{"id": "..."}, ...]}.
type bulkGetRequest struct {
	IDs *[]struct {
		ID *string `json:"id"`
	} `json:"ids"`
}

// parseBulkGetIDs reads the ids of a bulk-get body, at most limit of them
// (0: any number); what names the objects in its errors ("merge policy").
func parseBulkGetIDs(body []byte, what string, limit int) ([]string, error) {
	var req bulkGetRequest
	if err := decodeObject(body, &req); err != nil {
		return nil, err
	}
	if req.IDs == nil || len(*req.IDs) == 0 {
		return nil, badRequestf(`ids is required: a list of %s ids, as in {"ids": [{"id": "..."}]}`, what)
	}
	if limit > 0 && len(*req.IDs) > limit {
		return nil, badRequestf("ids lists %d ids, the limit is %d", len(*req.IDs), limit)
	}
	ids := make([]string, len(*req.IDs))
	for i, item := range *req.IDs {
		if item.ID == nil || *item.ID == "" {
			return nil, badRequestf("ids[%d].id is required", i)
		}
		ids[i] = *item.ID
	}
	return ids, nil
}

// upsFail answers err in the UPS shape for a request about the object of
// kind ("segment definition") id: a *badRequestError is a 400, anything
// else is logged and a 500. Handlers answer the errors of their own
// (not found, conflicts) before.
func upsFail(w http.ResponseWriter, r *http.Request, log zerolog.Logger, kind, id string, err error) {
	var bad *badRequestError
	if errors.As(err, &bad) {
		upsError(w, r, http.StatusBadRequest, upsCodeInvalid, bad.detail)
		return
	}
	log.Error().Err(err).Str(strings.ReplaceAll(kind, " ", "_"), id).Msg(kind + " request failed")
	upsError(w, r, http.StatusInternalServerError, upsCodeInternal, "internal error")
}
