package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segflow/segflow/services/ups/gen"
)

func TestRunGen(t *testing.T) {
	dir := t.TempDir()
	args := []string{"gen", "-profiles", "50", "-seed", "7", "-now", "2026-03-01T12:00:00Z", "-out", dir}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, nil, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("err = %v (stderr %q)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "wrote 50 profiles and ") || !strings.Contains(out.String(), "-now 2026-03-01T12:00:00Z") {
		t.Errorf("stdout = %q, want the summary and how to repeat the run", out.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m gen.Summary
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Profiles != 50 || m.Seed != 7 || len(m.Files) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if int64(bytes.Count(data, []byte("\n"))) != f.Records || int64(len(data)) != f.Bytes {
			t.Errorf("%s: %d lines, %d bytes; manifest says %d, %d", f.Name, bytes.Count(data, []byte("\n")), len(data), f.Records, f.Bytes)
		}
	}
}

func TestRunGenErrors(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"gen"}, "-out DIR"},
		{[]string{"gen", "-out", t.TempDir(), "-now", "yesterday"}, "-now"},
		{[]string{"gen", "-out", t.TempDir(), "-profiles", "-3"}, "Profiles is -3"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tt.args, nil, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}
