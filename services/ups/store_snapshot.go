package ups

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sync"
	"unsafe"

	"github.com/segflow/segflow/pkg/pql"
)

// A snapshot is the whole profile store in one file, written atomically,
// with the number of commits it covers. Starting from it and replaying
// only the later commits is what keeps a restart on millions of profiles
// within seconds: reading a gigabyte of blocks is fast, decoding the JSON
// they came from is not.
//
//	magic "SEGFLOW-STORE\x00" version
//	seq                          commits covered
//	scopes                       count, then each:
//	  org sandbox schema datasets
//	  identity count
//	  event dictionary, fragment dictionary, identities: sized sections
//	                               of counted strings
//	  fragments                  count (dataset ids... seq data)...
//	  blocks                     count (identity data)...
//	crc32c of all the above      4 bytes little-endian
//
// Numbers are uvarints; strings and byte runs are length-prefixed.
const snapshotMagic = "SEGFLOW-STORE\x00\x02"

var errBadSnapshot = errors.New("ups: corrupt store snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// storeView is the store as it was at one moment, for a snapshot to be
// written from while batches go on being applied. Taking it copies only
// the fragment and block tables (a few dozen bytes a profile): their
// bytes, the dictionaries' strings and the identities' arena never change
// once written.
type storeView struct {
	seq    uint64
	scopes []scopeView
}

type scopeView struct {
	key         scopeKey
	schema      []byte
	datasets    []string
	dict, pdict dictView
	ids         identityView
	frags       []fragment
	blocks      []eventBlock
	nEvents     int
}

// dictView is the first n strings of a Dict.
type dictView struct {
	d *pql.Dict
	n int
}

// view takes a storeView of the store after seq commits.
func (s *profileStore) view(seq uint64) (*storeView, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := &storeView{seq: seq}
	for k, sc := range s.scopes {
		schema, err := sc.schema.MarshalBinary()
		if err != nil {
			return nil, err
		}
		v.scopes = append(v.scopes, scopeView{
			key:      k,
			schema:   schema,
			datasets: slices.Clone(sc.datasets),
			dict:     dictView{sc.dict, sc.dict.Len()},
			pdict:    dictView{sc.pdict, sc.pdict.Len()},
			ids:      sc.ids.view(),
			frags:    slices.Clone(sc.frags),
			blocks:   slices.Clone(sc.blocks),
			nEvents:  sc.nEvents,
		})
	}
	slices.SortFunc(v.scopes, func(a, b scopeView) int {
		return cmp.Or(cmp.Compare(a.key.org, b.key.org), cmp.Compare(a.key.sandbox, b.key.sandbox))
	})
	return v, nil
}

// writeSnapshot writes the store to path atomically.
func (s *profileStore) writeSnapshot(path string, seq uint64) error {
	v, err := s.view(seq)
	if err != nil {
		return err
	}
	return v.write(path)
}

// write writes the view to path atomically. It needs no lock.
func (v *storeView) write(path string) error {
	return writeAtomic(path, 0o644, func(f io.Writer) error {
		crc := crc32.New(castagnoli)
		bw := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
		w := snapWriter{w: bw}
		w.bytes([]byte(snapshotMagic))
		w.uvarint(v.seq)
		w.uvarint(uint64(len(v.scopes)))
		for i := range v.scopes {
			w.scope(&v.scopes[i])
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		_, err := f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
		return err
	})
}

type snapWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
}

func (w *snapWriter) uvarint(x uint64) {
	n := binary.PutUvarint(w.buf[:], x)
	w.w.Write(w.buf[:n]) // errors surface at Flush
}

func (w *snapWriter) bytes(b []byte) {
	w.uvarint(uint64(len(b)))
	w.w.Write(b)
}

// uvarintLen is how many bytes x takes as a uvarint.
func uvarintLen(x uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], x)
}

// stringLen is how many bytes snapWriter.str writes for s.
func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func (w *snapWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	w.w.WriteString(s)
}

