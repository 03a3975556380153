package ups

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"unsafe"
)

// identityTable numbers identities ("namespace\x00id"). A million
// profiles have three million of them, so the keys live in one arena of
// chunks, found through an open-addressing table of numbers: about 50
// bytes an identity, against 110 as Go strings in a map.
//
// One writer adds (under the store's write lock); readers call key and
// lookup under its read lock.
type identityTable struct {
	seed   maphash.Seed
	chunks [][]byte // arena; a chunk never moves or changes once written
	offs   []uint64 // number -> chunk<<32 | offset of its uvarint-prefixed key
	slots  []uint32 // number+1, 0 empty; len is a power of two

	// Namespaces by number: scans count profiles by namespace, and a byte
	// an identity is cheaper than reading keys back.
	ns      []uint8
	nsNames []string
	nsIndex map[string]uint8
}

// otherNamespace is the code of namespaces beyond the first 255, which
// are read from the key instead.
const otherNamespace = 255

const identityChunk = 1 << 20

func newIdentityTable() *identityTable { return newIdentityTableSize(0) }

// newIdentityTableSize returns a table with room for n identities.
func newIdentityTableSize(n int) *identityTable {
	slots := 1024
	for slots < 2*n {
		slots *= 2
	}
	return &identityTable{seed: maphash.MakeSeed(), slots: make([]uint32, slots), offs: make([]uint64, 0, n), ns: make([]uint8, 0, n)}
}

// len returns how many identities the table holds, numbered from 0.
func (t *identityTable) len() int { return len(t.offs) }

// key returns the key of identity n. It points into the arena: never
// changed, valid as long as the table.
func (t *identityTable) key(n uint32) string { return keyAt(t.chunks, t.offs[n]) }

func keyAt(chunks [][]byte, o uint64) string {
	chunk := chunks[o>>32]
	at := int(o & (1<<32 - 1))
	l, w := binary.Uvarint(chunk[at:])
	if l == 0 {
		return ""
	}
	return unsafe.String(&chunk[at+w], int(l))
}

// identityView is the identities a table held at one moment; it stays
// readable while the table grows (offsets and arena bytes never change).
type identityView struct {
	chunks [][]byte
	offs   []uint64
}

// view returns the table as it is. Callers hold the store's lock.
func (t *identityTable) view() identityView {
	return identityView{chunks: slices.Clone(t.chunks), offs: t.offs[:len(t.offs):len(t.offs)]}
}

func (v identityView) len() int { return len(v.offs) }

func (v identityView) key(n uint32) string { return keyAt(v.chunks, v.offs[n]) }

// lookup returns the number of a key.
func (t *identityTable) lookup(k string) (uint32, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := maphash.String(t.seed, k) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if t.key(s-1) == k {
			return s - 1, true
		}
	}
}

// add returns the number of a key, adding it.
func (t *identityTable) add(k string) uint32 {
	if n, ok := t.lookup(k); ok {
		return n
	}
	need := binary.MaxVarintLen64 + len(k)
	last := len(t.chunks) - 1
	if last < 0 || cap(t.chunks[last])-len(t.chunks[last]) < need {
		t.chunks = append(t.chunks, make([]byte, 0, max(identityChunk, need)))
		last++
	}
	at := len(t.chunks[last])
	c := binary.AppendUvarint(t.chunks[last], uint64(len(k)))
	t.chunks[last] = append(c, k...)
	n := uint32(len(t.offs))
	t.offs = append(t.offs, uint64(last)<<32|uint64(at))
	t.ns = append(t.ns, t.nsCode(k))
	if 2*len(t.offs) > len(t.slots) {
		t.grow()
	} else {
		t.place(n)
	}
	return n
}

// nsCode returns the code of the namespace of key k, numbering it.
func (t *identityTable) nsCode(k string) uint8 {
	ns, _, _ := cutIdentity(identityKey(k))
	if c, ok := t.nsIndex[ns]; ok {
		return c
	}
	if len(t.nsNames) >= otherNamespace {
		return otherNamespace
	}
	if t.nsIndex == nil {
		t.nsIndex = map[string]uint8{}
	}
	c := uint8(len(t.nsNames))
	ns = strings.Clone(ns)
	t.nsIndex[ns] = c
	t.nsNames = append(t.nsNames, ns)
	return c
}

// namespace returns the namespace of identity n.
func (t *identityTable) namespace(n uint32) string {
	if c := t.ns[n]; c != otherNamespace {
		return t.nsNames[c]
	}
	ns, _, _ := cutIdentity(identityKey(t.key(n)))
	return ns
}

func (t *identityTable) place(n uint32) {
	mask := uint64(len(t.slots) - 1)
	i := maphash.String(t.seed, t.key(n)) & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = n + 1
}

// grow doubles the slots, keeping the load under a half.
func (t *identityTable) grow() {
	t.slots = make([]uint32, 2*len(t.slots))
	for n := range t.offs {
		t.place(uint32(n))
	}
}
