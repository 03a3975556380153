package platform

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHeadersOnEveryRequest(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			writeTestJSON(w, http.StatusCreated, map[string]any{"id": "b1", "status": "loading"})
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	c := f.client()
	ctx := context.Background()
	if _, err := c.CreateBatch(ctx, "ds1", FormatJSON, true); err != nil {
		t.Fatal(err)
	}
	if err := c.UploadFile(ctx, "b1", "ds1", "a b.json", strings.NewReader("{}\n"), 3); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		for h, want := range map[string]string{
			"Authorization":   "Bearer tok-1",
			"X-Api-Key":       testClient,
			"X-Gw-Ims-Org-Id": testOrg,
			"X-Sandbox-Name":  "dev-1",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s %s: %s = %q, want %q", r.Method, r.URL.Path, h, got, want)
			}
		}
		if r.Header.Get("x-request-id") == "" {
			t.Errorf("%s %s: no x-request-id", r.Method, r.URL.Path)
		}
	}
	if got := reqs[0].Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("create batch content type %q", got)
	}
	if bodies[0] != `{"datasetId":"ds1","inputFormat":{"format":"json","isMultiLineJson":true}}` {
		t.Errorf("create batch body %s", bodies[0])
	}
	if reqs[1].Method != http.MethodPut || reqs[1].URL.EscapedPath() != "/data/foundation/import/batches/b1/datasets/ds1/files/a%20b.json" ||
		reqs[1].Header.Get("Content-Type") != "application/octet-stream" || bodies[1] != "{}\n" {
		t.Errorf("upload: %s %s %q body %q", reqs[1].Method, reqs[1].URL.EscapedPath(), reqs[1].Header.Get("Content-Type"), bodies[1])
	}
	if reqs[2].URL.RequestURI() != "/data/foundation/import/batches/b1?action=COMPLETE" || reqs[2].Header.Get("Content-Type") == "" {
		t.Errorf("complete: %s content type %q", reqs[2].URL.RequestURI(), reqs[2].Header.Get("Content-Type"))
	}
	form := <-f.tokenForms
	for k, want := range map[string]string{"grant_type": "client_credentials", "client_id": testClient, "client_secret": testSecret, "scope": "openid,AdobeID"} {
		if got := strings.Join(form[k], ","); got != want {
			t.Errorf("token form %s = %q, want %q", k, got, want)
		}
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Errorf("%d token requests for three calls, want 1", n)
	}
}

func TestRetryOn503HonoursRetryAfter(t *testing.T) {
	f := newFake(t)
	f.handle(sequence(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			status(http.StatusServiceUnavailable, `{"type":"/placeholder/type/uri","status":503,"title":"ServiceUnavailable","detail":"busy"}`)(w, r)
		},
		status(http.StatusOK, `{"b1":{"status":"success"}}`),
	))
	c := f.client()
	start := time.Now()
	b, err := c.Batch(context.Background(), "b1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != BatchSuccess {
		t.Fatalf("batch %+v", b)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("retried after %s, want at least the Retry-After of 1s", el)
	}
	if reqs, _ := f.requests(); len(reqs) != 2 {
		t.Errorf("%d requests, want 2", len(reqs))
	}
}

func TestRetryOn429HonoursRetryAfterMs(t *testing.T) {
	f := newFake(t)
	f.handle(sequence(
		status(http.StatusTooManyRequests, `[{"message":"Too many requests","cause":"{\"Errors\":[\"Request rate is large\"]}","retryAfterMs":"300","statusCode":"429"}]`),
		status(http.StatusCreated, `{"id":"b9","status":"loading"}`),
	))
	c := f.client()
	start := time.Now()
	// A create is retried on 429: the Platform refused it before acting.
	b, err := c.CreateBatch(context.Background(), "ds", FormatParquet, false)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "b9" {
		t.Fatalf("batch %+v", b)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("retried after %s, want at least retryAfterMs 300", el)
	}
}

