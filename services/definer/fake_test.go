package definer_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/services/stage/stagetest"
)

// fakePlatform is an httptest Platform of what the definer calls: IMS
// tokens, segment definitions (create, get, list) and previews with their
// estimates. Tests script faults through its hooks.
type fakePlatform struct {
	*stagetest.Fake

	// Under Mu.
	defs []map[string]any
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
	f := &fakePlatform{Fake: stagetest.NewFake(t), previews: map[string]int{}, size: 42}
	f.Handle("POST /data/core/ups/segment/definitions", "POST /segment/definitions", f.postDefinition)
	f.Handle("GET /data/core/ups/segment/definitions", "GET /segment/definitions", f.listDefinitions)
	f.Handle("GET /data/core/ups/segment/definitions/{id}", "GET /segment/definitions/{id}", f.getDefinition)
	f.Handle("POST /data/core/ups/preview", "POST /preview", f.postPreview)
	f.Handle("GET /data/core/ups/estimate/{id}", "GET /estimate/{id}", f.getEstimate)
	return f
}

// apiCalls is how many API (not IMS) calls the fake answered.
func (f *fakePlatform) apiCalls() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	n := 0
	for kind, c := range f.Calls {
		if kind != "token" {
			n += c
		}
	}
	return n
}

func (f *fakePlatform) definitions() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return len(f.defs)
}

func (f *fakePlatform) postDefinition(w http.ResponseWriter, r *http.Request, n int) {
	body, _ := io.ReadAll(r.Body)
	var def map[string]any
	if err := json.Unmarshal(body, &def); err != nil {
		stagetest.UPSError(w, 400, "bad body")
		return
	}
	var stored map[string]any
	store := func() {
		f.Mu.Lock()
		defer f.Mu.Unlock()
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
	f.Mu.Lock()
	for _, d := range f.defs {
		if d["name"] == def["name"] {
			f.Mu.Unlock()
			stagetest.UPSError(w, 422, fmt.Sprintf("A segment definition named %q already exists", def["name"]))
			return
		}
	}
	f.Mu.Unlock()
	store()
	stagetest.WriteJSON(w, 200, stored)
}

func (f *fakePlatform) listDefinitions(w http.ResponseWriter, r *http.Request, _ int) {
	f.Mu.Lock()
	defs := append([]map[string]any(nil), f.defs...)
	f.Mu.Unlock()
	stagetest.WriteJSON(w, 200, map[string]any{"segments": defs, "page": map[string]any{"totalCount": len(defs), "totalPages": 1}})
}

func (f *fakePlatform) getDefinition(w http.ResponseWriter, r *http.Request, _ int) {
	id := r.PathValue("id")
	if f.getDef != nil && f.getDef(w, id) {
		return
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, d := range f.defs {
		if d["id"] == id {
			stagetest.WriteJSON(w, 200, d)
			return
		}
	}
	stagetest.UPSError(w, 404, "The segment definition "+id+" is not found.")
}

func (f *fakePlatform) postPreview(w http.ResponseWriter, r *http.Request, n int) {
	body, _ := io.ReadAll(r.Body)
	if strings.Contains(string(body), "refuse-me") {
		stagetest.UPSError(w, 400, "predicateExpression is not valid pql/text")
		return
	}
	id := fmt.Sprintf("preview-%d", n)
	f.Mu.Lock()
	f.previews[id] = 0
	f.Mu.Unlock()
	stagetest.WriteJSON(w, 201, map[string]any{"state": "NEW", "previewId": id, "previewQueryId": id, "previewExecutionId": 0})
}

func (f *fakePlatform) getEstimate(w http.ResponseWriter, r *http.Request, _ int) {
	id := r.PathValue("id")
	f.Mu.Lock()
	polls, ok := f.previews[id]
	if ok {
		polls++
		f.previews[id] = polls
	}
	size := f.size
	f.Mu.Unlock()
	if f.estimate != nil && f.estimate(w, id, polls) {
		return
	}
	if !ok {
		stagetest.UPSError(w, 404, "The preview "+id+" is not found.")
		return
	}
	stagetest.WriteJSON(w, 200, readyEstimate(size))
}

func readyEstimate(size int64) map[string]any {
	return map[string]any{
		"state": "RESULT_READY", "estimatedSize": size, "numRowsToRead": 1000, "profilesReadSoFar": 1000,
		"profilesMatchedSoFar": size, "totalRows": 1000, "standardError": 1.5, "confidenceInterval": "95%",
	}
}
