package ups

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"github.com/segflow/segflow/pkg/pql"
)

// An event block holds the ExperienceEvents of one identity, in time
// order, by column:
//
//	count
//	timestamps        count zigzag-varint deltas (microseconds)
//	_ids              count ids (see idWriter)
//	columns           (depth field... size values...)... 0
//
// where each column is one leaf path of the events (web.webPageDetails.name:
// objects are flattened down to their scalars, arrays and maps) with its
// count values in pql's binary form (strings numbered by the scope's Dict,
// a repeat of the previous value one byte, an event without the path a
// null). A scan decodes only the columns a query reads, into a reused
// slab, and skips the others by their size: twenty events of a profile
// take under a kilobyte, against tens of kilobytes as Values.

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

// blockWriter encodes blocks, reusing its buffers.
type blockWriter struct {
	enc          pql.Encoder
	buf, scratch []byte
	path         []byte
	cols         []leafColumn
	// trie finds the column of a leaf by its field numbers without
	// building its path: node 0 is the event, children are by field.
	trie   []leafNode
	values []pql.Value
}

type leafNode struct {
	children []int32 // field number -> node + 1 (0: none yet)
	col      int     // the leaf's column, or -1
}

// child returns the node below n at field f, making it.
func (w *blockWriter) child(n, f int) int {
	nd := &w.trie[n]
	if f >= len(nd.children) {
		nd.children = append(nd.children, make([]int32, f+1-len(nd.children))...)
	}
	if c := nd.children[f]; c != 0 {
		return int(c - 1)
	}
	c := len(w.trie)
	if c < cap(w.trie) {
		w.trie = w.trie[:c+1]
		w.trie[c].children, w.trie[c].col = w.trie[c].children[:0], -1
	} else {
		w.trie = append(w.trie, leafNode{col: -1})
	}
	w.trie[n].children[f] = int32(c + 1)
	return c
}

// leafColumn is one leaf path: its depth and field numbers as uvarints,
// and where the values of the block's events start in blockWriter.values.
type leafColumn struct {
	path  string
	start int
}

// flatten calls fn with every leaf of an event: the scalars, arrays, maps
// and empty objects under its objects, with their trie nodes (w.path
// holds the field numbers). _id and timestamp have columns of their own.
func (w *blockWriter) flatten(v pql.Value, lay eventLayout, top bool, node int, fn func(node int, v pql.Value)) {
	depth := len(w.path)
	for i := range v.Len() {
		f := v.Index(i)
		if f.IsNull() || top && (i == lay.id || i == lay.ts) {
			continue
		}
		w.path = binary.AppendUvarint(w.path[:depth], uint64(i))
		c := w.child(node, i)
		if f.Kind() == pql.KindObject && hasField(f) {
			w.flatten(f, lay, false, c, fn)
			continue
		}
		fn(c, f)
	}
	w.path = w.path[:depth]
}

// leafKey is the path in w.path with its depth in front.
func (w *blockWriter) leafKey() []byte {
	depth := 0
	for _, b := range w.path {
		if b < 0x80 {
			depth++
		}
	}
	key := binary.AppendUvarint(w.scratch[:0], uint64(depth))
	w.scratch = append(key, w.path...)
	return w.scratch
}

func hasField(v pql.Value) bool {
	for i := range v.Len() {
		if !v.Index(i).IsNull() {
			return true
		}
	}
	return false
}

