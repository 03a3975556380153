package platform

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Config says which Platform to call and as whom. The env tags are the
// variables the commands read; their defaults point at a local ups and its
// dev client.
type Config struct {
	// BaseURL is the API host, such as https://platform.adobe.io.
	BaseURL string `env:"SEGFLOW_PLATFORM_URL, default=http://127.0.0.1:8080"`
	// IMSURL is the base of the IMS token endpoint ({IMSURL}/ims/token/v3),
	// such as https://ims-na1.adobelogin.com; empty means BaseURL, which is
	// where ups serves it.
	IMSURL string `env:"SEGFLOW_IMS_URL"`
	// ClientID is the OAuth server-to-server client id, also the API key.
	ClientID string `env:"SEGFLOW_CLIENT_ID, default=segflow-dev"`
	// ClientSecret is the client's secret. It is sent to IMS only, and
	// never logged or put in an error.
	ClientSecret string `env:"SEGFLOW_CLIENT_SECRET, default=segflow-dev-secret"`
	// OrgID is the IMS organization, such as ABC123@AdobeOrg.
	OrgID string `env:"SEGFLOW_ORG_ID, default=SEGFLOWDEV@AdobeOrg"`
	// Sandbox is the sandbox name; empty means "prod".
	Sandbox string `env:"SEGFLOW_SANDBOX, default=prod"`
	// Scope is the comma-separated IMS scope list of the credential.
	Scope string `env:"SEGFLOW_IMS_SCOPE, default=openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"`
	// HTTPClient makes the requests. Its Timeout, if any, bounds each
	// attempt. When nil, the client uses http.DefaultTransport's settings
	// with a response header timeout of DefaultResponseHeaderTimeout, so
	// that a Platform that stops answering fails the attempt (which may be
	// retried) instead of hanging it.
	HTTPClient *http.Client `env:",noinit"`
}

// DefaultResponseHeaderTimeout bounds the wait for an answer once a
// request is sent (an upload's clock starts after its last byte).
const DefaultResponseHeaderTimeout = 2 * time.Minute

var sandboxName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks the configuration and names the variable at fault.
func (c Config) Validate() error {
	var errs []error
	if err := checkBaseURL(c.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("SEGFLOW_PLATFORM_URL: %w", err))
	}
	if c.IMSURL != "" {
		if err := checkBaseURL(c.IMSURL); err != nil {
			errs = append(errs, fmt.Errorf("SEGFLOW_IMS_URL: %w", err))
		}
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("SEGFLOW_CLIENT_ID is empty"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("SEGFLOW_CLIENT_SECRET is empty"))
	}
	if c.OrgID == "" {
		errs = append(errs, errors.New("SEGFLOW_ORG_ID is empty"))
	}
	if c.Sandbox != "" && !sandboxName.MatchString(c.Sandbox) {
		errs = append(errs, fmt.Errorf("SEGFLOW_SANDBOX %q is not a sandbox name: lowercase letters, digits and dashes", c.Sandbox))
	}
	return errors.Join(errs...)
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL with a host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must be a plain base URL (no query, fragment or user info)", s)
	}
	return nil
}

// String shows the configuration without the secret, so that printing a
// Config by mistake leaks nothing.
func (c Config) String() string {
	secret := ""
	if c.ClientSecret != "" {
		secret = "***"
	}
	return fmt.Sprintf("{BaseURL:%s IMSURL:%s ClientID:%s ClientSecret:%s OrgID:%s Sandbox:%s Scope:%s}",
		c.BaseURL, c.IMSURL, c.ClientID, secret, c.OrgID, c.Sandbox, c.Scope)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return "platform.Config" + c.String() }

// Options are what a Client gets from its owner besides configuration.
type Options struct {
	// Metrics records requests; nil records nothing.
	Metrics *Metrics
	// Logger gets retries and token renewals at debug level, never a token
	// or secret. The zero Logger logs nothing.
	Logger zerolog.Logger
	// Retry is the retry policy; zero fields take the defaults.
	Retry RetryPolicy
	// Now is the clock for token lifetimes (tests set it); time.Now when nil.
	Now func() time.Time
}

