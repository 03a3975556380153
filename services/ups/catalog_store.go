package ups

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// Catalog persistence. Every object is one JSON file,
//
//	<dir>/<org key>/<sandbox>/datasets/<id>.json
//	<dir>/<org key>/<sandbox>/batches/<id>.json
//
// written with writeFileAtomic, so a crash leaves the old or the new
// version. The org key is a hash of the org id: org ids come from the
// configuration and could hold anything, a path must not. Sandbox names
// are safe as they are (the gateway and the internal API check them), and
// ids are 24 hex digits. Everything is loaded into memory at start, so
// reads never touch the disk.

// catalog is the Catalog state: the in-memory index and the files under dir.
type catalog struct {
	objectFiles

	mu       sync.RWMutex
	datasets map[string]*entry[dataset]
	batches  map[string]*entry[batch]
}

// entry is an indexed object and its served form, decoded generically once
// so that list filters and sorting need no per-request encoding. Entries
// are immutable: a change replaces the entry.
type entry[T any] struct {
	val  T
	view map[string]any
}

const (
	datasetsDir = "datasets"
	batchesDir  = "batches"
)

// openCatalog loads the Catalog state in dir, creating dir if needed.
func openCatalog(dir string, now func() time.Time) (*catalog, error) {
	c := &catalog{
		objectFiles: objectFiles{dir: dir, now: now, dirs: dirTree{root: dir}},
		datasets:    map[string]*entry[dataset]{},
		batches:     map[string]*entry[batch]{},
	}
	if err := c.open("catalog", "catalog", c.loadSandbox); err != nil {
		return nil, err
	}
	return c, nil
}

// loadSandbox loads the objects of one org and sandbox. A file that does
// not parse, or that sits in another org's or sandbox's directory, is an
// error: skipping it would silently lose an acknowledged object.
func (c *catalog) loadSandbox(k policyScope, base string) error {
	orgKey, sandbox := k.orgKey, k.sandbox
	err := loadObjects(filepath.Join(base, datasetsDir), isCatalogID, func(path, id string, data []byte) error {
		var d dataset
		if err := json.Unmarshal(data, &d); err != nil {
			return err
		}
		if err := checkPlacement(d.ID, d.Org, d.Sandbox, id, orgKey, sandbox); err != nil {
			return err
		}
		if _, ok := canonicalSchema(d.SchemaRef.ID); !ok {
			return fmt.Errorf("unknown schema %q", d.SchemaRef.ID)
		}
		e, err := newEntry(d, d.object())
		if err != nil {
			return err
		}
		c.datasets[id] = e
		c.lastStamp = max(c.lastStamp, d.Created, d.Updated)
		return nil
	})
	if err != nil {
		return err
	}
	return loadObjects(filepath.Join(base, batchesDir), isCatalogID, func(path, id string, data []byte) error {
		var b batch
		if err := json.Unmarshal(data, &b); err != nil {
			return err
		}
		if err := checkPlacement(b.ID, b.Org, b.Sandbox, id, orgKey, sandbox); err != nil {
			return err
		}
		e, err := newEntry(b, b.object())
		if err != nil {
			return err
		}
		c.batches[id] = e
		c.lastStamp = max(c.lastStamp, b.Created, b.Updated)
		return nil
	})
}

// newEntry indexes v with its served form obj.
func newEntry[T any](v T, obj map[string]any) (*entry[T], error) {
	view, err := genericJSON(obj)
	if err != nil {
		return nil, err
	}
	return &entry[T]{val: v, view: view}, nil
}

// genericJSON round-trips v through JSON into maps, slices, strings,
// json.Numbers, bools and nils: the form filters and projections work on.
func genericJSON(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// catalogOrgKey is orgDirName, under the name the catalog's tests use.
func catalogOrgKey(org string) string { return orgDirName(org) }
