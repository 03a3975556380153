package events

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

// MaxRequestIDLength bounds a request id.
const MaxRequestIDLength = 128

// ValidateRequestID checks a request id. It becomes the CloudEvents
// subject, part of every event id (and so of Nats-Msg-Id) and the key of
// the request in the status bucket, so it is held to JetStream's key
// rules: 1 to 128 characters of letters, digits and - _ = . /, not
// starting or ending with '.' and without "..". UUIDs, ULIDs and most
// external ids fit. The error is a *ValidationError for "requestId".
func ValidateRequestID(id string) error {
	switch {
	case id == "":
		return invalid("requestId", "is missing")
	case len(id) > MaxRequestIDLength:
		return invalid("requestId", fmt.Sprintf("is %d bytes long, the most is %d", len(id), MaxRequestIDLength))
	case id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, ".."):
		return invalid("requestId", fmt.Sprintf("%q: a dot may not start or end it, nor follow another", id))
	}
	for _, r := range id {
		if !isNameRune(r) && r != '=' && r != '.' && r != '/' {
			return invalid("requestId", fmt.Sprintf("%q holds %q: use letters, digits and - _ = . /", id, r))
		}
	}
	return nil
}

// NewRequestID returns a random (version 4) UUID from crypto/rand, for a
// request that came without an id and without anything to derive one
// from.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// requestNamespace is the UUID namespace of derived request ids.
var requestNamespace = [16]byte{0x5e, 0x9f, 0x1c, 0x3a, 0x7b, 0x21, 0x4d, 0x0e, 0x9a, 0x55, 0x2f, 0x6c, 0x81, 0x3d, 0xe4, 0x07}

// DeriveRequestID returns a name-based (version 5) UUID of seed: the same
// seed always gives the same id. ParseRequest derives the id of an
// enveloped request without one from the envelope's source and id; the
// definer can derive that of a bare request from its stream and sequence,
// so that a redelivery keeps its id.
func DeriveRequestID(seed string) string {
	h := sha1.New()
	h.Write(requestNamespace[:])
	h.Write([]byte(seed))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