// Client calls the Platform. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    string // BaseURL without a trailing slash
	hc      *http.Client
	tokens  *tokenSource
	metrics *Metrics
	retry   RetryPolicy
	log     zerolog.Logger
}

// New returns a Client for cfg. It makes no request: the first call gets
// the token.
func New(cfg Config, opts Options) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Sandbox == "" {
		cfg.Sandbox = "prod"
	}
	if cfg.IMSURL == "" {
		cfg.IMSURL = cfg.BaseURL
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
		hc = &http.Client{Transport: t}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	c := &Client{
		cfg:     cfg,
		base:    strings.TrimRight(cfg.BaseURL, "/"),
		hc:      hc,
		metrics: opts.Metrics,
		retry:   opts.Retry.orDefault(),
		log:     opts.Logger,
	}
	c.tokens = &tokenSource{
		endpoint: strings.TrimRight(cfg.IMSURL, "/") + "/ims/token/v3",
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		scope:    cfg.Scope,
		hc:       hc,
		now:      now,
		metrics:  opts.Metrics,
		retry:    c.retry,
		log:      opts.Logger,
	}
	return c, nil
}

// Sandbox is the sandbox the client works in unless a call's context
// names another (WithSandbox).
func (c *Client) Sandbox() string { return c.cfg.Sandbox }

// call describes one API request for do.
type call struct {
	op     string // operation label: the method name, such as "CreateBatch"
	method string
	path   string // escaped, under BaseURL
	query  url.Values
	// The body: JSON (marshalled from jsonBody), or raw bytes read from
	// upload, which is read again from its start for every attempt.
	jsonBody   any
	upload     io.ReaderAt
	uploadSize int64
	// idempotent marks a POST (or PATCH) that is safe to repeat.
	idempotent bool
	// header holds more request headers (x-profile-instance-id).
	header http.Header
	// sandbox is the call's sandbox, resolved once by do.
	sandbox string
	// out, if set, receives the 2xx JSON answer.
	out any
}

// maxAnswerBytes bounds a JSON answer read into memory; Catalog lists of
// 100 objects are far below it.
const maxAnswerBytes = 64 << 20

// do sends a call with the gateway headers and a token, retrying what is
// safe to retry, and refreshing the token once on a 401.
func (c *Client) do(ctx context.Context, cl call) error {
	sandbox, err := c.sandbox(ctx)
	if err != nil {
		return fmt.Errorf("platform: %s: %w", cl.op, err)
	}
	cl.sandbox = sandbox
	var body []byte
	if cl.jsonBody != nil {
		var err error
		if body, err = json.Marshal(cl.jsonBody); err != nil {
			return fmt.Errorf("platform: %s: encoding the request: %w", cl.op, err)
		}
	}
	target := c.base + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	reqID := newRequestID()
	return c.withRetries(ctx, cl, func(ctx context.Context, tok string) (bool, bool, error) {
		return false, false, c.attempt(ctx, cl, target, body, tok, reqID)
	})
}

