package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/pql"
)

// Every segment's PQL parses once its references are ids, its
// references come before it, and its SQL expands fully.
func TestSegments(t *testing.T) {
	ids := map[string]string{}
	seen := map[string]bool{}
	for _, s := range segments {
		if seen[s.Name] {
			t.Errorf("segment %s twice", s.Name)
		}
		for _, dep := range s.uses() {
			if !seen[dep] {
				t.Errorf("segment %s uses %s, which does not come before it", s.Name, dep)
			}
		}
		seen[s.Name] = true
		q, err := s.pql(ids)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pql.Parse(q); err != nil {
			t.Errorf("segment %s: %v", s.Name, err)
		}
		ids[s.Name] = "id-" + s.Name
		sql, err := s.membersSQL(1_000, func(string) int64 { return 2_000 })
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sql, "{{") {
			t.Errorf("segment %s: SQL not fully expanded:\n%s", s.Name, sql)
		}
	}
	if _, ok := segmentByName(attributeSegment); !ok {
		t.Errorf("no segment %s", attributeSegment)
	}
	if _, ok := segmentByName(estimateSegment); !ok {
		t.Errorf("no segment %s", estimateSegment)
	}
	buyers, _ := segmentByName("us_buyers_30d")
	sql, err := buyers.membersSQL(1_000, func(string) int64 { return 2_000 })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sql, "country_code = 'US'") || !strings.Contains(sql, "BETWEEN 1000 - 2592000000 AND 1000") {
		t.Errorf("us_buyers_30d expands to\n%s", sql)
	}
}

// The whole benchmark on a small data set: ups and DuckDB agree on every
// count, and the report and JSON come out. It takes some seconds.
func TestBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ups and DuckDB end to end")
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-profiles", "2000", "-json", "-duckdb-runs", "1", "-ups-runs", "2"}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var res results
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if res.Profiles != 2000 || len(res.Segments) != len(segments) || len(res.Mismatches) != 0 {
		t.Fatalf("profiles %d, %d segments, mismatches %v", res.Profiles, len(res.Segments), res.Mismatches)
	}
	if res.UPSRuns != 2 {
		t.Errorf("upsRuns %d, want 2", res.UPSRuns)
	}
	for _, r := range res.Segments {
		if !r.Match || r.UPSMembers < 0 {
			t.Errorf("segment %s: ups %d, DuckDB %d", r.Name, r.UPSMembers, r.DuckDBMembers)
		}
		if len(r.Runs) != 2 {
			t.Errorf("segment %s: %d runs, want 2", r.Name, len(r.Runs))
			continue
		}
		if r.UPSFirstWallMs != r.Runs[0].WallMs || r.UPSWallMs != min(r.Runs[0].WallMs, r.Runs[1].WallMs) ||
			r.UPSSegmentMs != min(r.Runs[0].SegmentationMs, r.Runs[1].SegmentationMs) {
			t.Errorf("segment %s: first %v, best %v ms wall, best %d ms segmentation, runs %+v", r.Name, r.UPSFirstWallMs, r.UPSWallMs, r.UPSSegmentMs, r.Runs)
		}
		for i, u := range r.Runs {
			if !u.Match || u.ReferenceMs == 0 {
				t.Errorf("segment %s, job %d: %+v", r.Name, i+1, u)
			}
		}
		if r.Ratio <= 0 || r.RatioWall <= 0 {
			t.Errorf("segment %s: ratio %v, wall ratio %v", r.Name, r.Ratio, r.RatioWall)
		}
	}
	var table bytes.Buffer
	printReport(&table, res)
	if !strings.Contains(table.String(), "all member counts agree") {
		t.Errorf("report:\n%s", table.String())
	}
}

// The evaluation ratio of a 0 ms reading is an upper bound, 1 ms over
// DuckDB's time, and prints as one.
func TestEvalRatio(t *testing.T) {
	for _, c := range []struct {
		seg   int64
		duck  float64
		ratio float64
		bound bool
		text  string
	}{
		{seg: 30, duck: 10, ratio: 3, text: "3.0x"},
		{seg: 0, duck: 0.5, ratio: 2, bound: true, text: "<2.0x"},
		{seg: 5, duck: 0, ratio: 0, text: "-"},
		{seg: -1, duck: 2, ratio: 0, text: "-"},
	} {
		r, bound := evalRatio(c.seg, c.duck)
		if r != c.ratio || bound != c.bound || evalRatioString(r, bound) != c.text {
			t.Errorf("evalRatio(%d, %v) = %v, %v (%q), want %v, %v (%q)", c.seg, c.duck, r, bound, evalRatioString(r, bound), c.ratio, c.bound, c.text)
		}
	}
	at1M := func(seg int64, duck float64) string {
		r := segmentResult{UPSSegmentMs: seg, DuckDBMs: duck}
		r.Ratio, r.RatioUpperBound = evalRatio(seg, duck)
		return ratioFloorNote(floorProfiles, r)
	}
	for _, c := range []struct {
		seg  int64
		duck float64
		want string
	}{
		{30, 10, ": met"}, {31, 10, ": NOT MET"}, {0, 0.5, ": met"}, {0, 0.2, ": cannot tell"},
	} {
		if got := at1M(c.seg, c.duck); !strings.Contains(got, c.want) {
			t.Errorf("%d ms vs %v ms at 1M: %q, want %q", c.seg, c.duck, got, c.want)
		}
	}
}
