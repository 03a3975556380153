package ups

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// A spill gives back exactly the records written, in order; a cut or
// changed file is an error, never fewer records.
func TestSpillRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), spillName)
	records := []any{
		newFragment{dataset: "ds", identities: []identityKey{newIdentityKey("ECID", "1"), newIdentityKey("Email", "a@b.c")}, data: []byte{1, 2, 3}},
		newEvent{id: "e1", identity: newIdentityKey("ECID", "1"), timestamp: -5, data: []byte("event one")},
		newEvent{id: "", identity: newIdentityKey("ECID", "2"), timestamp: 1 << 50, data: []byte{}},
		newFragment{dataset: "ds", identities: []identityKey{newIdentityKey("ECID", "3")}, data: make([]byte, 70_000)},
	}
	w, err := createSpill(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		w.add(r)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	var got []any
	err = readSpill(path, "ds", func(f newFragment) {
		// Identities are only valid during the call.
		f.identities = append([]identityKey(nil), f.identities...)
		for i, id := range f.identities {
			f.identities[i] = identityKey(string([]byte(id)))
		}
		got = append(got, f)
	}, func(e newEvent) { got = append(got, e) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(records) {
		t.Fatalf("%d records, want %d", len(got), len(records))
	}
	for i := range records {
		want := records[i]
		if e, ok := want.(newEvent); ok && len(e.data) == 0 {
			e.data = got[i].(newEvent).data // empty either way
			want = e
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("record %d: %#v, want %#v", i, got[i], want)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 1, 10, len(data) / 2, len(data) - 2, len(data) - 1} {
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := readSpill(path, "ds", func(newFragment) {}, func(newEvent) {}); !errors.Is(err, errBadSpill) {
			t.Errorf("cut at %d of %d bytes: %v, want errBadSpill", cut, len(data), err)
		}
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)/2]++ // s2's checksum
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := readSpill(path, "ds", func(newFragment) {}, func(newEvent) {}); !errors.Is(err, errBadSpill) {
		t.Errorf("changed byte: %v, want errBadSpill", err)
	}
	// A trailer that counts other than the records written.
	w, err = createSpill(path)
	if err != nil {
		t.Fatal(err)
	}
	w.add(records[1])
	w.n++
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if err := readSpill(path, "ds", func(newFragment) {}, func(newEvent) {}); !errors.Is(err, errBadSpill) {
		t.Errorf("wrong count: %v, want errBadSpill", err)
	}
}
