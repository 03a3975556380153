package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// tokenSource gets IMS access tokens with the OAuth client-credentials
// grant and caches them. A token is renewed before it expires; while a
// still-valid token is being renewed, callers keep using it, and only one
// renewal runs however many callers need it.
type tokenSource struct {
	endpoint string // {IMSURL}/ims/token/v3
	clientID string
	secret   string // sent in the form body only
	scope    string
	hc       *http.Client
	now      func() time.Time
	metrics  *Metrics
	retry    RetryPolicy
	log      zerolog.Logger

	mu       sync.Mutex
	tok      string
	renewAt  time.Time // start renewing from here
	expireAt time.Time // stop using the token from here
	inflight *tokenFetch
}

// tokenFetch is one renewal; waiters read tok and err once done is closed.
type tokenFetch struct {
	done chan struct{}
	tok  string
	err  error
}

// tokenTimeout bounds one renewal with its retries. It runs detached from
// the context of the caller that started it, since other callers wait for
// it too; each caller stops waiting when its own context ends.
const tokenTimeout = 2 * time.Minute

// token returns a valid access token, getting one if needed.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	now := ts.now()
	if ts.tok != "" && now.Before(ts.renewAt) {
		tok := ts.tok
		ts.mu.Unlock()
		return tok, nil
	}
	f := ts.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		ts.inflight = f
		go ts.fetch(f)
	}
	if ts.tok != "" && now.Before(ts.expireAt) {
		tok := ts.tok // still good: renew in the background
		ts.mu.Unlock()
		return tok, nil
	}
	ts.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return "", &stoppedError{op: "Token", ctxErr: ctx.Err()}
	}
}

// invalidate forgets tok after the gateway refused it, unless a newer
// token already replaced it.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	if ts.tok == tok {
		ts.tok = ""
	}
	ts.mu.Unlock()
}

// fetch gets a token, retrying transient failures, and publishes it.
func (ts *tokenSource) fetch(f *tokenFetch) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	var (
		tok      string
		lifetime time.Duration
		issued   time.Time
		err      error
	)
	for attempt := 0; ; attempt++ {
		issued = ts.now() // before the request: the lifetime counts from no later than this
		tok, lifetime, err = ts.request(ctx)
		if err == nil || attempt+1 >= ts.retry.MaxAttempts || !Transient(err) {
			break
		}
		wait := ts.retry.Backoff.full(attempt)
		var pe *Error
		if errors.As(err, &pe) && pe.RetryAfter > 0 {
			if pe.RetryAfter > ts.retry.MaxRetryAfter {
				break
			}
			wait = pe.RetryAfter
		}
		ts.log.Debug().Int("attempt", attempt+1).Dur("wait", wait).AnErr("error", err).Msg("platform: retrying the IMS token request")
		if serr := sleep(ctx, wait); serr != nil {
			err = &stoppedError{op: "Token", ctxErr: serr, lastError: err}
			break
		}
	}
	ts.mu.Lock()
	if err == nil {
		ts.tok = tok
		ts.renewAt, ts.expireAt = renewalTimes(issued, lifetime)
		ts.log.Debug().Dur("lifetime", lifetime).Time("renew_at", ts.renewAt).Msg("platform: got an IMS access token")
	}
	ts.inflight = nil
	ts.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

// renewalTimes: renew when 90% of the lifetime is gone, or 5 minutes
// before the end, whichever is later (a 24 h token is renewed 5 minutes
// before it expires, a 60 s one after 54 s); stop using it a little before
// the end, so that a request in flight does not carry an expired token.
func renewalTimes(issued time.Time, lifetime time.Duration) (renew, expire time.Time) {
	margin := min(lifetime/10, 5*time.Minute)
	skew := min(lifetime/50, 30*time.Second)
	return issued.Add(lifetime - margin), issued.Add(lifetime - skew)
}

// minTokenLifetime is assumed when IMS does not say how long a token lives
// (or says something absurd, beyond maxTokenLifetime).
const (
	minTokenLifetime = time.Minute
	maxTokenLifetime = 366 * 24 * time.Hour
)

// tokenAnswer is IMS's answer. expires_in is seconds in /ims/token/v3
// (the legacy JWT exchange said milliseconds: not supported).
type tokenAnswer struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   float64 `json:"expires_in"`
}

// request makes one token request.
func (ts *tokenSource) request(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {ts.clientID},
		"client_secret": {ts.secret},
	}
	if ts.scope != "" {
		form.Set("scope", ts.scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("platform: Token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := ts.hc.Do(req)
	if err != nil {
		ts.metrics.observe("Token", 0, time.Since(start))
		return "", 0, &NetworkError{Operation: "Token", Err: err}
	}
	ts.metrics.observe("Token", resp.StatusCode, time.Since(start))
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, &NetworkError{Operation: "Token", Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		e := parseError("Token", resp, data, "")
		e.Message = ts.redact(e.Message) // an IMS that echoes the form must not leak the secret
		return "", 0, e
	}
	var a tokenAnswer
	if err := json.Unmarshal(data, &a); err != nil || a.AccessToken == "" {
		// Not the answer's text: it would be the token itself if only the
		// shape were off.
		return "", 0, fmt.Errorf("platform: Token: IMS answered 200 without an access_token")
	}
	if a.TokenType != "" && !strings.EqualFold(a.TokenType, "bearer") {
		return "", 0, fmt.Errorf("platform: Token: IMS issued a %q token, want bearer", a.TokenType)
	}
	lifetime := time.Duration(a.ExpiresIn * float64(time.Second))
	if a.ExpiresIn <= 0 || a.ExpiresIn > maxTokenLifetime.Seconds() {
		lifetime = minTokenLifetime
	}
	return a.AccessToken, lifetime, nil
}

func (ts *tokenSource) redact(s string) string {
	if ts.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, ts.secret, "***")
}