// encode returns events (sorted, distinct ids) as a block, in memory of
// its own exact size: a store holds a million blocks.
func (w *blockWriter) encode(events []storedEvent, lay eventLayout) []byte {
	buf := binary.AppendUvarint(w.buf[:0], uint64(len(events)))
	prev := int64(0)
	for _, e := range events {
		buf = binary.AppendVarint(buf, e.ts-prev)
		prev = e.ts
	}
	var ids idWriter
	for _, e := range events {
		buf = ids.append(buf, e.id)
	}
	// Leaf paths, each with the value of every event (null where absent).
	w.cols = w.cols[:0]
	if len(w.trie) == 0 {
		w.trie = append(w.trie, leafNode{col: -1})
	}
	w.trie = w.trie[:1]
	w.trie[0].children, w.trie[0].col = w.trie[0].children[:0], -1
	clear(w.values) // the last block's values, for the collector
	w.values = w.values[:0]
	for i, e := range events {
		w.path = w.path[:0]
		w.flatten(e.value, lay, true, 0, func(node int, v pql.Value) {
			c := w.trie[node].col
			if c < 0 {
				c = len(w.cols)
				w.trie[node].col = c
				// Columns share one reused slab of values.
				start := len(w.values)
				w.values = slices.Grow(w.values, len(events))[:start+len(events)]
				clear(w.values[start:])
				w.cols = append(w.cols, leafColumn{path: string(w.leafKey()), start: start})
			}
			w.values[w.cols[c].start+i] = v
		})
	}
	slices.SortFunc(w.cols, func(a, b leafColumn) int { return strings.Compare(a.path, b.path) })
	col := pql.ColumnEncoder{Enc: &w.enc}
	for _, c := range w.cols {
		col.Reset(w.scratch[:0])
		for _, v := range w.values[c.start : c.start+len(events)] {
			col.Append(v)
		}
		w.scratch = col.Bytes()
		buf = append(buf, c.path...)
		buf = binary.AppendUvarint(buf, uint64(len(w.scratch)))
		buf = append(buf, w.scratch...)
	}
	buf = binary.AppendUvarint(buf, 0)
	w.buf = buf
	return bytes.Clone(buf)
}

// idWriter writes a block's _ids. The usual lowercase UUID is packed into
// 16 bytes, less the bytes it shares with the previous one (ids made by
// one source often share a prefix): ids would otherwise be half an event.
//
//	0 len bytes | 1 16 bytes | 2 shared rest
type idWriter struct {
	prev   [16]byte
	packed bool
}

func (w *idWriter) append(buf []byte, id string) []byte {
	raw, ok := pql.PackUUID(id)
	if !ok {
		w.packed = false
		buf = binary.AppendUvarint(append(buf, 0), uint64(len(id)))
		return append(buf, id...)
	}
	shared := 0
	if w.packed {
		for shared < 15 && raw[shared] == w.prev[shared] {
			shared++
		}
	}
	w.prev, w.packed = raw, true
	if shared == 0 {
		return append(append(buf, 1), raw[:]...)
	}
	return append(append(buf, 2, byte(shared)), raw[shared:]...)
}

// blockReader walks a block's header.
type blockReader struct {
	data   []byte
	err    bool
	prev   [16]byte // the last packed _id
	packed bool
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

// id reads one _id as idWriter wrote it; with decode false it only
// skips it.
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
		r.packed = false
		if !decode {
			return ""
		}
		return string(s)
	case 1, 2:
		shared := 0
		if form == 2 {
			if len(r.data) == 0 || !r.packed || r.data[0] == 0 || r.data[0] > 15 {
				r.err, r.data = true, nil
				return ""
			}
			shared = int(r.data[0])
			r.data = r.data[1:]
		}
		if len(r.data) < 16-shared {
			r.err, r.data = true, nil
			return ""
		}
		copy(r.prev[shared:], r.data[:16-shared])
		r.data = r.data[16-shared:]
		r.packed = true
		if !decode {
			return ""
		}
		return pql.UnpackUUID(r.prev)
	}
	r.err, r.data = true, nil
	return ""
}

// eventReader materializes blocks into Values. It reuses its memory: what
// read returns is valid until the next reset.
type eventReader struct {
	nodes  []node
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
	// Kept columns are decoded into r.column, then put together per
	// event along the tree of their paths (node 0 is the event).
	r.nodes = r.nodes[:0]
	r.addNode()
	if wantID {
		r.nodes[0].width = lay.id + 1
	}
	if wantTS {
		r.nodes[0].width = max(r.nodes[0].width, lay.ts+1)
	}
	r.column = r.column[:0]
	r.dec.Dict = dict
	var path [maxLeafDepth]int
	for {
		depth := br.uvarint()
		if br.err || depth > maxLeafDepth {
			return out, errCorruptBlock
		}
		if depth == 0 {
			break
		}
		sub, kept := p, true
		for i := range int(depth) {
			f := br.uvarint()
			if f > 1<<20 {
				br.err = true
			}
			path[i] = int(f)
			if kept {
				sub, kept = sub.Field(int(f))
			}
		}
		size := br.uvarint()
		if br.err || size > uint64(len(br.data)) {
			return out, errCorruptBlock
		}
		data := br.data[:size]
		br.data = br.data[size:]
		if !kept {
			continue
		}
		start := len(r.column)
		r.column = slices.Grow(r.column, n)[:start+n]
		rest, err := r.dec.DecodeColumn(data, n, sub, r.column[start:])
		if err != nil || len(rest) != 0 {
			return out, errCorruptBlock
		}
		cur := 0
		for _, f := range path[:depth] {
			cur = r.child(cur, f)
		}
		if r.nodes[cur].leaf >= 0 || cur == 0 {
			return out, errCorruptBlock // the same path twice
		}
		r.nodes[cur].leaf = start
	}
	root := &r.nodes[0]
	for i := range n {
		ev := r.alloc(root.width)
		r.fill(0, i, ev)
		if wantID {
			ev[lay.id] = pql.String(ids[i])
		}
		if wantTS {
			ev[lay.ts] = pql.Micros(r.ts[tsStart+i])
		}
		out = append(out, pql.Object(ev))
	}
	return out, nil
}

