package ups

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/pql"
)

// scaleSegments are segments of the kinds the floors name, on the
// fields segflow gen writes.
var scaleSegments = []struct{ name, pql string }{
	{"attribute", `homeAddress.countryCode = "US"`},
	{"string", `person.name.lastName.startsWith("S")`},
	{"loyalty", `loyalty.tier = "gold" or loyalty.tier = "platinum"`},
	{"birth date", `person.birthDate < date(1970, 1, 1)`},
	{"30-day views", `xEvent[eventType = "commerce.productViews" and timestamp occurs <= 30 days before now].count() > 2`},
	{"purchase sum", `xEvent[eventType = "commerce.purchases"].sum(commerce.order.priceTotal) > 500`},
	{"abandons", `xEvent[eventType = "commerce.productListRemovals"].count() >= 3`},
}

// TestSegmentScale evaluates scaleSegments over SEGFLOW_SEGMENT_SCALE
// generated profiles (20 events each), one pass each and then all in one
// pass, and logs the times. The store is built once and kept as a
// snapshot in the system's temporary directory, so a second run starts in
// seconds. Skipped unless the variable is set:
//
//	SEGFLOW_SEGMENT_SCALE=1000000 go test -run TestSegmentScale -v -timeout 1h ./services/ups/
func TestSegmentScale(t *testing.T) {
	c := Caller{Org: "ORG", Sandbox: "prod"}
	n, store := scaleStoreFromEnv(t, c)
	rule := mergeRule{Graph: "none", Attribute: "timestampOrdered"}
	now := scaleConfig(n).Now
	start := time.Now()
	store.mu.RLock()
	store.scopes[scopeKey{c.Org, c.Sandbox}].cachedGrouping(rule)
	store.mu.RUnlock()
	t.Logf("grouping persons: %v", time.Since(start))
	var all []evalSegment
	for _, s := range scaleSegments {
		q, err := pql.Parse(s.pql)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		seg := evalSegment{id: s.name, q: q}
		all = append(all, seg)
		pass, err := newSegmentPass(store.schema(c), rule, []evalSegment{seg}, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		best, first := time.Duration(1<<62), time.Duration(0)
		var res evalResult
		for i := range 3 {
			start := time.Now()
			if res, err = pass.run(context.Background(), store, c, now, scanOptions{}); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
			if i == 0 {
				first = time.Since(start)
			}
		}
		t.Logf("%-14s %8d of %d profiles in %v (first run %v)", s.name, len(res.members[0]), res.info.Total, best, first)

		// The same segment as an estimate reads it (every profile up to
		// 1M, so the same count).
		ps := newPreviews(store, newMemberships(), func() time.Time { return now }, zerolog.Nop())
		r, err := ps.prepare(c, q, rule)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		pres, err := ps.execute(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-14s %8d of %d profiles in %v (estimate)", s.name, pres.matched, pres.read, time.Since(start))
		ps.close()
	}
	pass, err := newSegmentPass(store.schema(c), rule, all, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := pass.run(context.Background(), store, c, now, scanOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d segments in one pass: %v", len(all), time.Since(start))
}

// scaleStoreFromEnv skips the test unless SEGFLOW_SEGMENT_SCALE says how
// many profiles, and returns that number and their store (scaleStore).
func scaleStoreFromEnv(t *testing.T, c Caller) (int, *profileStore) {
	t.Helper()
	n, _ := strconv.Atoi(os.Getenv("SEGFLOW_SEGMENT_SCALE"))
	if n <= 0 {
		t.Skip("set SEGFLOW_SEGMENT_SCALE to a number of profiles")
	}
	return n, scaleStore(t, c, n)
}

// scaleStore returns a store of n generated profiles: read from the
// snapshot a former run left, or built and snapshotted.
func scaleStore(t *testing.T, c Caller, n int) *profileStore {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("segflow-scale-%d-seed1.snapshot", n))
	store := newProfileStore()
	start := time.Now()
	if _, err := store.readSnapshot(path); err == nil {
		if f, _ := store.counts(c); f == n {
			t.Logf("store read from %s in %v", path, time.Since(start))
			return store
		}
	}
	store, seq, _, _ := loadScaleStore(t, c, n)
	t.Logf("store built in %v", time.Since(start))
	if err := store.writeSnapshot(path, seq); err != nil {
		t.Logf("keeping the store for the next run: %v", err)
	}
	return store
}

// BenchmarkSegmentPass evaluates each of scaleSegments over 20,000
// generated profiles (400,000 events); ns/op is one pass.
func BenchmarkSegmentPass(b *testing.B) {
	c := Caller{Org: "ORG", Sandbox: "prod"}
	store, _, _, _ := loadScaleStore(b, c, 20_000)
	rule := mergeRule{Graph: "none", Attribute: "timestampOrdered"}
	now := scaleConfig(20_000).Now
	for _, s := range scaleSegments {
		b.Run(s.name, func(b *testing.B) {
			q, err := pql.Parse(s.pql)
			if err != nil {
				b.Fatal(err)
			}
			pass, err := newSegmentPass(store.schema(c), rule, []evalSegment{{id: s.name, q: q}}, nil, true)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := pass.run(context.Background(), store, c, now, scanOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestExportScale exports the SEGFLOW_SEGMENT_SCALE store's profiles with
// five fields to Parquet, all of them and then the members of the
// attribute segment, and logs the times. Skipped unless the variable is
// set:
//
//	SEGFLOW_SEGMENT_SCALE=1000000 go test -run TestExportScale -v -timeout 1h ./services/ups/
func TestExportScale(t *testing.T) {
	c := Caller{ClientID: "bench", Org: "ORG", Sandbox: "prod"}
	n, store := scaleStoreFromEnv(t, c)
	dir := t.TempDir()
	cat, err := openCatalog(filepath.Join(dir, "catalog"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	policies, err := openPolicyStore(filepath.Join(dir, "mergepolicies"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := cat.createDataset(c, datasetInput{Name: "export", SchemaRef: schemaRef{ID: schemaProfileUnion}})
	if err != nil {
		t.Fatal(err)
	}
	// Every scale segment's members, as a segment job publishes them (an
	// export writes all of a profile's memberships); "seg" is the
	// attribute segment.
	members := newMemberships()
	var segs []evalSegment
	for i, sg := range scaleSegments {
		q, err := pql.Parse(sg.pql)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("seg-%d", i)
		if i == 0 {
			id = "seg"
		}
		segs = append(segs, evalSegment{id: id, q: q})
	}
	pass, err := newSegmentPass(store.schema(c), mergeRule{Graph: "none", Attribute: "timestampOrdered"}, segs, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	now := scaleConfig(n).Now
	found, err := pass.run(context.Background(), store, c, now, scanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]*segmentMembers{}
	for i, sg := range segs {
		published[sg.id], _ = members.view(c)[sg.id].next(found.members[i], now.UnixMicro())
	}
	members.publish(c, published)
	x, err := openExporter(dir, cat, policies, store, members, filepath.Join(dir, "ingest", "commits.log"), zerolog.Nop(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	const fields = `"fields":"person.name.firstName,person.name.lastName,personalEmail.address,homeAddress.countryCode,loyalty.tier"` // the bench's
	for _, tc := range []struct{ name, body string }{
		{"all profiles", fmt.Sprintf(`{%s,"destination":{"datasetId":%q}}`, fields, ds.ID)},
		{"all profiles again", fmt.Sprintf(`{%s,"destination":{"datasetId":%q}}`, fields, ds.ID)},
		{"attribute segment", fmt.Sprintf(`{%s,"filter":{"segments":[{"segmentId":"seg","segmentNs":"ups","status":["realized","existing"]}]},"destination":{"datasetId":%q}}`, fields, ds.ID)},
	} {
		in, err := parseExportRequest([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		job, err := x.submit(c, in, "bench", "")
		if err != nil {
			t.Fatal(err)
		}
		for {
			j, _ := x.get(c, job.ID)
			if j.Status == exportFailed {
				t.Fatalf("%s: export failed: %+v", tc.name, j.Errors)
			}
			if j.Status == exportSucceeded {
				m := j.Metrics
				t.Logf("%-18s %8d profiles in %v (profiles %d ms, dataset write %d ms)", tc.name, m.TotalExportedProfileCounter, time.Since(start), m.ProfileExportTime.TotalTimeInMs, m.ACPDatasetWriteTime.TotalTimeInMs)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestSegmentJobScale times a segment job's evaluation (what its
// profileSegmentationTime covers: compiling, the pass, the membership
// transitions) of the attribute segment over the SEGFLOW_SEGMENT_SCALE
// store, five times in a row, as a job sees it. Skipped unless the
// variable is set.
func TestSegmentJobScale(t *testing.T) {
	c := Caller{Org: "ORG", Sandbox: "prod"}
	_, store := scaleStoreFromEnv(t, c)
	policies, err := openPolicyStore(filepath.Join(t.TempDir(), "mergepolicies"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	r := &segmentJobs{profiles: store, members: newMemberships(), policies: policies,
		now: time.Now, membersDirs: dirTree{root: t.TempDir()}}
	for _, s := range scaleSegments[:1] {
		entry := segmentJobEntry{SegmentID: "seg", Segment: segmentJobSegment{ID: "seg",
			Expression: PQLExpression{Type: exprTypePQL, Format: "pql/text", Value: s.pql}, MergePolicyID: builtinPolicyID}}
		for i := range 5 {
			start := time.Now()
			res, err := r.evaluate(context.Background(), c, []segmentJobEntry{entry})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s, job %d: evaluated in %v, saved in %v, %d members", s.name, i, time.Duration(res.timing.EndTimeInMs-res.timing.StartTimeInMs)*time.Millisecond, time.Since(start), res.segments["seg"].qualifying)
		}
	}
}
