package pql

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// Dict numbers strings so a store keeps each repeated string once: event
// types, URLs, product names, cities recur across millions of records.
// Add, Admit and Lookup are safe for concurrent use (a store rebuilds
// blocks on every CPU); String may run concurrently with them, without a
// lock, for any number it has been handed (through a lock or channel that
// also published the data holding it).
type Dict struct {
	mu    sync.RWMutex // guards index and adding
	index map[string]uint32
	pages atomic.Pointer[[]*dictPage]
	// n is atomic because Len may run concurrently with Add: a Decoder
	// checks the numbers it reads against it. Add stores it after the
	// string, so a number below Len always resolves.
	n atomic.Uint32

	// seen remembers (as a Bloom filter, set with atomic operations)
	// strings Admit met once: unique strings (emails, ids) cost less
	// inline than as dictionary entries, so only a second sighting admits
	// a string.
	seenOnce sync.Once
	seen     []atomic.Uint64
	seed     maphash.Seed
}

// dictSeenBits is the size of the Bloom filter: 64 Mbit (8 MB) keeps
// false admissions under 1% for ten million distinct strings.
const dictSeenBits = 1 << 26

const dictPageBits = 12

// dictPage is fixed-size so it never moves: a reader's String never races
// with a writer growing the table.
type dictPage [1 << dictPageBits]string

// NewDict returns an empty Dict.
func NewDict() *Dict { return NewDictSize(0) }

// NewDictSize returns an empty Dict with room for n strings.
func NewDictSize(n int) *Dict {
	d := &Dict{index: make(map[string]uint32, n), seed: maphash.MakeSeed()}
	d.pages.Store(&[]*dictPage{})
	return d
}

// Add returns the number of s, adding it if it is new.
func (d *Dict) Add(s string) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.add(s)
}

func (d *Dict) add(s string) uint32 {
	if id, ok := d.index[s]; ok {
		return id
	}
	id := d.n.Load()
	pages := *d.pages.Load()
	p := int(id >> dictPageBits)
	if p == len(pages) {
		grown := append(pages[:len(pages):len(pages)], new(dictPage))
		d.pages.Store(&grown)
		pages = grown
	}
	// A copy: s may point into a buffer (a decoded block) that the Dict
	// must not keep alive.
	s = strings.Clone(s)
	pages[p][id&(1<<dictPageBits-1)] = s
	d.index[s] = id
	d.n.Store(id + 1)
	return id
}

// Admit returns the number of s if s has one or has been offered before
// (then it is added); otherwise it notes s and returns false, and the
// caller keeps s inline.
func (d *Dict) Admit(s string) (uint32, bool) {
	// Most calls find s numbered already, or meet it for the first time:
	// neither takes the write lock, so encoders on every CPU go on at once.
	d.mu.RLock()
	id, ok := d.index[s]
	d.mu.RUnlock()
	if ok {
		return id, true
	}
	d.seenOnce.Do(func() { d.seen = make([]atomic.Uint64, dictSeenBits/64) })
	h := maphash.String(d.seed, s)
	h1, h2 := uint32(h), uint32(h>>32)|1
	seen := true
	for i := range uint32(3) {
		bit := (h1 + i*h2) % dictSeenBits
		mask := uint64(1) << (bit % 64)
		if d.seen[bit/64].Or(mask)&mask == 0 {
			seen = false
		}
	}
	if !seen {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.add(s), true
}

// Lookup returns the number of s if it has one.
func (d *Dict) Lookup(s string) (uint32, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.index[s]
	return id, ok
}

// String returns the string numbered id.
func (d *Dict) String(id uint32) string {
	return (*d.pages.Load())[id>>dictPageBits][id&(1<<dictPageBits-1)]
}

// Len returns how many strings d holds; they are numbered 0 to Len()-1.
func (d *Dict) Len() int { return int(d.n.Load()) }
