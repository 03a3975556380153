package ups

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// A spill holds a batch's records as validation converted them: the
// store's binary form, with their identities. The apply pass after the
// commit reads it instead of decoding the batch's JSON a second time
// (the costliest part of ingestion). It is scratch: never fsynced, and
// replaying a commit at start reads the batch's files, not a spill.
//
//	record   'f' uvarint(len(ids)) (uvarint(len) bytes)... uvarint(len) data
//	       | 'e' uvarint(len) id  uvarint(len) identity  varint(ts)  uvarint(len) data
//	trailer  0 uvarint(records)

const spillName = "records.spill"

var errBadSpill = errors.New("ups: damaged spill file")

// spillWriter writes a spill.
type spillWriter struct {
	f   *os.File
	z   *s2.Writer
	w   *bufio.Writer
	n   int
	buf [binary.MaxVarintLen64]byte
}

func createSpill(path string) (*spillWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	// Blocks are compressed on a second goroutine, beside the validating
	// batch's collector that writes them.
	z := s2.NewWriter(f, s2.WriterConcurrency(2), s2.WriterBlockSize(1<<20))
	return &spillWriter{f: f, z: z, w: bufio.NewWriterSize(z, 64<<10)}, nil
}

func (s *spillWriter) uvarint(x uint64) { s.w.Write(s.buf[:binary.PutUvarint(s.buf[:], x)]) }

func (s *spillWriter) str(b string) {
	s.uvarint(uint64(len(b)))
	s.w.WriteString(b)
}

func (s *spillWriter) bytes(b []byte) {
	s.uvarint(uint64(len(b)))
	s.w.Write(b)
}

// add writes a newFragment or a newEvent (errors surface at close).
func (s *spillWriter) add(r any) {
	switch r := r.(type) {
	case newFragment:
		s.w.WriteByte('f')
		s.uvarint(uint64(len(r.identities)))
		for _, id := range r.identities {
			s.str(string(id))
		}
		s.bytes(r.data)
	case newEvent:
		s.w.WriteByte('e')
		s.str(r.id)
		s.str(string(r.identity))
		s.w.Write(s.buf[:binary.PutVarint(s.buf[:], r.timestamp)])
		s.bytes(r.data)
	default:
		panic(fmt.Sprintf("ups: spilling %T", r))
	}
	s.n++
}

// close writes the trailer and closes the file.
func (s *spillWriter) close() error {
	s.w.WriteByte(0)
	s.uvarint(uint64(s.n))
	err := s.w.Flush()
	if zerr := s.z.Close(); err == nil {
		err = zerr
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort closes and removes the file.
func (s *spillWriter) abort() {
	s.z.Reset(nil)
	s.f.Close()
	os.Remove(s.f.Name())
}

// readSpill hands every record of a spill to fragment (newFragments of
// dataset) or event. An event owns its memory (one allocation for its
// id, identity and data); a fragment owns its data, but its identities
// are only valid during the call.
func readSpill(path, dataset string, fragment func(newFragment), event func(newEvent)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := spillReader{r: bufio.NewReaderSize(s2.NewReader(f), 64<<10)}
	var ids []identityKey
	var scratch []byte
	for n := 0; r.err == nil; n++ {
		tag, err := r.r.ReadByte()
		if err != nil {
			r.fail(err)
			break
		}
		switch tag {
		case 0:
			if count := r.uvarint(); r.err == nil && count != uint64(n) {
				r.fail(errBadSpill)
			}
			if r.err == nil {
				return nil
			}
		case 'f':
			k := r.uvarint()
			if k == 0 || k > 1<<16 {
				r.fail(errBadSpill)
				break
			}
			ids, scratch = ids[:0], scratch[:0]
			var ends []int
			for range k {
				scratch = r.appendField(scratch)
				ends = append(ends, len(scratch))
			}
			data := r.appendField(nil)
			if r.err != nil {
				break
			}
			start := 0
			for _, end := range ends {
				ids = append(ids, identityKey(unsafe.String(unsafe.SliceData(scratch[start:]), end-start)))
				start = end
			}
			fragment(newFragment{dataset: dataset, identities: ids, data: data})
		case 'e':
			// One allocation: id, identity, then the data.
			lens := [2]uint64{r.uvarint()}
			buf := r.read(nil, lens[0])
			lens[1] = r.uvarint()
			buf = r.read(buf, lens[1])
			ts := r.varint()
			dn := r.uvarint()
			if r.err != nil || dn > 1<<31 {
				r.fail(errBadSpill)
				break
			}
			all := make([]byte, len(buf), len(buf)+int(dn))
			copy(all, buf)
			all = r.read(all, dn)
			if r.err != nil {
				break
			}
			str := unsafe.String(unsafe.SliceData(all), len(buf))
			event(newEvent{id: str[:lens[0]], identity: identityKey(str[lens[0]:]), timestamp: ts, data: all[len(buf):]})
		default:
			r.fail(errBadSpill)
		}
	}
	return fmt.Errorf("%s: %w", path, r.err)
}

// spillReader reads a spill's fields, remembering the first error.
type spillReader struct {
	r   *bufio.Reader
	err error
}

func (r *spillReader) fail(err error) {
	if r.err != nil {
		return
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, s2.ErrCorrupt) {
		err = errBadSpill
	}
	r.err = err
}

func (r *spillReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.fail(err)
	}
	return x
}

func (r *spillReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadVarint(r.r)
	if err != nil {
		r.fail(err)
	}
	return x
}

// read appends n bytes to buf.
func (r *spillReader) read(buf []byte, n uint64) []byte {
	if r.err != nil {
		return buf
	}
	if n > 1<<31 {
		r.fail(errBadSpill)
		return buf
	}
	start := len(buf)
	buf = slices.Grow(buf, int(n))[:start+int(n)]
	if _, err := io.ReadFull(r.r, buf[start:]); err != nil {
		r.fail(err)
	}
	return buf
}

// appendField appends a length-prefixed field to buf.
func (r *spillReader) appendField(buf []byte) []byte { return r.read(buf, r.uvarint()) }
