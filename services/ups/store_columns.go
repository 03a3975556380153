package ups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/segflow/segflow/pkg/pql"
)

// columns is a grouping's persons laid out by column for pql's columnar
// evaluation (pql.ColumnPlan): each profile or event attribute a segment
// reads is decoded once, dictionary coded, and kept with the grouping,
// so later segments on it read a few bytes a person instead of
// materializing profiles. Columns are built on first use, under the
// store's read lock, dropped least recently used first beyond a budget
// (SEGFLOW_UPS_COLUMN_CACHE_MB), and go away with the grouping when the
// next batch is applied.
type columns struct {
	sc *scopeStore
	g  *grouping

	mu      sync.Mutex
	profile map[string]*pql.Column
	event   map[string]*pql.Column
	times   []int64
	offsets []uint32 // person i's events are rows offsets[i] to offsets[i+1]
	// The columns above are dropped, least recently used first, to keep
	// their size under budget bytes (the one just built stays).
	budget int
	sizes  map[string]int    // by cache key (see eventsKey)
	used   map[string]uint64 // by cache key: the tick of the last use
	tick   uint64
	// personOf maps identity numbers to persons, or -1.
	personOf []int32
	// nsSet numbers each person's set of identity namespaces (manyNamespaces:
	// count it with personNamespaces), nsSets lists the sets' codes.
	nsSet  []uint32
	nsSets [][]uint8
}

// manyNamespaces marks a person with an identity of a namespace beyond
// the first 255 of the scope, which have no code.
const manyNamespaces = ^uint32(0)

func newColumns(sc *scopeStore, g *grouping) *columns {
	return &columns{sc: sc, g: g, profile: map[string]*pql.Column{}, event: map[string]*pql.Column{},
		budget: 1 << 30, sizes: map[string]int{}, used: map[string]uint64{}}
}

// Cache keys: "p:" and "e:" then the path for profile and event
// columns, "events" for the timestamps and offsets.
const eventsKey = "events"

func (c *columns) setBudget(bytes int) {
	c.mu.Lock()
	c.budget = bytes
	c.mu.Unlock()
}

// touch records a use of the cached entry key.
func (c *columns) touch(key string) {
	c.tick++
	c.used[key] = c.tick
}

// keep records a new entry of size bytes and drops the least recently
// used others while the entries take more than the budget.
func (c *columns) keep(key string, size int) {
	c.sizes[key] = size
	c.touch(key)
	total := 0
	for _, n := range c.sizes {
		total += n
	}
	for total > c.budget && len(c.sizes) > 1 {
		oldest, at := "", ^uint64(0)
		for k := range c.sizes {
			if k != key && c.used[k] < at {
				oldest, at = k, c.used[k]
			}
		}
		total -= c.sizes[oldest]
		delete(c.sizes, oldest)
		delete(c.used, oldest)
		switch {
		case oldest == eventsKey:
			c.times, c.offsets = nil, nil
		case strings.HasPrefix(oldest, "p:"):
			delete(c.profile, oldest[2:])
		default:
			delete(c.event, oldest[2:])
		}
	}
}

var errNotScalar = errors.New("ups: not a scalar attribute")

// Persons is the number of persons of the grouping.
func (c *columns) Persons() int { return len(c.g.persons) }

// ProfileColumn returns the merged profiles' values of a scalar attribute.
func (c *columns) ProfileColumn(path string) (*pql.Column, error) { return c.column(path, false) }

// EventColumn returns the values of a scalar event attribute, events in
// the rows Events lays out.
func (c *columns) EventColumn(path string) (*pql.Column, error) { return c.column(path, true) }

