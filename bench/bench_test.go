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
	err := run(context.Background(), []string{"-profiles", "2000", "-json", "-duckdb-runs", "1"}, nil, &stdout, &stderr)
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
	for _, r := range res.Segments {
		if !r.Match || r.UPSMembers < 0 {
			t.Errorf("segment %s: ups %d, DuckDB %d", r.Name, r.UPSMembers, r.DuckDBMembers)
		}
	}
	var table bytes.Buffer
	printReport(&table, res)
	if !strings.Contains(table.String(), "all member counts agree") {
		t.Errorf("report:\n%s", table.String())
	}
}
