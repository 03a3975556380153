package ups

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"

	"github.com/segflow/segflow/pkg/pql"
)

// An event block holds the ExperienceEvents of one identity, in time
// order, by column:
//
//	count
//	timestamps        count zigzag-varint deltas (microseconds)
//	_ids              count ids: 0 len bytes | 1 16-byte UUID
//	columns           (field+1 size values...)... 0
//
// where each column is one top-level event field with its count values
// in pql's binary form (strings numbered by the scope's Dict, repeats one
// byte). A scan decodes only the columns a query reads, into a reused
// slab, and skips the others by their size: twenty events of a profile
// take about a kilobyte, against twenty of kilobytes as Values.

// storedEvent is one event while a block is being rebuilt.
type storedEvent struct {
	id    string
	ts    int64
	value pql.Value // the whole event, _id and timestamp included
}

// eventLayout is where _id and timestamp sit in event Values (the XDM
// schema declares them first, so they never move).
type eventLayout struct{ id, ts int }

func layoutOf(s *pql.Schema) eventLayout {
	id, _, _ := s.EventField("_id")
	ts, _, _ := s.EventField("timestamp")
	return eventLayout{id, ts}
}

var errCorruptBlock = errors.New("ups: corrupt event block")

// encodeBlock writes events (sorted, distinct ids) as a block.
func encodeBlock(events []storedEvent, lay eventLayout, enc *pql.Encoder, scratch []byte) ([]byte, []byte) {
	buf := binary.AppendUvarint(nil, uint64(len(events)))
	prev := int64(0)
	for _, e := range events {
		buf = binary.AppendVarint(buf, e.ts-prev)
		prev = e.ts
	}
	for _, e := range events {
		buf = appendEventID(buf, e.id)
	}
	width := 0
	for _, e := range events {
		width = max(width, e.value.Len())
	}
	for f := range width {
		if f == lay.id || f == lay.ts {
			continue
		}
		scratch = scratch[:0]
		var last []byte
		present := false
		for _, e := range events {
			v := e.value.Index(f)
			present = present || !v.IsNull()
			scratch, last = enc.AppendColumn(scratch, last, v)
		}
		if !present {
			continue
		}
		buf = binary.AppendUvarint(buf, uint64(f+1))
		buf = binary.AppendUvarint(buf, uint64(len(scratch)))
		buf = append(buf, scratch...)
	}
	buf = binary.AppendUvarint(buf, 0)
	return slices.Clip(buf), scratch
}

// appendEventID writes an _id, packing the usual lowercase UUID into 16
// bytes: ids are half the size of a typical event otherwise.
func appendEventID(buf []byte, id string) []byte {
	if isUUID(id) {
		var raw [16]byte
		j := 0
		for i := 0; i < len(id); {
			if id[i] == '-' {
				i++
				continue
			}
			raw[j] = unhex(id[i])<<4 | unhex(id[i+1])
			i += 2
			j++
		}
		return append(append(buf, 1), raw[:]...)
	}
	buf = binary.AppendUvarint(append(buf, 0), uint64(len(id)))
	return append(buf, id...)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// blockReader walks a block's header.
type blockReader struct {
	data []byte
	err  bool
}

func (r *blockReader) uvarint() uint64 {
	x, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.err, r.data = true, nil
		return 0
	}
	r.data = r.data[n:]
	return x
}

func (r *blockReader) varint() int64 {
	x, n := binary.Varint(r.data)
	if n <= 0 {
		r.err, r.data = true, nil
		return 0
	}
	r.data = r.data[n:]
	return x
}

// id reads one _id; with decode false it only skips it.
func (r *blockReader) id(decode bool) string {
	if len(r.data) == 0 {
		r.err = true
		return ""
	}
	form := r.data[0]
	r.data = r.data[1:]
	switch form {
	case 0:
		n := r.uvarint()
		if n > uint64(len(r.data)) {
			r.err, r.data = true, nil
			return ""
		}
		s := r.data[:n]
		r.data = r.data[n:]
		if !decode {
			return ""
		}
		return string(s)
	case 1:
		if len(r.data) < 16 {
			r.err, r.data = true, nil
			return ""
		}
		raw := r.data[:16]
		r.data = r.data[16:]
		if !decode {
			return ""
		}
		var b [36]byte
		hex.Encode(b[0:8], raw[0:4])
		b[8] = '-'
		hex.Encode(b[9:13], raw[4:6])
		b[13] = '-'
		hex.Encode(b[14:18], raw[6:8])
		b[18] = '-'
		hex.Encode(b[19:23], raw[8:10])
		b[23] = '-'
		hex.Encode(b[24:36], raw[10:16])
		return string(b[:])
	}
	r.err, r.data = true, nil
	return ""
}

