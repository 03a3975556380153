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
//	  org sandbox schema
//	  datasets, event and fragment dictionaries, identities: counted strings
//	  fragments                  count (dataset ids... seq data)...
//	  blocks                     count (identity data)...
//	crc32c of all the above      4 bytes little-endian
//
// Numbers are uvarints; strings and byte runs are length-prefixed.
const snapshotMagic = "SEGFLOW-STORE\x00\x01"

var errBadSnapshot = errors.New("ups: corrupt store snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeSnapshot writes the store to path atomically. The caller keeps
// the store from changing meanwhile (the ingester, its only writer,
// writes snapshots itself).
func (s *profileStore) writeSnapshot(path string, seq uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return writeAtomic(path, 0o644, func(f io.Writer) error {
		crc := crc32.New(castagnoli)
		bw := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
		w := snapWriter{w: bw}
		w.bytes([]byte(snapshotMagic))
		w.uvarint(seq)
		keys := make([]scopeKey, 0, len(s.scopes))
		for k := range s.scopes {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b scopeKey) int {
			return cmp.Or(cmp.Compare(a.org, b.org), cmp.Compare(a.sandbox, b.sandbox))
		})
		w.uvarint(uint64(len(keys)))
		for _, k := range keys {
			if err := w.scope(k, s.scopes[k]); err != nil {
				return err
			}
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

func (w *snapWriter) scope(k scopeKey, sc *scopeStore) error {
	w.str(k.org)
	w.str(k.sandbox)
	schema, err := sc.schema.MarshalBinary()
	if err != nil {
		return err
	}
	w.bytes(schema)
	w.strs(sc.datasets)
	for _, d := range []*pql.Dict{sc.dict, sc.pdict} {
		w.uvarint(uint64(d.Len()))
		for i := range d.Len() {
			w.str(d.String(uint32(i)))
		}
	}
	w.uvarint(uint64(sc.ids.len()))
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
	return nil
}

// readSnapshot loads a snapshot into an empty store and returns the
// number of commits it covers. A missing file is seq 0; a damaged one is
// errBadSnapshot (the commits can rebuild the store without it).
func (s *profileStore) readSnapshot(path string) (uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() < 4 {
		return 0, errBadSnapshot
	}
	crc := crc32.New(castagnoli)
	r := snapReader{r: bufio.NewReaderSize(io.TeeReader(io.LimitReader(f, st.Size()-4), crc), 1<<20)}
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
	if _, err := r.r.ReadByte(); err != io.EOF {
		return 0, fmt.Errorf("%w: trailing data", errBadSnapshot)
	}
	var sum [4]byte
	if _, err := io.ReadFull(f, sum[:]); err != nil || binary.LittleEndian.Uint32(sum[:]) != crc.Sum32() {
		return 0, fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	s.mu.Lock()
	s.scopes = scopes
	s.mu.Unlock()
	return seq, nil
}

type snapReader struct {
	r   *bufio.Reader
	err error
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.err = err
	}
	return x
}

// bytes reads a length-prefixed run of at most max bytes (0: any length
// the file can hold).
func (r *snapReader) bytes(max uint64) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if max > 0 && n > max || n > 1<<40 {
		r.err = fmt.Errorf("a run of %d bytes", n)
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.err = err
		return nil
	}
	return b
}

func (r *snapReader) str() string { return string(r.bytes(0)) }

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
	for _, d := range []*pql.Dict{sc.dict, sc.pdict} {
		nd := r.count()
		for i := 0; i < nd && r.err == nil; i++ {
			if d.Add(r.str()) != uint32(i) {
				r.err = errors.New("a repeated dictionary string")
			}
		}
	}
	ni := r.count()
	for i := 0; i < ni && r.err == nil; i++ {
		if sc.identity(identityKey(r.str())) != uint32(i) {
			r.err = errors.New("a repeated identity")
		}
	}
	if len(sc.datasets) != len(sc.dsIndex) {
		r.err = errors.New("repeated identities or datasets")
	}
	nf := r.count()
	sc.frags = make([]fragment, 0, min(nf, 1<<20))
	for i := 0; i < nf && r.err == nil; i++ {
		var f fragment
		f.dataset = uint32(r.uvarint())
		ids := r.count()
		if ids == 0 || ids > sc.ids.len() {
			r.err = errors.New("a fragment with a bad identity count")
			break
		}
		f.identities = make([]uint32, ids)
		for j := range f.identities {
			id := r.uvarint()
			if id >= uint64(sc.ids.len()) {
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
	for i := 0; i < nb && r.err == nil; i++ {
		id := r.uvarint()
		b := r.bytes(0)
		if id >= uint64(sc.ids.len()) || sc.blockOf[id] != 0 || len(b) == 0 {
			r.err = errors.New("a bad event block")
			break
		}
		sc.blocks = append(sc.blocks, eventBlock{identity: uint32(id), data: b})
		sc.blockOf[id] = uint32(len(sc.blocks))
	}
	sc.nEvents = r.count()
	return k, sc
}