func TestLongRetryAfterIsLeftToTheCaller(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		status(http.StatusTooManyRequests, `{"error_code":"429050","message":"Too many requests"}`)(w, r)
	})
	c := f.client()
	_, err := c.Batch(context.Background(), "b1")
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, ErrRateLimited) || pe.RetryAfter != time.Hour || pe.Code != "429050" {
		t.Fatalf("err = %#v", err)
	}
	if reqs, _ := f.requests(); len(reqs) != 1 {
		t.Errorf("%d requests, want 1: an hour's Retry-After is the caller's to wait", len(reqs))
	}
	if !Transient(err) {
		t.Error("a rate limit is transient")
	}
}

func TestNoRetryOfNonIdempotentPOST(t *testing.T) {
	f := newFake(t)
	f.handle(status(http.StatusInternalServerError, `{"type":"/placeholder/type/uri","status":500,"title":"InternalServerError","detail":"internal error"}`))
	c := f.client()
	_, err := c.CreateDataset(context.Background(), DatasetSpec{Name: "x", Schema: SchemaProfile})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if reqs, _ := f.requests(); len(reqs) != 1 {
		t.Fatalf("CreateDataset sent %d requests on a 500, want 1 (a retry could create two datasets)", len(reqs))
	}
	// The same 500 on an idempotent POST (COMPLETE) and a GET is retried
	// until the attempts run out.
	if err := c.CompleteBatch(context.Background(), "b1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("CompleteBatch err = %v", err)
	}
	if reqs, _ := f.requests(); len(reqs) != 1+fastRetry.MaxAttempts {
		t.Fatalf("%d requests, want %d", len(reqs), 1+fastRetry.MaxAttempts)
	}
}

func TestRetryUploadSendsTheWholeBodyAgain(t *testing.T) {
	f := newFake(t)
	f.handle(sequence(status(http.StatusBadGateway, "<html>bad gateway</html>"), status(http.StatusOK, "")))
	c := f.client()
	data := bytes.Repeat([]byte("0123456789"), 10000)
	if err := c.UploadFile(context.Background(), "b", "d", "f.json", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	_, bodies := f.requests()
	if len(bodies) != 2 || bodies[0] != string(data) || bodies[1] != string(data) {
		t.Fatalf("%d uploads; body lengths %d", len(bodies), len(bodies[len(bodies)-1]))
	}
}

func TestRetryAfterBrokenConnection(t *testing.T) {
	f := newFake(t)
	var calls atomic.Int32
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close() // no answer at all
			}
			return
		}
		status(http.StatusOK, `{"d1":{"name":"crm"}}`)(w, r)
	})
	c := f.client()
	d, err := c.Dataset(context.Background(), "d1")
	if err != nil || d.Name != "crm" || d.ID != "d1" {
		t.Fatalf("Dataset = %+v, %v", d, err)
	}
	// A create that may have reached the server is not repeated.
	calls.Store(0)
	_, err = c.CreateDataset(context.Background(), DatasetSpec{Name: "x", Schema: SchemaProfile})
	var ne *NetworkError
	if !errors.As(err, &ne) || !Transient(err) {
		t.Fatalf("CreateDataset err = %v, want a NetworkError", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("CreateDataset made %d attempts after a broken connection, want 1", calls.Load())
	}
}

func TestConnectionRefusedIsRetriedEvenForCreates(t *testing.T) {
	f := newFake(t)
	m, _ := NewMetrics(prometheus.NewRegistry())
	c := f.client(func(o *Options) { o.Metrics = m })
	if _, err := c.Batch(context.Background(), "x"); err == nil { // gets the token
		t.Fatal("want an error from the unscripted API")
	}
	// Point the API at a closed port: nothing can have been sent, so even
	// a create is tried again.
	dead := newFake(t)
	dead.srv.Close()
	c.base = dead.srv.URL
	_, err := c.CreateDataset(context.Background(), DatasetSpec{Name: "x", Schema: SchemaProfile})
	var ne *NetworkError
	if !errors.As(err, &ne) || !notSent(ne.Err) || !Transient(err) {
		t.Fatalf("err = %v, want a refused connection", err)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("CreateDataset", "error")); got != float64(fastRetry.MaxAttempts) {
		t.Fatalf("%v attempts, want %d", got, fastRetry.MaxAttempts)
	}
}