func (w *snapWriter) strs(ss []string) {
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

func (w *snapWriter) scope(sc *scopeView) {
	w.str(sc.key.org)
	w.str(sc.key.sandbox)
	w.bytes(sc.schema)
	w.strs(sc.datasets)
	// The dictionaries and identities are sections of known size, so a
	// reader builds them in parallel with the fragments and blocks.
	w.uvarint(uint64(sc.ids.len()))
	// Sections are written straight through, after their size: a store's
	// identities take hundreds of megabytes.
	for _, d := range []dictView{sc.dict, sc.pdict} {
		size := uvarintLen(uint64(d.n))
		for i := range d.n {
			size += stringLen(d.d.String(uint32(i)))
		}
		w.uvarint(uint64(size))
		w.uvarint(uint64(d.n))
		for i := range d.n {
			w.str(d.d.String(uint32(i)))
		}
	}
	size := 0
	for i := range sc.ids.len() {
		size += stringLen(sc.ids.key(uint32(i)))
	}
	w.uvarint(uint64(size))
	for i := range sc.ids.len() {
		w.str(sc.ids.key(uint32(i)))
	}
	w.uvarint(uint64(len(sc.frags)))
	for _, f := range sc.frags {
		w.uvarint(uint64(f.dataset))
		w.uvarint(uint64(len(f.identities)))
		for _, id := range f.identities {
			w.uvarint(uint64(id))
		}
		w.uvarint(f.seq)
		w.bytes(f.data)
	}
	w.uvarint(uint64(len(sc.blocks)))
	for _, b := range sc.blocks {
		w.uvarint(uint64(b.identity))
		w.bytes(b.data)
	}
	w.uvarint(uint64(sc.nEvents))
}

// readSnapshot loads a snapshot into an empty store and returns the
// number of commits it covers. A missing file is seq 0; a damaged one is
// errBadSnapshot (the commits can rebuild the store without it).
//
// The file is mapped, not read: fragments and event blocks point into the
// mapping, so a gigabyte of them costs no copy and no garbage collection,
// and the kernel pages it in. Snapshots are written to a new file and
// renamed, so a mapped one never changes; it stays mapped for the life of
// the process.
func (s *profileStore) readSnapshot(path string) (uint64, error) {
	data, err := mapFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(data) < 4 {
		return 0, errBadSnapshot
	}
	body := data[:len(data)-4]
	if binary.LittleEndian.Uint32(data[len(body):]) != crc32.Checksum(body, castagnoli) {
		return 0, fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	r := snapReader{data: body}
	if string(r.bytes(64)) != snapshotMagic {
		return 0, fmt.Errorf("%w: not a store snapshot of this version", errBadSnapshot)
	}
	seq := r.uvarint()
	n := r.uvarint()
	scopes := map[scopeKey]*scopeStore{}
	for i := uint64(0); i < n && r.err == nil; i++ {
		k, sc := r.scope()
		scopes[k] = sc
	}
	if r.err != nil {
		return 0, fmt.Errorf("%w: %v", errBadSnapshot, r.err)
	}
	if len(r.data) != 0 {
		return 0, fmt.Errorf("%w: trailing data", errBadSnapshot)
	}
	s.mu.Lock()
	s.scopes = scopes
	s.mu.Unlock()
	return seq, nil
}

// snapReader reads a snapshot's fields from its mapping.
type snapReader struct {
	data []byte
	err  error
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.err = errors.New("a bad number")
		r.data = nil
		return 0
	}
	r.data = r.data[n:]
	return x
}

// bytes reads a length-prefixed run of at most max bytes (0: any length
// the file holds). It points into the mapping.
func (r *snapReader) bytes(max uint64) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if max > 0 && n > max || n > uint64(len(r.data)) {
		r.err = fmt.Errorf("a run of %d bytes", n)
		r.data = nil
		return nil
	}
	b := r.data[:n:n]
	r.data = r.data[n:]
	return b
}

func (r *snapReader) str() string { return string(r.bytes(0)) }

// alias reads a string without copying it: it points into the mapping,
// which never changes, and is only for callers that keep a copy (a
// million identities need not be allocated twice at start-up).
func (r *snapReader) alias() string {
	b := r.bytes(0)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// count reads a count that must not exceed what the file can hold.
func (r *snapReader) count() int {
	n := r.uvarint()
	if n > 1<<32 {
		r.err = fmt.Errorf("a count of %d", n)
		return 0
	}
	return int(n)
}

func (r *snapReader) strs() []string {
	n := r.count()
	out := make([]string, 0, min(n, 1<<20))
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.str())
	}
	return out
}

