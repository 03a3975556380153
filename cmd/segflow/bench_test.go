package main

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestBenchIngestInProcess(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the run's temporary directory goes
	stdout, stderr, err := runSegflow(t, nil, "bench", "ingest", "-profiles", "30", "-events-per-profile", "3", "-records-per-file", "40")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"segflow bench ingest: 30 profiles, ",
		"upload: bench profiles", "processing: bench profiles", "upload: bench events", "processing: bench events",
		"ingest end to end", "Go heap in use (after GC)", "ups.New (store loaded)",
		"Catalog after restart             unchanged: 2 datasets, ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if runtime.GOOS == "linux" && strings.Contains(stdout, "n/a") {
		t.Errorf("no RSS on Linux:\n%s", stdout)
	}
	// Nothing is left behind without -keep.
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left %v in the temporary directory", left)
	}
}

func TestBenchIngestKeep(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, stderr, err := runSegflow(t, nil, "bench", "ingest", "-profiles", "5", "-events-per-profile", "1", "-keep")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 1 || !strings.Contains(stderr, "kept "+tmp) {
		t.Fatalf("left %v; stderr:\n%s", left, stderr)
	}
	for _, sub := range []string{"gen/manifest.json", "ups"} {
		if _, err := os.Stat(tmp + "/" + left[0].Name() + "/" + sub); err != nil {
			t.Errorf("kept directory lacks %s: %v", sub, err)
		}
	}
}

func TestBenchIngestURL(t *testing.T) {
	env := testUPS(t)
	url := strings.TrimPrefix(env[0], "SEGFLOW_PLATFORM_URL=")
	t.Setenv("TMPDIR", t.TempDir())
	stdout, stderr, err := runSegflow(t, nil, "bench", "ingest", "-profiles", "10", "-events-per-profile", "2", "-url", url)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "into "+url) || !strings.Contains(stdout, "not measured (-url)") || !strings.Contains(stdout, "upload: bench events ") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{{"bench"}, {"bench", "query"}, {"bench", "ingest", "extra"}} {
		if _, _, err := runSegflow(t, nil, args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want usage", args, err)
		}
	}
	if _, _, err := runSegflow(t, nil, "bench", "ingest", "-profiles", "0"); err == nil {
		t.Error("-profiles 0 ran")
	}
}

func TestProcMemory(t *testing.T) {
	rss, peak := procMemory()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if rss <= 0 || peak < rss {
		t.Fatalf("rss %d, peak %d", rss, peak)
	}
}
