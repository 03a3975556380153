package gen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/pql"
)

var testNow = time.Date(2026, 3, 1, 15, 4, 5, 0, time.UTC)

func testConfig(profiles int) Config {
	return Config{Profiles: profiles, Seed: 42, Now: testNow}
}

// generate returns the profiles and events of cfg as Profiles and Events
// write them.
func generate(t testing.TB, cfg Config) (profiles, events []byte) {
	t.Helper()
	var p, e bytes.Buffer
	if err := Profiles(cfg, &p); err != nil {
		t.Fatal(err)
	}
	if err := Events(cfg, &e); err != nil {
		t.Fatal(err)
	}
	return p.Bytes(), e.Bytes()
}

func lines(b []byte) []string {
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestDeterministic(t *testing.T) {
	cfg := testConfig(300)
	p1, e1 := generate(t, cfg)
	p2, e2 := generate(t, cfg)
	if !bytes.Equal(p1, p2) || !bytes.Equal(e1, e2) {
		t.Fatal("the same config gave different bytes")
	}
	cfg.Now = cfg.Now.Add(500 * time.Microsecond) // below the output's precision
	if p3, e3 := generate(t, cfg); !bytes.Equal(p1, p3) || !bytes.Equal(e1, e3) {
		t.Fatal("a sub-millisecond change of Now changed the output")
	}
	cfg.Seed++
	if p4, e4 := generate(t, cfg); bytes.Equal(p1, p4) || bytes.Equal(e1, e4) {
		t.Fatal("another seed gave the same data set")
	}
}

// Profile i must not depend on the size of the run or on the profiles
// before it, or chunked and parallel generation would disagree.
func TestProfileIndependentOfRun(t *testing.T) {
	small, smallEvents := generate(t, testConfig(10))
	large, largeEvents := generate(t, testConfig(500))
	if !bytes.HasPrefix(large, small) || !bytes.HasPrefix(largeEvents, smallEvents) {
		t.Fatal("the first 10 profiles differ between a run of 10 and one of 500")
	}
	g, err := New(testConfig(500))
	if err != nil {
		t.Fatal(err)
	}
	all := lines(large)
	var events []string
	for i := range 500 {
		b, _ := g.AppendEvents(nil, i)
		if len(b) > 0 {
			events = append(events, lines(b)...)
		}
	}
	if strings.Join(events, "\n")+"\n" != string(largeEvents) {
		t.Fatal("AppendEvents profile by profile differs from Events")
	}
	for _, i := range []int{0, 1, 255, 256, 499} {
		if got := string(g.AppendProfile(nil, i)); got != all[i]+"\n" {
			t.Fatalf("AppendProfile(%d) = %s, want line %d of Profiles: %s", i, got, i, all[i])
		}
	}
}

// xdmProfile and xdmEvent are the parts of the records the tests read.
type identity struct {
	ID                 string `json:"id"`
	AuthenticatedState string `json:"authenticatedState"`
	Primary            bool   `json:"primary"`
}

type xdmProfile struct {
	ID          string                `json:"_id"`
	IdentityMap map[string][]identity `json:"identityMap"`
	Person      struct {
		Name struct {
			FirstName, LastName string
		} `json:"name"`
		BirthDate string `json:"birthDate"`
		BirthYear int    `json:"birthYear"`
		Gender    string `json:"gender"`
	} `json:"person"`
	PersonalEmail struct{ Address string } `json:"personalEmail"`
	MobilePhone   struct{ Number string }  `json:"mobilePhone"`
	HomeAddress   struct {
		Street1, City, StateProvince, PostalCode, Country, CountryCode string
	} `json:"homeAddress"`
	Loyalty *struct {
		Tier     string `json:"tier"`
		Points   int    `json:"points"`
		JoinDate string `json:"joinDate"`
	} `json:"loyalty"`
}

type item struct {
	SKU          string  `json:"SKU"`
	Name         string  `json:"name"`
	Quantity     int     `json:"quantity"`
	PriceTotal   float64 `json:"priceTotal"`
	CurrencyCode string  `json:"currencyCode"`
}

type measure struct{ Value int }

type xdmEvent struct {
	ID          string                `json:"_id"`
	Timestamp   time.Time             `json:"timestamp"`
	EventType   string                `json:"eventType"`
	IdentityMap map[string][]identity `json:"identityMap"`
	Web         struct {
		WebPageDetails struct {
			Name, URL string
			PageViews *measure `json:"pageViews"`
		} `json:"webPageDetails"`
	} `json:"web"`
	ProductListItems []item `json:"productListItems"`
	Commerce         struct {
		Order *struct {
			PurchaseID   string  `json:"purchaseID"`
			PriceTotal   float64 `json:"priceTotal"`
			CurrencyCode string  `json:"currencyCode"`
		} `json:"order"`
		ProductViews, ProductListAdds, ProductListRemovals, Checkouts, Purchases, CartAbandons *measure
	} `json:"commerce"`
	Metrics struct {
		Commerce struct{ Abandons *measure } `json:"commerce"`
	} `json:"metrics"`
}

func decodeAll[T any](t *testing.T, b []byte) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%v in %s", err, sc.Bytes())
		}
		out = append(out, v)
	}
	return out
}

