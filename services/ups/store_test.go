package ups

import (
	"testing"
)

// eventIDs lists the _id of every event of a scope, reading the blocks
// directly (not through a merge rule).
func (s *profileStore) eventIDs(c Caller) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]
	if !ok {
		return nil
	}
	lay := layoutOf(sc.schema)
	var out []string
	for _, b := range sc.blocks {
		events, err := decodeBlock(b.data, lay, sc.dict)
		if err != nil {
			panic(err)
		}
		for _, e := range events {
			out = append(out, e.id)
		}
	}
	return out
}

func TestEventIDPacking(t *testing.T) {
	ids := []string{"5c90f1d4-d2fb-c076-4928-025d3a2ddffa", "5c90f1d4-d2fb-c076-3ab6-0ddf0b16d0eb", "x1", "", "5c90f1d4-d2fb-c076-4928-025d3a2ddffa",
		"5c90f1d4-d2fb-c076-4928-025d3a2ddffa", "5C90F1D4-D2FB-C076-4928-025D3A2DDFFA", "5c90f1d4-d2fb-c076-4928-025d3a2ddffg", "00000000-0000-0000-0000-000000000000"}
	var w idWriter
	var buf []byte
	for _, id := range ids {
		buf = w.append(buf, id)
	}
	r := blockReader{data: buf}
	for _, id := range ids {
		if got := r.id(true); got != id || r.err {
			t.Errorf("%q came back as %q (err %v)", id, got, r.err)
		}
	}
	if len(r.data) != 0 {
		t.Errorf("%d bytes left", len(r.data))
	}
	// The second id shares 8 bytes with the first; the fifth repeats the
	// first after a plain id; the sixth repeats the fifth whole but for
	// one byte.
	if want := 17 + 10 + 4 + 2 + 17 + 3 + 38 + 38 + 17; len(buf) != want {
		t.Errorf("the ids take %d bytes, want %d", len(buf), want)
	}
}