// maxLeafDepth bounds the object nesting a block's paths may have.
const maxLeafDepth = 64

// node is an object on the paths of a block's kept columns.
type node struct {
	width    int     // fields the object needs
	leaf     int     // start in eventReader.column of the column ending here, or -1
	children []int32 // field number -> node index + 1 (0: none)
}

// addNode adds an empty node, reusing the memory of an earlier read's.
func (r *eventReader) addNode() int {
	if len(r.nodes) < cap(r.nodes) {
		r.nodes = r.nodes[:len(r.nodes)+1]
		nd := &r.nodes[len(r.nodes)-1]
		nd.width, nd.leaf, nd.children = 0, -1, nd.children[:0]
	} else {
		r.nodes = append(r.nodes, node{leaf: -1})
	}
	return len(r.nodes) - 1
}

// child returns the node below node n at field f, making it.
func (r *eventReader) child(n, f int) int {
	nd := &r.nodes[n]
	nd.width = max(nd.width, f+1)
	if f >= len(nd.children) {
		nd.children = append(nd.children, make([]int32, f+1-len(nd.children))...)
	}
	if c := nd.children[f]; c != 0 {
		return int(c - 1)
	}
	c := r.addNode()
	r.nodes[n].children[f] = int32(c + 1)
	return c
}

// fill sets the fields of event i below node n in list.
func (r *eventReader) fill(n, i int, list []pql.Value) bool {
	any := false
	for f, c := range r.nodes[n].children {
		if c == 0 {
			continue
		}
		if v := r.value(int(c-1), i); !v.IsNull() {
			list[f] = v
			any = true
		}
	}
	return any
}

// value returns the value of event i at node n: an object of what is
// below it, or the column ending there, or null.
func (r *eventReader) value(n, i int) pql.Value {
	nd := &r.nodes[n]
	if len(nd.children) > 0 {
		list := r.alloc(nd.width)
		if r.fill(n, i, list) {
			return pql.Object(list)
		}
		// Unused: give it back if nothing was taken after it (children
		// that found nothing gave theirs back; the slab may have moved on).
		if len(list) > 0 && r.next >= len(list) && &r.slab[r.next-len(list)] == &list[0] {
			r.next -= len(list)
		}
	}
	if nd.leaf >= 0 {
		return r.column[nd.leaf+i]
	}
	return pql.Value{}
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
	if distinctIDs(all) {
		// The usual case: nothing to replace, and events mostly come in
		// time order already.
		slices.SortFunc(all, byTimeThenID)
		return all
	}
	// Stable, so among equal ids the later (newer) one comes last.
	slices.SortStableFunc(all, func(a, b storedEvent) int { return cmp.Compare(a.id, b.id) })
	out := all[:0]
	for i, e := range all {
		if i+1 < len(all) && all[i+1].id == e.id {
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, byTimeThenID)
	return out
}

func byTimeThenID(a, b storedEvent) int {
	if c := cmp.Compare(a.ts, b.ts); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// distinctIDs reports whether no two events share an _id, with a small
// hash table for the few events an identity usually has (false, to be
// sure, when there are many).
func distinctIDs(events []storedEvent) bool {
	if len(events) > 64 {
		return false
	}
	var table [128]int16 // index + 1
	for i, e := range events {
		h := fnv1a(e.id) & 127
		for table[h] != 0 {
			if events[table[h]-1].id == e.id {
				return false
			}
			h = (h + 1) & 127
		}
		table[h] = int16(i + 1)
	}
	return true
}

// fnv1a is the 32-bit FNV-1a hash of s.
func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
