package pql

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

func TestDictNumbersStringsInOrder(t *testing.T) {
	d := NewDict()
	if d.Len() != 0 {
		t.Fatalf("new Dict has %d strings", d.Len())
	}
	if _, ok := d.Lookup(""); ok {
		t.Error("new Dict knows the empty string")
	}
	for i, s := range []string{"commerce.purchases", "", "USD", "ünïcode", "a\x00b"} {
		if id := d.Add(s); id != uint32(i) {
			t.Errorf("Add(%q) = %d, want %d", s, id, i)
		}
	}
	if id := d.Add("USD"); id != 2 || d.Len() != 5 {
		t.Errorf("Add of a known string: %d (len %d), want 2 (len 5)", id, d.Len())
	}
	for i, s := range []string{"commerce.purchases", "", "USD", "ünïcode", "a\x00b"} {
		if id, ok := d.Lookup(s); !ok || id != uint32(i) {
			t.Errorf("Lookup(%q) = %d, %v", s, id, ok)
		}
		if got := d.String(uint32(i)); got != s {
			t.Errorf("String(%d) = %q, want %q", i, got, s)
		}
	}
	if _, ok := d.Lookup("EUR"); ok {
		t.Error("Lookup of an unknown string succeeds")
	}
}

// TestDictAdmitNumbersRepeatedStrings: Admit numbers a string the second
// time it is offered (or at once if it has a number), so unique strings
// stay inline.
func TestDictAdmitNumbersRepeatedStrings(t *testing.T) {
	d := NewDict()
	known := d.Add("known")
	if id, ok := d.Admit("known"); !ok || id != known {
		t.Errorf("Admit of an added string = %d, %v", id, ok)
	}
	if _, ok := d.Admit("once"); ok {
		t.Error("Admit numbers a string offered for the first time")
	}
	if d.Len() != 1 {
		t.Errorf("Len = %d after one refused Admit, want 1", d.Len())
	}
	id, ok := d.Admit("once")
	if !ok || d.String(id) != "once" || d.Len() != 2 {
		t.Errorf("second Admit = %d, %v (Len %d)", id, ok, d.Len())
	}
	if again, ok := d.Admit("once"); !ok || again != id {
		t.Errorf("third Admit = %d, %v; want %d", again, ok, id)
	}
	// Of many unique strings, almost none are numbered.
	for i := range 10000 {
		d.Admit("unique-" + strconv.Itoa(i))
	}
	if d.Len() > 2+10 {
		t.Errorf("%d of 10000 unique strings were numbered", d.Len()-2)
	}
}

// TestDictAcrossPages: strings live in pages of 4096; numbers keep
// working across page boundaries and old pages stay put.
func TestDictAcrossPages(t *testing.T) {
	const n = 3<<dictPageBits + 5
	d := NewDict()
	for i := range n {
		if id := d.Add("s" + strconv.Itoa(i)); id != uint32(i) {
			t.Fatalf("Add #%d = %d", i, id)
		}
	}
	if d.Len() != n {
		t.Fatalf("Len = %d, want %d", d.Len(), n)
	}
	for _, i := range []int{0, 1<<dictPageBits - 1, 1 << dictPageBits, 1<<dictPageBits + 1, 2<<dictPageBits - 1, 2 << dictPageBits, 3 << dictPageBits, n - 1} {
		want := "s" + strconv.Itoa(i)
		if got := d.String(uint32(i)); got != want {
			t.Errorf("String(%d) = %q, want %q", i, got, want)
		}
		if id, ok := d.Lookup(want); !ok || id != uint32(i) {
			t.Errorf("Lookup(%q) = %d, %v", want, id, ok)
		}
	}
	for i := range n {
		if got := d.String(uint32(i)); got != "s"+strconv.Itoa(i) {
			t.Fatalf("String(%d) = %q", i, got)
		}
	}
}

// TestDictConcurrentReaders: one writer adds strings and hands their
// numbers to readers over a channel; readers resolve them while the
// writer goes on adding (and growing the page table). Run with -race.
func TestDictConcurrentReaders(t *testing.T) {
	const n = 5<<dictPageBits + 100
	d := NewDict()
	ids := make(chan uint32, 64)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for id := range ids {
				if got, want := d.String(id), fmt.Sprint("str-", id); got != want {
					errs <- fmt.Errorf("String(%d) = %q, want %q", id, got, want)
					return
				}
			}
		})
	}
	for i := range n {
		id := d.Add(fmt.Sprint("str-", i))
		if i%3 == 0 {
			ids <- id
		}
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDictDecoderConcurrentWithEncoder: a Decoder resolving numbered
// strings of values it was handed while an Encoder numbers new strings
// in the same Dict (a store scanning while it ingests). Run with -race:
// the Decoder checks numbers against Len, which must be safe to read
// while Add runs.
func TestDictDecoderConcurrentWithEncoder(t *testing.T) {
	d := NewDict()
	enc := Encoder{Dict: d}
	blocks := make(chan []byte, 16)
	done := make(chan error)
	go func() {
		dec := Decoder{Dict: d}
		var err error
		for b := range blocks {
			dec.Reset()
			v, _, derr := dec.Decode(b, nil)
			if derr != nil && err == nil {
				err = derr
			}
			if derr == nil && v.Index(0).Str() != "k"+v.Index(1).String() {
				err = fmt.Errorf("decoded %s", v)
			}
		}
		done <- err
	}()
	for i := range 3 << dictPageBits {
		v := Object([]Value{String("k" + strconv.Itoa(i)), Int(int64(i))})
		enc.Append(nil, v) // a first sighting: inline (Dict.Admit)
		b := enc.Append(nil, v)
		if i%7 == 0 {
			blocks <- b
		}
	}
	close(blocks)
	if err := <-done; err != nil {
		t.Error(err)
	}
	if d.Len() == 0 {
		t.Error("no string was numbered: the test exercises nothing")
	}
}

// Strings offered once are rarely numbered: the Bloom filter's false
// admissions stay a small fraction.
func TestDictAdmitFalseAdmissions(t *testing.T) {
	d := NewDict()
	admitted := 0
	const n = 200_000
	for i := range n {
		if _, ok := d.Admit(fmt.Sprintf("unique-%d@example.com", i)); ok {
			admitted++
		}
	}
	if admitted > n/100 {
		t.Fatalf("%d of %d strings offered once were numbered", admitted, n)
	}
	t.Logf("%d of %d strings offered once were numbered", admitted, n)
}
