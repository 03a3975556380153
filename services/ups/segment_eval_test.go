package ups

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/pql"
	"github.com/segflow/segflow/services/ups/gen"
)

// columnSegments are segments of the shapes evaluated by column, and some
// that are not, over the fields segflow gen writes.
var columnSegments = []struct{ id, pql string }{
	{"us", `homeAddress.countryCode = "US"`},
	{"s", `person.name.lastName.startsWith("S")`},
	{"optin", `personalEmail.address.endsWith("@example.com") and consents.marketing.email.val = "y"`},
	{"gold", `loyalty.tier in ["gold", "platinum"] and loyalty.points >= 20000`},
	{"eighties", `person.birthDate occurs between date(1980, 1, 1) and date(1989, 12, 31)`},
	{"views", `xEvent[eventType = "commerce.productViews" and timestamp occurs <= 30 days before now].count() > 2`},
	{"spend", `xEvent[eventType = "commerce.purchases"].sum(commerce.order.priceTotal) > 500`},
	{"abandon", `xEvent[metrics.commerce.abandons.value > 0 and timestamp occurs <= 30 days before now].count() > 0 and ` +
		`xEvent[eventType = "commerce.purchases" and timestamp occurs <= 30 days before now].count() = 0`},
	{"us-buyers", `inSegment("us") and xEvent[eventType = "commerce.purchases" and timestamp occurs <= 30 days before now]`},
	{"ext-us", `inSegment("ext") and not homeAddress.countryCode = "US"`},
	{"chain", `chain(xEvent, timestamp, [A: WHAT(eventType = "commerce.productListAdds") WHEN(<= 30 days before now), ` +
		`B: WHAT(eventType = "commerce.purchases") WHEN(<= 30 days before now)])`},
	{"after-chain", `inSegment("chain") or loyalty.tier = "gold"`},
	{"fr-tier", `homeAddress.countryCode = "FR" and loyalty.tier = "silver"`},
	// Not columnar, and a segment that uses it, so not columnar either.
	{"busy", `xEvent.count() > 21`},
	{"busy-us", `inSegment("busy") and homeAddress.countryCode = "US"`},
}

