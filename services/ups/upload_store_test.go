package ups

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoredUploads: a compressed upload reads back as uploaded, through
// and at offsets, with its uploaded size; a file stored as is (Parquet,
// or JSON from before compression) reads as it is.
func TestStoredUploads(t *testing.T) {
	dir := t.TempDir()
	data := []byte(strings.Repeat(`{"a":1,"b":"some text"}`+"\n", 200000)) // several blocks
	for _, c := range []struct {
		name     string
		compress bool
	}{{"compressed.json", true}, {"raw.json", false}} {
		path := filepath.Join(dir, c.name)
		if err := writeAtomic(path, 0o644, func(w io.Writer) error { return copyUpload(w, bytes.NewReader(data), c.compress) }); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(path)
		if small := st.Size() < int64(len(data))/4; small != c.compress {
			t.Errorf("%s: %d bytes stored for %d", c.name, st.Size(), len(data))
		}
		u, err := openUpload(path)
		if err != nil {
			t.Fatal(err)
		}
		if u.Size() != int64(len(data)) {
			t.Errorf("%s: size %d, want %d", c.name, u.Size(), len(data))
		}
		got, err := io.ReadAll(u)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: read %d bytes (%v), want the %d written", c.name, len(got), err, len(data))
		}
		at := make([]byte, 1000)
		if _, err := u.ReadAt(at, 2_500_001); err != nil || !bytes.Equal(at, data[2_500_001:2_501_001]) {
			t.Errorf("%s: ReadAt: %v", c.name, err)
		}
		u.Close()
	}
	if _, err := openUpload(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A damaged compressed file is an error, not garbage.
	path := filepath.Join(dir, "compressed.json")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if u, err := openUpload(path); err == nil {
		_, err = io.ReadAll(u)
		u.Close()
		if err == nil {
			t.Error("a truncated compressed upload reads without error")
		}
	}
}
