package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// api calls ups's segmentation endpoints (definitions, jobs, preview,
// estimate, export jobs), which pkg/platform does not cover yet, with the
// gateway headers of every Platform call.
type api struct {
	base  string
	hc    *http.Client
	token string
}

// httpError is a non-2xx answer.
type httpError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *httpError) Error() string {
	body := strings.TrimSpace(e.Body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, body)
}

// notAvailable reports whether err says the endpoint does not exist (yet):
// 404 or 405 on the call that should create something.
func notAvailable(err error) bool {
	var he *httpError
	return errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed)
}

// newAPI gets an access token for the dev client from ups's IMS endpoint.
func newAPI(ctx context.Context, base string) (*api, error) {
	a := &api{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 5 * time.Minute}}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {devClientID},
		"client_secret": {devSecret},
		"scope":         {"openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/ims/token/v3", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := a.send(req, &tok); err != nil {
		return nil, fmt.Errorf("getting a token: %w", err)
	}
	if tok.AccessToken == "" {
		return nil, errors.New("getting a token: no access_token in the answer")
	}
	a.token = tok.AccessToken
	return a, nil
}

// call sends in (when not nil) as JSON and decodes the answer into out
// (when not nil).
func (a *api) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("x-api-key", devClientID)
	req.Header.Set("x-gw-ims-org-id", devOrg)
	req.Header.Set("x-sandbox-name", devSandbox)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	_, err = a.send(req, out)
	return err
}

func (a *api) send(req *http.Request, out any) (int, error) {
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &httpError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp.StatusCode, nil
}

// poller waits between polls: from Initial, growing by Factor, up to Max.
// Polls are kept short because the time to a status is what is measured;
// the cap keeps a long job from being polled hard on a shared CPU.
type poller struct {
	Initial, Max time.Duration
	Factor       float64
	next         time.Duration
}

func (p *poller) wait(ctx context.Context) error {
	if p.next == 0 {
		p.next = p.Initial
	}
	t := time.NewTimer(p.next)
	defer t.Stop()
	p.next = min(p.Max, time.Duration(float64(p.next)*p.Factor))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
