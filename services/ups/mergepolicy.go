package ups

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Merge policies (aep-api.md §8; SW-PROF /config/mergePolicies): how the
// profile store merges an identity's fragments. This file holds the
// object and its rules; mergepolicy_api.go the internal API;
// mergepolicy_store.go persistence; mergepolicy_http.go,
// mergepolicy_request.go and mergepolicy_query.go the HTTP API.

const mergePoliciesBase = "/data/core/ups/config/mergePolicies"

// identityGraph.type and attributeMerge.type values (the spec's enums).
const (
	graphNone              = "none" // no identity stitching
	graphPDG               = "pdg"  // stitch through the private identity graph
	mergeTimestampOrdered  = "timestampOrdered"
	mergeDataSetPrecedence = "dataSetPrecedence"
)

// profileClass is the schema.name merge policies are for. Merge policies
// merge record (profile) fragments; ups knows no other record class.
const profileClass = "_xdm.context.profile"

// The built-in default every org and sandbox starts with, so that
// segmentation works before anyone creates a policy. Its id is the one the
// export-job examples use.
const (
	builtinPolicyID   = "timestampOrdered-none-mp"
	builtinPolicyName = "Default timestamp-ordered"
)

// maxPoliciesPerOrg is the guardrail "5 merge policies/org" (aep-api.md
// §6, D-GR): the policies an org created, in all its sandboxes. The
// built-in defaults do not count: every sandbox gets one on first use, so
// counting them would let merely opening sandboxes use up the org's room.
const maxPoliciesPerOrg = 5

// Errors of the internal API; handlers map them to the UPS error shape.
var (
	// errMergePolicyNotFound is also what another org's or sandbox's
	// policy looks like: isolation never reveals that an id exists.
	errMergePolicyNotFound = errors.New("merge policy not found")
	// errNoDefaultMergePolicy: the caller's sandbox has no default policy
	// for the schema (it was deleted or set to default:false). The
	// Platform then merges nothing and stitches nothing (SW-PROF).
	errNoDefaultMergePolicy = errors.New("no default merge policy")
)

// MergePolicy is a merge policy as the profile store and segmentation use
// it. Values handed out by policyStore are copies. The JSON tags are the
// file format; the API serves view().
type MergePolicy struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Org     string `json:"imsOrgId"`
	Sandbox string `json:"sandboxName"`
	// Schema is the XDM class name; always profileClass today.
	Schema string `json:"schema"`
	// IdentityGraph is graphNone or graphPDG.
	IdentityGraph string `json:"identityGraph"`
	// AttributeMerge is mergeTimestampOrdered or mergeDataSetPrecedence.
	AttributeMerge string `json:"attributeMerge"`
	// Order lists dataset ids, highest priority first; set exactly when
	// AttributeMerge is dataSetPrecedence. Datasets not listed are not
	// merged at all.
	Order        []string `json:"order,omitempty"`
	Default      bool     `json:"default"`
	ActiveOnEdge bool     `json:"isActiveOnEdge"`
	// Version starts at 1 and grows by one with every change.
	Version int `json:"version"`
	// Created and Updated are Unix ms (updateEpoch is Updated in seconds).
	Created int64 `json:"created"`
	Updated int64 `json:"updated"`
}

// validate checks the fields a client sets. Errors are *badRequestError
// naming the field.
func (p *MergePolicy) validate() error {
	if p.Schema != profileClass {
		return badRequestf("schema.name %q is not supported: merge policies apply to the XDM Individual Profile class, %s", truncate(p.Schema, 100), profileClass)
	}
	if err := checkGraph(p.IdentityGraph); err != nil {
		return err
	}
	if err := checkAttributeMerge(p.AttributeMerge); err != nil {
		return err
	}
	switch p.AttributeMerge {
	case mergeTimestampOrdered:
		if len(p.Order) > 0 {
			return badRequestf("attributeMerge.order applies only to attributeMerge.type %s", mergeDataSetPrecedence)
		}
	case mergeDataSetPrecedence:
		if len(p.Order) == 0 {
			return badRequestf("attributeMerge.order is required with attributeMerge.type %s: the dataset ids, highest priority first", mergeDataSetPrecedence)
		}
		seen := make(map[string]bool, len(p.Order))
		for i, id := range p.Order {
			if strings.TrimSpace(id) == "" {
				return badRequestf("attributeMerge.order[%d] is empty: it must be a dataset id", i)
			}
			if seen[id] {
				return badRequestf("attributeMerge.order lists dataset %q twice", truncate(id, 100))
			}
			seen[id] = true
		}
	}
	return nil
}

