package ups

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	devClient = "segflow-dev"
	devSecret = "segflow-dev-secret"
	devOrg    = "SEGFLOWDEV@AdobeOrg"
)

// authEnv is a ups handler with a settable clock and two orgs' clients.
type authEnv struct {
	t       *testing.T
	srv     *Server
	reg     *prometheus.Registry
	h       http.Handler
	now     time.Time
	dataDir string
}

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	e := &authEnv{t: t, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), dataDir: t.TempDir()}
	e.start()
	return e
}

func (e *authEnv) start() {
	e.t.Helper()
	cfg := Config{
		Addr:            "127.0.0.1:0",
		DataDir:         e.dataDir,
		Clients:         devClient + ":" + devSecret + "@" + devOrg + ",other:other-secret@OTHER@AdobeOrg",
		TokenTTL:        time.Hour,
		MaxBodyBytes:    1 << 20,
		SnapshotRecords: 1_000_000,
		ColumnCacheMB:   1024,
	}
	e.reg = prometheus.NewRegistry()
	if e.srv != nil {
		e.srv.Close()
	}
	srv, err := New(cfg, Options{Registerer: e.reg, Gatherer: e.reg, Now: func() time.Time { return e.now }})
	if err != nil {
		e.t.Fatal(err)
	}
	if e.srv == nil {
		e.t.Cleanup(func() { e.srv.Close() })
	}
	e.srv, e.h = srv, srv.Handler()
}

// token gets an access token the way the Platform's clients do.
func (e *authEnv) token(id, secret string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"openid,AdobeID,read_organizations"}}
	req := httptest.NewRequest(http.MethodPost, "/ims/token/v3", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("token response %q: %v", rec.Body.String(), err)
	}
	return rec.Code, body
}

func (e *authEnv) devToken() string {
	e.t.Helper()
	code, body := e.token(devClient, devSecret)
	if code != http.StatusOK {
		e.t.Fatalf("token: %d %v", code, body)
	}
	return body["access_token"].(string)
}

func TestToken(t *testing.T) {
	e := newAuthEnv(t)
	code, body := e.token(devClient, devSecret)
	if code != http.StatusOK || body["token_type"] != "bearer" || body["expires_in"] != float64(3600) || body["access_token"] == "" {
		t.Fatalf("token: %d %v", code, body)
	}
	for _, tt := range []struct {
		name, id, secret string
		code             int
		errCode          string
	}{
		{"wrong secret", devClient, "nope", http.StatusUnauthorized, "invalid_client"},
		{"unknown client", "ghost", devSecret, http.StatusUnauthorized, "invalid_client"},
		{"empty", "", "", http.StatusUnauthorized, "invalid_client"},
	} {
		code, body := e.token(tt.id, tt.secret)
		if code != tt.code || body["error"] != tt.errCode {
			t.Errorf("%s: %d %v, want %d %s", tt.name, code, body, tt.code, tt.errCode)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/ims/token/v3", strings.NewReader("grant_type=password&client_id=segflow-dev"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "unsupported_grant_type") {
		t.Errorf("password grant: %d %s", rec.Code, rec.Body)
	}
}

func TestGatewayHeaders(t *testing.T) {
	e := newAuthEnv(t)
	tok := e.devToken()
	code, other := e.token("other", "other-secret")
	if code != http.StatusOK {
		t.Fatal(other)
	}
	otherTok := other["access_token"].(string)
	tests := []struct {
		name    string
		headers map[string]string
		method  string
		status  int
		body    string // substring
	}{
		{"no token", map[string]string{"x-api-key": devClient, "x-gw-ims-org-id": devOrg}, "GET", 403, `{"error_code":"403010","message":"Oauth token is missing."}`},
		{"bad token", map[string]string{"Authorization": "Bearer x.y", "x-api-key": devClient, "x-gw-ims-org-id": devOrg}, "GET", 401, `{"error_code":"401013","message":"Oauth token is not valid"}`},
		{"tampered token", map[string]string{"Authorization": "Bearer " + tok[:len(tok)-2] + "xx", "x-api-key": devClient, "x-gw-ims-org-id": devOrg}, "GET", 401, `"401013"`},
		{"not bearer", map[string]string{"Authorization": "Basic " + tok, "x-api-key": devClient, "x-gw-ims-org-id": devOrg}, "GET", 401, `"401013"`},
		{"no api key", map[string]string{"Authorization": "Bearer " + tok, "x-gw-ims-org-id": devOrg}, "GET", 403, `{"error_code":"403000","message":"Api Key is required"}`},
		{"wrong api key", map[string]string{"Authorization": "Bearer " + tok, "x-api-key": "other", "x-gw-ims-org-id": devOrg}, "GET", 403, `{"error_code":"403003","message":"Api Key is invalid"}`},
		{"no org", map[string]string{"Authorization": "Bearer " + tok, "x-api-key": devClient}, "GET", 400, `{"error_code":"400003","message":"Missing header"}`},
		{"other org", map[string]string{"Authorization": "Bearer " + otherTok, "x-api-key": "other", "x-gw-ims-org-id": devOrg}, "GET", 403, `{"error_code":"403025","message":"Profile is not valid"}`},
		{"bad sandbox", map[string]string{"Authorization": "Bearer " + tok, "x-api-key": devClient, "x-gw-ims-org-id": devOrg, "x-sandbox-name": "../etc"}, "GET", 400, `x-sandbox-name`},
		{"no content type", map[string]string{"Authorization": "Bearer " + tok, "x-api-key": devClient, "x-gw-ims-org-id": devOrg}, "POST", 400, `{"detail":"A valid content-type must be specified","status":400,"title":"BadRequestError","type":"/placeholder/type/uri"}`},
		{"authenticated, unknown endpoint", map[string]string{"Authorization": "Bearer " + tok, "x-api-key": devClient, "x-gw-ims-org-id": devOrg}, "GET", 404, `"NotFoundError"`},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, "/data/foundation/nothing-here", strings.NewReader("{}"))
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, rec.Code, rec.Body, tt.status, tt.body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.name, ct)
		}
	}
}

