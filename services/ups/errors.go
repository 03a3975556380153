package ups

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"
)

// The Platform answers errors in three shapes (aep-api.md §6); each family
// of endpoints keeps its own.

// gatewayError is the API gateway's shape: {"error_code","message"}.
func gatewayError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error_code": code, "message": msg})
}

// upsError is the segmentation (UPS) service's shape.
func upsError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	writeJSON(w, status, upsErrorBody(requestID(r), status, code, msg))
}

// upsErrorBody is the body upsError answers, also embedded per item in
// multi-status (207) answers.
func upsErrorBody(requestID string, status int, code, msg string) map[string]any {
	st := strconv.Itoa(status)
	return map[string]any{
		"requestId": requestID,
		"errors":    map[string]any{st: []map[string]any{{"code": status, "message": msg}}},
		"type":      "https://ns.adobe.com/aep/errors/UPAPI-" + code + "-" + st,
		"title":     msg,
		"status":    status,
	}
}

// UPS error codes (the middle of "UPAPI-<code>-<status>"), as the
// Platform's examples use them (aep-api.md §6).
const (
	upsCodeNotFound = "113430"
	upsCodeInvalid  = "113434"
	upsCodeInternal = "113751"
)

// catalogError is Catalog's RFC 7807-like shape, also used by the gateway
// for a missing content type.
func catalogError(w http.ResponseWriter, status int, title, detail string) {
	writeJSON(w, status, map[string]any{"type": "/placeholder/type/uri", "status": status, "title": title, "detail": detail})
}

// Catalog error titles.
const (
	titleBadRequest = "BadRequestError"
	titleNotFound   = "NotFoundError"
	titleTooLarge   = "PayloadTooLargeError"
	titleInternal   = "InternalServerError"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// requestID is the caller's x-request-id, or a new one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("x-request-id"); id != "" && len(id) <= 128 {
		return id
	}
	return randomHex(16)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// internalError logs an unexpected error and answers 500 without details.
func internalError(w http.ResponseWriter, log zerolog.Logger, err error) {
	log.Error().Err(err).Msg("request failed")
	catalogError(w, http.StatusInternalServerError, titleInternal, "internal error")
}
