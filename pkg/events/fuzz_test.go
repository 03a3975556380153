package events

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParseRequest: ParseRequest never panics, fails only with a
// *ValidationError, and a request it accepts encodes to one it parses back
// to the same value. Seeds are in testdata/fuzz/FuzzParseRequest.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(minimalRequest))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
			}
			return
		}
		b, err := marshal(r)
		if err != nil {
			t.Fatalf("encoding an accepted request: %v", err)
		}
		again, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", r, again)
		}
		if r.RequestID != "" {
			if _, err := NewEvent("/fuzz", r, t0); err != nil {
				t.Fatalf("an accepted request makes no event: %v", err)
			}
		}
	})
}
