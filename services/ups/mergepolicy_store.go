package ups

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Merge policy persistence, the Catalog's way (catalog_store.go): every
// policy is one JSON file,
//
//	<dir>/<org key>/<sandbox>/<id>.json
//
// written with writeFileAtomic, and everything is loaded into memory at
// start, so reads never touch the disk. A change is acknowledged (returns)
// only once it is on disk.
//
// The built-in default (builtinPolicyID) of an org and sandbox is written
// the first time anything asks for the sandbox's policies. Deleting it
// leaves a tombstone in its file, so that it does not come back: a sandbox
// whose built-in file exists, live or not, has been seeded.

// policyStore is the merge policies of every org and sandbox.
type policyStore struct {
	objectFiles

	mu     sync.RWMutex
	scopes map[policyScope]*scopePolicies
}

// policyScope is an org (by its directory name, which is all a directory
// of deleted policies still knows) and a sandbox.
type policyScope struct{ orgKey, sandbox string }

func scopeOf(c Caller) policyScope { return policyScope{orgDirName(c.Org), c.Sandbox} }

type scopePolicies struct {
	seeded bool // the built-in default was written (it may be deleted since)
	byID   map[string]MergePolicy
}

// policyRecord is a policy file: the policy, or the tombstone of a
// deleted built-in.
type policyRecord struct {
	MergePolicy
	Deleted bool `json:"deleted,omitempty"`
}

// openPolicyStore loads the merge policies in dir, creating dir if needed.
func openPolicyStore(dir string, now func() time.Time) (*policyStore, error) {
	p := &policyStore{objectFiles: objectFiles{dir: dir, now: now, dirs: dirTree{root: dir}}, scopes: map[policyScope]*scopePolicies{}}
	if err := p.open("merge policy", "merge policies", p.loadScope); err != nil {
		return nil, err
	}
	// After loading everything, so that repairs get the newest stamps.
	for _, sp := range p.scopes {
		if err := p.repairDefaults(sp); err != nil {
			return nil, fmt.Errorf("loading merge policies: %w", err)
		}
	}
	return p, nil
}

// loadScope loads one org's and sandbox's policies. A file that does not
// parse, holds an invalid policy or sits in another scope's directory is
// an error: skipping it would silently lose an acknowledged change.
func (p *policyStore) loadScope(k policyScope, dir string) error {
	sp := &scopePolicies{byID: map[string]MergePolicy{}}
	err := loadObjects(dir, validPolicyID, func(path, id string, data []byte) error {
		var r policyRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return err
		}
		if err := checkPlacement(r.ID, r.Org, r.Sandbox, id, k.orgKey, k.sandbox); err != nil {
			return err
		}
		if id == builtinPolicyID {
			sp.seeded = true
		}
		p.lastStamp = max(p.lastStamp, r.Created, r.Updated)
		if r.Deleted {
			return nil
		}
		if err := r.validate(); err != nil {
			return err
		}
		sp.byID[id] = r.MergePolicy
		return nil
	})
	if err != nil {
		return err
	}
	p.scopes[k] = sp
	return nil
}

// repairDefaults finishes a default switch a crash interrupted. A switch
// writes the new default first, then clears the old one, so two defaults
// for a schema mean the newest won: the others are cleared as the switch
// would have. Called at open, before anything else can run.
func (p *policyStore) repairDefaults(sp *scopePolicies) error {
	newest := map[string]MergePolicy{} // schema -> newest default
	for _, pol := range sp.byID {
		if n, ok := newest[pol.Schema]; pol.Default && (!ok || pol.Updated > n.Updated) {
			newest[pol.Schema] = pol
		}
	}
	for _, pol := range sortedPolicies(sp.byID) {
		if !pol.Default || newest[pol.Schema].ID == pol.ID {
			continue
		}
		pol.Default = false
		pol.Version++
		pol.Updated = p.stamp()
		if err := p.write(policyRecord{MergePolicy: pol}); err != nil {
			return err
		}
		sp.byID[pol.ID] = pol
	}
	return nil
}

