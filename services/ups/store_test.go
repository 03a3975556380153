package ups

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/segflow/segflow/pkg/pql"
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

// Blocks are rebuilt on several CPUs when a batch touches many
// identities; a second batch merges into them, replacing events by _id.
// Small chunks are added in the background while the next is gathered,
// and split an identity's events across chunks.
func TestStoreEventsManyIdentities(t *testing.T) {
	for _, chunk := range []int{applyChunk, 7} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) { testStoreEventsManyIdentities(t, chunk) })
	}
}

func testStoreEventsManyIdentities(t *testing.T, chunk int) {
	s := newProfileStore()
	s.applyChunk = chunk
	c := Caller{Org: "ORG", Sandbox: "prod"}
	schema := pql.NewXDMSchema()
	batch := func(seq uint64, round int) {
		var events []newEvent
		for p := range 500 {
			for i := range 4 {
				line := fmt.Sprintf(`{"_id":"p%d-e%d","timestamp":"2025-01-0%dT00:00:00Z","eventType":"t%d","identityMap":{"ECID":[{"id":"%d"}]},"web":{"webPageDetails":{"name":"r%d"}}}`, p, i+round, 1+(i+round)%9, i, p, round)
				v, err := schema.DecodeEvent([]byte(line))
				if err != nil {
					t.Fatal(err)
				}
				conv := newApplier(schema, true, "ds", nil)
				r, ok := conv.record(v, nil, &recordWriter{}).(newEvent)
				if !ok {
					t.Fatalf("%s: %v", line, r)
				}
				events = append(events, r)
			}
		}
		s.apply(c, schema, seq, nil, events)
	}
	batch(1, 0)
	batch(2, 2) // e2 and e3 again, e4 and e5 new
	if _, n := s.counts(c); n != 500*6 {
		t.Fatalf("%d events, want %d", n, 500*6)
	}
	seen := 0
	err := s.each(c, scanSpec{rule: mergeRule{Graph: "none", Attribute: "timestampOrdered"}}, func(p *Profile) bool {
		seen++
		if len(p.Subject.Events) != 6 {
			t.Errorf("%s: %d events", p.ID(), len(p.Subject.Events))
		}
		for i := 1; i < len(p.Subject.Events); i++ {
			if p.Subject.Events[i-1].Index(1).Micros() > p.Subject.Events[i].Index(1).Micros() {
				t.Errorf("%s: events out of time order", p.ID())
			}
		}
		return true
	})
	if err != nil || seen != 500 {
		t.Fatalf("%d profiles (%v)", seen, err)
	}
}

// A block of many events whose nested objects are often absent reads back
// whole: the reader hands unused object memory back to its slab, also
// after the slab was replaced mid-event. Random shapes put the slab's end
// at every point of an event.
func TestEventBlockRoundTrip(t *testing.T) {
	schema := pql.NewXDMSchema()
	conv := newApplier(schema, true, "ds", nil)
	lay := layoutOf(schema)
	for seed := range 40 {
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		var events []storedEvent
		for i := range 100 + rng.IntN(200) {
			line := fmt.Sprintf(`{"_id":"e%03d","timestamp":"2025-01-01T00:00:%02dZ","identityMap":{"ECID":[{"id":"1"}]}`, i, i%60)
			if rng.IntN(3) == 0 {
				line += fmt.Sprintf(`,"web":{"webPageDetails":{"name":"p%d","pageViews":{"value":1}}}`, rng.IntN(7))
			}
			if rng.IntN(4) == 0 {
				line += `,"commerce":{"order":{"priceTotal":12.5},"checkouts":{"value":1}}`
			}
			if rng.IntN(5) == 0 {
				line += `,"productListItems":[{"SKU":"a"},{"SKU":"b","quantity":2}]`
			}
			v, err := schema.DecodeEvent([]byte(line + "}"))
			if err != nil {
				t.Fatal(err)
			}
			r := conv.record(v, nil, &recordWriter{}).(newEvent)
			var dec pql.Decoder
			w, _, err := dec.Decode(r.data, nil)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, storedEvent{id: r.id, ts: r.timestamp, value: w})
		}
		events = mergeEvents(nil, events)
		w := blockWriter{enc: pql.Encoder{Dict: pql.NewDict()}}
		got, err := decodeBlock(w.encode(events, lay), lay, w.enc.Dict)
		if err != nil || len(got) != len(events) {
			t.Fatalf("seed %d: %d events back (%v), want %d", seed, len(got), err, len(events))
		}
		for i := range got {
			if got[i].id != events[i].id || !pql.Equal(trimObject(got[i].value), trimObject(events[i].value)) {
				t.Fatalf("seed %d: event %d: %v, want %v", seed, i, got[i].value, events[i].value)
			}
		}
	}
}

// trimObject drops trailing null fields, recursively: a block lays out
// objects as wide as the widest of their kind.
func trimObject(v pql.Value) pql.Value {
	if v.Kind() != pql.KindObject {
		return v
	}
	fields := make([]pql.Value, v.Len())
	last := -1
	for i := range fields {
		fields[i] = trimObject(v.Index(i))
		if !fields[i].IsNull() {
			last = i
		}
	}
	return pql.Object(fields[:last+1])
}

// mergeEvents keeps the newest event of each _id (the later one of added,
// added over old) and sorts by time then _id, with or without repeats,
// for few events and many.
func TestMergeEvents(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	reference := func(old, added []storedEvent) []storedEvent {
		newest := map[string]storedEvent{}
		for _, e := range append(append([]storedEvent(nil), old...), added...) {
			newest[e.id] = e
		}
		var out []storedEvent
		for _, e := range newest {
			out = append(out, e)
		}
		slices.SortFunc(out, byTimeThenID)
		return out
	}
	for round := range 500 {
		var old, added []storedEvent
		ids := 1 + rng.IntN(100)
		for k := range rng.IntN(80) {
			e := storedEvent{id: fmt.Sprintf("id-%d", rng.IntN(ids)), ts: int64(rng.IntN(20)), value: pql.Int(int64(k))}
			if rng.IntN(2) == 0 {
				old = append(old, e)
			} else {
				added = append(added, e)
			}
		}
		// old is a block: distinct ids already.
		old = reference(nil, old)
		want := reference(old, added)
		got := mergeEvents(slices.Clone(old), slices.Clone(added))
		if len(got) != len(want) {
			t.Fatalf("round %d: %d events, want %d", round, len(got), len(want))
		}
		for i := range got {
			if got[i].id != want[i].id || got[i].ts != want[i].ts || !pql.Equal(got[i].value, want[i].value) {
				t.Fatalf("round %d, event %d: %v, want %v", round, i, got[i], want[i])
			}
		}
	}
}
