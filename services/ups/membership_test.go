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

// next agrees with a plain reading of the rules over random histories,
// whether the outcome is kept as arrays (someone exited, or an exit is
// still kept) or as "all realized now" (everyone qualifies again), and
// both forms save and load alike.
func TestSegmentMembersNextMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type entry struct {
		st memberStatus
		at int64
	}
	var m *segmentMembers
	want := map[uint32]entry{}
	now := int64(1 << 40)
	uniform := 0
	for job := range 300 {
		now += int64(rng.IntN(3)) * exitedRetention / 2
		var q []uint32
		switch rng.IntN(3) {
		case 0: // everyone before (exited too), and some more
			for id := range want {
				q = append(q, id)
			}
			fallthrough
		default:
			for range rng.IntN(30) {
				q = append(q, uint32(rng.IntN(60)))
			}
		}
		var exits int
		m, exits = m.next(q, now)
		if m.status == nil {
			uniform++
		}
		// The reference.
		qs := map[uint32]bool{}
		for _, id := range q {
			qs[id] = true
		}
		wantExits := 0
		for id, e := range want {
			switch {
			case qs[id]:
			case e.st.qualified():
				want[id] = entry{statusExited, now}
				wantExits++
			case now-e.at >= exitedRetention:
				delete(want, id)
			}
		}
		for id := range qs {
			want[id] = entry{statusRealized, now}
		}
		if exits != wantExits || m.len() != len(want) {
			t.Fatalf("job %d: %d memberships, %d exits; want %d, %d", job, m.len(), exits, len(want), wantExits)
		}
		for id, e := range want {
			if st, at := m.get(id); st != e.st || at != e.at {
				t.Fatalf("job %d, identity %d: %v %d, want %v %d", job, id, st, at, e.st, e.at)
			}
		}
		if job%50 == 0 || m.status == nil && uniform == 1 {
			dirs := dirTree{root: t.TempDir()}
			c := Caller{Org: "o@AdobeOrg", Sandbox: "prod"}
			if err := saveMembers(&dirs, c, "seg", m); err != nil {
				t.Fatal(err)
			}
			ms := newMemberships()
			if err := loadMembers(dirs.root, ms, func(Caller) int { return 60 }); err != nil {
				t.Fatal(err)
			}
			got := ms.view(c)["seg"]
			for i := range m.len() {
				st, at := m.entry(i)
				gst, gat := got.entry(i)
				if got.ids[i] != m.ids[i] || gst != st || gat != at {
					t.Fatalf("job %d: membership %d loads as %d %v %d, saved %d %v %d", job, i, got.ids[i], gst, gat, m.ids[i], st, at)
				}
			}
		}
	}
	if uniform < 30 || uniform > 270 {
		t.Errorf("%d of 300 outcomes were all realized: the test should see both forms", uniform)
	}
}

// BenchmarkSegmentMembersNext: the memberships a job of a 600k-member
// segment leaves, when everyone qualifies again and when a third exit.
func BenchmarkSegmentMembersNext(b *testing.B) {
	q := make([]uint32, 600_000)
	for i := range q {
		q[i] = uint32(i * 3 / 2)
	}
	old, _ := (*segmentMembers)(nil).next(q, 1)
	fewer := make([]uint32, 0, len(q))
	for i, id := range q {
		if i%3 != 0 {
			fewer = append(fewer, id)
		}
	}
	for _, c := range []struct {
		name string
		q    []uint32
	}{{"all-again", q}, {"third-exit", fewer}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				old.next(c.q, 2)
			}
		})
	}
}