func (c *columns) column(path string, event bool) (*pql.Column, error) {
	have, key, build := c.profile, "p:"+path, c.buildProfile
	if event {
		have, key, build = c.event, "e:"+path, c.buildEvents
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if col, ok := have[path]; ok {
		c.touch(key)
		return col, nil
	}
	if _, ok := c.sc.schema.ScalarPath(path, event); !ok {
		return nil, fmt.Errorf("%w: %s", errNotScalar, key)
	}
	if err := build([]string{path}); err != nil {
		return nil, err
	}
	return have[path], nil
}

// Events returns every event's timestamp and where each person's are.
func (c *columns) Events() ([]int64, []uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offsets == nil {
		if err := c.buildEvents(nil); err != nil {
			return nil, nil, err
		}
	}
	c.touch(eventsKey)
	return c.times, c.offsets, nil
}

// Prefetch builds the columns of the scalar attributes given that are
// not built yet, the profile ones in one pass over the persons and the
// event ones (with the timestamps) in another: a segment on three
// attributes decodes the store once, not three times.
func (c *columns) Prefetch(profile, event []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	missing := func(paths []string, have map[string]*pql.Column, ev bool) []string {
		var out []string
		for _, p := range paths {
			if _, ok := have[p]; !ok && !slices.Contains(out, p) {
				if _, ok := c.sc.schema.ScalarPath(p, ev); ok {
					out = append(out, p)
				}
			}
		}
		return out
	}
	if paths := missing(profile, c.profile, false); len(paths) > 0 {
		if err := c.buildProfile(paths); err != nil {
			return err
		}
	}
	if paths := missing(event, c.event, true); len(paths) > 0 || (event != nil && c.offsets == nil) {
		return c.buildEvents(paths)
	}
	return nil
}

// buildProfile builds the columns of scalar profile attributes, in one
// pass that materializes just them. Callers hold c.mu.
func (c *columns) buildProfile(paths []string) error {
	idx := make([][]int, len(paths))
	for i, p := range paths {
		idx[i], _ = c.sc.schema.ScalarPath(p, false)
	}
	spec := scanSpec{profile: c.sc.schema.ProfileProjection(paths), noEvents: true}
	parts, err := forParts(len(c.g.persons), func(lo, hi int) ([]*pql.Column, error) {
		m := newMaterializer(c.sc)
		var p Profile
		bs := make([]pql.ColumnBuilder, len(paths))
		for k := range bs {
			bs[k].Grow(hi - lo)
		}
		for i := lo; i < hi; i++ {
			if err := m.person(c.g, i, spec, &p); err != nil {
				return nil, err
			}
			for k, fields := range idx {
				v := p.Subject.Profile
				for _, f := range fields {
					v = v.Index(f)
				}
				bs[k].Add(v)
			}
		}
		return columnsOf(bs), nil
	})
	if err != nil {
		return err
	}
	c.add(c.profile, "p:", paths, parts)
	return nil
}

// buildEvents builds the columns of scalar event attributes, and the
// timestamps and offsets if they are not built, in one pass over the
// event blocks that decodes just those columns. Callers hold c.mu.
func (c *columns) buildEvents(paths []string) error {
	// A block column is keyed by its depth and field numbers (see
	// store_events.go).
	keys := make([][]byte, len(paths))
	for i, p := range paths {
		idx, _ := c.sc.schema.ScalarPath(p, true)
		keys[i] = binary.AppendUvarint(nil, uint64(len(idx)))
		for _, f := range idx {
			keys[i] = binary.AppendUvarint(keys[i], uint64(f))
		}
	}
	offsets, times := c.offsets, c.times
	if offsets == nil {
		offsets = make([]uint32, len(c.g.persons)+1)
		for i, p := range c.g.persons {
			n := 0
			for _, bi := range c.g.blocks[p.blockStart:p.blockEnd] {
				count, k := binary.Uvarint(c.sc.blocks[bi].data)
				if k <= 0 {
					return errCorruptBlock
				}
				n += int(count)
			}
			offsets[i+1] = offsets[i] + uint32(n)
		}
		times = make([]int64, offsets[len(offsets)-1])
	}
	withTimes := c.offsets == nil
	parts, err := forParts(len(c.g.persons), func(lo, hi int) ([]*pql.Column, error) {
		bs := make([]pql.ColumnBuilder, len(paths))
		for k := range bs {
			bs[k].Grow(int(offsets[hi] - offsets[lo]))
		}
		var dec pql.Decoder
		dec.Dict = c.sc.dict
		bufs := make([][]pql.Value, len(paths))
		ts := times[offsets[lo]:offsets[hi]]
		for i := lo; i < hi; i++ {
			p := c.g.persons[i]
			for _, bi := range c.g.blocks[p.blockStart:p.blockEnd] {
				dec.Reset()
				var out []int64
				if withTimes {
					out = ts
				}
				n, err := blockColumns(c.sc.blocks[bi].data, keys, &dec, bufs, out)
				if err != nil {
					return nil, err
				}
				ts = ts[n:]
				for k := range bs {
					for _, v := range bufs[k] {
						bs[k].Add(v)
					}
				}
			}
		}
		return columnsOf(bs), nil
	})
	if err != nil {
		return err
	}
	if withTimes {
		c.times, c.offsets = times, offsets
		c.keep(eventsKey, 8*len(times)+4*len(offsets))
	}
	c.add(c.event, "e:", paths, parts)
	return nil
}

// columnsOf returns what each builder holds.
func columnsOf(bs []pql.ColumnBuilder) []*pql.Column {
	out := make([]*pql.Column, len(bs))
	for k := range bs {
		out[k] = bs[k].Column()
	}
	return out
}

// add joins the parts' k-th columns into the column of paths[k] and keeps
// it in have, under prefix+path in the cache accounting.
func (c *columns) add(have map[string]*pql.Column, prefix string, paths []string, parts [][]*pql.Column) {
	for k, path := range paths {
		ps := make([]*pql.Column, len(parts))
		for i, p := range parts {
			ps[i] = p[k]
		}
		col := pql.ConcatColumns(ps)
		have[path] = col
		c.keep(prefix+path, col.Size())
	}
}

// members returns the persons whose shown identity holds a qualifying
// membership, as a bitmap by person.
func (c *columns) members(m *segmentMembers) []uint64 {
	c.mu.Lock()
	if c.personOf == nil {
		c.personOf = make([]int32, c.sc.ids.len())
		for i := range c.personOf {
			c.personOf[i] = -1
		}
		for i, p := range c.g.persons {
			c.personOf[p.key] = int32(i)
		}
	}
	personOf := c.personOf
	c.mu.Unlock()
	bm := make([]uint64, (len(c.g.persons)+63)/64)
	if m == nil {
		return bm
	}
	for i, id := range m.ids {
		if st, _ := m.entry(i); !st.qualified() || int(id) >= len(personOf) {
			continue
		}
		if p := personOf[id]; p >= 0 {
			bm[p/64] |= 1 << (p % 64)
		}
	}
	return bm
}

// namespaceSets returns each person's numbered set of namespaces and the
// sets, as namespace codes.
func (c *columns) namespaceSets() ([]uint32, [][]uint8, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nsSet != nil {
		return c.nsSet, c.nsSets, nil
	}
	type part struct {
		sets [][4]uint64
		code []uint32
	}
	parts, err := forParts(len(c.g.persons), func(lo, hi int) (part, error) {
		index := map[[4]uint64]uint32{}
		var p part
		p.code = make([]uint32, 0, hi-lo)
		for i := lo; i < hi; i++ {
			pr := c.g.persons[i]
			var set [4]uint64
			many := false
			add := func(id uint32) {
				n := c.sc.ids.ns[id]
				many = many || n == otherNamespace
				set[n/64] |= 1 << (n % 64)
			}
			for _, fi := range c.g.frags[pr.fragStart:pr.fragEnd] {
				for _, id := range c.sc.frags[fi].identities {
					add(id)
				}
			}
			for _, b := range c.g.blocks[pr.blockStart:pr.blockEnd] {
				add(c.sc.blocks[b].identity)
			}
			if many {
				p.code = append(p.code, manyNamespaces)
				continue
			}
			k, ok := index[set]
			if !ok {
				k = uint32(len(p.sets))
				index[set] = k
				p.sets = append(p.sets, set)
			}
			p.code = append(p.code, k)
		}
		return p, nil
	})
	if err != nil {
		return nil, nil, err
	}
	index := map[[4]uint64]uint32{}
	var sets [][]uint8
	codes := make([]uint32, 0, len(c.g.persons))
	for _, p := range parts {
		remap := make([]uint32, len(p.sets))
		for i, set := range p.sets {
			k, ok := index[set]
			if !ok {
				k = uint32(len(sets))
				index[set] = k
				var list []uint8
				for n := range 256 {
					if set[n/64]&(1<<(n%64)) != 0 {
						list = append(list, uint8(n))
					}
				}
				sets = append(sets, list)
			}
			remap[i] = k
		}
		for _, k := range p.code {
			if k != manyNamespaces {
				k = remap[k]
			}
			codes = append(codes, k)
		}
	}
	c.nsSet, c.nsSets = codes, sets
	return codes, sets, nil
}

// nsCounter counts persons by each identity namespace they have (what
// segment jobs, exports and previews report): by numbered set of
// namespaces (columns.namespaceSets), one increment a person; persons
// with a namespace beyond the coded ones one namespace at a time. One
// goroutine uses it; it is made under the store's read lock.
type nsCounter struct {
	sc     *scopeStore
	g      *grouping
	setOf  []uint32
	sets   [][]uint8
	names  []string // namespace by code, as the scan began
	perSet []int64
	other  map[string]int64
}

func newNSCounter(sc *scopeStore, g *grouping) (*nsCounter, error) {
	setOf, sets, err := g.cols.namespaceSets()
	if err != nil {
		return nil, err
	}
	return &nsCounter{sc: sc, g: g, setOf: setOf, sets: sets, names: sc.ids.nsNames, perSet: make([]int64, len(sets))}, nil
}

// add counts person i of the grouping.
func (n *nsCounter) add(i uint32) {
	if s := n.setOf[i]; s != manyNamespaces {
		n.perSet[s]++
		return
	}
	personNamespaces(n.sc, n.g, i, func(ns string) {
		if n.other == nil {
			n.other = map[string]int64{}
		}
		if _, ok := n.other[ns]; !ok {
			ns = strings.Clone(ns) // it may point into the identity table
		}
		n.other[ns]++
	})
}

// addTo adds the counts to counts (nil-safe on n).
func (n *nsCounter) addTo(counts map[string]int64) {
	if n == nil {
		return
	}
	for s, k := range n.perSet {
		if k == 0 {
			continue
		}
		for _, code := range n.sets[s] {
			counts[n.names[code]] += k
		}
	}
	for ns, k := range n.other {
		counts[ns] += k
	}
}

// blockColumns decodes a block's columns keyed by keys into outs
// (reused; nulls where the block has no such column) and, when times is
// not nil, its timestamps into times. It returns the block's event count.
func blockColumns(block []byte, keys [][]byte, dec *pql.Decoder, outs [][]pql.Value, times []int64) (int, error) {
	br := blockReader{data: block}
	n := int(br.uvarint())
	if br.err || n > len(block) || times != nil && n > len(times) {
		return 0, errCorruptBlock
	}
	prev := int64(0)
	for j := range n {
		prev += br.varint()
		if times != nil {
			times[j] = prev
		}
	}
	for range n {
		br.id(false)
	}
	for k := range outs {
		outs[k] = slices.Grow(outs[k][:0], n)[:n]
		clear(outs[k])
	}
	for found := 0; !br.err && found < len(keys); {
		start := br.data
		depth := br.uvarint()
		if depth == 0 || depth > maxLeafDepth {
			break
		}
		for range depth {
			br.uvarint()
		}
		path := start[:len(start)-len(br.data)]
		size := br.uvarint()
		if br.err || size > uint64(len(br.data)) {
			return 0, errCorruptBlock
		}
		data := br.data[:size]
		br.data = br.data[size:]
		for k, key := range keys {
			if string(path) != string(key) {
				continue
			}
			rest, err := dec.DecodeColumn(data, n, nil, outs[k])
			if err != nil || len(rest) != 0 {
				return 0, errCorruptBlock
			}
			found++
		}
	}
	if br.err {
		return 0, errCorruptBlock
	}
	return n, nil
}

// forParts calls fn on contiguous ranges of n items from GOMAXPROCS
// goroutines and returns the results in range order.
func forParts[T any](n int, fn func(lo, hi int) (T, error)) ([]T, error) {
	workers := runtime.GOMAXPROCS(0)
	parts := max(1, min(4*workers, n/1024))
	out := make([]T, parts)
	errs := make([]error, parts)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, parts) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p := int(next.Add(1) - 1)
				if p >= parts {
					return
				}
				out[p], errs[p] = fn(p*n/parts, (p+1)*n/parts)
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
