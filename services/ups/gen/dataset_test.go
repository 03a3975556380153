package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// readDataset returns the concatenated files of each class and checks
// every file against its manifest entry.
func readDataset(t *testing.T, dir string, sum Summary) (profiles, events []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest Summary
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	if !manifest.Now.Equal(sum.Now) || manifest.Profiles != sum.Profiles || manifest.Events != sum.Events || !slices.Equal(manifest.Files, sum.Files) {
		t.Fatalf("manifest.json %+v differs from the Summary %+v", manifest, sum)
	}
	var nprofiles, nevents int64
	for _, f := range manifest.Files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if n := int64(bytes.Count(data, []byte("\n"))); n != f.Records || int64(len(data)) != f.Bytes {
			t.Fatalf("%s has %d records and %d bytes; the manifest says %d and %d", f.Name, n, len(data), f.Records, f.Bytes)
		}
		switch f.Class {
		case ProfileClass:
			profiles = append(profiles, data...)
			nprofiles += f.Records
		case EventClass:
			events = append(events, data...)
			nevents += f.Records
		default:
			t.Fatalf("%s: class %q", f.Name, f.Class)
		}
	}
	if nprofiles != manifest.Profiles || nevents != manifest.Events {
		t.Fatalf("files hold %d profiles and %d events; the manifest counts %d and %d", nprofiles, nevents, manifest.Profiles, manifest.Events)
	}
	return profiles, events
}

func fileNames(sum Summary) []string {
	var names []string
	for _, f := range sum.Files {
		names = append(names, f.Name)
	}
	return names
}

func TestWriteDataset(t *testing.T) {
	cfg := testConfig(1000) // four blocks, written by several workers
	dir := t.TempDir()
	var calls int
	cfg.Progress = func(p Progress) {
		calls++
		if p.TotalProfiles != 1000 || p.Profiles > 1000 {
			t.Errorf("progress %+v", p)
		}
	}
	sum, err := WriteDataset(context.Background(), cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"profiles.json", "events.json"}; !slices.Equal(fileNames(sum), want) {
		t.Fatalf("files %v, want %v", fileNames(sum), want)
	}
	if sum.Profiles != 1000 || sum.Seed != cfg.Seed || !sum.Now.Equal(testNow) || sum.Version != Version || calls != 4 {
		t.Fatalf("summary %+v after %d progress calls", sum, calls)
	}
	profiles, events := readDataset(t, dir, sum)
	wantProfiles, wantEvents := generate(t, cfg)
	if !bytes.Equal(profiles, wantProfiles) || !bytes.Equal(events, wantEvents) {
		t.Fatal("WriteDataset's files differ from what Profiles and Events write")
	}
}

func TestWriteDatasetSplits(t *testing.T) {
	cfg := testConfig(250)
	cfg.RecordsPerFile = 100
	dir := t.TempDir()
	sum, err := WriteDataset(context.Background(), cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	names := fileNames(sum)
	if !slices.Equal(names[:3], []string{"profiles-00001.json", "profiles-00002.json", "profiles-00003.json"}) ||
		names[3] != "events-00001.json" || int64(len(names)-3) != (sum.Events+99)/100 {
		t.Fatalf("files %v for %d events", names, sum.Events)
	}
	for _, f := range sum.Files {
		if f.Records > 100 || f.Records < 100 && f.Name != "profiles-00003.json" && f.Name != names[len(names)-1] {
			t.Errorf("%s has %d records: only the last file of a kind may be short", f.Name, f.Records)
		}
	}
	profiles, events := readDataset(t, dir, sum)
	wantProfiles, wantEvents := generate(t, cfg)
	if !bytes.Equal(profiles, wantProfiles) || !bytes.Equal(events, wantEvents) {
		t.Fatal("split files do not concatenate to the stream")
	}

	// A smaller data set in the same directory leaves no stale chunks.
	cfg.Profiles, cfg.RecordsPerFile = 5, 0
	sum, err = WriteDataset(context.Background(), cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"events.json", "manifest.json", "profiles.json"}; !slices.Equal(got, want) {
		t.Fatalf("directory holds %v, want %v", got, want)
	}
	readDataset(t, dir, sum)
}

func TestWriteDatasetEmpty(t *testing.T) {
	dir := t.TempDir()
	sum, err := WriteDataset(context.Background(), testConfig(0), dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Profiles != 0 || sum.Events != 0 || !slices.Equal(fileNames(sum), []string{"profiles.json", "events.json"}) {
		t.Fatalf("summary %+v", sum)
	}
	readDataset(t, dir, sum)
}

func TestWriteDatasetCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := testConfig(100_000)
	cfg.Progress = func(Progress) { cancel() }
	dir := t.TempDir()
	_, err := WriteDataset(ctx, cfg, dir)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cancelled run wrote a manifest (%v)", err)
	}
}

// The byte cap splits at line boundaries; a line longer than the cap gets
// a file of its own rather than being cut.
func TestSplitterByteCap(t *testing.T) {
	dir := t.TempDir()
	s := newSplitter(dir, "events", EventClass, 100)
	s.maxBytes = 10
	for _, chunk := range []struct {
		p string
		n int
	}{{"aaa\nbbb\n", 2}, {"ccc\n", 1}, {"a-line-longer-than-the-cap\n", 1}, {"dd\nee\n", 2}} {
		if err := s.write([]byte(chunk.p), chunk.n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"aaa\nbbb\n", "ccc\n", "a-line-longer-than-the-cap\n", "dd\nee\n"}
	if len(s.files) != len(want) {
		t.Fatalf("files %+v, want %d", s.files, len(want))
	}
	for i, f := range s.files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want[i] || f.Bytes != int64(len(b)) || f.Records != int64(bytes.Count(b, []byte("\n"))) {
			t.Errorf("%s = %q (%+v), want %q", f.Name, b, f, want[i])
		}
	}
}
