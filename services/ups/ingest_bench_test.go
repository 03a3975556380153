package ups

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/segflow/segflow/services/ups/gen"
)

// BenchmarkIngest sends synthetic profiles and events through the batch
// ingestion API (upload, COMPLETE, processing until success) and reports
// records per second.
func BenchmarkIngest(b *testing.B) {
	cfg := gen.Config{Profiles: 2000, EventsPerProfile: 20, Seed: 1, Now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	var profiles, events bytes.Buffer
	if err := gen.Profiles(cfg, &profiles); err != nil {
		b.Fatal(err)
	}
	if err := gen.Events(cfg, &events); err != nil {
		b.Fatal(err)
	}
	records := bytes.Count(profiles.Bytes(), []byte("\n")) + bytes.Count(events.Bytes(), []byte("\n"))
	t := &testing.T{}
	e := newCatEnv(t)
	pds := e.createDataset(catDev, "prod", fmt.Sprintf(profileClassBody, "p"))
	eds := e.createDataset(catDev, "prod", fmt.Sprintf(eventClassBody, "e"))
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		for _, part := range []struct {
			ds   string
			data string
		}{{pds, profiles.String()}, {eds, events.String()}} {
			id := e.ingestBatch(catDev, part.ds, false, map[string]string{"data.json": part.data})
			if st := e.waitBatch(catDev, id)["status"]; st != "success" {
				b.Fatalf("batch %s: %v", id, st)
			}
		}
	}
	b.ReportMetric(float64(records*b.N)/time.Since(start).Seconds(), "records/s")
	_ = http.StatusOK
}
