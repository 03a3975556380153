package platform

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenCachedAndRenewedBeforeExpiry(t *testing.T) {
	f := newFake(t)
	f.handle(status(http.StatusOK, `{"b":{"status":"loading"}}`))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := f.client(func(o *Options) { o.Now = clock.Now })
	ctx := context.Background()
	lastAuth := func() string {
		reqs, _ := f.requests()
		return reqs[len(reqs)-1].Header.Get("Authorization")
	}
	for range 5 {
		if _, err := c.Batch(ctx, "b"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Fatalf("%d token requests for 5 calls, want 1", n)
	}
	// A one-hour token is renewed 5 minutes before it expires; until then
	// it is used as it is.
	clock.Add(54 * time.Minute)
	if _, err := c.Batch(ctx, "b"); err != nil || lastAuth() != "Bearer tok-1" {
		t.Fatalf("at 54m: %v, %s", err, lastAuth())
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Fatalf("renewed at 54m of 60m")
	}
	// Past the renewal time, the still-valid token is used while a new one
	// is fetched in the background.
	clock.Add(2 * time.Minute)
	if _, err := c.Batch(ctx, "b"); err != nil || lastAuth() != "Bearer tok-1" {
		t.Fatalf("at 56m: %v, %s", err, lastAuth())
	}
	eventually(t, "the renewal", func() bool {
		_, err := c.Batch(ctx, "b")
		return err == nil && lastAuth() == "Bearer tok-2"
	})
	if n := f.tokenRequests.Load(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	// Long past expiry, a call waits for a new token rather than sending
	// an expired one.
	clock.Add(3 * time.Hour)
	if _, err := c.Batch(ctx, "b"); err != nil || lastAuth() != "Bearer tok-3" {
		t.Fatalf("after expiry: %v, %s", err, lastAuth())
	}
}

func TestRenewalTimes(t *testing.T) {
	t0 := time.Unix(0, 0)
	for _, tt := range []struct {
		life, renew time.Duration
	}{
		{24 * time.Hour, 24*time.Hour - 5*time.Minute},
		{time.Hour, 55 * time.Minute},
		{time.Minute, 54 * time.Second},
	} {
		renew, expire := renewalTimes(t0, tt.life)
		if renew.Sub(t0) != tt.renew || !expire.After(renew) || expire.Sub(t0) > tt.life {
			t.Errorf("lifetime %s: renew at %s, stop at %s", tt.life, renew.Sub(t0), expire.Sub(t0))
		}
	}
}

func TestTokenSingleFlight(t *testing.T) {
	f := newFake(t)
	f.tokenDelay = 50 * time.Millisecond
	f.handle(status(http.StatusOK, `{"b":{"status":"loading"}}`))
	c := f.client()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := c.Batch(context.Background(), "b")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Fatalf("%d token requests from 50 concurrent calls, want 1", n)
	}
}

func TestTokenWaitEndsWithTheCallersContext(t *testing.T) {
	f := newFake(t)
	f.tokenDelay = time.Second
	c := f.client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Batch(ctx, "b")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Fatalf("waited %s for a token past the deadline", time.Since(start))
	}
}

func TestBadCredentialsAreTypedAndSecretFree(t *testing.T) {
	f := newFake(t)
	cfg := f.config()
	cfg.ClientSecret = "wrong-secret-value"
	c, err := New(cfg, Options{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Batch(context.Background(), "b")
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, ErrUnauthorized) || pe.Code != "invalid_client" || pe.Operation != "Token" {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatalf("error shows the secret: %v", err)
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Fatalf("bad credentials were tried %d times, want 1", n)
	}
}

func TestIMSEchoingTheSecretIsRedacted(t *testing.T) {
	f := newFakeWrapped(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			writeTestJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_scope", "error_description": "bad request: " + r.PostForm.Encode()})
		})
	})
	c := f.client()
	_, err := c.Batch(context.Background(), "b")
	if err == nil || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatalf("error shows the secret: %v", err)
	}
}

func TestTokenRequestRetriedOn503(t *testing.T) {
	var mu sync.Mutex
	failures := 2
	f := newFakeWrapped(t, func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			fail := r.URL.Path == "/ims/token/v3" && failures > 0
			if fail {
				failures--
			}
			mu.Unlock()
			if fail {
				status(http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)(w, r)
				return
			}
			inner.ServeHTTP(w, r)
		})
	})
	f.handle(status(http.StatusOK, `{"b":{"status":"loading"}}`))
	c := f.client()
	if _, err := c.Batch(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenRequests.Load(); n != 1 {
		t.Fatalf("%d token requests reached IMS, want 1 after two 503s", n)
	}
}
