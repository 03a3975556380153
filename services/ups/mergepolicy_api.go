package ups

// The internal merge policy API: what the HTTP handlers, the profile store
// and segmentation call. Every call is made for a Caller and sees only the
// policies of the caller's org and sandbox: anything else is
// errMergePolicyNotFound. Changes return once they are on disk. Input
// errors are *badRequestError.

// get returns the caller's policy id, or errMergePolicyNotFound.
func (p *policyStore) get(c Caller, id string) (MergePolicy, error) {
	sp, err := p.scope(c)
	if err != nil {
		return MergePolicy{}, err
	}
	p.mu.RLock()
	pol, ok := sp.byID[id]
	p.mu.RUnlock()
	if !ok {
		return MergePolicy{}, errMergePolicyNotFound
	}
	return clonePolicy(pol), nil
}

// defaultFor returns the caller's default policy for schema (a class name
// or $id; "" is the profile class), or errNoDefaultMergePolicy.
func (p *policyStore) defaultFor(c Caller, schema string) (MergePolicy, error) {
	if schema == "" {
		schema = profileClass
	}
	name, err := policySchema(schema)
	if err != nil {
		return MergePolicy{}, err
	}
	sp, err := p.scope(c)
	if err != nil {
		return MergePolicy{}, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, pol := range sp.byID {
		if pol.Default && pol.Schema == name {
			return clonePolicy(pol), nil
		}
	}
	return MergePolicy{}, errNoDefaultMergePolicy
}

// resolve is the policy a request names by id, or the profile default
// when it names none (a segment definition without mergePolicyId).
func (p *policyStore) resolve(c Caller, id string) (MergePolicy, error) {
	if id == "" {
		return p.defaultFor(c, profileClass)
	}
	return p.get(c, id)
}

// list returns the caller's policies in creation order.
func (p *policyStore) list(c Caller) ([]MergePolicy, error) {
	sp, err := p.scope(c)
	if err != nil {
		return nil, err
	}
	p.mu.RLock()
	out := sortedPolicies(sp.byID)
	p.mu.RUnlock()
	for i := range out {
		out[i] = clonePolicy(out[i])
	}
	return out, nil
}

// create stores a new policy in the caller's sandbox from in's client
// fields (Name, Schema, IdentityGraph, AttributeMerge, Order, Default,
// ActiveOnEdge). Errors are *badRequestError for invalid input and for
// the guardrail.
func (p *policyStore) create(c Caller, in MergePolicy) (MergePolicy, error) {
	if err := in.validate(); err != nil {
		return MergePolicy{}, err
	}
	sp, err := p.scope(c)
	if err != nil {
		return MergePolicy{}, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if n := p.orgPolicies(scopeOf(c).orgKey); n >= maxPoliciesPerOrg {
		return MergePolicy{}, badRequestf("the organization already has %d merge policies besides the built-in defaults, the most allowed (guardrail: %d merge policies per organization): delete one first", n, maxPoliciesPerOrg)
	}
	now := p.stamp()
	pol := clientFields(in)
	pol.ID = newUnusedID(&p.mu, sp.byID)
	pol.Org, pol.Sandbox = c.Org, c.Sandbox
	pol.Version = 1
	pol.Created, pol.Updated = now, now
	return pol, p.commit(sp, pol, nil)
}

// update applies change to the caller's policy id, then validates it and
// stores it as the next version.
func (p *policyStore) update(c Caller, id string, change func(*MergePolicy) error) (MergePolicy, error) {
	sp, err := p.scope(c)
	if err != nil {
		return MergePolicy{}, err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.RLock()
	old, ok := sp.byID[id]
	p.mu.RUnlock()
	if !ok {
		return MergePolicy{}, errMergePolicyNotFound
	}
	pol := clonePolicy(old)
	if err := change(&pol); err != nil {
		return MergePolicy{}, err
	}
	if err := pol.validate(); err != nil {
		return MergePolicy{}, err
	}
	// change may only touch client fields.
	pol.ID, pol.Org, pol.Sandbox, pol.Created = old.ID, old.Org, old.Sandbox, old.Created
	pol.Version = old.Version + 1
	pol.Updated = p.stamp()
	return pol, p.commit(sp, pol, &old)
}

// replace overwrites the caller's policy id with in's client fields (PUT).
func (p *policyStore) replace(c Caller, id string, in MergePolicy) (MergePolicy, error) {
	return p.update(c, id, func(pol *MergePolicy) error {
		*pol = clientFields(in)
		return nil
	})
}

// remove deletes the caller's policy id. Deleting the default leaves the
// schema without one until another policy is made the default.
func (p *policyStore) remove(c Caller, id string) error {
	sp, err := p.scope(c)
	if err != nil {
		return err
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.RLock()
	pol, ok := sp.byID[id]
	p.mu.RUnlock()
	if !ok {
		return errMergePolicyNotFound
	}
	if id == builtinPolicyID {
		pol.Updated = p.stamp()
		err = p.write(policyRecord{MergePolicy: pol, Deleted: true})
	} else {
		err = p.unlink(pol)
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	delete(sp.byID, id)
	p.mu.Unlock()
	return nil
}
