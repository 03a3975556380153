package platform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors: every *Error matches the one of its status class with
// errors.Is, so callers decide without reading status codes.
var (
	ErrBadRequest   = errors.New("platform: bad request")  // 400, 413, 422: fix the request
	ErrUnauthorized = errors.New("platform: unauthorized") // 401: the token or credentials were refused
	ErrForbidden    = errors.New("platform: forbidden")    // 403
	ErrNotFound     = errors.New("platform: not found")    // 404
	ErrConflict     = errors.New("platform: conflict")     // 409, 412
	ErrRateLimited  = errors.New("platform: rate limited") // 429
	ErrUnavailable  = errors.New("platform: unavailable")  // 5xx: transient, retry later
)

// Error is an error answer of the Platform, in whichever of its shapes
// (aep-api.md §6) it came. It never holds the access token or the client
// secret.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the machine-readable code: the gateway's error_code
	// ("401013"), the service code of a UPS type ("UPAPI-113430"), Catalog's
	// title ("NotFoundError"), or IMS's OAuth error ("invalid_client").
	Code string
	// Message says what is wrong, for people.
	Message string
	// Operation is the client operation that failed, such as "CreateBatch".
	Operation string
	// Method and Path are the request's.
	Method, Path string
	// RequestID is the Platform's request id (body requestId or the
	// x-request-id header), else the one the client sent.
	RequestID string
	// RetryAfter is how long the Platform asked to wait (Retry-After header
	// or retryAfterMs in the body); 0 when it did not say.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("platform: ")
	if e.Operation != "" {
		b.WriteString(e.Operation)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// Is matches the sentinel of the error's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge || e.Status == http.StatusUnprocessableEntity
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict || e.Status == http.StatusPreconditionFailed
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.Status >= 500
	}
	return false
}

// Transient reports whether err is worth trying again later: a rate limit,
// a 5xx, or a network failure or timeout (not the caller's own context
// ending). Client already retries these when it safely can; callers that
// get one back after the retries decide whether to reschedule.
func Transient(err error) bool {
	var stopped *stoppedError
	if err == nil || errors.As(err, &stopped) {
		return false
	}
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrUnavailable) {
		return true
	}
	var ne *NetworkError
	return errors.As(err, &ne)
}

// NetworkError is a request that got no HTTP answer: the connection failed
// or timed out.
type NetworkError struct {
	Operation string
	Err       error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("platform: %s: %v", e.Operation, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// stoppedError is returned when the caller's context ended before the
// call succeeded: it wraps the context's error and the last attempt's.
type stoppedError struct {
	op        string
	ctxErr    error
	lastError error
}

func (e *stoppedError) Error() string {
	if e.lastError == nil {
		return fmt.Sprintf("platform: %s: %v", e.op, e.ctxErr)
	}
	return fmt.Sprintf("platform: %s: %v (last attempt: %v)", e.op, e.ctxErr, e.lastError)
}

func (e *stoppedError) Unwrap() []error {
	if e.lastError == nil {
		return []error{e.ctxErr}
	}
	return []error{e.ctxErr, e.lastError}
}

// errorBody is the union of the Platform's error shapes:
//
//	gateway   {"error_code":"401013","message":"Oauth token is not valid"}
//	UPS       {"requestId":"…","errors":{"404":[{"code":404,"message":"…"}]},"type":"https://ns.adobe.com/aep/errors/UPAPI-113430-404","title":"…","status":404}
//	Catalog   {"type":"/placeholder/type/uri","status":404,"title":"NotFoundError","detail":"DataSet not found."}
//	IMS       {"error":"invalid_client","error_description":"…"}
//	Profile   [{"message":"Too many requests","cause":"…","retryAfterMs":"500","statusCode":"429"}]
type errorBody struct {
	ErrorCode        string          `json:"error_code"`
	Message          string          `json:"message"`
	Type             string          `json:"type"`
	Title            string          `json:"title"`
	Detail           string          `json:"detail"`
	RequestID        string          `json:"requestId"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	RetryAfterMs     json.RawMessage `json:"retryAfterMs"` // a string or a number
	Errors           json.RawMessage `json:"errors"`
}

// parseError builds the *Error of a non-2xx response from its body.
func parseError(op string, resp *http.Response, body []byte, sentID string) *Error {
	e := &Error{
		Status:    resp.StatusCode,
		Operation: op,
		Method:    resp.Request.Method,
		Path:      resp.Request.URL.Path,
		RequestID: resp.Header.Get("x-request-id"),
	}
	if d, ok := retryAfterHeader(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	var eb errorBody
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		_ = json.Unmarshal(trimmed, &eb) // a body that is not the shape leaves fields empty
	case len(trimmed) > 0 && trimmed[0] == '[':
		var list []errorBody
		if json.Unmarshal(trimmed, &list) == nil && len(list) > 0 {
			eb = list[0]
		}
	}
	switch {
	case eb.ErrorCode != "": // gateway
		e.Code, e.Message = eb.ErrorCode, eb.Message
	case eb.Error != "": // IMS
		e.Code, e.Message = eb.Error, eb.ErrorDescription
	case strings.Contains(eb.Type, "/aep/errors/"): // UPS: …/UPAPI-113430-404
		code := eb.Type[strings.LastIndexByte(eb.Type, '/')+1:]
		e.Code = strings.TrimSuffix(code, "-"+strconv.Itoa(resp.StatusCode))
		e.Message = firstNonEmpty(eb.Title, eb.Detail, firstNestedMessage(eb.Errors))
	case eb.Title != "" || eb.Detail != "": // Catalog
		e.Code, e.Message = eb.Title, eb.Detail
	default:
		e.Message = firstNonEmpty(eb.Message, firstNestedMessage(eb.Errors))
	}
	if e.Message == "" {
		e.Message = excerpt(trimmed)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if eb.RequestID != "" {
		e.RequestID = eb.RequestID
	}
	if e.RequestID == "" {
		e.RequestID = sentID
	}
	if e.RetryAfter == 0 {
		if ms, ok := retryAfterMs(eb.RetryAfterMs); ok {
			e.RetryAfter = ms
		}
	}
	return e
}

// firstNestedMessage reads the message of UPS's {"<status>":[{message}]}
// or a job's [{"code","msg"}].
func firstNestedMessage(raw json.RawMessage) string {
	var byStatus map[string][]struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &byStatus) == nil {
		for _, list := range byStatus {
			for _, m := range list {
				if m.Message != "" {
					return m.Message
				}
			}
		}
	}
	var list []struct {
		Message string `json:"message"`
		Msg     string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) == nil {
		for _, m := range list {
			if s := firstNonEmpty(m.Message, m.Msg); s != "" {
				return s
			}
		}
	}
	return ""
}

// retryAfterHeader reads Retry-After: delay seconds or an HTTP date.
func retryAfterHeader(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs > maxRetryAfter.Seconds() {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retryAfterMs reads the body's retryAfterMs, a string or a number.
func retryAfterMs(raw json.RawMessage) (time.Duration, bool) {
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	if s == "" {
		return 0, false
	}
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil || ms < 0 || ms > float64(maxRetryAfter.Milliseconds()) {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// excerpt is the start of a body that is not a known error shape, as
// valid UTF-8 on one line.
func excerpt(b []byte) string {
	const n = 200
	s := string(b)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return strings.Join(strings.Fields(s), " ")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
