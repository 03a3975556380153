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
	// The index is sharded by hash, each shard under its own lock:
	// encoders on every CPU look strings up at once, and adding one (a
	// second sighting, which profiles' unique strings often are: an
	// email is an identity and an address) locks one shard, not all.
	shards [dictShards]dictShard
	// addMu numbers strings in order across shards: it guards pages'
	// growth and makes n move only after the string is stored.
	addMu sync.Mutex
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

const dictShards = 64

type dictShard struct {
	mu    sync.RWMutex
	index map[string]uint32
	_     [32]byte // a cache line each: shards are locked from every CPU
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
	d := &Dict{seed: maphash.MakeSeed()}
	for i := range d.shards {
		d.shards[i].index = make(map[string]uint32, n/dictShards)
	}
	d.pages.Store(&[]*dictPage{})
	return d
}

// hash is s's hash: its top bits pick the shard, all of it the Bloom
// filter's bits.
func (d *Dict) hash(s string) uint64 { return maphash.String(d.seed, s) }

func (d *Dict) shard(h uint64) *dictShard { return &d.shards[h>>(64-6)] }

// Add returns the number of s, adding it if it is new.
func (d *Dict) Add(s string) uint32 {
	sh := d.shard(d.hash(s))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return d.add(sh, s)
}

// add numbers s in sh, whose lock the caller holds.
func (d *Dict) add(sh *dictShard, s string) uint32 {
	if id, ok := sh.index[s]; ok {
		return id
	}
	// A copy: s may point into a buffer (a decoded block) that the Dict
	// must not keep alive.
	s = strings.Clone(s)
	d.addMu.Lock()
	id := d.n.Load()
	pages := *d.pages.Load()
	p := int(id >> dictPageBits)
	if p == len(pages) {
		grown := append(pages[:len(pages):len(pages)], new(dictPage))
		d.pages.Store(&grown)
		pages = grown
	}
	pages[p][id&(1<<dictPageBits-1)] = s
	d.n.Store(id + 1)
	d.addMu.Unlock()
	sh.index[s] = id
	return id
}

// Admit returns the number of s if s has one or has been offered before
// (then it is added); otherwise it notes s and returns false, and the
// caller keeps s inline.
func (d *Dict) Admit(s string) (uint32, bool) { return d.admit(s, d.hash(s)) }

// admit is Admit of s, whose hash is h.
func (d *Dict) admit(s string, h uint64) (uint32, bool) {
	// Most calls find s numbered already, or meet it for the first time:
	// neither takes a write lock.
	sh := d.shard(h)
	sh.mu.RLock()
	id, ok := sh.index[s]
	sh.mu.RUnlock()
	if ok {
		return id, true
	}
	d.seenOnce.Do(func() { d.seen = make([]atomic.Uint64, dictSeenBits/64) })
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
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return d.add(sh, s), true
}

// Lookup returns the number of s if it has one.
func (d *Dict) Lookup(s string) (uint32, bool) {
	sh := d.shard(d.hash(s))
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	id, ok := sh.index[s]
	return id, ok
}

// String returns the string numbered id.
func (d *Dict) String(id uint32) string {
	return (*d.pages.Load())[id>>dictPageBits][id&(1<<dictPageBits-1)]
}

// Len returns how many strings d holds; they are numbered 0 to Len()-1.
func (d *Dict) Len() int { return int(d.n.Load()) }
