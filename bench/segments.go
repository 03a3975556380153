package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// segment is one benchmark segment: a PQL definition for ups and a SQL
// query for DuckDB that must select exactly the same profiles.
//
// PQL may say inSegment("{{seg:NAME}}"): the id of segment NAME, created
// first. SQL is a query returning the members' ecid, each once; in it
// {{now}} is the reference instant in Unix ms (the "now" of the ups job
// the counts are compared with) and {{seg:NAME}} is segment NAME's
// members query, at the "now" its memberships were computed at.
//
// The SQL follows PQL's semantics as pkg/pql/doc.go states them:
//   - a comparison or string test with a missing field is false (SQL's
//     NULL in a WHERE does the same);
//   - "ts occurs <= N days before now" is now - N days <= ts <= now, with
//     days of fixed length;
//   - "occurs between date(a) and date(b)" is start of a <= ts < end of b;
//   - xEvent[cond].count() counts the profile's matching events (0 when it
//     has none), sum() of nothing is 0;
//   - chain(...) steps match events in time order, a later step strictly
//     after the one before it.
//
// A merged profile is the one profile record of each ECID plus the events
// of that ECID: the generator writes one record per person and every
// event carries its person's ECID (DuckDB's load checks the latter).
type segment struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // what it exercises
	PQL  string `json:"pql"`
	SQL  string `json:"sql"`
	// Boundary, if set, is a members query of the profiles that sit
	// exactly on a numeric threshold the PQL compares a sum of doubles
	// with: ups adds doubles, DuckDB exact decimals, so rounding may put
	// these on either side. A difference no larger than their number is
	// reported as a warning, not a mismatch.
	Boundary string `json:"boundary,omitempty"`
}

// attributeSegment is the segment of the single-attribute job and of the
// export: a plain profile attribute filter.
const attributeSegment = "us"

// last30Days is PQL's "timestamp occurs <= 30 days before now" in SQL:
// now - 30 days <= ts <= now, days of fixed length (86,400,000 ms) as
// PQL's units up to weeks are. The span is written out: 30 * 86400000
// overflows DuckDB's INT32 literals.
const last30Days = "ts_ms BETWEEN {{now}} - 2592000000 AND {{now}}"

