package pql

import (
	"fmt"
	"testing"
	"time"
)

// The benchmark queries: the shapes the floors are set for.
var benchQueries = []struct{ name, query string }{
	{"SimpleComparison", `homeAddress.country = "US"`},
	{"StringFunction", `person.name.lastName.startsWith("Sm", false)`},
	{"EventCountWindow20", `xEvent[timestamp occurs < 7 days before now].count() > 3`},
	{"ChainTwoSteps", `chain(xEvent, timestamp, [A: WHAT(eventType = "commerce.productListAdds"), B: WHAT(eventType = "commerce.purchases") WHEN(< 30 days before now)])`},
}

var benchNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

var countries = []string{"US", "CA", "MX", "FR", "DE"}
var eventTypes = []string{"web.webpagedetails.pageViews", "commerce.productViews", "commerce.productListAdds", "commerce.purchases"}

// benchSubjects builds n profiles with 20 events each, in time order: every
// 12 hours back from now for even profiles, every 72 hours for odd ones;
// only odd profiles have purchases.
func benchSubjects(b *testing.B, s *Schema, n int) []Subject {
	b.Helper()
	out := make([]Subject, n)
	for i := range out {
		p, err := s.DecodeProfile(fmt.Appendf(nil, `{"_id":"p%d","homeAddress":{"country":%q,"city":"Springfield"},"person":{"name":{"firstName":"Ann","lastName":%q},"birthDate":"1985-01-%02d"},"identityMap":{"ECID":[{"id":"%d","primary":true}]}}`,
			i, countries[i%len(countries)], []string{"Smith", "jones"}[i%2]+fmt.Sprint(i), i%28+1, i))
		if err != nil {
			b.Fatal(err)
		}
		events := make([]Value, 20)
		for j := range events {
			ts := benchNow.Add(-time.Duration(19-j) * time.Duration(12+60*(i%2)) * time.Hour)
			e, err := s.DecodeEvent(fmt.Appendf(nil, `{"_id":"e%d-%d","timestamp":%q,"eventType":%q,"commerce":{"order":{"priceTotal":%d.5}}}`,
				i, j, ts.Format(time.RFC3339), eventTypes[(i+j)%(3+i%2)], j))
			if err != nil {
				b.Fatal(err)
			}
			events[j] = e
		}
		out[i] = Subject{Profile: p, Events: events}
		out[i].Pack() // as a store keeps them
	}
	return out
}

func BenchmarkParse(b *testing.B) {
	for _, bq := range benchQueries {
		b.Run(bq.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bq.query); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	s := NewXDMSchema()
	benchSubjects(b, s, 1)
	for _, bq := range benchQueries {
		q, err := Parse(bq.query)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bq.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(q, Options{Schema: s}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatch is the cost of one profile: ns/op is ns per profile. It
// cycles through 1024 profiles so that the data is not all in L1.
func BenchmarkMatch(b *testing.B) {
	s := NewXDMSchema()
	subjects := benchSubjects(b, s, 1024)
	for _, bq := range benchQueries {
		q, err := Parse(bq.query)
		if err != nil {
			b.Fatal(err)
		}
		plan, err := Compile(q, Options{Schema: s})
		if err != nil {
			b.Fatal(err)
		}
		if w := plan.Warnings(); len(w) > 0 {
			b.Fatalf("%s: %v", bq.name, w)
		}
		r := plan.NewRunner(benchNow)
		matched := 0
		for i := range subjects {
			if ok, _ := r.Match(&subjects[i]); ok {
				matched++
			}
		}
		if matched == 0 || matched == len(subjects) {
			b.Fatalf("%s matches %d of %d profiles: the benchmark would not exercise both outcomes", bq.name, matched, len(subjects))
		}
		b.Run(bq.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := r.Match(&subjects[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
