package ups

import (
	"runtime"
	"slices"
	"sync"

	"github.com/segflow/segflow/pkg/pql"
)

// profileStore holds the profile fragments and ExperienceEvents that batch
// ingestion applied, per org and sandbox, in memory and compact: fragments
// and event blocks are pql's binary form, identities and repeated event
// strings are numbered once. A snapshot (store_snapshot.go) plus the
// commits after it rebuild it at start.
//
// One writer (the ingester) applies batches; any number of readers scan.
// Blocks and fragment data are never changed in place, only replaced.
type profileStore struct {
	mu     sync.RWMutex
	scopes map[scopeKey]*scopeStore
	// columnBudget bounds the bytes a grouping's columns take.
	columnBudget int
	// applyChunk is how many events an applier gathers before adding
	// them (the constant; tests make it small).
	applyChunk int
}

type scopeKey struct{ org, sandbox string }

// scopeStore is one org and sandbox.
type scopeStore struct {
	// schema lays out every Value of the scope. It is replaced, never
	// changed, when a batch that taught it new fields commits.
	schema *pql.Schema
	// Repeated strings, one Dict for events and one for fragments:
	// apart, the numbers of event strings stay small (one or two bytes).
	dict  *pql.Dict
	pdict *pql.Dict

	ids *identityTable

	datasets  []string
	dsIndex   map[string]uint32
	frags     []fragment
	fragIndex map[fragKey]uint32

	// Events by primary identity: blockOf[identity] is 1 + the number
	// of its block in blocks, or 0 (most identities have no events of
	// their own).
	blockOf []uint32
	blocks  []eventBlock
	nEvents int
	// writers rebuild blocks, one per CPU, kept from one addEvents to
	// the next (the applier's, under the store's write lock): their
	// buffers and cache of Dict numbers would otherwise be made again
	// for every chunk of events.
	writers []*blockWriter

	// groups caches persons by merge rule (mergeRule.key) until the next
	// apply. Scans fill it under the store's read lock, hence its own lock.
	groupsMu sync.Mutex
	groups   map[string]*grouping
}

// eventBlock is the events of one identity (see store_events.go).
type eventBlock struct {
	identity uint32
	data     []byte
}

// identityKey is "namespace\x00id": one identity of identityMap.
type identityKey string

func newIdentityKey(ns, id string) identityKey { return identityKey(ns + "\x00" + id) }

// fragKey identifies a fragment: a newer record of the same primary
// identity in the same dataset replaces the older one.
type fragKey struct{ dataset, primary uint32 }

// fragment is one profile record of one dataset.
type fragment struct {
	dataset    uint32
	identities []uint32 // the primary first
	seq        uint64   // ingestion order: higher is newer
	data       []byte   // pql binary, strings numbered by the scope's pdict
}

// newFragment and newEvent are records on their way in, from a batch,
// already in pql's binary form: fragments with the scope's Dict for them,
// events inline.
type newFragment struct {
	dataset    string
	identities []identityKey // the primary first
	data       []byte
}

type newEvent struct {
	id        string
	identity  identityKey // the primary one: the block it joins
	timestamp int64       // microseconds
	data      []byte
}

func newProfileStore() *profileStore {
	return &profileStore{scopes: map[scopeKey]*scopeStore{}, columnBudget: 1 << 30, applyChunk: applyChunk}
}

func newScopeStore(schema *pql.Schema) *scopeStore {
	return &scopeStore{
		schema:    schema,
		dict:      pql.NewDict(),
		pdict:     pql.NewDict(),
		ids:       newIdentityTable(),
		dsIndex:   map[string]uint32{},
		fragIndex: map[fragKey]uint32{},
	}
}

// schema returns the scope's current schema. Ingestion decodes a batch
// into a Clone of it and hands the clone back to apply.
func (s *profileStore) schema(c Caller) *pql.Schema {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]; ok {
		return sc.schema // begin replaces it under the write lock
	}
	return pql.NewXDMSchema()
}