// commit persists pol (whose previous version is old, nil for a new
// policy) and, when pol is a default, clears the previous default of its
// schema; then indexes both. pol is written first: should a crash come
// between the two writes, repairDefaults finishes the switch. Should the
// second write fail, pol's file is restored, so that nothing that was not
// acknowledged survives a restart. Callers hold writeMu.
func (p *policyStore) commit(sp *scopePolicies, pol MergePolicy, old *MergePolicy) error {
	changed := []MergePolicy{pol}
	if pol.Default {
		p.mu.RLock()
		for _, other := range sortedPolicies(sp.byID) {
			if other.Default && other.Schema == pol.Schema && other.ID != pol.ID {
				other.Default = false
				other.Version++
				other.Updated = pol.Updated
				changed = append(changed, other)
			}
		}
		p.mu.RUnlock()
	}
	for i, ch := range changed {
		if err := p.write(policyRecord{MergePolicy: ch}); err != nil {
			if i > 0 {
				err = errors.Join(err, p.undo(pol, old))
			}
			return err
		}
	}
	p.mu.Lock()
	for _, ch := range changed {
		sp.byID[ch.ID] = ch
	}
	p.mu.Unlock()
	return nil
}

// undo restores pol's file to old (removes it when old is nil).
func (p *policyStore) undo(pol MergePolicy, old *MergePolicy) error {
	if old == nil {
		return p.unlink(pol)
	}
	return p.write(policyRecord{MergePolicy: *old})
}

// scope returns the caller's policies, seeding the built-in default the
// first time.
func (p *policyStore) scope(c Caller) (*scopePolicies, error) {
	if err := checkCaller(c); err != nil {
		return nil, err
	}
	k := scopeOf(c)
	p.mu.RLock()
	sp := p.scopes[k]
	p.mu.RUnlock()
	if sp != nil && sp.seeded {
		return sp, nil
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.RLock()
	sp = p.scopes[k]
	p.mu.RUnlock()
	if sp == nil {
		sp = &scopePolicies{byID: map[string]MergePolicy{}}
	}
	if sp.seeded {
		return sp, nil
	}
	b := builtinPolicy(c, p.stamp())
	p.mu.RLock()
	for _, pol := range sp.byID {
		// Only if files were removed by hand: keep the default there is.
		b.Default = b.Default && !(pol.Default && pol.Schema == b.Schema)
	}
	p.mu.RUnlock()
	if err := p.write(policyRecord{MergePolicy: b}); err != nil {
		return nil, err
	}
	p.mu.Lock()
	sp.byID[b.ID] = b
	sp.seeded = true
	p.scopes[k] = sp
	p.mu.Unlock()
	return sp, nil
}

// orgPolicies counts the policies an org created (built-in defaults
// aside), in every sandbox. Callers hold writeMu, so the count cannot
// change before they act on it.
func (p *policyStore) orgPolicies(orgKey string) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for k, sp := range p.scopes {
		if k.orgKey == orgKey {
			n += len(sp.byID)
			if _, ok := sp.byID[builtinPolicyID]; ok {
				n--
			}
		}
	}
	return n
}

// write persists one policy file. Callers hold writeMu.
func (p *policyStore) write(r policyRecord) error {
	return p.writeObject("merge policy", r.ID, r.Org, r.Sandbox, r)
}

// unlink removes a policy's file durably. Callers hold writeMu.
func (p *policyStore) unlink(pol MergePolicy) error {
	return p.removeObject("merge policy", pol.ID, pol.Org, pol.Sandbox)
}

// clientFields keeps the fields a client sets.
func clientFields(in MergePolicy) MergePolicy {
	return MergePolicy{
		Name:           in.Name,
		Schema:         in.Schema,
		IdentityGraph:  in.IdentityGraph,
		AttributeMerge: in.AttributeMerge,
		Order:          slices.Clone(in.Order),
		Default:        in.Default,
		ActiveOnEdge:   in.ActiveOnEdge,
	}
}

func clonePolicy(p MergePolicy) MergePolicy {
	p.Order = slices.Clone(p.Order)
	return p
}

// sortedPolicies are the policies in creation order. Callers hold mu.
func sortedPolicies(m map[string]MergePolicy) []MergePolicy {
	out := make([]MergePolicy, 0, len(m))
	for _, pol := range m {
		out = append(out, pol)
	}
	slices.SortFunc(out, func(a, b MergePolicy) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out
}
