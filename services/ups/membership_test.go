package ups

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A cursor answers as get does, whatever the order of the questions:
// ascending runs (a scan part), jumps back (the next part), repeats.
func TestMemberCursor(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	m := &segmentMembers{}
	for id := uint32(0); id < 20_000; id++ {
		if rng.IntN(3) == 0 {
			m.ids = append(m.ids, id)
			m.status = append(m.status, memberStatus(1+rng.IntN(3)))
			m.at = append(m.at, rng.Int64())
		}
	}
	var asks []uint32
	for range 50 {
		start := uint32(rng.IntN(21_000))
		for k := range rng.IntN(500) {
			asks = append(asks, start+uint32(k*rng.IntN(40)))
		}
	}
	asks = append(asks, 0, 0, 25_000, 3, slices.Max(m.ids), m.ids[0])
	for _, members := range []*segmentMembers{m, nil, {}} {
		c := memberCursor{m: members}
		for _, id := range asks {
			st, at := c.get(id)
			wst, wat := members.get(id)
			if st != wst || at != wat {
				t.Fatalf("identity %d: cursor %v %d, get %v %d", id, st, at, wst, wat)
			}
		}
	}
}
