package events

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError: a message,
// request or configuration that is malformed, as opposed to one that could
// not be handled.
var ErrInvalid = errors.New("events: invalid")

// ValidationError says which field of a request or an event is wrong and
// why. Field is a dotted JSON path relative to the request ("definition.
// expression.value") or the envelope attribute ("specversion"); it is
// empty when the message as a whole is at fault (not JSON, not an object).
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, reason string) *ValidationError {
	return &ValidationError{Field: field, Reason: reason}
}

// marshal is json.Marshal without HTML escaping, so that PQL's < > & stay
// readable in events, fixtures and the status bucket.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
