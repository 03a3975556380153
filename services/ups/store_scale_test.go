package ups

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/pql"

	"github.com/segflow/segflow/services/ups/gen"
)

// TestStoreScale loads SEGFLOW_STORE_SCALE generated profiles (20 events
// each) straight into a profile store, bypassing HTTP and files, and logs
// the heap the store takes, a snapshot's write and read times and a scan.
// It measures the store layout; `segflow bench ingest` measures the whole
// ingestion path. Skipped unless the variable is set:
//
//	SEGFLOW_STORE_SCALE=1000000 go test -run TestStoreScale -v -timeout 1h ./services/ups/
func TestStoreScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SEGFLOW_STORE_SCALE"))
	if n <= 0 {
		t.Skip("set SEGFLOW_STORE_SCALE to a number of profiles")
	}
	c := Caller{Org: "ORG", Sandbox: "prod"}
	start := time.Now()
	store, seq, profiles, events := loadScaleStore(t, c, n)
	took := time.Since(start)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	h := heap()
	t.Logf("loaded %d profiles and %d events in %v (%.0f records/s); live heap %.0f MB (%.0f bytes a record)",
		profiles, events, took, float64(profiles+events)/took.Seconds(), float64(h)/1e6, float64(h)/float64(profiles+events))

	start = time.Now()
	scanned, evs := 0, 0
	spec := scanSpec{rule: mergeRule{Graph: "none", Attribute: "timestampOrdered"}, profile: store.schema(c).ProfileProjection([]string{"homeAddress.countryCode"}), events: store.schema(c).EventProjection([]string{"eventType", "timestamp"})}
	if err := store.each(c, spec, func(p *Profile) bool {
		scanned++
		evs += len(p.Subject.Events)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("first scan (groups persons) of %d profiles, %d events: %v", scanned, evs, time.Since(start))
	start = time.Now()
	if err := store.each(c, spec, func(p *Profile) bool { return true }); err != nil {
		t.Fatal(err)
	}
	t.Logf("second scan, projected to eventType and timestamp: %v", time.Since(start))

	path := filepath.Join(t.TempDir(), "store.snapshot")
	start = time.Now()
	if err := store.writeSnapshot(path, seq); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	t.Logf("snapshot of %.0f MB written in %v", float64(st.Size())/1e6, time.Since(start))
	store.blockStats(t, c)
	store = nil
	runtime.GC()
	again := newProfileStore()
	start = time.Now()
	if _, err := again.readSnapshot(path); err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot read in %v; live heap %.0f MB", time.Since(start), float64(heap())/1e6)
	if f, e := again.counts(c); f != profiles || e != events {
		t.Fatalf("after reading the snapshot: %d profiles and %d events, want %d and %d", f, e, profiles, events)
	}
}

// blockStats logs what the event blocks' bytes go to, by column.
func (s *profileStore) blockStats(t *testing.T, c Caller) {
	sc := s.scopes[scopeKey{c.Org, c.Sandbox}]
	cols := map[int]int{}
	named := map[string]int{}
	hdr, total, n, fr := 0, 0, 0, 0
	for _, f := range sc.frags {
		fr += len(f.data)
	}
	for _, blk := range sc.blocks {
		b := blk.data
		total += len(b)
		br := blockReader{data: b}
		cnt := int(br.uvarint())
		n += cnt
		for range cnt {
			br.varint()
		}
		before := len(br.data)
		for range cnt {
			br.id(false)
		}
		cols[-1] += before - len(br.data)
		hdr += len(b) - before
		for {
			d := br.uvarint()
			if d == 0 {
				break
			}
			tp := sc.schema.Event()
			name := ""
			for range d {
				f := int(br.uvarint())
				for tp != nil && tp.Kind == pql.TypeArray {
					tp = tp.Elem
				}
				if tp != nil && tp.Kind == pql.TypeObject && f < tp.NumFields() {
					name += "." + tp.FieldName(f)
					tp = tp.FieldType(f)
				} else {
					name += ".?"
				}
			}
			size := br.uvarint()
			named[name] += int(size)
			br.data = br.data[size:]
		}
	}
	t.Logf("events %d, bytes %d (%.1f/event), header+ts %.1f/event, frags %.1f/profile dict %d", n, total, float64(total)/float64(n), float64(hdr)/float64(n), float64(fr)/float64(len(sc.frags)), sc.dict.Len())
	t.Logf("  _id %.1f bytes/event", float64(cols[-1])/float64(n))
	for name, sz := range named {
		t.Logf("  %-40s %.1f bytes/event", name, float64(sz)/float64(n))
	}
}

// scaleConfig is the generated data set of the scale tests.
func scaleConfig(n int) gen.Config {
	return gen.Config{Profiles: n, EventsPerProfile: 20, Seed: 1, Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
}

// loadScaleStore applies n generated profiles and their events to a new
// store as the ingester's apply pass does, a batch every 250,000 records.
// It returns the store, the last batch's seq and the record counts.
func loadScaleStore(t testing.TB, c Caller, n int) (store *profileStore, seq uint64, profiles, events int) {
	cfg := scaleConfig(n)
	store = newProfileStore()
	load := func(event bool, write func(gen.Config, io.Writer) error) int {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(write(cfg, pw)) }()
		return loadRecords(t, store, c, event, "ds", &seq, pr)
	}
	profiles = load(false, gen.Profiles)
	events = load(true, gen.Events)
	return store, seq, profiles, events
}
