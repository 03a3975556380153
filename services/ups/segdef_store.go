package ups

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segflow/segflow/pkg/pql"
)

// Segment definition persistence, the merge policies' way
// (mergepolicy_store.go): every definition is one JSON file, in the wire
// format,
//
//	<dir>/<org key>/<sandbox>/<id>.json
//
// written with writeFileAtomic, and everything is loaded into memory at
// start, so reads never touch the disk. A change is acknowledged (returns)
// only once it is on disk.
//
// The internal API, for the HTTP handlers and for segmentation (jobs,
// preview, export): every call is made for a Caller and sees only the
// definitions of the caller's org and sandbox; anything else is not
// found. Input errors are *badRequestError, clashes with the sandbox's
// state *conflictError.

// definitionStore is the segment definitions of every org and sandbox.
type definitionStore struct {
	objectFiles
	policies *policyStore
	// schema is the profile schema of a scope, which expressions are
	// checked against (profileStore.schema).
	schema func(Caller) *pql.Schema

	mu     sync.RWMutex
	scopes map[policyScope]*scopeDefinitions
}

type scopeDefinitions struct {
	byID map[string]SegmentDefinition
	// uses are the inSegment ids of each definition's expression (none
	// for one that no longer parses).
	uses map[string][]string
}

// openDefinitionStore loads the segment definitions in dir, creating dir
// if needed. Expressions are checked against schema(caller) and default
// merge policies come from policies.
func openDefinitionStore(dir string, now func() time.Time, policies *policyStore, schema func(Caller) *pql.Schema) (*definitionStore, error) {
	s := &definitionStore{
		objectFiles: objectFiles{dir: dir, now: now, dirs: dirTree{root: dir}},
		policies:    policies, schema: schema, scopes: map[policyScope]*scopeDefinitions{},
	}
	if err := s.open("segment definition", "segment definitions", s.loadScope); err != nil {
		return nil, err
	}
	return s, nil
}

