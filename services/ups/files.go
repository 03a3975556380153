package ups

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeFileAtomic writes data to path so that a crash leaves either the old
// file or the new one, never a torn one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic writes path from fill: into a temporary file in the same
// directory, synced, renamed over path, and the directory synced. A crash
// or an error from fill leaves the old file (or none), never a torn one.
func writeAtomic(path string, perm os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	err = fill(tmp)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// The helpers below are shared by the stores that keep one JSON file per
// object under <dir>/<org key>/<sandbox>/... (the Catalog, merge policies).

// orgDirName is the directory name of an org: a hash, never the raw id.
// Org ids come from the configuration and could hold anything; a path
// must not.
func orgDirName(org string) string {
	sum := sha256.Sum256([]byte(org))
	return hex.EncodeToString(sum[:16])
}

// dirTree creates directories under root on demand. It is not safe for
// concurrent use: its owner serializes writes anyway.
type dirTree struct {
	root  string
	known map[string]bool // directories known to exist
}

// ensure creates root/parts... one level at a time, syncing each new
// directory's parent so that a crash cannot lose a directory entry (and
// with it an acknowledged file).
func (t *dirTree) ensure(parts ...string) (string, error) {
	if t.known == nil {
		t.known = map[string]bool{}
	}
	dir := t.root
	for _, p := range parts {
		parent := dir
		dir = filepath.Join(dir, p)
		if t.known[dir] {
			continue
		}
		err := os.Mkdir(dir, 0o755)
		switch {
		case err == nil:
			if err := syncDir(parent); err != nil {
				return "", err
			}
		case !errors.Is(err, os.ErrExist):
			return "", fmt.Errorf("creating %s: %w", dir, err)
		}
		t.known[dir] = true
	}
	return dir, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// loadObjects calls load for every <id>.json in dir (which may not exist).
// A name that validID rejects is an error: ids become file names, so only
// safe ones were ever written. Leftover temporary files of interrupted
// writes are removed: they were never acknowledged.
func loadObjects(dir string, validID func(string) bool, load func(path, id string, data []byte) error) error {
	files, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, f := range files {
		name := f.Name()
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, ".") {
			_ = os.Remove(path) // best effort; it is ignored either way
			continue
		}
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || f.IsDir() {
			continue
		}
		if !validID(id) {
			return fmt.Errorf("%s: the name is not <id>.json with a valid id", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := load(path, id, data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// checkPlacement rejects an object file that is not where its content says
// it belongs: a file moved into another org's or sandbox's directory must
// not become that org's or sandbox's.
func checkPlacement(id, org, sandbox, fileID, orgKey, sandboxDir string) error {
	switch {
	case id != fileID:
		return fmt.Errorf("holds id %q", id)
	case orgDirName(org) != orgKey:
		return fmt.Errorf("belongs to another org")
	case sandbox != sandboxDir:
		return fmt.Errorf("belongs to sandbox %q", sandbox)
	}
	return nil
}

// nextStamp is the time of a change in Unix ms, strictly after *last (two
// changes in one millisecond get consecutive stamps, and a clock that goes
// back does not reorder), so ordering by time is change order.
func nextStamp(now time.Time, last *int64) int64 {
	ms := now.UnixMilli()
	if ms <= *last {
		ms = *last + 1
	}
	*last = ms
	return ms
}