// segments are the benchmark's segments, in the order they are created
// and run; a segment comes after those it uses.
var segments = []segment{
	{
		Name: "us", Kind: "attribute filter",
		PQL: `homeAddress.countryCode = "US"`,
		SQL: `SELECT ecid FROM profiles WHERE country_code = 'US'`,
	},
	{
		Name: "lastname_s", Kind: "string startsWith",
		PQL: `person.name.lastName.startsWith("S")`,
		SQL: `SELECT ecid FROM profiles WHERE starts_with(last_name, 'S')`,
	},
	{
		Name: "example_com_optin", Kind: "string endsWith + consent",
		PQL: `personalEmail.address.endsWith("@example.com") and consents.marketing.email.val = "y"`,
		SQL: `SELECT ecid FROM profiles WHERE ends_with(email, '@example.com') AND email_consent = 'y'`,
	},
	{
		Name: "views_30d", Kind: "30-day event count",
		PQL: `xEvent[eventType = "commerce.productViews" and timestamp occurs <= 30 days before now].count() > 2`,
		SQL: `SELECT ecid FROM events
WHERE event_type = 'commerce.productViews' AND ` + last30Days + `
GROUP BY ecid HAVING count(*) > 2`,
	},
	{
		Name: "spend_500", Kind: "purchase sum (all time)",
		PQL: `xEvent[eventType = "commerce.purchases"].sum(commerce.order.priceTotal) > 500`,
		SQL: `SELECT ecid FROM events WHERE event_type = 'commerce.purchases'
GROUP BY ecid HAVING coalesce(sum(price_total), 0) > 500`,
		Boundary: `SELECT ecid FROM events WHERE event_type = 'commerce.purchases'
GROUP BY ecid HAVING sum(price_total) = 500`,
	},
	{
		Name: "gold_20k", Kind: "loyalty tier + points",
		PQL: `loyalty.tier in ["gold", "platinum"] and loyalty.points >= 20000`,
		SQL: `SELECT ecid FROM profiles WHERE loyalty_tier IN ('gold', 'platinum') AND loyalty_points >= 20000`,
	},
	{
		Name: "cart_abandon_30d", Kind: "cart abandon, no purchase (30 days)",
		PQL: `xEvent[metrics.commerce.abandons.value > 0 and timestamp occurs <= 30 days before now].count() > 0 and ` +
			`xEvent[eventType = "commerce.purchases" and timestamp occurs <= 30 days before now].count() = 0`,
		SQL: `SELECT ecid FROM events WHERE abandons > 0 AND ` + last30Days + `
EXCEPT
SELECT ecid FROM events WHERE event_type = 'commerce.purchases' AND ` + last30Days,
	},
	{
		Name: "born_1980s", Kind: "birth date range",
		PQL: `person.birthDate occurs between date(1980, 1, 1) and date(1989, 12, 31)`,
		SQL: `SELECT ecid FROM profiles WHERE birth_date >= DATE '1980-01-01' AND birth_date < DATE '1990-01-01'`,
	},
	{
		Name: "us_buyers_30d", Kind: "inSegment(us) and 30-day purchase",
		PQL: `inSegment("{{seg:us}}") and xEvent[eventType = "commerce.purchases" and timestamp occurs <= 30 days before now].count() > 0`,
		SQL: `SELECT DISTINCT ecid FROM events
WHERE event_type = 'commerce.purchases' AND ` + last30Days + `
  AND ecid IN ({{seg:us}})`,
	},
	{
		Name: "add_then_buy_30d", Kind: "two-step event chain (30 days)",
		PQL: `chain(xEvent, timestamp, [A: WHAT(eventType = "commerce.productListAdds") WHEN(<= 30 days before now), ` +
			`B: WHAT(eventType = "commerce.purchases") WHEN(<= 30 days before now)])`,
		SQL: `SELECT a.ecid FROM
  (SELECT ecid, min(ts_ms) AS t FROM events
   WHERE event_type = 'commerce.productListAdds' AND ` + last30Days + ` GROUP BY ecid) a
JOIN
  (SELECT ecid, max(ts_ms) AS t FROM events
   WHERE event_type = 'commerce.purchases' AND ` + last30Days + ` GROUP BY ecid) b
USING (ecid) WHERE a.t < b.t`,
	},
}

var segRef = regexp.MustCompile(`\{\{seg:([a-z0-9_]+)\}\}`)

// segmentByName returns the segment called name.
func segmentByName(name string) (segment, bool) {
	for _, s := range segments {
		if s.Name == name {
			return s, true
		}
	}
	return segment{}, false
}

// uses returns the names of the segments s refers to.
func (s segment) uses() []string {
	var out []string
	for _, m := range segRef.FindAllStringSubmatch(s.PQL, -1) {
		out = append(out, m[1])
	}
	return out
}

// pql returns the segment's PQL with segment references replaced by the
// ids in ids (segment name to definition id).
func (s segment) pql(ids map[string]string) (string, error) {
	var missing []string
	out := segRef.ReplaceAllStringFunc(s.PQL, func(m string) string {
		name := segRef.FindStringSubmatch(m)[1]
		id, ok := ids[name]
		if !ok {
			missing = append(missing, name)
		}
		return id
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("segment %s uses %s, which has no id yet", s.Name, strings.Join(missing, ", "))
	}
	return out, nil
}

// membersSQL returns the segment's members query at reference now
// (Unix ms). nowOf gives the reference of the memberships of the segments
// it uses (those of the job that last evaluated them).
func (s segment) membersSQL(now int64, nowOf func(name string) int64) (string, error) {
	return expandSQL(s, now, nowOf, 0)
}

func expandSQL(s segment, now int64, nowOf func(string) int64, depth int) (string, error) {
	if depth > len(segments) {
		return "", fmt.Errorf("segment %s: cyclic segment references", s.Name)
	}
	var err error
	out := segRef.ReplaceAllStringFunc(s.SQL, func(m string) string {
		name := segRef.FindStringSubmatch(m)[1]
		dep, ok := segmentByName(name)
		if !ok {
			err = fmt.Errorf("segment %s uses unknown segment %s", s.Name, name)
			return m
		}
		sub, e := expandSQL(dep, nowOf(name), nowOf, depth+1)
		if e != nil {
			err = e
		}
		return sub
	})
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(out, "{{now}}", strconv.FormatInt(now, 10)), nil
}
