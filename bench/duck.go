package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver

	"github.com/segflow/segflow/services/ups/gen"
)

// duck is the DuckDB side: an in-memory database holding the data set as
// two flat tables.
//
//	profiles(ecid, country_code, last_name, email, birth_date, loyalty_tier, loyalty_points, email_consent)
//	events(ecid, ts_ms, event_type, price_total, abandons)
//
// ecid is the primary ECID as a 128-bit integer (38 digits fit), so that
// joins and groupings compare integers; ts_ms is the event time in Unix
// ms; price_total is DECIMAL, so sums are exact.
type duck struct {
	db *sql.DB
}

// profileColumns and eventColumns are read_json's explicit columns: only
// what the SQL of the segments reads, typed.
const (
	identityMapType = `'STRUCT("ECID" STRUCT(id VARCHAR)[])'`
	profileColumns  = `{identityMap: ` + identityMapType + `,
  person: 'STRUCT(name STRUCT("lastName" VARCHAR), "birthDate" DATE)',
  personalEmail: 'STRUCT(address VARCHAR)',
  homeAddress: 'STRUCT("countryCode" VARCHAR)',
  loyalty: 'STRUCT(tier VARCHAR, points BIGINT)',
  consents: 'STRUCT(marketing STRUCT(email STRUCT(val VARCHAR)))'}`
	eventColumns = `{identityMap: ` + identityMapType + `,
  "timestamp": 'TIMESTAMPTZ',
  eventType: 'VARCHAR',
  commerce: 'STRUCT("order" STRUCT("priceTotal" DECIMAL(18,2)))',
  metrics: 'STRUCT(commerce STRUCT(abandons STRUCT(value BIGINT)))'}`
)

func openDuck() (*duck, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	// One connection: an in-memory database lives as long as its
	// connections, and every query here runs alone anyway.
	db.SetMaxOpenConns(1)
	return &duck{db: db}, nil
}

func (d *duck) Close() error { return d.db.Close() }

// load reads the data set's files into the two tables.
func (d *duck) load(ctx context.Context, dir string, sum gen.Summary) error {
	var profiles, events []string
	for _, f := range sum.Files {
		p := sqlString(filepath.Join(dir, f.Name))
		switch f.Class {
		case gen.ProfileClass:
			profiles = append(profiles, p)
		case gen.EventClass:
			events = append(events, p)
		}
	}
	if len(profiles) == 0 {
		return fmt.Errorf("duckdb: the data set in %s has no profile files", dir)
	}
	stmts := []string{
		`CREATE OR REPLACE TABLE profiles AS SELECT
  CAST(identityMap."ECID"[1].id AS UHUGEINT) AS ecid,
  homeAddress."countryCode" AS country_code,
  person.name."lastName" AS last_name,
  personalEmail.address AS email,
  person."birthDate" AS birth_date,
  loyalty.tier AS loyalty_tier,
  loyalty.points AS loyalty_points,
  consents.marketing.email.val AS email_consent
FROM read_json([` + strings.Join(profiles, ", ") + `], format = 'newline_delimited', columns = ` + profileColumns + `)`,
	}
	if len(events) > 0 {
		stmts = append(stmts, `CREATE OR REPLACE TABLE events AS SELECT
  CAST(identityMap."ECID"[1].id AS UHUGEINT) AS ecid,
  epoch_ms("timestamp") AS ts_ms,
  eventType AS event_type,
  commerce."order"."priceTotal" AS price_total,
  metrics.commerce.abandons.value AS abandons
FROM read_json([`+strings.Join(events, ", ")+`], format = 'newline_delimited', columns = `+eventColumns+`)`)
	} else {
		stmts = append(stmts, `CREATE OR REPLACE TABLE events (ecid UHUGEINT, ts_ms BIGINT, event_type VARCHAR, price_total DECIMAL(18,2), abandons BIGINT)`)
	}
	for _, s := range stmts {
		if _, err := d.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("duckdb: loading: %w", err)
		}
	}
	return nil
}

// check verifies what the SQL of the segments assumes of the data: one
// profile per ECID, every event of a known profile, and the row counts
// of the manifest.
func (d *duck) check(ctx context.Context, sum gen.Summary) error {
	var profiles, distinct, events, orphans int64
	err := d.db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT ecid) FROM profiles`).Scan(&profiles, &distinct)
	if err == nil {
		err = d.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE ecid NOT IN (SELECT ecid FROM profiles)) FROM events`).Scan(&events, &orphans)
	}
	if err != nil {
		return fmt.Errorf("duckdb: checking the tables: %w", err)
	}
	var problems []string
	if profiles != sum.Profiles || events != sum.Events {
		problems = append(problems, fmt.Sprintf("read %d profiles and %d events, the manifest says %d and %d", profiles, events, sum.Profiles, sum.Events))
	}
	if distinct != profiles {
		problems = append(problems, fmt.Sprintf("%d profiles share an ECID", profiles-distinct))
	}
	if orphans > 0 {
		problems = append(problems, fmt.Sprintf("%d events have no profile", orphans))
	}
	if len(problems) > 0 {
		return fmt.Errorf("duckdb: the data breaks the benchmark's assumptions: %s", strings.Join(problems, "; "))
	}
	return nil
}

// count runs the members query q as a COUNT runs times and returns the
// count and the fastest run.
func (d *duck) count(ctx context.Context, q string, runs int) (int64, time.Duration, error) {
	var (
		n    int64
		best time.Duration
	)
	for i := range max(runs, 1) {
		var got int64
		start := time.Now()
		if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`).Scan(&got); err != nil {
			return 0, 0, fmt.Errorf("duckdb: %w\n%s", err, q)
		}
		took := time.Since(start)
		if i > 0 && got != n {
			return 0, 0, fmt.Errorf("duckdb: the same query counted %d then %d", n, got)
		}
		n = got
		if i == 0 || took < best {
			best = took
		}
	}
	return n, best, nil
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// onBoundary explains a difference between ups's count and DuckDB's by
// the profiles exactly on the segment's threshold (segment.Boundary):
// it returns a warning when the difference is no larger than their
// number, "" when it is not explained.
func (d *duck) onBoundary(ctx context.Context, s segment, ups, duck int64) (string, error) {
	if s.Boundary == "" || ups < 0 {
		return "", nil
	}
	var n int64
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM (`+s.Boundary+`)`).Scan(&n); err != nil {
		return "", fmt.Errorf("duckdb: %w\n%s", err, s.Boundary)
	}
	diff := ups - duck
	if diff < 0 {
		diff = -diff
	}
	if diff > n {
		return "", nil
	}
	return fmt.Sprintf("ups %d, DuckDB %d: %d profiles sit exactly on the threshold, where ups's sum of doubles may round either way", ups, duck, n), nil
}