func TestTokenExpiresAndSurvivesRestart(t *testing.T) {
	e := newAuthEnv(t)
	tok := e.devToken()
	call := func() int {
		req := httptest.NewRequest(http.MethodGet, "/data/foundation/nothing-here", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("x-api-key", devClient)
		req.Header.Set("x-gw-ims-org-id", devOrg)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := call(); got != http.StatusNotFound {
		t.Fatalf("fresh token: %d, want 404 from behind the gateway", got)
	}
	e.start() // a restart on the same data directory keeps the signing key
	if got := call(); got != http.StatusNotFound {
		t.Fatalf("after restart: %d, want the token still valid", got)
	}
	e.now = e.now.Add(time.Hour)
	if got := call(); got != http.StatusUnauthorized {
		t.Fatalf("expired token: %d, want 401", got)
	}
}

func TestParseClients(t *testing.T) {
	cs, err := ParseClients("a:s1@ORG1@AdobeOrg, b:s2@ORG2@AdobeOrg")
	if err != nil || len(cs) != 2 || cs[0] != (Client{"a", "s1", "ORG1@AdobeOrg"}) || cs[1] != (Client{"b", "s2", "ORG2@AdobeOrg"}) {
		t.Fatalf("ParseClients = %v, %v", cs, err)
	}
	for _, bad := range []string{"", "a", "a:secret", "a:@ORG", ":s@ORG", "a:s@"} {
		_, err := ParseClients(bad)
		if err == nil {
			t.Errorf("ParseClients(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") && strings.Contains(bad, "secret") && !strings.Contains(err.Error(), "***") {
			t.Errorf("ParseClients(%q) error shows the secret: %v", bad, err)
		}
	}
}

func TestMetricsLint(t *testing.T) {
	e := newAuthEnv(t)
	e.devToken()
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("metrics lint: %v %v", err, problems)
	}
	if n := testutil.ToFloat64(e.srv.metrics.requests.WithLabelValues("POST /ims/token/v3", "2xx")); n != 1 {
		t.Fatalf("token requests counted %v times, want 1 under its route", n)
	}
}
