package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/gen"
)

// testUPS runs an in-process ups on a loopback port for a test and
// returns the environment that points segflow at it.
func testUPS(t *testing.T) []string {
	t.Helper()
	cfg, err := loadUPSConfig(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	u, _, err := startBenchUPS(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := u.stop(); err != nil {
			t.Errorf("ups: %v", err)
		}
	})
	return []string{"SEGFLOW_PLATFORM_URL=" + u.url}
}

func runSegflow(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, env, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIngestGenDirectory(t *testing.T) {
	env := testUPS(t)
	dir := t.TempDir()
	sum, err := gen.WriteDataset(context.Background(), gen.Config{Profiles: 40, EventsPerProfile: 4, Seed: 2, Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), RecordsPerFile: 50}, dir)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runSegflow(t, env, "ingest", "-files-per-batch", "2", dir)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}
	for _, want := range []string{`created dataset "segflow profiles"`, `created dataset "segflow events"`, "success: "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	total := lastLine(stdout)
	if !strings.HasPrefix(total, "total") || !strings.Contains(total, " "+strconv.FormatInt(sum.Profiles+sum.Events, 10)+" ") {
		t.Errorf("totals %q, want %d records\n%s", total, sum.Profiles+sum.Events, stdout)
	}
	// The profiles file is one batch; the events files (50 records each)
	// two a batch.
	eventFiles := len(sum.Files) - 1
	if got, want := strings.Count(stdout, "\n")-2, 1+(eventFiles+1)/2; got != want {
		t.Errorf("%d batches, want %d\n%s", got, want, stdout)
	}

	// Again: the datasets are found by name, not created twice.
	_, stderr, err = runSegflow(t, env, "ingest", dir)
	if err != nil {
		t.Fatalf("second ingest: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "created dataset") {
		t.Errorf("second run created datasets:\n%s", stderr)
	}
}

type pqProfile struct {
	ID          string                  `parquet:"_id"`
	IdentityMap map[string][]pqIdentity `parquet:"identityMap"`
	Person      struct {
		Name struct {
			FirstName string `parquet:"firstName"`
		} `parquet:"name"`
	} `parquet:"person"`
}

type pqIdentity struct {
	ID      string `parquet:"id"`
	Primary bool   `parquet:"primary"`
}

func TestIngestFilesOfEveryFormat(t *testing.T) {
	env := testUPS(t)
	dir := t.TempDir()
	writeFile(t, dir, "a.json", `{"identityMap":{"ECID":[{"id":"e1","primary":true}]}}`+"\n"+`{"identityMap":{"ECID":[{"id":"e2","primary":true}]}}`+"\n")
	writeFile(t, dir, "b.json", " \n[{\"identityMap\":{\"ECID\":[{\"id\":\"e3\",\"primary\":true}]}}]")
	writeFile(t, dir, "c.jsonl", `{"identityMap":{"ECID":[{"id":"e4","primary":true}]}}`+"\n")
	writeFile(t, dir, "notes.txt", "not data")
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[pqProfile](&buf)
	rows := []pqProfile{{ID: "p5", IdentityMap: map[string][]pqIdentity{"ECID": {{ID: "e5", Primary: true}}}}, {ID: "p6", IdentityMap: map[string][]pqIdentity{"ECID": {{ID: "e6", Primary: true}}}}}
	rows[0].Person.Name.FirstName = "Ann"
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "d.parquet", buf.String())

	stdout, stderr, err := runSegflow(t, env, "ingest", "-name", "crm", "-create", dir)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}
	// JSON lines (a.json, c.jsonl) share a batch; the array and Parquet
	// files have their own.
	for _, want := range []string{"2 files (json)", "1 file (JSON array)", "1 file (parquet)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if total := lastLine(stdout); !strings.Contains(total, " 6 ") {
		t.Errorf("totals %q, want 6 records", total)
	}
	// -format overrides the extension: a .txt file read as JSON lines.
	txt := writeFile(t, t.TempDir(), "more.txt", `{"identityMap":{"ECID":[{"id":"e7","primary":true}]}}`+"\n")
	if _, stderr, err := runSegflow(t, env, "ingest", "-name", "crm", "-format", "json", txt); err != nil {
		t.Fatalf("ingest -format json: %v\n%s", err, stderr)
	}
}

