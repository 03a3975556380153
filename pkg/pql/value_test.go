package pql

import (
	"errors"
	"testing"
	"time"
	"unsafe"
)

func TestPack(t *testing.T) {
	s := NewXDMSchema()
	p, err := s.DecodeProfile([]byte(`{"a":{"b":[{"c":"x"},{"c":"y"}],"d":[]},"identityMap":{"ECID":[{"id":"1"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.DecodeEvent([]byte(`{"_id":"e","timestamp":"2024-01-01T00:00:00Z","items":[{"SKU":"PS"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	subj := &Subject{Profile: p, Events: []Value{e}}
	before := []string{subj.Profile.String(), subj.Events[0].String()}
	subj.Pack()
	if got := []string{subj.Profile.String(), subj.Events[0].String()}; got[0] != before[0] || got[1] != before[1] {
		t.Fatalf("Pack changed the values: %v, want %v", got, before)
	}
	// Every list now lies in one slab: the events slice, and the lists of
	// every value below, are between the slab's first and last element.
	lo := uintptr(unsafe.Pointer(&subj.Events[0])) - unsafe.Sizeof(Value{})
	hi := lo + uintptr(1+subj.Events[0].size()+subj.Profile.size()+1)*unsafe.Sizeof(Value{})
	var check func(v Value)
	check = func(v Value) {
		if len(v.list) == 0 {
			return
		}
		if a := uintptr(unsafe.Pointer(&v.list[0])); a < lo || a >= hi {
			t.Errorf("list of %s is outside the slab", v)
		}
		for _, c := range v.list {
			check(c)
		}
	}
	check(subj.Profile)
	check(subj.Events[0])
	// Appending to a packed list must not write into its neighbour.
	list := subj.Events
	_ = append(list, Int(7))
	if subj.Profile.String() != before[0] {
		t.Fatal("append to a packed list overwrote the slab")
	}
}

func TestMerge(t *testing.T) {
	s := NewXDMSchema()
	dec := func(js string) Value {
		v, err := s.DecodeProfile([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	newer := dec(`{"person":{"name":{"firstName":"Ann"}},"tags":["a"],"identityMap":{"ECID":[{"id":"1"}]}}`)
	older := dec(`{"person":{"name":{"firstName":"Anne","lastName":"Lee"},"gender":"female"},"tags":["b","c"],"identityMap":{"Email":[{"id":"a@x"}],"ECID":[{"id":"2"}]}}`)
	got := Merge(newer, older)
	want := dec(`{"person":{"name":{"firstName":"Ann","lastName":"Lee"},"gender":"female"},"tags":["a"],"identityMap":{"ECID":[{"id":"1"}],"Email":[{"id":"a@x"}]}}`)
	if !Equal(got, want) {
		t.Fatalf("Merge = %s\nwant    %s", got, want)
	}
	if !Equal(Merge(older, Null()), older) || !Equal(Merge(Null(), older), older) || !Merge().IsNull() {
		t.Fatal("merging with null must give the other value")
	}
}

func TestDecodeTypeErrorPath(t *testing.T) {
	s := NewXDMSchema()
	_, err := s.DecodeProfile([]byte(`{"a":{"b":[{"c":1},{"c":"x"}]}}`))
	var te *TypeError
	if !errors.As(err, &te) || te.Path != "a.b[1].c" || err.Error() != `a.b[1].c: expected number, got a string` {
		t.Fatalf("error %v, want a TypeError at a.b[1].c", err)
	}
	_, err = s.DecodeProfile([]byte(`{"person":{"birthDate":"someday"}}`))
	if !errors.As(err, &te) || te.Path != "person.birthDate" {
		t.Fatalf("error %v, want a TypeError at person.birthDate", err)
	}
}

// Per-element results that are arrays must not share the scratch space of
// the expression that made them.
func TestMapKeepsArrayResults(t *testing.T) {
	s := NewXDMSchema()
	p, err := s.DecodeProfile([]byte(`{"orders":[{"items":[{"sku":"a"},{"sku":"b"}]},{"items":[{"sku":"c"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(`orders.map(items.sku)`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Compile(q, Options{Schema: s})
	if err != nil {
		t.Fatal(err)
	}
	v, err := plan.NewRunner(time.Now()).Eval(&Subject{Profile: p})
	if err != nil || v.String() != `[["a", "b"], ["c"]]` {
		t.Fatalf("orders.map(items.sku) = %v, %v; want [[\"a\", \"b\"], [\"c\"]]", v, err)
	}
}
