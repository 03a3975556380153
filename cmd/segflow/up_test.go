package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

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

	// Another sandbox of the org: every call goes there, and it holds no
	// profiles.
	out.Reset()
	errOut.Reset()
	if err := run(context.Background(), []string{"request", "-json", "-timeout", "2m", "-sandbox", "dev", "-name", "US customers", "-pql", `homeAddress.countryCode = "US"`}, client, nil, &out, &errOut); err != nil {
		t.Fatalf("a request for sandbox dev: %v\n%s", err, errOut.String())
	}
	var dev events.BatchReady
	if err := json.Unmarshal(out.Bytes(), &dev); err != nil || dev.Sandbox != "dev" || dev.ProfileCount != 0 {
		t.Errorf("sandbox dev: batch.ready %+v (%v), want no profiles", dev, err)
	}

	// An invalid request is rejected, naming the position.
	out.Reset()
	errOut.Reset()
	err := run(context.Background(), []string{"request", "-timeout", "1m", "-name", "broken", "-pql", `homeAddress.countryCode = `}, client, nil, &out, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "1:") {
		t.Errorf("invalid PQL: %v\n%s", err, errOut.String())
	}

	// Everything one process exposes (stages, consumers, Platform client,
	// ups, runtime) passes the Prometheus linter, and the pipeline's
	// counters saw the requests.
	lintMetrics(t, up.metrics, map[string]bool{
		`segflow_pipeline_requests_finished_total{result="ready"}`:              true,
		`segflow_pipeline_requests_finished_total{result="rejected"}`:           false, // request checks PQL before publishing
		`segflow_consumer_pending_messages{consumer="definer",stage="definer"}`: false,
		`segflow_pipeline_requests_received_total`:                              true,
	})
}

// lintMetrics lints the exposition at u with promlint and checks that
// each series of want is there (and non-zero when its value is true).
func lintMetrics(t *testing.T, u string, want map[string]bool) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	lines := strings.Split(string(body), "\n")
	for series, nonZero := range want {
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, series+" ") })
		if i < 0 {
			t.Errorf("no series %s", series)
			continue
		}
		if v := strings.TrimPrefix(lines[i], series+" "); nonZero && v == "0" {
			t.Errorf("%s is 0", series)
		}
	}
	for _, l := range lines {
		if name, _, _ := strings.Cut(l, "{"); l != "" && !strings.HasPrefix(l, "#") &&
			!strings.HasPrefix(name, "segflow_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("a metric outside segflow_* and the runtime's: %s", l)
		}
	}
}

// upProcess is a running "segflow up".
type upProcess struct {
	nats, platform, metrics string
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
	return upProcess{nats: u.natsURL, platform: u.platformURL, metrics: u.metricsURL}
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
