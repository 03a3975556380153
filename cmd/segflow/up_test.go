package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/ups/gen"
	"github.com/segflow/segflow/services/ups/upstest"
)

// TestUpEndToEnd runs "segflow up" in process (embedded NATS, ups, the
// four stages), loads generated data with "segflow ingest", and sends
// requests with "segflow request": each valid one ends in batch.ready
// whose Parquet files hold exactly the profiles an independent reading of
// the generated data selects; an invalid one is rejected.
func TestUpEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	cfg := gen.Config{Profiles: 1500, Seed: 7, Now: now}
	if _, err := gen.WriteDataset(context.Background(), cfg, filepath.Join(dir, "gen")); err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"SEGFLOW_DATA_DIR=" + filepath.Join(dir, "data"),
		"SEGFLOW_NATS_ADDR=127.0.0.1:0",
		"SEGFLOW_UPS_ADDR=127.0.0.1:0",
		"SEGFLOW_METRICS_ADDR=127.0.0.1:0",
		"SEGFLOW_UPS_SAMPLE_PROFILES=0",
		"SEGFLOW_LOG_LEVEL=warn",
	}
	up := startUp(t, environ)
	client := append(slices.Clone(environ), "SEGFLOW_PLATFORM_URL="+up.platform, "SEGFLOW_NATS_URL="+up.nats)

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"ingest", filepath.Join(dir, "gen")}, client, nil, &out, &errOut); err != nil {
		t.Fatalf("ingest: %v\n%s", err, errOut.String())
	}

	profiles := readGenerated(t, cfg)
	for _, tc := range []struct {
		name, pql string
		want      func(genProfile) bool
	}{
		{"US customers", `homeAddress.countryCode = "US"`, func(p genProfile) bool { return p.country == "US" }},
		{"gold members", `loyalty.tier = "gold"`, func(p genProfile) bool { return p.tier == "gold" }},
	} {
		var want []string
		for _, p := range profiles {
			if tc.want(p) {
				want = append(want, p.ecid)
			}
		}
		slices.Sort(want)
		var ready events.BatchReady
		out.Reset()
		errOut.Reset()
		if err := run(context.Background(), []string{"request", "-json", "-timeout", "2m", "-name", tc.name, "-pql", tc.pql, "-label", "test=e2e"}, client, nil, &out, &errOut); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, errOut.String())
		}
		if err := json.Unmarshal(out.Bytes(), &ready); err != nil {
			t.Fatalf("%s: batch.ready: %v\n%s", tc.name, err, out.String())
		}
		if ready.ProfileCount != int64(len(want)) || ready.Labels["test"] != "e2e" || ready.Segment.Name != tc.name || len(ready.Files) == 0 {
			t.Fatalf("%s: batch.ready %+v, want %d profiles", tc.name, ready, len(want))
		}
		var got []string
		for _, f := range ready.Files {
			u, err := url.Parse(f.URI)
			if err != nil || u.Scheme != "file" {
				t.Fatalf("%s: file uri %q", tc.name, f.URI)
			}
			data, err := os.ReadFile(u.Path)
			if err != nil || int64(len(data)) != f.Size {
				t.Fatalf("%s: %s: %d bytes, manifest says %d: %v", tc.name, u.Path, len(data), f.Size, err)
			}
			ids, err := upstest.ParquetIdentities(data, "ECID")
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(ids)) != f.Records {
				t.Errorf("%s: %s holds %d rows, manifest says %d", tc.name, f.Name, len(ids), f.Records)
			}
			got = append(got, ids...)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the audience has %d profiles, want %d", tc.name, len(got), len(want))
		}
	}

	// An invalid request is rejected, naming the position.
	out.Reset()
	errOut.Reset()
	err := run(context.Background(), []string{"request", "-timeout", "1m", "-name", "broken", "-pql", `homeAddress.countryCode = `}, client, nil, &out, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "1:") {
		t.Errorf("invalid PQL: %v\n%s", err, errOut.String())
	}
}

// upProcess is a running "segflow up".
type upProcess struct {
	nats, platform string
}

// startUp runs "segflow up" until the test ends and returns where its NATS
// server and Platform listen, read from its banner.
func startUp(t *testing.T, environ []string) upProcess {
	t.Helper()
	var logs syncBuffer
	u, err := startInProcessUp(context.Background(), environ, &logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		if err := u.stop(); err != nil {
			t.Errorf("up: %v\n%s", err, logs.String())
		}
	})
	return upProcess{nats: u.natsURL, platform: u.platformURL}
}

// genProfile is what the tests read of a generated profile.
type genProfile struct {
	ecid, country, tier string
}

// readGenerated reads the generated profiles with encoding/json: an
// independent reading of what ups was given.
func readGenerated(t *testing.T, cfg gen.Config) []genProfile {
	t.Helper()
	var buf bytes.Buffer
	if err := gen.Profiles(cfg, &buf); err != nil {
		t.Fatal(err)
	}
	var out []genProfile
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p struct {
			IdentityMap map[string][]struct{ ID string } `json:"identityMap"`
			HomeAddress struct{ CountryCode string }     `json:"homeAddress"`
			Loyalty     struct{ Tier string }            `json:"loyalty"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, genProfile{p.IdentityMap["ECID"][0].ID, p.HomeAddress.CountryCode, p.Loyalty.Tier})
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