// TestSegmentPassByColumn evaluates segments by column and by row over
// generated profiles plus fragments of a second dataset (other values
// for some attributes, linked by email under pdg) and events of email
// identities, under four merge rules, and wants the same members and
// namespace counts.
func TestSegmentPassByColumn(t *testing.T) {
	c := Caller{Org: "ORG", Sandbox: "prod"}
	const n = 1500
	store, seq, _, _ := loadScaleStore(t, c, n)
	cfg := scaleConfig(n)

	// A second dataset: for every third generated profile, a fragment
	// keyed by its email with another country and tier; for every fifth,
	// events of its email identity.
	var profiles bytes.Buffer
	if err := gen.Profiles(cfg, &profiles); err != nil {
		t.Fatal(err)
	}
	var frags, events strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(profiles.String()), "\n") {
		var p struct {
			IdentityMap map[string][]struct{ ID string } `json:"identityMap"`
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		email := p.IdentityMap["Email"][0].ID
		if i%3 == 0 {
			country := []string{"FR", "US", "DE"}[i%9/3]
			fmt.Fprintf(&frags, `{"_id":"f%d","identityMap":{"Email":[{"id":%q,"primary":true}],"Phone":[{"id":"+1%09d"}]},`+
				`"homeAddress":{"countryCode":%q},"loyalty":{"tier":"silver"}}`+"\n", i, email, i, country)
		}
		if i%5 == 0 {
			for k := range 3 {
				typ := []string{"commerce.purchases", "commerce.productViews", "commerce.productListAdds"}[(i+k)%3]
				ts := cfg.Now.AddDate(0, 0, -(i+k)%40).Format("2006-01-02T15:04:05Z")
				fmt.Fprintf(&events, `{"_id":"e%d-%d","timestamp":%q,"eventType":%q,"identityMap":{"Email":[{"id":%q,"primary":true}]},`+
					`"commerce":{"order":{"priceTotal":%d.5}}}`+"\n", i, k, ts, typ, email, 100+i%700)
			}
		}
	}
	loadRecords(t, store, c, false, "ds2", &seq, strings.NewReader(frags.String()))
	loadRecords(t, store, c, true, "ds2", &seq, strings.NewReader(events.String()))

	var segs []evalSegment
	for _, s := range columnSegments {
		q, err := pql.Parse(s.pql)
		if err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
		segs = append(segs, evalSegment{id: s.id, q: q})
	}
	rules := []mergeRule{
		{Graph: "none", Attribute: "timestampOrdered"},
		{Graph: "pdg", Attribute: "timestampOrdered"},
		{Graph: "pdg", Attribute: "dataSetPrecedence", Order: []string{"ds2", "ds"}},
		{Graph: "none", Attribute: "dataSetPrecedence", Order: []string{"ds"}},
	}
	for _, rule := range rules {
		t.Run(rule.Graph+"-"+rule.Attribute+"-"+strings.Join(rule.Order, "-"), func(t *testing.T) {
			schema := store.schema(c)
			// "ext" is a segment of an earlier job: gold tier members.
			q, _ := pql.Parse(`loyalty.tier = "gold"`)
			ext, err := newSegmentPass(schema, rule, []evalSegment{{id: "ext", q: q}}, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			extRes, err := ext.run(context.Background(), store, c, cfg.Now, scanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			view := membershipView{"ext": (*segmentMembers)(nil).next0(extRes.members[0], cfg.Now.UnixMicro())}

			byRow, err := newSegmentPass(schema, rule, segs, view, false)
			if err != nil {
				t.Fatal(err)
			}
			byCol, err := newSegmentPass(schema, rule, segs, view, true)
			if err != nil {
				t.Fatal(err)
			}
			var columnar []string
			for i, cp := range byCol.columnar {
				if cp != nil {
					columnar = append(columnar, segs[i].id)
				}
			}
			// Everything but busy and what uses it.
			if want := len(segs) - 2; len(columnar) != want {
				t.Fatalf("%d segments by column (%v), want %d", len(columnar), columnar, want)
			}
			want, err := byRow.run(context.Background(), store, c, cfg.Now, scanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := byCol.run(context.Background(), store, c, cfg.Now, scanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Again, with the columns and their conditions' tables cached.
			again, err := byCol.run(context.Background(), store, c, cfg.Now, scanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// And with room for one column at a time: each build drops
			// the others.
			store.columnBudget = 1
			tight, err := byCol.run(context.Background(), store, c, cfg.Now, scanOptions{})
			store.columnBudget = 1 << 30
			if err != nil {
				t.Fatal(err)
			}
			for i := range segs {
				if !slices.Equal(again.members[i], got.members[i]) || !slices.Equal(tight.members[i], got.members[i]) {
					t.Errorf("%s: %d members the second time, %d with a tight budget, %d the first", segs[i].id, len(again.members[i]), len(tight.members[i]), len(got.members[i]))
				}
			}
			if got.info != want.info {
				t.Errorf("scan info %+v, want %+v", got.info, want.info)
			}
			for i, s := range segs {
				if !slices.Equal(got.members[i], want.members[i]) {
					t.Errorf("%s: %d members by column, %d by row", s.id, len(got.members[i]), len(want.members[i]))
				}
				if !maps.Equal(got.namespaces[i], want.namespaces[i]) {
					t.Errorf("%s: namespaces %v by column, %v by row", s.id, got.namespaces[i], want.namespaces[i])
				}
				if len(want.members[i]) == 0 || len(want.members[i]) == want.info.Total {
					t.Errorf("%s: %d of %d members: the data does not tell profiles apart", s.id, len(want.members[i]), want.info.Total)
				}
			}
		})
	}
}

// next0 is next without the exit count.
func (m *segmentMembers) next0(qualifying []uint32, now int64) *segmentMembers {
	out, _ := m.next(qualifying, now)
	return out
}