func checkGraph(t string) error {
	switch t {
	case graphNone, graphPDG:
		return nil
	case "":
		return badRequestf("identityGraph.type is required: %s or %s", graphNone, graphPDG)
	}
	return badRequestf("identityGraph.type %q is invalid: use %s or %s", truncate(t, 50), graphNone, graphPDG)
}

func checkAttributeMerge(t string) error {
	switch t {
	case mergeTimestampOrdered, mergeDataSetPrecedence:
		return nil
	case "":
		return badRequestf("attributeMerge.type is required: %s or %s", mergeTimestampOrdered, mergeDataSetPrecedence)
	}
	return badRequestf("attributeMerge.type %q is invalid: use %s or %s", truncate(t, 50), mergeTimestampOrdered, mergeDataSetPrecedence)
}

// policySchema resolves a schema name as clients write it (the class
// name, or the class $id) to the one merge policies use.
func policySchema(name string) (string, error) {
	switch id, ok := canonicalSchema(strings.TrimSpace(name)); {
	case name == "":
		return "", badRequestf("schema.name is required: %s", profileClass)
	case ok && id == schemaProfile:
		return profileClass, nil
	}
	return "", badRequestf("schema.name %q is not supported: merge policies apply to the XDM Individual Profile class, %s", truncate(name, 100), profileClass)
}

// builtinPolicy is the built-in default of an org and sandbox.
func builtinPolicy(c Caller, now int64) MergePolicy {
	return MergePolicy{
		ID:             builtinPolicyID,
		Name:           builtinPolicyName,
		Org:            c.Org,
		Sandbox:        c.Sandbox,
		Schema:         profileClass,
		IdentityGraph:  graphNone,
		AttributeMerge: mergeTimestampOrdered,
		Default:        true,
		Version:        1,
		Created:        now,
		Updated:        now,
	}
}

// newPolicyID is a new policy id: a random UUID, like the Platform's.
func newPolicyID() string {
	h := []byte(randomHex(16))
	h[12] = '4'             // version 4
	h[16] = "89ab"[h[16]%4] // RFC 4122 variant
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

// validPolicyID reports whether id can be a file name: the ids ups makes
// (UUIDs and builtinPolicyID) always can.
func validPolicyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// policyView is a policy as the API serves it, fields in the documented
// order.
type policyView struct {
	ID             string             `json:"id"`
	Name           string             `json:"name"`
	ImsOrgID       string             `json:"imsOrgId"`
	Sandbox        sandboxView        `json:"sandbox"`
	Schema         schemaNameView     `json:"schema"`
	Version        int                `json:"version"`
	IdentityGraph  identityGraphView  `json:"identityGraph"`
	AttributeMerge attributeMergeView `json:"attributeMerge"`
	Default        bool               `json:"default"`
	IsActiveOnEdge bool               `json:"isActiveOnEdge"`
	UpdateEpoch    int64              `json:"updateEpoch"` // Unix seconds
}

type sandboxView struct {
	SandboxID   string `json:"sandboxId"`
	SandboxName string `json:"sandboxName"`
	Type        string `json:"type"`
	Default     bool   `json:"default"`
}

type schemaNameView struct {
	Name string `json:"name"`
}

type identityGraphView struct {
	Type string `json:"type"`
}

type attributeMergeView struct {
	Type  string   `json:"type"`
	Order []string `json:"order,omitempty"`
}

func (p MergePolicy) view() policyView {
	return policyView{
		ID:             p.ID,
		Name:           p.Name,
		ImsOrgID:       p.Org,
		Sandbox:        sandboxOf(p.Org, p.Sandbox),
		Schema:         schemaNameView{p.Schema},
		Version:        p.Version,
		IdentityGraph:  identityGraphView{p.IdentityGraph},
		AttributeMerge: attributeMergeView{p.AttributeMerge, p.Order},
		Default:        p.Default,
		IsActiveOnEdge: p.ActiveOnEdge,
		UpdateEpoch:    p.Updated / 1000,
	}
}

// sandboxOf describes a sandbox the way the Platform does. ups has no
// sandbox registry: the id is derived from the org and name, so it is
// stable, and "prod" is the production default sandbox.
func sandboxOf(org, name string) sandboxView {
	sum := sha256.Sum256([]byte(org + "\x00" + name))
	h := hex.EncodeToString(sum[:16])
	v := sandboxView{
		SandboxID:   h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32],
		SandboxName: name,
		Type:        "development",
	}
	if name == "prod" {
		v.Type, v.Default = "production", true
	}
	return v
}