// Every record must be what ups's ingestion decodes: XDM shapes, dates
// and timestamps it can parse.
func TestRecordsDecodeWithXDMSchema(t *testing.T) {
	profiles, events := generate(t, testConfig(300))
	s := pql.NewXDMSchema()
	for n, l := range lines(profiles) {
		if _, err := s.DecodeProfile([]byte(l)); err != nil {
			t.Fatalf("profile %d: %v\n%s", n, err, l)
		}
	}
	for n, l := range lines(events) {
		if _, err := s.DecodeEvent([]byte(l)); err != nil {
			t.Fatalf("event %d: %v\n%s", n, err, l)
		}
	}
	// Dates that XDM types as dates must be declared so, not guessed.
	for _, path := range []string{"person.birthDate timestamp", "xEvent.timestamp timestamp", "xEvent.productListItems array of object"} {
		if !strings.Contains(strings.Join(s.Paths(), "\n"), path) {
			t.Errorf("schema lacks %q", path)
		}
	}
}

func TestIdentities(t *testing.T) {
	t.Parallel()
	cfg := testConfig(1000)
	pb, eb := generate(t, cfg)
	profiles := decodeAll[xdmProfile](t, pb)
	events := decodeAll[xdmEvent](t, eb)
	if len(profiles) != cfg.Profiles {
		t.Fatalf("%d profiles, want %d", len(profiles), cfg.Profiles)
	}
	ecids := map[string]bool{}
	seen := map[string]bool{}
	unique := func(kind, v string) {
		t.Helper()
		if seen[kind+v] {
			t.Fatalf("duplicate %s %q", kind, v)
		}
		seen[kind+v] = true
	}
	for _, p := range profiles {
		unique("_id", p.ID)
		ecid := p.IdentityMap["ECID"]
		if len(ecid) != 1 || !ecid[0].Primary || len(ecid[0].ID) != 38 || ecid[0].AuthenticatedState != "ambiguous" {
			t.Fatalf("ECID identity %+v", ecid)
		}
		unique("ECID", ecid[0].ID)
		ecids[ecid[0].ID] = true
		email := p.IdentityMap["Email"]
		if len(email) != 1 || email[0].Primary || email[0].ID != p.PersonalEmail.Address || email[0].AuthenticatedState != "authenticated" {
			t.Fatalf("Email identity %+v, personalEmail %q", email, p.PersonalEmail.Address)
		}
		unique("email", p.PersonalEmail.Address)
		if ph := p.IdentityMap["Phone"]; len(ph) > 0 && ph[0].ID != p.MobilePhone.Number {
			t.Fatalf("Phone identity %q, mobilePhone %q", ph[0].ID, p.MobilePhone.Number)
		}
		if crm := p.IdentityMap["CRMID"]; len(crm) > 0 {
			unique("CRMID", crm[0].ID)
		}
	}
	last := map[string]time.Time{}
	for _, e := range events {
		unique("event _id", e.ID)
		ecid := e.IdentityMap["ECID"]
		if len(ecid) != 1 || !ecids[ecid[0].ID] || !ecid[0].Primary {
			t.Fatalf("event %s: ECID %+v is not a profile's", e.ID, ecid)
		}
		// A profile's events are contiguous and in time order.
		if e.Timestamp.Before(last[ecid[0].ID]) {
			t.Fatalf("event %s at %v comes after one at %v", e.ID, e.Timestamp, last[ecid[0].ID])
		}
		last[ecid[0].ID] = e.Timestamp
		if e.Timestamp.After(testNow) || e.Timestamp.Before(testNow.AddDate(-1, 0, -1)) {
			t.Fatalf("event %s at %v, outside the year before %v", e.ID, e.Timestamp, testNow)
		}
		if e.Commerce.Order != nil {
			unique("purchaseID", e.Commerce.Order.PurchaseID)
		}
	}
}

