package platform

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestParseError(t *testing.T) {
	sentinels := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict, ErrRateLimited, ErrUnavailable}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		code, msg  string
		requestID  string
		retryAfter time.Duration
		is         error
	}{
		{
			name: "gateway", status: 403, body: `{"error_code":"403025","message":"Profile is not valid"}`,
			code: "403025", msg: "Profile is not valid", requestID: "sent", is: ErrForbidden,
		},
		{
			name: "ups", status: 404,
			body: `{"requestId":"dprg","errors":{"404":[{"code":404,"message":"The audience entity 60cc is not found."}]},"type":"https://ns.adobe.com/aep/errors/UPAPI-113430-404","title":"The audience entity 60cc is not found.","status":404}`,
			code: "UPAPI-113430", msg: "The audience entity 60cc is not found.", requestID: "dprg", is: ErrNotFound,
		},
		{
			name: "ups without title", status: 400,
			body: `{"errors":{"400":[{"code":400,"message":"bad PQL"}]},"type":"https://ns.adobe.com/aep/errors/UPAPI-113434-400","status":400}`,
			code: "UPAPI-113434", msg: "bad PQL", is: ErrBadRequest,
		},
		{
			name: "catalog", status: 404, header: http.Header{"X-Request-Id": {"hdr-id"}},
			body: `{"type":"/placeholder/type/uri","status":404,"title":"NotFoundError","detail":"DataSet not found."}`,
			code: "NotFoundError", msg: "DataSet not found.", requestID: "hdr-id", is: ErrNotFound,
		},
		{
			name: "ims", status: 401, body: `{"error":"invalid_client","error_description":"invalid client_id or client_secret"}`,
			code: "invalid_client", msg: "invalid client_id or client_secret", is: ErrUnauthorized,
		},
		{
			name: "profile rate limit", status: 429,
			body: `[{"message":"Too many requests","cause":"{\"Errors\":[\"Request rate is large\"]}","retryAfterMs":"500","statusCode":"429"}]`,
			msg:  "Too many requests", retryAfter: 500 * time.Millisecond, is: ErrRateLimited,
		},
		{
			name: "retry-after header wins", status: 429, header: http.Header{"Retry-After": {"7"}},
			body: `{"message":"slow down","retryAfterMs":500}`,
			msg:  "slow down", retryAfter: 7 * time.Second, is: ErrRateLimited,
		},
		{
			name: "job errors", status: 409, body: `{"errors":[{"code":"0100000003","msg":"Error in Export Job"}]}`,
			msg: "Error in Export Job", is: ErrConflict,
		},
		{
			name: "html", status: 502, body: "<html>\n<body>Bad   Gateway</body></html>",
			msg: "<html> <body>Bad Gateway</body></html>", is: ErrUnavailable,
		},
		{name: "empty", status: 503, msg: "Service Unavailable", is: ErrUnavailable},
		{name: "too large", status: 413, body: `{"type":"/placeholder/type/uri","status":413,"title":"PayloadTooLargeError","detail":"too big"}`, code: "PayloadTooLargeError", msg: "too big", is: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/x"}}
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			resp := &http.Response{StatusCode: tt.status, Header: h, Request: req}
			e := parseError("Op", resp, []byte(tt.body), "sent")
			if e.Code != tt.code || e.Message != tt.msg || e.RetryAfter != tt.retryAfter {
				t.Errorf("got code %q message %q retry after %s; want %q %q %s", e.Code, e.Message, e.RetryAfter, tt.code, tt.msg, tt.retryAfter)
			}
			if tt.requestID != "" && e.RequestID != tt.requestID {
				t.Errorf("request id %q, want %q", e.RequestID, tt.requestID)
			}
			if e.RequestID == "" {
				t.Error("no request id")
			}
			wrapped := fmt.Errorf("doing x: %w", e)
			for _, s := range sentinels {
				if got := errors.Is(wrapped, s); got != (s == tt.is) {
					t.Errorf("errors.Is(%v) = %v", s, got)
				}
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Status: 404, Code: "NotFoundError", Message: "DataSet not found.", Operation: "Dataset", RequestID: "r1"}
	if got, want := e.Error(), "platform: Dataset: 404 NotFoundError: DataSet not found. (request id r1)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"99999999999", 0, false},
	} {
		got, ok := retryAfterHeader(tt.v, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q: %s %v, want %s %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}