func TestIngestFailedBatchShowsRows(t *testing.T) {
	env := testUPS(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "events.json",
		`{"_id":"x1","timestamp":"2025-01-02T10:00:00Z","identityMap":{"ECID":[{"id":"e1"}]}}`+"\n"+
			`{"_id":"x2","identityMap":{"ECID":[{"id":"e1"}]}}`+"\n"+
			`{"_id":"x3","timestamp":"2025-01-02T10:00:00Z"}`+"\n")
	_, stderr, err := runSegflow(t, env, "ingest", "-name", "web", "-create", "-class", "event", f)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 records rejected") {
		t.Fatalf("err = %v, want the batch's failure\n%s", err, stderr)
	}
	for _, want := range []string{"FAILED", "events.json    2  MissingRequiredField  an ExperienceEvent needs timestamp", "events.json    3  MissingIdentity"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestIngestErrors(t *testing.T) {
	env := testUPS(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "p.json", `{"identityMap":{"ECID":[{"id":"e1","primary":true}]}}`+"\n")
	odd := writeFile(t, dir, "p.csv", "a,b\n")
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, platform.MaxUploadBytes+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"ingest"}, env, "usage"},
		{[]string{"ingest", good}, env, "which dataset?"},
		{[]string{"ingest", "-create", good}, env, "-create needs -name"},
		{[]string{"ingest", "-name", "nope", good}, env, `no dataset is named "nope": add -create`},
		{[]string{"ingest", "-dataset", "5b020a27e7040801dedba61b", good}, env, "DataSet not found."},
		{[]string{"ingest", "-dataset", "x", "-name", "y", good}, env, "not both"},
		{[]string{"ingest", "-name", "crm", "-create", "-class", "lookup", good}, env, `-class "lookup"`},
		{[]string{"ingest", "-name", "crm", odd}, env, "use -format"},
		{[]string{"ingest", "-name", "crm", "-format", "avro", good}, env, `-format "avro"`},
		{[]string{"ingest", "-name", "crm", big}, env, "split it"},
		{[]string{"ingest", "-name", "crm", filepath.Join(dir, "missing.json")}, env, "no such file"},
		{[]string{"ingest", "-name", "crm", good}, []string{"SEGFLOW_PLATFORM_URL=localhost:8080"}, "SEGFLOW_PLATFORM_URL"},
		{[]string{"ingest", "-name", "crm", good}, append([]string{"SEGFLOW_CLIENT_SECRET=wrong"}, env...), "invalid_client"},
	} {
		_, stderr, err := runSegflow(t, tt.env, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want it to contain %q\n%s", tt.args, err, tt.want, stderr)
		}
	}
}

func TestIngestKindMismatch(t *testing.T) {
	env := testUPS(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "p.json", `{"identityMap":{"ECID":[{"id":"e1","primary":true}]}}`+"\n")
	if _, stderr, err := runSegflow(t, env, "ingest", "-name", "crm", "-create", f); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	_, _, err := runSegflow(t, env, "ingest", "-name", "crm", "-create", "-class", "event", f)
	if err == nil || !strings.Contains(err.Error(), "not the event class") {
		t.Fatalf("err = %v", err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// Batches are pipelined: the next one is uploaded while the one before
// processes. When an earlier batch fails, the one already sent is seen
// through and reported, and the run fails with the first batch's error.
func TestIngestPipelinedBatches(t *testing.T) {
	env := testUPS(t)
	dir := t.TempDir()
	bad := writeFile(t, dir, "a-bad.json", `{"_id":"x1","identityMap":{"ECID":[{"id":"e1"}]}}`+"\n")
	good := writeFile(t, dir, "b-good.json", `{"_id":"x2","timestamp":"2025-01-02T10:00:00Z","identityMap":{"ECID":[{"id":"e1"}]}}`+"\n")
	stdout, stderr, err := runSegflow(t, env, "ingest", "-name", "web", "-create", "-class", "event", "-files-per-batch", "1", bad, good)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 records rejected") {
		t.Fatalf("err = %v, want the first batch's failure\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "batch 2/2") || !strings.Contains(stdout+stderr, "success") {
		t.Errorf("the second batch was not sent and seen through:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	// Three good batches in a row all land.
	var files []string
	for i := range 3 {
		files = append(files, writeFile(t, dir, fmt.Sprintf("ok-%d.json", i), fmt.Sprintf(`{"_id":"y%d","timestamp":"2025-01-02T10:00:00Z","identityMap":{"ECID":[{"id":"e%d"}]}}`+"\n", i, i)))
	}
	stdout, stderr, err = runSegflow(t, env, append([]string{"ingest", "-name", "web", "-files-per-batch", "1"}, files...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if n := strings.Count(stderr, "success: batch"); n != 3 {
		t.Errorf("%d batches succeeded, want 3:\n%s\n%s", n, stdout, stderr)
	}
}