func TestEventShapes(t *testing.T) {
	t.Parallel()
	_, eb := generate(t, testConfig(500))
	for _, e := range decodeAll[xdmEvent](t, eb) {
		c := e.Commerce
		one := func(m *measure) bool { return m != nil && m.Value == 1 }
		ok := e.Web.WebPageDetails.Name != "" && strings.HasPrefix(e.Web.WebPageDetails.URL, "https://shop.example.com/")
		switch e.EventType {
		case "web.webpagedetails.pageViews":
			ok = ok && one(e.Web.WebPageDetails.PageViews) && len(e.ProductListItems) == 0
		case "commerce.productViews":
			ok = ok && one(c.ProductViews) && len(e.ProductListItems) == 1 && e.ProductListItems[0].Quantity == 1
		case "commerce.productListAdds":
			ok = ok && one(c.ProductListAdds) && len(e.ProductListItems) == 1
		case "commerce.productListRemovals":
			ok = ok && one(c.ProductListRemovals) && len(e.ProductListItems) > 0 &&
				(c.CartAbandons == nil) == (e.Metrics.Commerce.Abandons == nil)
		case "commerce.checkouts":
			ok = ok && one(c.Checkouts) && len(e.ProductListItems) > 0
		case "commerce.purchases":
			ok = ok && one(c.Purchases) && c.Order != nil && len(e.ProductListItems) > 0
			if ok {
				var sum float64
				for _, it := range e.ProductListItems {
					sum += it.PriceTotal
					ok = ok && it.CurrencyCode == c.Order.CurrencyCode
				}
				ok = ok && fmt.Sprintf("%.2f", sum) == fmt.Sprintf("%.2f", c.Order.PriceTotal)
			}
		default:
			ok = false
		}
		for _, it := range e.ProductListItems {
			ok = ok && it.SKU != "" && it.Name != "" && it.Quantity > 0 && it.PriceTotal > 0 && len(it.CurrencyCode) == 3
		}
		if !ok {
			t.Fatalf("malformed %s event: %+v", e.EventType, e)
		}
	}
}

// The data set must look like a shop's: a funnel, a country mix, adult
// ages, activity around the configured mean with idle profiles.
func TestDistribution(t *testing.T) {
	t.Parallel()
	cfg := testConfig(2000)
	pb, eb := generate(t, cfg)
	profiles := decodeAll[xdmProfile](t, pb)
	events := decodeAll[xdmEvent](t, eb)

	countries := map[string]int{}
	tiers := map[string]int{}
	genders := map[string]int{}
	for _, p := range profiles {
		a := p.HomeAddress
		countries[a.CountryCode]++
		if !strings.HasPrefix(a.StateProvince, a.CountryCode+"-") || a.City == "" || a.Street1 == "" || a.PostalCode == "" || a.Country == "" {
			t.Fatalf("address %+v", a)
		}
		birth, err := time.Parse("2006-01-02", p.Person.BirthDate)
		if err != nil {
			t.Fatal(err)
		}
		if age := ageAt(birth, testNow); age < 18 || age > 90 || birth.Year() != p.Person.BirthYear {
			t.Fatalf("birthDate %s (age %d), birthYear %d", p.Person.BirthDate, age, p.Person.BirthYear)
		}
		genders[p.Person.Gender]++
		if p.Loyalty != nil {
			tiers[p.Loyalty.Tier]++
			join, err := time.Parse("2006-01-02", p.Loyalty.JoinDate)
			if err != nil || join.After(testNow) || ageAt(birth, join) < 18 {
				t.Fatalf("loyalty joinDate %s for birthDate %s (%v)", p.Loyalty.JoinDate, p.Person.BirthDate, err)
			}
		}
		if !strings.HasPrefix(p.MobilePhone.Number, "+") || strings.ContainsAny(p.PersonalEmail.Address, " 'ÄÖÜäöüé") {
			t.Fatalf("phone %q, email %q", p.MobilePhone.Number, p.PersonalEmail.Address)
		}
	}
	if len(countries) < 8 || countries["US"] < len(profiles)/2 || countries["US"] > len(profiles)*7/10 {
		t.Errorf("countries %v: want mostly US and at least 8", countries)
	}
	if len(tiers) != 4 || tiers["bronze"] < tiers["platinum"]*4 {
		t.Errorf("loyalty tiers %v", tiers)
	}
	if genders["female"] < len(profiles)/3 || genders["male"] < len(profiles)/3 {
		t.Errorf("genders %v", genders)
	}

	types := map[string]int{}
	perProfile := map[string]int{}
	abandons := 0
	for _, e := range events {
		types[e.EventType]++
		perProfile[e.IdentityMap["ECID"][0].ID]++
		if e.Metrics.Commerce.Abandons != nil {
			abandons++
		}
	}
	views := types["web.webpagedetails.pageViews"] + types["commerce.productViews"]
	adds, checkouts, purchases := types["commerce.productListAdds"], types["commerce.checkouts"], types["commerce.purchases"]
	if !(views > 5*adds && adds > checkouts && checkouts > purchases && purchases > 0 && abandons > 0) {
		t.Errorf("funnel %v, %d abandons: want views ≫ adds > checkouts > purchases", types, abandons)
	}
	mean := float64(len(events)) / float64(len(profiles))
	if mean < 0.9*DefaultEventsPerProfile || mean > 1.1*DefaultEventsPerProfile {
		t.Errorf("%.1f events a profile, want about %d", mean, DefaultEventsPerProfile)
	}
	idle, heavy := len(profiles)-len(perProfile), 0
	for _, n := range perProfile {
		if n > 3*DefaultEventsPerProfile {
			heavy++
		}
	}
	if idle < len(profiles)/20 || heavy == 0 {
		t.Errorf("%d idle and %d heavy profiles of %d: activity should vary", idle, heavy, len(profiles))
	}
	recent := 0
	for _, e := range events {
		if e.Timestamp.After(testNow.AddDate(0, -1, 0)) {
			recent++
		}
	}
	if share := float64(recent) / float64(len(events)); share < 1.0/12*1.3 {
		t.Errorf("%.0f%% of events in the last month: want recency skew", 100*share)
	}
}