// applier adds one committed batch's records to a scope. It holds the
// store's write lock from begin to end, so no scan sees half a batch;
// records stream through it, so a batch of millions never sits in memory
// as Values.
type applier struct {
	s      *profileStore
	sc     *scopeStore
	seq    uint64
	events []newEvent
	// A chunk of events is added in the background while the caller
	// reads the next one (reading a spill is serial, adding is not):
	// adding is closed once it is in, spare is its slice for reuse.
	adding chan struct{}
	spare  []newEvent
}

// applyChunk is how many events an applier gathers before writing their
// blocks: enough that an identity's events in a batch are usually
// written in one go.
const applyChunk = 100_000

// begin starts applying a batch laid out by schema (which becomes the
// scope's), stamped with seq. The ingester applies one batch at a time,
// in commit order.
func (s *profileStore) begin(c Caller, schema *pql.Schema, seq uint64) *applier {
	s.mu.Lock()
	k := scopeKey{c.Org, c.Sandbox}
	sc, ok := s.scopes[k]
	if !ok {
		sc = newScopeStore(schema)
		s.scopes[k] = sc
	}
	sc.schema = schema
	sc.groups = nil
	return &applier{s: s, sc: sc, seq: seq, events: make([]newEvent, 0, s.applyChunk)}
}

// fragment adds a profile fragment.
func (a *applier) fragment(f newFragment) {
	a.wait() // the store's tables are not shared with a chunk being added
	sc := a.sc
	ids := make([]uint32, len(f.identities))
	for i, id := range f.identities {
		ids[i] = sc.identity(id)
	}
	ds := sc.dataset(f.dataset)
	frag := fragment{dataset: ds, identities: ids, seq: a.seq, data: f.data}
	key := fragKey{ds, ids[0]}
	if i, ok := sc.fragIndex[key]; ok {
		sc.frags[i] = frag
		return
	}
	sc.fragIndex[key] = uint32(len(sc.frags))
	sc.frags = append(sc.frags, frag)
}

// reserveFragments makes room for n more fragments at once: growing a
// table of millions of entries step by step copies it many times.
func (a *applier) reserveFragments(n int) {
	a.sc.frags = slices.Grow(a.sc.frags, n)
}

// event adds an ExperienceEvent.
func (a *applier) event(e newEvent) {
	a.events = append(a.events, e)
	if len(a.events) >= a.s.applyChunk {
		a.wait()
		chunk := a.events
		a.events = a.spare[:0]
		if a.events == nil {
			a.events = make([]newEvent, 0, a.s.applyChunk)
		}
		done := make(chan struct{})
		a.adding = done
		go func() {
			defer close(done)
			a.sc.addEvents(chunk)
			clear(chunk) // what it holds is in the blocks now
			a.spare = chunk[:0]
		}()
	}
}

// wait waits for the chunk being added, if any.
func (a *applier) wait() {
	if a.adding != nil {
		<-a.adding
		a.adding = nil
	}
}

// end writes what is gathered and releases the store.
func (a *applier) end() {
	a.wait()
	a.sc.addEvents(a.events)
	a.events, a.spare = nil, nil
	a.s.mu.Unlock()
}

// apply adds records in one go (see begin), for tests and tools.
func (s *profileStore) apply(c Caller, schema *pql.Schema, seq uint64, frags []newFragment, events []newEvent) {
	a := s.begin(c, schema, seq)
	for _, f := range frags {
		a.fragment(f)
	}
	for _, e := range events {
		a.event(e)
	}
	a.end()
}

