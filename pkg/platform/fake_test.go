package platform

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testClient = "client-1"
	testSecret = "s3cret-value-do-not-leak"
	testOrg    = "TESTORG@AdobeOrg"
)

// fakePlatform is an httptest Platform: an IMS token endpoint that issues
// "tok-1", "tok-2", … and an API handler the test scripts.
type fakePlatform struct {
	t   *testing.T
	srv *httptest.Server

	tokenRequests atomic.Int32
	expiresIn     atomic.Int64  // seconds, for new tokens
	tokenDelay    time.Duration // before answering a token request
	tokenForms    chan map[string][]string

	mu      sync.Mutex
	api     http.HandlerFunc
	apiReqs []*http.Request // every API request, bodies read into apiBodies
	bodies  []string
}

func newFake(t *testing.T) *fakePlatform { return newFakeWrapped(t, nil) }

// newFakeWrapped puts wrap, if not nil, in front of the fake's handler.
func newFakeWrapped(t *testing.T, wrap func(http.Handler) http.Handler) *fakePlatform {
	f := &fakePlatform{t: t, tokenForms: make(chan map[string][]string, 100)}
	f.expiresIn.Store(3600)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ims/token/v3", f.token)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.apiReqs = append(f.apiReqs, r)
		f.bodies = append(f.bodies, string(body))
		h := f.api
		f.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	})
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePlatform) token(w http.ResponseWriter, r *http.Request) {
	n := f.tokenRequests.Add(1)
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case f.tokenForms <- r.PostForm:
	default:
	}
	if f.tokenDelay > 0 {
		time.Sleep(f.tokenDelay)
	}
	if r.PostForm.Get("client_secret") != testSecret {
		writeTestJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "invalid client_id or client_secret"})
		return
	}
	writeTestJSON(w, http.StatusOK, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": f.expiresIn.Load()})
}

func (f *fakePlatform) handle(h http.HandlerFunc) {
	f.mu.Lock()
	f.api = h
	f.mu.Unlock()
}

// requests returns the API requests so far.
func (f *fakePlatform) requests() ([]*http.Request, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.apiReqs...), append([]string(nil), f.bodies...)
}

func (f *fakePlatform) config() Config {
	return Config{BaseURL: f.srv.URL, ClientID: testClient, ClientSecret: testSecret, OrgID: testOrg, Sandbox: "dev-1", Scope: "openid,AdobeID"}
}

// fastRetry keeps retry waits short in tests.
var fastRetry = RetryPolicy{MaxAttempts: 4, Backoff: Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}}

func (f *fakePlatform) client(opts ...func(*Options)) *Client {
	f.t.Helper()
	o := Options{Retry: fastRetry}
	for _, fn := range opts {
		fn(&o)
	}
	c, err := New(f.config(), o)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func writeTestJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sequence answers the n-th request with the n-th handler, and the last
// handler after that.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		hs[min(i, len(hs)-1)](w, r)
	}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