// loadScope loads one org's and sandbox's definitions. A file that does
// not parse or sits in another scope's directory is an error: skipping it
// would silently lose an acknowledged change. An expression that no
// longer parses (a stricter parser) is kept: query() reports it to
// whoever evaluates the definition.
func (s *definitionStore) loadScope(k policyScope, dir string) error {
	sd := &scopeDefinitions{byID: map[string]SegmentDefinition{}, uses: map[string][]string{}}
	err := loadObjects(dir, validPolicyID, func(path, id string, data []byte) error {
		var d SegmentDefinition
		if err := json.Unmarshal(data, &d); err != nil {
			return err
		}
		if err := checkPlacement(d.ID, d.ImsOrgID, d.Sandbox.SandboxName, id, k.orgKey, k.sandbox); err != nil {
			return err
		}
		if d.Name == "" {
			return errors.New("the definition has no name")
		}
		s.lastStamp = max(s.lastStamp, d.CreationTime, d.UpdateTime)
		sd.byID[id] = d
		if q, err := d.query(); err == nil {
			sd.uses[id] = pql.Analyze(q).Segments
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.scopes[k] = sd
	return nil
}

// get returns the caller's definition id.
func (s *definitionStore) get(c Caller, id string) (SegmentDefinition, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sd := s.scopes[scopeOf(c)]
	if sd == nil || checkCaller(c) != nil {
		return SegmentDefinition{}, false
	}
	d, ok := sd.byID[id]
	return d, ok
}

// all returns the caller's definitions by creation time (then id).
func (s *definitionStore) all(c Caller) []SegmentDefinition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sd := s.scopes[scopeOf(c)]
	if sd == nil || checkCaller(c) != nil {
		return []SegmentDefinition{}
	}
	return sortedDefinitions(sd.byID)
}

// create stores a new definition in the caller's sandbox from in's client
// fields (as parseDefinitionBody leaves them). mergePolicyId defaults to
// the sandbox's default profile merge policy (none if the sandbox has
// none). The name must be unused in the sandbox (*conflictError), and
// inSegment ids must name definitions of the sandbox.
func (s *definitionStore) create(c Caller, in SegmentDefinition) (SegmentDefinition, error) {
	if err := checkCaller(c); err != nil {
		return SegmentDefinition{}, err
	}
	uses, err := s.prepare(c, &in)
	if err != nil {
		return SegmentDefinition{}, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	sd := s.scope(c)
	s.mu.RLock()
	err = cmp.Or(checkName(sd, in.Name, ""), checkUses(sd, uses))
	s.mu.RUnlock()
	if err != nil {
		return SegmentDefinition{}, err
	}
	d := clientDefinition(in)
	d.ID = newUnusedID(&s.mu, sd.byID) // a random UUID, as the Platform's
	d.ImsOrgID, d.Sandbox = c.Org, sandboxOf(c.Org, c.Sandbox)
	d.CreationTime = s.stamp()
	d.UpdateTime, d.UpdateEpoch = d.CreationTime, d.CreationTime/1000
	if err := s.write(d); err != nil {
		return SegmentDefinition{}, err
	}
	s.index(c, sd, d, uses)
	return d, nil
}

// replace overwrites the caller's definition id with in's client fields
// (PATCH is a whole-object overwrite, SW-SEG): the id, organization,
// sandbox and creation time stay; fields in omits take their defaults
// again. On top of create's rules, the new expression must not make
// definitions use each other in a cycle.
func (s *definitionStore) replace(c Caller, id string, in SegmentDefinition) (SegmentDefinition, error) {
	if err := checkCaller(c); err != nil {
		return SegmentDefinition{}, err
	}
	uses, err := s.prepare(c, &in)
	if err != nil {
		return SegmentDefinition{}, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	sd := s.scope(c)
	s.mu.RLock()
	old, ok := sd.byID[id]
	if ok {
		err = cmp.Or(checkName(sd, in.Name, id), checkUses(sd, uses), checkCycles(sd, id, uses))
	}
	s.mu.RUnlock()
	switch {
	case !ok:
		return SegmentDefinition{}, errDefinitionNotFound
	case err != nil:
		return SegmentDefinition{}, err
	}
	d := clientDefinition(in)
	d.ID, d.ImsOrgID, d.Sandbox, d.CreationTime = old.ID, old.ImsOrgID, old.Sandbox, old.CreationTime
	d.UpdateTime = s.stamp()
	d.UpdateEpoch = d.UpdateTime / 1000
	if err := s.write(d); err != nil {
		return SegmentDefinition{}, err
	}
	s.index(c, sd, d, uses)
	return d, nil
}

// remove deletes the caller's definition id. A definition that others use
// through inSegment cannot be deleted (*conflictError naming them): they
// could no longer be evaluated. That is a 422 rather than a 409: SW-SEG
// declares no 409 on definitions, and 422 is the status it gives the other
// clash with the sandbox's state (a name already taken), so a client that
// handles one handles both.
func (s *definitionStore) remove(c Caller, id string) error {
	if err := checkCaller(c); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	sd := s.scope(c)
	s.mu.RLock()
	d, ok := sd.byID[id]
	users := usersOf(sd, id)
	s.mu.RUnlock()
	if !ok {
		return errDefinitionNotFound
	}
	if len(users) > 0 {
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = fmt.Sprintf("%s (%q)", u.ID, truncate(u.Name, 100))
		}
		return conflictf("The segment definition %s is used through inSegment by %d other segment definition(s): %s. Change or delete them first.", id, len(users), strings.Join(names, ", "))
	}
	if err := s.removeObject("segment definition", d.ID, d.ImsOrgID, d.Sandbox.SandboxName); err != nil {
		return err
	}
	s.mu.Lock()
	delete(sd.byID, id)
	delete(sd.uses, id)
	s.mu.Unlock()
	return nil
}

// prepare checks what of in depends on the sandbox but not on the other
// definitions: the expression against the profile schema (fields the
// schema does not know are fine: data may not have been ingested yet;
// what can never be evaluated is a 400), and the merge policy, which it
// defaults. It returns the inSegment ids the expression uses.
func (s *definitionStore) prepare(c Caller, in *SegmentDefinition) ([]string, error) {
	q, err := parseExpression(in.Expression)
	if err != nil {
		return nil, err
	}
	if _, err := pql.Compile(q, pql.Options{Schema: s.schema(c)}); err != nil {
		if errors.Is(err, pql.ErrNoSchema) {
			return nil, err
		}
		return nil, badRequestf("expression.value cannot be evaluated: %v", err)
	}
	if in.MergePolicyID == "" {
		pol, err := s.policies.defaultFor(c, profileClass)
		switch {
		case err == nil:
			in.MergePolicyID = pol.ID
		case !errors.Is(err, errNoDefaultMergePolicy):
			return nil, err
		}
	} else if _, err := s.policies.get(c, in.MergePolicyID); err != nil {
		if errors.Is(err, errMergePolicyNotFound) {
			return nil, badRequestf("mergePolicyId %q is not a merge policy of sandbox %s", truncate(in.MergePolicyID, 100), c.Sandbox)
		}
		return nil, err
	}
	return pql.Analyze(q).Segments, nil
}

// checkName rejects a name another definition (than self) of the scope
// has. Callers hold mu.
func checkName(sd *scopeDefinitions, name, self string) error {
	for _, d := range sd.byID {
		if d.Name == name && d.ID != self {
			return conflictf("A segment definition named %q already exists: %s. Names are unique in a sandbox; to change that definition, PATCH it.", truncate(name, 200), d.ID)
		}
	}
	return nil
}

// checkUses rejects inSegment ids that are not definitions of the scope.
// Callers hold mu.
func checkUses(sd *scopeDefinitions, uses []string) error {
	for _, id := range uses {
		if _, ok := sd.byID[id]; !ok {
			return badRequestf("expression uses inSegment(%q), which is not a segment definition of this sandbox", truncate(id, 100))
		}
	}
	return nil
}

// checkCycles rejects uses as the new inSegment ids of id when they would
// make definitions use each other in a cycle. Callers hold mu.
func checkCycles(sd *scopeDefinitions, id string, uses []string) error {
	if len(uses) == 0 {
		return nil
	}
	deps := make(map[string][]string, len(sd.uses)+1)
	for k, v := range sd.uses {
		deps[k] = v
	}
	deps[id] = uses
	if _, err := pql.DependencyOrder(deps); err != nil {
		var cycle *pql.CycleError
		if errors.As(err, &cycle) {
			return badRequestf("expression would make segment definitions use each other through inSegment in a cycle: %s", strings.Join(cycle.Cycle, " -> "))
		}
		return err
	}
	return nil
}

// usersOf returns the definitions other than id whose expressions use id,
// in creation order. Callers hold mu.
func usersOf(sd *scopeDefinitions, id string) []SegmentDefinition {
	var out []SegmentDefinition
	for user, uses := range sd.uses {
		if user != id && slices.Contains(uses, id) {
			out = append(out, sd.byID[user])
		}
	}
	slices.SortFunc(out, compareCreation)
	return out
}

// scope returns the caller's definitions, adding an empty scope the first
// time. Callers hold writeMu.
func (s *definitionStore) scope(c Caller) *scopeDefinitions {
	k := scopeOf(c)
	s.mu.RLock()
	sd := s.scopes[k]
	s.mu.RUnlock()
	if sd == nil {
		sd = &scopeDefinitions{byID: map[string]SegmentDefinition{}, uses: map[string][]string{}}
		s.mu.Lock()
		s.scopes[k] = sd
		s.mu.Unlock()
	}
	return sd
}

// index makes d (written) visible. Callers hold writeMu.
func (s *definitionStore) index(c Caller, sd *scopeDefinitions, d SegmentDefinition, uses []string) {
	s.mu.Lock()
	sd.byID[d.ID] = d
	sd.uses[d.ID] = uses
	s.mu.Unlock()
}

// write persists one definition file. Callers hold writeMu.
func (s *definitionStore) write(d SegmentDefinition) error {
	return s.writeObject("segment definition", d.ID, d.ImsOrgID, d.Sandbox.SandboxName, d)
}

// clientDefinition keeps the fields a client sets.
func clientDefinition(in SegmentDefinition) SegmentDefinition {
	return SegmentDefinition{
		Schema:            in.Schema,
		TTLInDays:         in.TTLInDays,
		ProfileInstanceID: in.ProfileInstanceID,
		Name:              in.Name,
		Description:       in.Description,
		Expression:        in.Expression,
		EvaluationInfo:    in.EvaluationInfo,
		MergePolicyID:     in.MergePolicyID,
		DataGovernance:    in.DataGovernance,
		PayloadSchema:     in.PayloadSchema,
	}
}

func compareCreation(a, b SegmentDefinition) int {
	return cmp.Or(cmp.Compare(a.CreationTime, b.CreationTime), cmp.Compare(a.ID, b.ID))
}

// sortedDefinitions are the definitions in creation order. Callers hold
// mu.
func sortedDefinitions(m map[string]SegmentDefinition) []SegmentDefinition {
	out := make([]SegmentDefinition, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	slices.SortFunc(out, compareCreation)
	return out
}