// The segments the pipeline's examples define must find people in the
// data, e.g. Adobe's preview example on abandons.
func TestQueriesMatch(t *testing.T) {
	t.Parallel()
	cfg := testConfig(300)
	pb, eb := generate(t, cfg)
	s := pql.NewXDMSchema()
	byECID := map[string]*pql.Subject{}
	var subjects []*pql.Subject
	for _, l := range lines(pb) {
		v, err := s.DecodeProfile([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		var p xdmProfile
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		sub := &pql.Subject{Profile: v}
		byECID[p.IdentityMap["ECID"][0].ID] = sub
		subjects = append(subjects, sub)
	}
	for _, l := range lines(eb) {
		v, err := s.DecodeEvent([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		var e xdmEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		sub := byECID[e.IdentityMap["ECID"][0].ID]
		sub.Events = append(sub.Events, v)
	}
	for _, q := range []string{
		`xEvent.metrics.commerce.abandons.value > 0`,
		`homeAddress.countryCode = "US" and xEvent[eventType = "commerce.checkouts"].count() > 0`,
		`homeAddress.countryCode in ["CA", "MX", "GB", "FR", "DE"]`,
		`loyalty.tier = "gold" or loyalty.tier = "platinum"`,
		`xEvent[timestamp occurs < 30 days before now].count() > 0`,
		`chain(xEvent, timestamp, [A: WHAT(eventType = "commerce.productListAdds"), B: WHAT(eventType = "commerce.purchases")])`,
		`let S = (sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD") in (S > 100)`,
		`person.birthDate occurs < 30 years before now`,
		`xEvent[productListItems[SKU = "FW-1001"]].count() > 0`,
	} {
		parsed, err := pql.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		plan, err := pql.Compile(parsed, pql.Options{Schema: s})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		r := plan.NewRunner(testNow)
		n := 0
		for _, sub := range subjects {
			ok, err := r.Match(sub)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if ok {
				n++
			}
		}
		if n == 0 || n == len(subjects) {
			t.Errorf("%s matches %d of %d profiles: want some, not all", q, n, len(subjects))
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{Profiles: -1, Now: testNow},
		{Profiles: 1, EventsPerProfile: -1, Now: testNow},
		{Profiles: 1, EventsPerProfile: MaxEventsPerProfile + 1, Now: testNow},
		{Profiles: 1},
		{Profiles: 1, Now: testNow, RecordsPerFile: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	g, err := New(Config{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if c := g.Config(); c.EventsPerProfile != DefaultEventsPerProfile || c.RecordsPerFile != DefaultRecordsPerFile {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestEventsPerProfile(t *testing.T) {
	t.Parallel()
	for _, mean := range []float64{0.5, 3, 60} {
		cfg := testConfig(1000)
		cfg.EventsPerProfile = mean
		_, eb := generate(t, cfg)
		got := float64(bytes.Count(eb, []byte("\n"))) / float64(cfg.Profiles)
		if got < 0.85*mean || got > 1.15*mean {
			t.Errorf("mean %v: got %.2f events a profile", mean, got)
		}
	}
}

// BenchmarkGenerate measures single-core generation: a profile and its
// events (21 records at the default mean) per iteration.
func BenchmarkGenerate(b *testing.B) {
	g, err := New(testConfig(1 << 30))
	if err != nil {
		b.Fatal(err)
	}
	w := g.newWorker()
	var buf []byte
	records, bytes := 0, 0
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		w.makeProfile(i)
		buf = w.appendProfile(buf[:0])
		var n int
		buf, n = w.appendEvents(buf)
		records += 1 + n
		bytes += len(buf)
		i++
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
}
