package ups

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
// object under <dir>/<org key>/<sandbox>/... (the Catalog, merge policies,
// segment definitions, segment jobs, export jobs).

// objectFiles is the part of such a store that its files need: each
// store embeds it beside its in-memory index, which has a lock of its
// own, so that reads never wait for an fsync.
type objectFiles struct {
	dir string
	now func() time.Time

	// writeMu serializes changes across their disk writes, so that the
	// files and the index change in the same order.
	writeMu sync.Mutex
	dirs    dirTree // under writeMu
	// lastStamp is the latest time given to a change; under writeMu.
	lastStamp int64
}

// open creates the store's directory if needed and calls load for every
// <org key>/<sandbox> directory in it. noun and plural name the objects
// in errors ("merge policy", "merge policies").
func (f *objectFiles) open(noun, plural string, load func(k policyScope, path string) error) error {
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fmt.Errorf("creating %s directory: %w", noun, err)
	}
	if err := syncDir(filepath.Dir(f.dir)); err != nil {
		return err
	}
	if err := walkScopes(f.dir, load); err != nil {
		return fmt.Errorf("loading %s: %w", plural, err)
	}
	return nil
}

// walkScopes calls fn for every <dir>/<org key>/<sandbox> directory, creating dir
// if needed.
func walkScopes(dir string, fn func(k policyScope, path string) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	orgs, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		if !o.IsDir() {
			continue
		}
		sandboxes, err := os.ReadDir(filepath.Join(dir, o.Name()))
		if err != nil {
			return err
		}
		for _, sb := range sandboxes {
			if sb.IsDir() {
				if err := fn(policyScope{o.Name(), sb.Name()}, filepath.Join(dir, o.Name(), sb.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// stamp is the time of a change, in Unix ms (nextStamp): stamps strictly
// increase, so ordering by time is change order (a client paging with
// createdAfter=<the last it saw> cannot skip an object that shares its
// millisecond; the newest default policy is always recognizable).
// Callers hold writeMu (or are opening the store).
func (f *objectFiles) stamp() int64 { return nextStamp(f.now(), &f.lastStamp) }

// writeObject persists v, the object id of an org and sandbox, as
// <dir>/<org key>/<sandbox>/<sub...>/<id>.json; what names it in errors.
// Callers hold writeMu.
func (f *objectFiles) writeObject(what, id, org, sandbox string, v any, sub ...string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", what, id, err)
	}
	dir, err := f.dirs.ensure(append([]string{orgDirName(org), sandbox}, sub...)...)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, id+".json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s %s: %w", what, id, err)
	}
	return nil
}

// removeObject deletes the file of the object id of an org and sandbox
// durably; what names it in errors. Callers hold writeMu.
func (f *objectFiles) removeObject(what, id, org, sandbox string) error {
	dir := filepath.Join(f.dir, orgDirName(org), sandbox)
	if err := os.Remove(filepath.Join(dir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting %s %s: %w", what, id, err)
	}
	return syncDir(dir)
}

// newUnusedID is a new random id (newPolicyID) that m does not hold.
// Callers hold writeMu, so nothing else can take it before it is indexed;
// mu is the lock of m.
func newUnusedID[T any](mu *sync.RWMutex, m map[string]T) string {
	mu.RLock()
	defer mu.RUnlock()
	for {
		id := newPolicyID()
		if _, taken := m[id]; !taken {
			return id
		}
	}
}

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