func (r *snapReader) scope() (scopeKey, *scopeStore) {
	k := scopeKey{org: r.str(), sandbox: r.str()}
	schema := pql.NewSchema()
	if data := r.bytes(0); r.err == nil {
		if err := schema.UnmarshalBinary(data); err != nil {
			r.err = err
		}
	}
	sc := newScopeStore(schema)
	for _, d := range r.strs() {
		sc.dataset(d)
	}
	if len(sc.datasets) != len(sc.dsIndex) {
		r.err = errors.New("repeated datasets")
	}
	ni := r.count()
	edict, pdict, ids := r.bytes(0), r.bytes(0), r.bytes(0)
	if r.err != nil {
		return k, sc
	}
	// The sections build in parallel with the fragments and blocks.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); sc.dict, errs[0] = readDict(edict) }()
	go func() { defer wg.Done(); sc.pdict, errs[1] = readDict(pdict) }()
	go func() { defer wg.Done(); sc.ids, errs[2] = readIdentities(ids, ni) }()
	sc.blockOf = make([]uint32, ni)
	nf := r.count()
	sc.frags = make([]fragment, 0, min(nf, 1<<24))
	sc.fragIndex = make(map[fragKey]uint32, min(nf, 1<<24))
	for i := 0; i < nf && r.err == nil; i++ {
		var f fragment
		f.dataset = uint32(r.uvarint())
		n := r.count()
		if n == 0 || n > ni {
			r.err = errors.New("a fragment with a bad identity count")
			break
		}
		f.identities = make([]uint32, n)
		for j := range f.identities {
			id := r.uvarint()
			if id >= uint64(ni) {
				r.err = errors.New("a fragment of an unknown identity")
			}
			f.identities[j] = uint32(id)
		}
		f.seq = r.uvarint()
		f.data = r.bytes(0)
		if f.dataset >= uint32(len(sc.datasets)) {
			r.err = errors.New("a fragment of an unknown dataset")
		}
		key := fragKey{f.dataset, f.identities[0]}
		if _, dup := sc.fragIndex[key]; dup {
			r.err = errors.New("a repeated fragment")
		}
		sc.fragIndex[key] = uint32(len(sc.frags))
		sc.frags = append(sc.frags, f)
	}
	nb := r.count()
	sc.blocks = make([]eventBlock, 0, min(nb, 1<<24))
	for i := 0; i < nb && r.err == nil; i++ {
		id := r.uvarint()
		b := r.bytes(0)
		if id >= uint64(ni) || sc.blockOf[id] != 0 || len(b) == 0 {
			r.err = errors.New("a bad event block")
			break
		}
		sc.blocks = append(sc.blocks, eventBlock{identity: uint32(id), data: b})
		sc.blockOf[id] = uint32(len(sc.blocks))
	}
	sc.nEvents = r.count()
	wg.Wait()
	if err := errors.Join(errs...); err != nil && r.err == nil {
		r.err = err
	}
	return k, sc
}

// readDict builds a Dict from its snapshot section.
func readDict(sec []byte) (*pql.Dict, error) {
	r := snapReader{data: sec}
	n := r.count()
	d := pql.NewDictSize(n)
	for i := 0; i < n && r.err == nil; i++ {
		if d.Add(r.alias()) != uint32(i) { // Add keeps its own copy
			return nil, errors.New("a repeated dictionary string")
		}
	}
	if r.err == nil && len(r.data) != 0 {
		r.err = errors.New("trailing bytes after a dictionary")
	}
	return d, r.err
}

// readIdentities builds the identity table from its snapshot section.
func readIdentities(sec []byte, n int) (*identityTable, error) {
	r := snapReader{data: sec}
	t := newIdentityTableSize(n)
	for i := 0; i < n && r.err == nil; i++ {
		if t.add(r.alias()) != uint32(i) { // add copies into its arena
			return nil, errors.New("a repeated identity")
		}
	}
	if r.err == nil && len(r.data) != 0 {
		r.err = errors.New("trailing bytes after the identities")
	}
	return t, r.err
}