func TestUnauthorizedRefreshesTheTokenOnce(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			status(http.StatusUnauthorized, `{"error_code":"401013","message":"Oauth token is not valid"}`)(w, r)
			return
		}
		status(http.StatusCreated, `["@/dataSets/abc"]`)(w, r)
	})
	c := f.client()
	// Even a create is repeated after a 401: the gateway refused it.
	id, err := c.CreateDataset(context.Background(), DatasetSpec{Name: "x", Schema: SchemaProfile})
	if err != nil || id != "abc" {
		t.Fatalf("CreateDataset = %q, %v", id, err)
	}
	if n := f.tokenRequests.Load(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}

	// A 401 that persists is returned after one refresh.
	f.handle(status(http.StatusUnauthorized, `{"error_code":"401013","message":"Oauth token is not valid"}`))
	_, err = c.Batch(context.Background(), "b")
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, ErrUnauthorized) || pe.Code != "401013" {
		t.Fatalf("err = %v", err)
	}
	if n := f.tokenRequests.Load(); n != 3 {
		t.Fatalf("%d token requests, want 3 (one refresh)", n)
	}
}

func TestContextEndsRetries(t *testing.T) {
	f := newFake(t)
	f.handle(status(http.StatusServiceUnavailable, `{"error_code":"503000","message":"down"}`))
	c := f.client(func(o *Options) {
		o.Retry = RetryPolicy{MaxAttempts: 100, Backoff: Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Batch(ctx, "b")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want the deadline and the last 503", err)
	}
	if Transient(err) {
		t.Error("an error of the caller's own deadline is not transient")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("returned after %s", el)
	}
}

func TestMetricsCountAttempts(t *testing.T) {
	f := newFake(t)
	f.handle(sequence(status(http.StatusServiceUnavailable, `{}`), status(http.StatusOK, `{"b":{"status":"loading"}}`), status(http.StatusNotFound, `{"title":"NotFoundError","detail":"Batch not found.","status":404}`)))
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(func(o *Options) { o.Metrics = m })
	if _, err := c.Batch(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batch(context.Background(), "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	for _, tt := range []struct {
		op, class string
		want      float64
	}{{"Batch", "5xx", 1}, {"Batch", "2xx", 1}, {"Batch", "4xx", 1}, {"Token", "2xx", 1}} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(tt.op, tt.class)); got != tt.want {
			t.Errorf("requests{%s,%s} = %v, want %v", tt.op, tt.class, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("%d duration series, want 2 (Batch, Token)", n)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Errorf("NewMetrics(nil) = %v, %v", m, err)
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.observe("Batch", 200, time.Second) // must not panic
}

func TestConfigValidate(t *testing.T) {
	good := Config{BaseURL: "https://platform.adobe.io", ClientID: "c", ClientSecret: "s", OrgID: "o@AdobeOrg"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.BaseURL = "platform.adobe.io" }, "SEGFLOW_PLATFORM_URL"},
		{func(c *Config) { c.BaseURL = "ftp://x" }, "SEGFLOW_PLATFORM_URL"},
		{func(c *Config) { c.IMSURL = "https://u:p@ims" }, "SEGFLOW_IMS_URL"},
		{func(c *Config) { c.ClientID = "" }, "SEGFLOW_CLIENT_ID"},
		{func(c *Config) { c.ClientSecret = "" }, "SEGFLOW_CLIENT_SECRET"},
		{func(c *Config) { c.OrgID = "" }, "SEGFLOW_ORG_ID"},
		{func(c *Config) { c.Sandbox = "Prod" }, "SEGFLOW_SANDBOX"},
	} {
		c := good
		tt.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want it to name %s", c, err, tt.want)
		}
	}
}

func TestConfigHidesTheSecret(t *testing.T) {
	c := Config{BaseURL: "http://x", ClientID: "c", ClientSecret: testSecret, OrgID: "o"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, testSecret) {
			t.Errorf("%q shows the secret", s)
		}
	}
}

func TestEmptyAnswerBodies(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	c := f.client()
	if err := c.CompleteBatch(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	// A 200 where JSON was due is an error that says so.
	if _, err := c.Batch(context.Background(), "b"); err == nil || !strings.Contains(err.Error(), "not the expected JSON") {
		t.Fatalf("err = %v", err)
	}
}
