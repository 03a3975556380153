package definer_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePlatform is an httptest Platform of what the definer calls: IMS
// tokens, segment definitions (create, get, list) and previews with their
// estimates. Tests script faults through its hooks.
type fakePlatform struct {
	srv *httptest.Server

	mu    sync.Mutex
	defs  []map[string]any
	calls map[string]int // "POST /segment/definitions", ... → count
	// previews: id → how many times its estimate was read.
	previews map[string]int
	nextID   int

	// Hooks, called with the call's count (from 1); a hook that writes
	// an answer returns true.
	createDef func(w http.ResponseWriter, n int, store func()) bool
	getDef    func(w http.ResponseWriter, id string) bool
	estimate  func(w http.ResponseWriter, id string, polls int) bool
	// size is the estimated size of every preview.
	size int64
}

func newFake(t *testing.T) *fakePlatform {
	f := &fakePlatform{calls: map[string]int{}, previews: map[string]int{}, size: 42}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ims/token/v3", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"access_token": "tok", "token_type": "bearer", "expires_in": 3600})
	})
	mux.HandleFunc("POST /data/core/ups/segment/definitions", f.postDefinition)
	mux.HandleFunc("GET /data/core/ups/segment/definitions", f.listDefinitions)
	mux.HandleFunc("GET /data/core/ups/segment/definitions/{id}", f.getDefinition)
	mux.HandleFunc("POST /data/core/ups/preview", f.postPreview)
	mux.HandleFunc("GET /data/core/ups/estimate/{id}", f.getEstimate)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// upsError writes an error in the UPS shape.
func upsError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{
		"requestId": "fake-req", "status": status, "title": msg,
		"type":   fmt.Sprintf("https://ns.adobe.com/aep/errors/UPAPI-113434-%d", status),
		"errors": map[string]any{fmt.Sprint(status): []map[string]any{{"code": status, "message": msg}}},
	})
}

func (f *fakePlatform) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[call]
}

// apiCalls is how many API (not IMS) calls the fake answered.
func (f *fakePlatform) apiCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

func (f *fakePlatform) definitions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.defs)
}

func (f *fakePlatform) inc(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[call]++
	return f.calls[call]
}

func (f *fakePlatform) postDefinition(w http.ResponseWriter, r *http.Request) {
	n := f.inc("POST /segment/definitions")
	body, _ := io.ReadAll(r.Body)
	var def map[string]any
	if err := json.Unmarshal(body, &def); err != nil {
		upsError(w, 400, "bad body")
		return
	}
	var stored map[string]any
	store := func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.nextID++
		def["id"] = fmt.Sprintf("def-%d", f.nextID)
		def["mergePolicyId"] = "default-policy"
		def["creationTime"] = time.Now().UnixMilli()
		f.defs = append(f.defs, def)
		stored = def
	}
	if f.createDef != nil && f.createDef(w, n, store) {
		return
	}
	f.mu.Lock()
	for _, d := range f.defs {
		if d["name"] == def["name"] {
			f.mu.Unlock()
			upsError(w, 422, fmt.Sprintf("A segment definition named %q already exists", def["name"]))
			return
		}
	}
	f.mu.Unlock()
	store()
	writeJSON(w, 200, stored)
}

func (f *fakePlatform) listDefinitions(w http.ResponseWriter, r *http.Request) {
	f.inc("GET /segment/definitions")
	f.mu.Lock()
	defs := append([]map[string]any(nil), f.defs...)
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"segments": defs, "page": map[string]any{"totalCount": len(defs), "totalPages": 1}})
}

func (f *fakePlatform) getDefinition(w http.ResponseWriter, r *http.Request) {
	f.inc("GET /segment/definitions/{id}")
	id := r.PathValue("id")
	if f.getDef != nil && f.getDef(w, id) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.defs {
		if d["id"] == id {
			writeJSON(w, 200, d)
			return
		}
	}
	upsError(w, 404, "The segment definition "+id+" is not found.")
}

func (f *fakePlatform) postPreview(w http.ResponseWriter, r *http.Request) {
	n := f.inc("POST /preview")
	body, _ := io.ReadAll(r.Body)
	if strings.Contains(string(body), "refuse-me") {
		upsError(w, 400, "predicateExpression is not valid pql/text")
		return
	}
	id := fmt.Sprintf("preview-%d", n)
	f.mu.Lock()
	f.previews[id] = 0
	f.mu.Unlock()
	writeJSON(w, 201, map[string]any{"state": "NEW", "previewId": id, "previewQueryId": id, "previewExecutionId": 0})
}

func (f *fakePlatform) getEstimate(w http.ResponseWriter, r *http.Request) {
	f.inc("GET /estimate/{id}")
	id := r.PathValue("id")
	f.mu.Lock()
	polls, ok := f.previews[id]
	if ok {
		polls++
		f.previews[id] = polls
	}
	size := f.size
	f.mu.Unlock()
	if f.estimate != nil && f.estimate(w, id, polls) {
		return
	}
	if !ok {
		upsError(w, 404, "The preview "+id+" is not found.")
		return
	}
	writeJSON(w, 200, readyEstimate(size))
}

func readyEstimate(size int64) map[string]any {
	return map[string]any{
		"state": "RESULT_READY", "estimatedSize": size, "numRowsToRead": 1000, "profilesReadSoFar": 1000,
		"profilesMatchedSoFar": size, "totalRows": 1000, "standardError": 1.5, "confidenceInterval": "95%",
	}
}
