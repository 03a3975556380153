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
		if b == nil {
			continue
		}
		events, err := decodeBlock(b, lay, sc.dict)
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
	for _, id := range []string{"5c90f1d4-d2fb-c076-4928-025d3a2ddffa", "x1", "", "5C90F1D4-D2FB-C076-4928-025D3A2DDFFA", "5c90f1d4-d2fb-c076-4928-025d3a2ddffg"} {
		buf := appendEventID(nil, id)
		r := blockReader{data: buf}
		if got := r.id(true); got != id || r.err || len(r.data) != 0 {
			t.Errorf("%q came back as %q (err %v, %d bytes left)", id, got, r.err, len(r.data))
		}
		if isUUID(id) && len(buf) != 17 {
			t.Errorf("%q takes %d bytes, want 17", id, len(buf))
		}
	}
}