// blockLen returns how many events a block holds.
func blockLen(block []byte) int {
	n, w := binary.Uvarint(block)
	if w <= 0 {
		return 0
	}
	return int(n)
}

// eventReader materializes blocks into Values. It reuses its memory: what
// read returns is valid until the next reset.
type eventReader struct {
	dec    pql.Decoder
	slab   []pql.Value
	next   int
	column []pql.Value
	ts     []int64
}

func (r *eventReader) reset() {
	r.dec.Reset()
	r.next = 0
}

func (r *eventReader) alloc(n int) []pql.Value {
	if r.next+n > len(r.slab) {
		r.slab = make([]pql.Value, max(2*len(r.slab), n, 1024))
		r.next = 0
	}
	s := r.slab[r.next : r.next+n : r.next+n]
	clear(s)
	r.next += n
	return s
}

// read appends the events of block to out, projected by p (nil: all),
// and their timestamps to r.ts.
func (r *eventReader) read(block []byte, p *pql.Projection, lay eventLayout, dict *pql.Dict, out []pql.Value) ([]pql.Value, error) {
	br := blockReader{data: block}
	n := int(br.uvarint())
	if br.err || n > len(block) {
		return out, errCorruptBlock
	}
	tsStart := len(r.ts)
	prev := int64(0)
	for range n {
		prev += br.varint()
		r.ts = append(r.ts, prev)
	}
	_, wantID := p.Field(lay.id)
	_, wantTS := p.Field(lay.ts)
	var ids []string
	if wantID {
		ids = make([]string, n)
	}
	for i := range n {
		s := br.id(wantID)
		if wantID {
			ids[i] = s
		}
	}
	if br.err {
		return out, errCorruptBlock
	}
	// Columns first into r.column, then laid out per event: an event's
	// width is that of the widest column kept.
	type col struct {
		field int
		start int
	}
	var cols [16]col
	kept := cols[:0]
	width := 0
	if wantID {
		width = max(width, lay.id+1)
	}
	if wantTS {
		width = max(width, lay.ts+1)
	}
	r.column = r.column[:0]
	r.dec.Dict = dict
	for {
		f := br.uvarint()
		if br.err {
			return out, errCorruptBlock
		}
		if f == 0 {
			break
		}
		size := br.uvarint()
		if br.err || size > uint64(len(br.data)) {
			return out, errCorruptBlock
		}
		data := br.data[:size]
		br.data = br.data[size:]
		field := int(f - 1)
		sub, ok := p.Field(field)
		if !ok {
			continue
		}
		start := len(r.column)
		r.column = slices.Grow(r.column, n)[:start+n]
		rest, err := r.dec.DecodeColumn(data, n, sub, r.column[start:])
		if err != nil || len(rest) != 0 {
			return out, errCorruptBlock
		}
		kept = append(kept, col{field, start})
		width = max(width, field+1)
	}
	fields := r.alloc(n * width)
	for i := range n {
		ev := fields[i*width : (i+1)*width : (i+1)*width]
		if wantID {
			ev[lay.id] = pql.String(ids[i])
		}
		if wantTS {
			ev[lay.ts] = pql.Micros(r.ts[tsStart+i])
		}
		for _, c := range kept {
			ev[c.field] = r.column[c.start+i]
		}
		out = append(out, pql.Object(ev))
	}
	return out, nil
}

// decodeBlock returns every event of a block whole, for rebuilding it.
func decodeBlock(block []byte, lay eventLayout, dict *pql.Dict) ([]storedEvent, error) {
	var r eventReader
	values, err := r.read(block, nil, lay, dict, nil)
	if err != nil {
		return nil, err
	}
	out := make([]storedEvent, len(values))
	for i, v := range values {
		out[i] = storedEvent{id: v.Index(lay.id).Str(), ts: r.ts[i], value: v}
	}
	return out, nil
}

// mergeEvents adds events to a block's, newer ones replacing older ones
// with the same _id, and sorts them by time then _id.
func mergeEvents(old, added []storedEvent) []storedEvent {
	all := append(old, added...)
	// Stable, so among equal ids the later (newer) one comes last.
	slices.SortStableFunc(all, func(a, b storedEvent) int { return cmp.Compare(a.id, b.id) })
	out := all[:0]
	for i, e := range all {
		if i+1 < len(all) && all[i+1].id == e.id {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b storedEvent) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return out
}