// addEvents rebuilds the block of every identity that gets events.
func (sc *scopeStore) addEvents(events []newEvent) {
	if len(events) == 0 {
		return
	}
	byIdentity := map[uint32][]int{} // event indexes
	var order []uint32
	var lastKey identityKey
	var lastID uint32
	for i, e := range events {
		// Events of one identity usually come together: look it up once.
		id := lastID
		if i == 0 || e.identity != lastKey {
			id = sc.identity(e.identity)
			lastKey, lastID = e.identity, id
		}
		if _, ok := byIdentity[id]; !ok {
			order = append(order, id)
			if sc.blockOf[id] == 0 {
				sc.blocks = append(sc.blocks, eventBlock{identity: id})
				sc.blockOf[id] = uint32(len(sc.blocks))
			}
		}
		byIdentity[id] = append(byIdentity[id], i)
	}
	// Rebuilding blocks is most of applying a batch, and blocks are
	// independent: the identities are shared out among the CPUs (the Dict
	// takes concurrent writers).
	lay := layoutOf(sc.schema)
	workers := min(runtime.GOMAXPROCS(0), 1+len(order)/64)
	grown := make([]int, workers)
	for len(sc.writers) < workers {
		sc.writers = append(sc.writers, &blockWriter{enc: pql.Encoder{Dict: sc.dict}})
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bw := sc.writers[w]
			var dec pql.Decoder
			var added []storedEvent
			for i := w; i < len(order); i += workers {
				id := order[i]
				dec.Reset()
				added = added[:0]
				for _, j := range byIdentity[id] {
					e := &events[j]
					v, _, err := dec.Decode(e.data, nil)
					if err != nil {
						panic(err) // the converter wrote it
					}
					added = append(added, storedEvent{id: e.id, ts: e.timestamp, value: v})
				}
				blk := &sc.blocks[sc.blockOf[id]-1]
				var old []storedEvent
				if blk.data != nil {
					var err error
					if old, err = decodeBlock(blk.data, lay, sc.dict); err != nil {
						panic(err) // blocks are only ever written by blockWriter
					}
				}
				merged := mergeEvents(old, added)
				grown[w] += len(merged) - len(old)
				blk.data = bw.encode(merged, lay)
			}
		}()
	}
	wg.Wait()
	for _, n := range grown {
		sc.nEvents += n
	}
}

// identity returns the number of an identity, adding it.
func (sc *scopeStore) identity(k identityKey) uint32 {
	id := sc.ids.add(string(k))
	if int(id) == len(sc.blockOf) {
		sc.blockOf = append(sc.blockOf, 0)
	}
	return id
}

// dataset returns the number of a dataset id, adding it.
func (sc *scopeStore) dataset(name string) uint32 {
	if id, ok := sc.dsIndex[name]; ok {
		return id
	}
	id := uint32(len(sc.datasets))
	sc.datasets = append(sc.datasets, name)
	sc.dsIndex[name] = id
	return id
}

// counts reports how many fragments and events a scope holds.
func (s *profileStore) counts(c Caller) (fragments, events int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.scopes[scopeKey{c.Org, c.Sandbox}]
	if !ok {
		return 0, 0
	}
	return len(sc.frags), sc.nEvents
}

// fragmentDict is the Dict the caller's fragments number their strings
// with, making the scope if it has none yet: validation encodes a
// batch's fragments before they are applied.
func (s *profileStore) fragmentDict(c Caller) *pql.Dict {
	k := scopeKey{c.Org, c.Sandbox}
	s.mu.RLock()
	sc, ok := s.scopes[k]
	s.mu.RUnlock()
	if ok {
		return sc.pdict
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.scopes[k]; ok {
		return sc.pdict
	}
	sc = newScopeStore(pql.NewXDMSchema())
	s.scopes[k] = sc
	return sc.pdict
}

// records is how many fragments and events the store holds in all.
func (s *profileStore) records() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, sc := range s.scopes {
		n += len(sc.frags) + sc.nEvents
	}
	return n
}

func cutIdentity(k identityKey) (ns, id string, ok bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return string(k[:i]), string(k[i+1:]), true
		}
	}
	return "", string(k), false
}
