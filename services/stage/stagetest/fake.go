package stagetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/platform"
)

// Fake is the base of an httptest Platform for a stage's tests: it
// answers IMS tokens itself, and a package's fake adds the routes of what
// its stage calls, each under a kind that names it. Every call is counted
// and recorded by kind; a test scripts faults through Fault and Delay.
type Fake struct {
	URL string

	// Mu guards the fields below, and is the lock of what a package's
	// fake keeps.
	Mu sync.Mutex
	// Calls counts the calls by kind ("token" for IMS).
	Calls map[string]int
	// Requests are the calls, in order.
	Requests []Call
	// Fault, when set, may answer a call itself (true) before its route
	// does; n is the call's count of its kind, from 1.
	Fault func(w http.ResponseWriter, r *http.Request, kind string, n int) bool
	// Delay slows every answer but IMS's.
	Delay time.Duration

	mux    *http.ServeMux
	routes map[string]Route // by pattern
}

// Route answers a call; n is its count of its kind, from 1.
type Route func(w http.ResponseWriter, r *http.Request, n int)

// Call is a recorded call.
type Call struct {
	Kind   string
	Method string
	Path   string
	Query  string
	Header http.Header
}

// NewFake starts a fake Platform, closed when the test ends.
func NewFake(t testing.TB) *Fake {
	f := &Fake{Calls: map[string]int{}, mux: http.NewServeMux(), routes: map[string]Route{}}
	f.Handle("POST /ims/token/v3", "token", func(w http.ResponseWriter, r *http.Request, _ int) {
		WriteJSON(w, 200, map[string]any{"access_token": "tok", "token_type": "bearer", "expires_in": 3600})
	})
	srv := httptest.NewServer(f.mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Handle routes the calls that match pattern (an http.ServeMux pattern) to
// route, as calls of kind.
func (f *Fake) Handle(pattern, kind string, route Route) {
	f.HandleKinds(pattern, func(*http.Request) string { return kind }, route)
}

// HandleKinds is Handle for a pattern whose calls are of several kinds,
// told apart by kindOf.
func (f *Fake) HandleKinds(pattern string, kindOf func(*http.Request) string, route Route) {
	f.routes[pattern] = route
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		kind := kindOf(r)
		f.Mu.Lock()
		f.Calls[kind]++
		n := f.Calls[kind]
		f.Requests = append(f.Requests, Call{Kind: kind, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone()})
		fault, delay := f.Fault, f.Delay
		f.Mu.Unlock()
		if delay > 0 && kind != "token" {
			time.Sleep(delay)
		}
		if fault != nil && fault(w, r, kind, n) {
			return
		}
		route(w, r, n)
	})
}

// Commit lets r's route do what r asks, and drops its answer: with Fault
// answering an error, a call whose answer was lost after the Platform
// acted on it. It is not counted again: the route gets n 0.
func (f *Fake) Commit(r *http.Request) {
	if _, pattern := f.mux.Handler(r); f.routes[pattern] != nil {
		f.routes[pattern](httptest.NewRecorder(), r, 0)
	}
}

// Set runs change under Mu: a test scripts the fake with it.
func (f *Fake) Set(change func()) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	change()
}

// Count is how many calls of kind came.
func (f *Fake) Count(kind string) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Calls[kind]
}

// Client is a client of the fake (Client).
func (f *Fake) Client(t testing.TB) *platform.Client {
	t.Helper()
	return Client(t, f.URL, nil)
}

// Client is a Platform client of base as ups's dev client, retrying
// quickly: four attempts at most, 1 ms apart doubling to 10 ms. rt, if not
// nil, carries its requests.
func Client(t testing.TB, base string, rt http.RoundTripper) *platform.Client {
	t.Helper()
	cfg := platform.Config{BaseURL: base, ClientID: "segflow-dev", ClientSecret: "segflow-dev-secret", OrgID: "SEGFLOWDEV@AdobeOrg", Sandbox: "prod"}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	c, err := platform.New(cfg, platform.Options{Retry: platform.RetryPolicy{MaxAttempts: 4, Backoff: platform.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Answer answers body, JSON, with status and the header's name and value
// pairs.
func Answer(w http.ResponseWriter, status int, body string, header ...string) {
	for i := 0; i+1 < len(header); i += 2 {
		w.Header().Set(header[i], header[i+1])
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// UPSError answers an error in the UPS shape.
func UPSError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]any{
		"requestId": "fake-req", "status": status, "title": msg,
		"type":   fmt.Sprintf("https://ns.adobe.com/aep/errors/UPAPI-113434-%d", status),
		"errors": map[string]any{fmt.Sprint(status): []map[string]any{{"code": status, "message": msg}}},
	})
}
