package ups

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Request bodies of the merge policy API: a policy (POST, PUT) and patch
// operations (PATCH). Both are checked in full before the policy is looked
// up, so a bad request is a 400 whether or not the policy exists. Errors
// are *badRequestError naming the field.

type schemaRequest struct {
	Name *string `json:"name"`
}

type identityGraphRequest struct {
	Type *string `json:"type"`
}

type attributeMergeRequest struct {
	Type  *string  `json:"type"`
	Order []string `json:"order"`
}

// policyRequest types a policy body, so that a wrong type is a 400 that
// names the field. Other fields (imsOrgId, sandbox, version, updateEpoch:
// the server's) are ignored.
type policyRequest struct {
	ID             *string                `json:"id"`
	Name           *string                `json:"name"`
	Schema         *schemaRequest         `json:"schema"`
	IdentityGraph  *identityGraphRequest  `json:"identityGraph"`
	AttributeMerge *attributeMergeRequest `json:"attributeMerge"`
	Default        *bool                  `json:"default"`
	IsActiveOnEdge *bool                  `json:"isActiveOnEdge"`
}

// parsePolicyBody reads a POST or PUT body: the policy's client fields,
// and the id the body names ("" if none). identityGraph, attributeMerge
// and schema are required (SW-PROF PostMergePolicy); the rest default to
// empty and false.
func parsePolicyBody(body []byte) (MergePolicy, string, error) {
	var req policyRequest
	if err := decodeObject(body, &req); err != nil {
		return MergePolicy{}, "", err
	}
	switch {
	case req.Schema == nil:
		return MergePolicy{}, "", badRequestf(`schema is required: {"name": %q}`, profileClass)
	case req.IdentityGraph == nil:
		return MergePolicy{}, "", badRequestf(`identityGraph is required: {"type": %q} or {"type": %q}`, graphNone, graphPDG)
	case req.AttributeMerge == nil:
		return MergePolicy{}, "", badRequestf(`attributeMerge is required: {"type": %q} or {"type": %q, "order": [dataset ids]}`, mergeTimestampOrdered, mergeDataSetPrecedence)
	}
	schema, err := policySchema(deref(req.Schema.Name))
	if err != nil {
		return MergePolicy{}, "", err
	}
	p := MergePolicy{
		Name:           deref(req.Name),
		Schema:         schema,
		IdentityGraph:  deref(req.IdentityGraph.Type),
		AttributeMerge: deref(req.AttributeMerge.Type),
		Order:          req.AttributeMerge.Order,
		Default:        deref(req.Default),
		ActiveOnEdge:   deref(req.IsActiveOnEdge),
	}
	if err := p.validate(); err != nil {
		return MergePolicy{}, "", err
	}
	return p, deref(req.ID), nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// patchOpRequest is one operation: {"op": "add", "path": "/name",
// "value": ...}.
type patchOpRequest struct {
	Op    *string         `json:"op"`
	Path  *string         `json:"path"`
	Value json.RawMessage `json:"value"` // nil when absent, "null" when null
}

// patchStep is one checked operation.
type patchStep struct {
	apply     func(*MergePolicy)
	setsOrder bool // it sets attributeMerge.order
}

// parsePolicyPatch reads a PATCH body, a list of operations (or, as in
// D-MP's example, a single one), into the change that applies them. The
// change is validated as a whole afterwards, so a patch may switch
// attributeMerge.type to dataSetPrecedence and add its order in two
// operations. Switching to timestampOrdered drops the order, unless the
// same patch sets one (which validation then rejects).
func parsePolicyPatch(body []byte) (func(*MergePolicy) error, error) {
	body = bytes.TrimSpace(body)
	var ops []patchOpRequest
	if len(body) > 0 && body[0] == '{' {
		var op patchOpRequest
		if err := decodeObject(body, &op); err != nil {
			return nil, err
		}
		ops = []patchOpRequest{op}
	} else {
		switch {
		case len(body) > 0 && !json.Valid(body):
			return nil, badRequestf("The request body is not valid JSON: %s", jsonProblem(json.Unmarshal(body, new(any))))
		case len(body) == 0 || body[0] != '[':
			return nil, badRequestf(`The request body must be a JSON array of operations, as in [{"op": "add", "path": "/name", "value": "..."}]`)
		}
		if err := json.Unmarshal(body, &ops); err != nil {
			return nil, badRequestf("The request body is not valid: %s", jsonProblem(err))
		}
	}
	if len(ops) == 0 {
		return nil, badRequestf("The request body lists no operations.")
	}
	steps := make([]patchStep, len(ops))
	setsOrder := false
	for i, op := range ops {
		s, err := parsePatchOp(i, op)
		if err != nil {
			return nil, err
		}
		steps[i] = s
		setsOrder = setsOrder || s.setsOrder
	}
	return func(p *MergePolicy) error {
		for _, s := range steps {
			s.apply(p)
		}
		if p.AttributeMerge == mergeTimestampOrdered && !setsOrder {
			p.Order = nil
		}
		return nil
	}, nil
}

// patchPaths names the paths a patch may set, for error messages.
const patchPaths = "/name, /identityGraph/type, /attributeMerge/type, /attributeMerge/order, /schema/name, /default or /isActiveOnEdge"

// parsePatchOp checks operation i. Paths are JSON pointers; the dotted
// spelling of the Platform's docs (/identityGraph.type) is accepted too.
func parsePatchOp(i int, op patchOpRequest) (patchStep, error) {
	switch {
	case op.Op == nil:
		return patchStep{}, badRequestf("operation %d: op is required: add or replace", i)
	case *op.Op != "add" && *op.Op != "replace":
		return patchStep{}, badRequestf("operation %d: op %q is not supported: use add or replace", i, truncate(*op.Op, 50))
	case op.Path == nil || *op.Path == "":
		return patchStep{}, badRequestf("operation %d: path is required: one of %s", i, patchPaths)
	case op.Value == nil:
		return patchStep{}, badRequestf("operation %d: value is required", i)
	}
	path := strings.ReplaceAll(strings.TrimPrefix(*op.Path, "/"), ".", "/")
	v := patchValue{i: i, path: "/" + path, raw: op.Value}
	switch path {
	case "name":
		s, err := v.str()
		return patchStep{apply: func(p *MergePolicy) { p.Name = s }}, err
	case "identityGraph/type", "identityGraph":
		t, err := v.str()
		if path == "identityGraph" {
			var g identityGraphRequest
			err = v.decode(&g, `an object {"type": ...}`)
			t = deref(g.Type)
		}
		if err == nil {
			err = checkGraph(t)
		}
		return patchStep{apply: func(p *MergePolicy) { p.IdentityGraph = t }}, err
	case "attributeMerge/type":
		t, err := v.str()
		if err == nil {
			err = checkAttributeMerge(t)
		}
		return patchStep{apply: func(p *MergePolicy) { p.AttributeMerge = t }}, err
	case "attributeMerge/order":
		var order []string
		err := v.decode(&order, "an array of dataset ids")
		return patchStep{apply: func(p *MergePolicy) { p.Order = order }, setsOrder: true}, err
	case "attributeMerge":
		var am attributeMergeRequest
		err := v.decode(&am, `an object {"type": ..., "order": [...]}`)
		if err == nil {
			err = checkAttributeMerge(deref(am.Type))
		}
		return patchStep{apply: func(p *MergePolicy) { p.AttributeMerge, p.Order = deref(am.Type), am.Order }, setsOrder: true}, err
	case "schema/name", "schema":
		name, err := v.str()
		if path == "schema" {
			var sc schemaRequest
			err = v.decode(&sc, `an object {"name": ...}`)
			name = deref(sc.Name)
		}
		if err == nil {
			name, err = policySchema(name)
		}
		return patchStep{apply: func(p *MergePolicy) { p.Schema = name }}, err
	case "default":
		b, err := v.boolean()
		return patchStep{apply: func(p *MergePolicy) { p.Default = b }}, err
	case "isActiveOnEdge", "idActiveOnEdge": // SW-PROF spells it both ways
		b, err := v.boolean()
		return patchStep{apply: func(p *MergePolicy) { p.ActiveOnEdge = b }}, err
	}
	switch root, _, _ := strings.Cut(path, "/"); root {
	case "id", "imsOrgId", "sandbox", "version", "updateEpoch":
		return patchStep{}, badRequestf("operation %d: %s is read-only: ups maintains it", i, truncate(*op.Path, 100))
	}
	return patchStep{}, badRequestf("operation %d: path %q is not a merge policy field: use %s", i, truncate(*op.Path, 100), patchPaths)
}

// patchValue is the value of operation i, which sets path.
type patchValue struct {
	i    int
	path string
	raw  json.RawMessage
}

func (v patchValue) decode(dst any, want string) error {
	if bytes.Equal(bytes.TrimSpace(v.raw), []byte("null")) || json.Unmarshal(v.raw, dst) != nil {
		return badRequestf("operation %d: the value of %s must be %s", v.i, v.path, want)
	}
	return nil
}

func (v patchValue) str() (string, error) {
	var s string
	return s, v.decode(&s, "a string")
}

// boolean reads true or false, also as the strings "true" and "false"
// (D-MP's example sends "value": "true").
func (v patchValue) boolean() (bool, error) {
	var b bool
	if json.Unmarshal(v.raw, &b) == nil && !bytes.Equal(bytes.TrimSpace(v.raw), []byte("null")) {
		return b, nil
	}
	var s string
	if json.Unmarshal(v.raw, &s) == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, badRequestf("operation %d: the value of %s must be true or false", v.i, v.path)
}