// withRetries makes attempts with a token until one succeeds, retrying
// what is safe to retry (retryable) with backoff or the answer's
// Retry-After, and refreshing the token once on a 401. try reports
// whether the attempt made progress (a resumed download: the failures in a
// row start again) and whether its error is final whatever it is.
func (c *Client) withRetries(ctx context.Context, cl call, try func(ctx context.Context, tok string) (progressed, final bool, err error)) error {
	refreshed := false
	failures := 0  // attempts in a row that made no progress
	var prev error // the previous attempt's error
	for {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return err
		}
		progressed, final, err := try(ctx, tok)
		if err == nil || final {
			return err
		}
		if ctx.Err() != nil {
			// An attempt the context cut short says nothing about the
			// Platform: report the one before it, if any.
			var ne *NetworkError
			if prev != nil && errors.As(err, &ne) {
				err = prev
			}
			return &stoppedError{op: cl.op, ctxErr: ctx.Err(), lastError: err}
		}
		prev = err
		var pe *Error
		isPE := errors.As(err, &pe)
		if isPE && pe.Status == http.StatusUnauthorized && !refreshed {
			// The gateway refused the token before the service saw the
			// request (expired, or the key rotated): any method may retry
			// once with a new one.
			refreshed = true
			c.tokens.invalidate(tok)
			c.log.Debug().Str("operation", cl.op).Msg("platform: token refused, getting a new one")
			continue
		}
		if progressed {
			failures = 0 // it moved on: go on at once (after a short jitter)
		} else {
			failures++
		}
		if failures >= c.retry.MaxAttempts || !retryable(cl, err) {
			return err
		}
		wait := c.retry.Backoff.full(max(failures-1, 0))
		if isPE && pe.RetryAfter > 0 {
			if pe.RetryAfter > c.retry.MaxRetryAfter {
				return err
			}
			wait = pe.RetryAfter
		}
		c.log.Debug().Str("operation", cl.op).Int("failures", failures).Dur("wait", wait).AnErr("error", err).Msg("platform: retrying")
		if serr := sleep(ctx, wait); serr != nil {
			return &stoppedError{op: cl.op, ctxErr: serr, lastError: err}
		}
	}
}

// retryable: the failure is transient and repeating the call is safe.
func retryable(cl call, err error) bool {
	var pe *Error
	if errors.As(err, &pe) {
		switch {
		case pe.Status == http.StatusTooManyRequests:
			// Rate limiting refuses a request before it is acted on, so
			// even a create may be repeated.
			return true
		case pe.Status >= 500 && pe.Status != http.StatusNotImplemented:
			return safeToRetry(cl.method, cl.idempotent)
		}
		return false
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		// A connection that was never made carried no request.
		return notSent(ne.Err) || safeToRetry(cl.method, cl.idempotent)
	}
	return false
}

// notSent: the request failed before a byte of it could reach the server.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// attempt makes one request.
func (c *Client) attempt(ctx context.Context, cl call, target string, body []byte, token, reqID string) error {
	var rd io.Reader
	switch {
	case cl.upload != nil:
		rd = io.NewSectionReader(cl.upload, 0, cl.uploadSize)
	case body != nil:
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, rd)
	if err != nil {
		return fmt.Errorf("platform: %s: %w", cl.op, err)
	}
	if cl.upload != nil {
		req.ContentLength = cl.uploadSize
		req.Header.Set("Content-Type", "application/octet-stream")
	} else if cl.method == http.MethodPost || cl.method == http.MethodPut || cl.method == http.MethodPatch {
		// The gateway wants a content type on every write, even an empty one.
		req.Header.Set("Content-Type", "application/json")
	}
	c.setHeaders(req, token, reqID, cl.sandbox)
	for k, v := range cl.header {
		req.Header[k] = append([]string(nil), v...)
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.metrics.observe(cl.op, 0, time.Since(start))
		return &NetworkError{Operation: cl.op, Err: err}
	}
	c.metrics.observe(cl.op, resp.StatusCode, time.Since(start))
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return parseError(cl.op, resp, data, reqID)
	}
	if cl.out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes)) // reuse the connection
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return &NetworkError{Operation: cl.op, Err: err}
	}
	if err := json.Unmarshal(data, cl.out); err != nil {
		return fmt.Errorf("platform: %s: %d answer is not the expected JSON: %w (%s)", cl.op, resp.StatusCode, err, excerpt(data))
	}
	return nil
}

// setHeaders sets the gateway headers every call carries.
func (c *Client) setHeaders(req *http.Request, token, reqID, sandbox string) {
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("x-api-key", c.cfg.ClientID)
	req.Header.Set("x-gw-ims-org-id", c.cfg.OrgID)
	req.Header.Set("x-sandbox-name", sandbox)
	req.Header.Set("x-request-id", reqID)
	req.Header.Set("Accept", "application/json")
}

// newRequestID is the x-request-id of one call, the same for its retries
// so they can be told apart from new calls in the Platform's logs.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// escape escapes one path segment (an id or a file name).
func escape(s string) string { return url.PathEscape(s) }
