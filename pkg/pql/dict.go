package pql

import "sync/atomic"

// Dict numbers strings so a store keeps each repeated string once: event
// types, URLs, product names and identities recur across millions of
// events. Add is for one writer at a time; String may run concurrently
// with Add for any number it has been handed (through a lock or channel
// that also published the data holding it).
type Dict struct {
	index map[string]uint32
	pages atomic.Pointer[[]*dictPage]
	n     uint32
}

const dictPageBits = 12

// dictPage is fixed-size so it never moves: a reader's String never races
// with a writer growing the table.
type dictPage [1 << dictPageBits]string

// NewDict returns an empty Dict.
func NewDict() *Dict {
	d := &Dict{index: map[string]uint32{}}
	d.pages.Store(&[]*dictPage{})
	return d
}

// Add returns the number of s, adding it if it is new.
func (d *Dict) Add(s string) uint32 {
	if id, ok := d.index[s]; ok {
		return id
	}
	id := d.n
	pages := *d.pages.Load()
	p := int(id >> dictPageBits)
	if p == len(pages) {
		grown := append(pages[:len(pages):len(pages)], new(dictPage))
		d.pages.Store(&grown)
		pages = grown
	}
	pages[p][id&(1<<dictPageBits-1)] = s
	d.index[s] = id
	d.n++
	return id
}

// Lookup returns the number of s if it has one.
func (d *Dict) Lookup(s string) (uint32, bool) {
	id, ok := d.index[s]
	return id, ok
}

// String returns the string numbered id.
func (d *Dict) String(id uint32) string {
	return (*d.pages.Load())[id>>dictPageBits][id&(1<<dictPageBits-1)]
}

// Len returns how many strings d holds; they are numbered 0 to Len()-1.
func (d *Dict) Len() int { return int(d.n) }
