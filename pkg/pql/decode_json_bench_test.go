package pql

import "testing"

// BenchmarkDecodeRecord decodes generated profile and event records (one
// record an op) with the fast path and with the learning path
// (encoding/json to map[string]any, then convert), on a schema that knows
// them. Run with -cpu 1 for per-core cost.
func BenchmarkDecodeRecord(b *testing.B) {
	profiles, events := kdGenerated(b, 200)
	s := NewXDMSchema()
	for _, l := range profiles {
		if _, err := s.DecodeProfile(l); err != nil {
			b.Fatal(err)
		}
	}
	for _, l := range events {
		if _, err := s.DecodeEvent(l); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name  string
		lines [][]byte
		event bool
	}{{"profile", profiles, false}, {"event", events, true}} {
		size := 0
		for _, l := range c.lines {
			size += len(l)
		}
		for _, p := range []struct {
			name   string
			decode func(*Schema, bool, []byte) (Value, error)
		}{{"known", kdDecodeKnown}, {"learning", kdDecodeSlow}} {
			b.Run(c.name+"/"+p.name, func(b *testing.B) {
				b.SetBytes(int64(size / len(c.lines)))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := p.decode(s, c.event, c.lines[i]); err != nil {
						b.Fatal(err)
					}
					if i++; i == len(c.lines) {
						i = 0
					}
				}
			})
		}
	}
}
