package ups

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/segflow/segflow/pkg/pql"
)

// Segment definitions (aep-api.md §1; SW-SEG /segment/definitions): a
// named PQL predicate over profiles. This file holds the object and its
// rules; segdef_store.go persistence and the internal API; segdef_http.go
// and segdef_query.go the HTTP API; segdef_conversion.go POST
// /segment/conversion.

const (
	segmentDefinitionsBase = "/data/core/ups/segment/definitions"
	segmentConversionPath  = "/data/core/ups/segment/conversion"
)

// Values of the wire format.
const (
	exprTypePQL      = "PQL"
	exprTypeARL      = "ARL" // in SW-SEG's enum; "only PQL is supported" (D-SD)
	formatPQLText    = "pql/text"
	formatPQLJSON    = "pql/json"
	profileInstance  = "ups" // the only profile instance
	defaultTTLInDays = 30    // what the list examples show; the default is [UNCONF]
	maxTTLInDays     = 36500
	maxDefNameLength = 1024
)

// Errors of the internal API; handlers map them to the UPS error shape.
var (
	// errDefinitionNotFound is also what another org's or sandbox's
	// definition looks like: isolation never reveals that an id exists.
	errDefinitionNotFound = errors.New("segment definition not found")
)

// conflictError is a request that is valid but clashes with the state of
// the sandbox: a name already taken, a definition others use. It is a 422,
// the only conflict status SW-SEG declares for definitions ("already
// exists" on create); its message is safe to show.
type conflictError struct{ detail string }

func (e *conflictError) Error() string { return e.detail }

func conflictf(format string, args ...any) error {
	return &conflictError{detail: fmt.Sprintf(format, args...)}
}

// SegmentDefinition is a segment definition, in the wire format the API
// serves (field order as in D-SD's examples) and the file format it is
// stored in. It holds no maps, slices or pointers: values handed out are
// independent copies.
type SegmentDefinition struct {
	ID                string               `json:"id"`
	Schema            SegmentSchema        `json:"schema"`
	TTLInDays         int                  `json:"ttlInDays"`
	ProfileInstanceID string               `json:"profileInstanceId"`
	ImsOrgID          string               `json:"imsOrgId"`
	Sandbox           sandboxView          `json:"sandbox"`
	Name              string               `json:"name"`
	Description       string               `json:"description"`
	Expression        PQLExpression        `json:"expression"`
	EvaluationInfo    EvaluationInfo       `json:"evaluationInfo"`
	MergePolicyID     string               `json:"mergePolicyId"`
	DataGovernance    DataGovernancePolicy `json:"dataGovernancePolicy"`
	PayloadSchema     string               `json:"payloadSchema,omitempty"`
	// CreationTime and UpdateTime are Unix ms; UpdateEpoch is UpdateTime
	// in seconds.
	CreationTime int64 `json:"creationTime"`
	UpdateEpoch  int64 `json:"updateEpoch"`
	UpdateTime   int64 `json:"updateTime"`
}

// SegmentSchema is the class a definition is on: {"name": ...} or
// {"id": ...}, kept as the client wrote it.
type SegmentSchema struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
}

// PQLExpression is a definition's query. Value is pql/text, or pql/json
// encoded as a JSON string (SW-SEG's examples), per Format.
type PQLExpression struct {
	Type   string `json:"type"`
	Format string `json:"format"`
	Value  string `json:"value"`
}

// EvaluationInfo says how a definition is evaluated: batch (segment
// jobs), continuous (streaming) or synchronous (edge).
type EvaluationInfo struct {
	Batch       EvaluationMode `json:"batch"`
	Continuous  EvaluationMode `json:"continuous"`
	Synchronous EvaluationMode `json:"synchronous"`
}

// EvaluationMode is {"enabled": bool}.
type EvaluationMode struct {
	Enabled bool `json:"enabled"`
}

// DataGovernancePolicy is {"excludeOptOut": bool}.
type DataGovernancePolicy struct {
	ExcludeOptOut bool `json:"excludeOptOut"`
}

// query parses the definition's expression, whatever its format.
func (d SegmentDefinition) query() (*pql.Query, error) {
	return parsePQL(d.Expression.Format, d.Expression.Value)
}

// parsePQL parses value written in format. Errors are pql's
// (*pql.SyntaxError, with the position and what was expected) or name an
// unknown format.
func parsePQL(format, value string) (*pql.Query, error) {
	switch format {
	case formatPQLText:
		return pql.Parse(value)
	case formatPQLJSON:
		return pql.ParseJSON([]byte(value))
	}
	return nil, fmt.Errorf("expression.format %q is not supported: use %s or %s", format, formatPQLText, formatPQLJSON)
}

// parseExpression checks an expression's type and format and parses its
// value. Errors are *badRequestError carrying the parser's message.
func parseExpression(e PQLExpression) (*pql.Query, error) {
	switch e.Type {
	case exprTypePQL:
	case "":
		return nil, badRequestf("expression.type is required: %s", exprTypePQL)
	case exprTypeARL:
		return nil, badRequestf("expression.type %s is not supported: only %s is", exprTypeARL, exprTypePQL)
	default:
		return nil, badRequestf("expression.type %q is invalid: use %s", truncate(e.Type, 50), exprTypePQL)
	}
	switch e.Format {
	case formatPQLText, formatPQLJSON:
	case "":
		return nil, badRequestf("expression.format is required: %s or %s", formatPQLText, formatPQLJSON)
	default:
		return nil, badRequestf("expression.format %q is invalid: use %s or %s", truncate(e.Format, 50), formatPQLText, formatPQLJSON)
	}
	if strings.TrimSpace(e.Value) == "" {
		return nil, badRequestf("expression.value is required: a %s query", e.Format)
	}
	q, err := parsePQL(e.Format, e.Value)
	if err != nil {
		return nil, badRequestf("expression.value is not valid %s: %v", e.Format, err)
	}
	return q, nil
}

// checkDefinitionSchema accepts the profile class (or its union), by name
// or $id: ups segments profiles only.
func checkDefinitionSchema(s SegmentSchema) error {
	ref, field := s.Name, "schema.name"
	if ref == "" {
		ref, field = s.ID, "schema.id"
	}
	if ref == "" {
		return badRequestf(`schema is required: {"name": %q}`, profileClass)
	}
	if id, ok := canonicalSchema(ref); ok && (id == schemaProfile || id == schemaProfileUnion) {
		return nil
	}
	return badRequestf("%s %q is not supported: segment definitions apply to the XDM Individual Profile class, %s", field, truncate(ref, 100), profileClass)
}

// Request bodies (POST, PATCH, conversion) are typed with pointers, so
// that a missing field can be told from an empty one and a wrong type is
// a 400 that names the field. Fields the server maintains (imsOrgId,
// sandbox, creationTime, updateTime, updateEpoch) are ignored: clients
// PATCH back what they read.
type definitionRequest struct {
	ID                *string `json:"id"`
	Name              *string `json:"name"`
	Description       *string `json:"description"`
	ProfileInstanceID *string `json:"profileInstanceId"`
	Schema            *struct {
		Name *string `json:"name"`
		ID   *string `json:"id"`
	} `json:"schema"`
	Expression *struct {
		Type   *string         `json:"type"`
		Format *string         `json:"format"`
		Value  json.RawMessage `json:"value"`
	} `json:"expression"`
	EvaluationInfo *struct {
		Batch       *evaluationModeRequest `json:"batch"`
		Continuous  *evaluationModeRequest `json:"continuous"`
		Synchronous *evaluationModeRequest `json:"synchronous"`
	} `json:"evaluationInfo"`
	MergePolicyID  *string `json:"mergePolicyId"`
	TTLInDays      *int    `json:"ttlInDays"`
	DataGovernance *struct {
		ExcludeOptOut *bool `json:"excludeOptOut"`
	} `json:"dataGovernancePolicy"`
	PayloadSchema *string `json:"payloadSchema"`
}

type evaluationModeRequest struct {
	Enabled *bool `json:"enabled"`
}

func (m *evaluationModeRequest) enabled() bool { return m != nil && deref(m.Enabled) }

// expression reads the request's expression. A pql/json value may also
// be sent as the JSON object itself rather than a string holding it; it
// is kept as a compact string either way.
func (req *definitionRequest) expression() (PQLExpression, error) {
	if req.Expression == nil {
		return PQLExpression{}, badRequestf(`expression is required: {"type": "PQL", "format": "pql/text", "value": "..."}`)
	}
	e := PQLExpression{Type: deref(req.Expression.Type), Format: deref(req.Expression.Format)}
	raw := bytes.TrimSpace(req.Expression.Value)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &e.Value); err != nil {
			return PQLExpression{}, badRequestf("expression.value is not a valid JSON string: %s", jsonProblem(err))
		}
	case raw[0] == '{' && e.Format == formatPQLJSON:
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return PQLExpression{}, badRequestf("expression.value is not valid JSON: %s", jsonProblem(err))
		}
		e.Value = b.String()
	default:
		return PQLExpression{}, badRequestf("expression.value must be a string holding the %s query", cmp.Or(e.Format, formatPQLText))
	}
	return e, nil
}

// parseDefinitionBody reads a POST or PATCH body into a definition's
// client fields, with the defaults of D-SD applied (evaluationInfo batch,
// ttlInDays, profileInstanceId, dataGovernancePolicy), and returns the id
// the body names ("" if none). The expression is checked for type and
// format and parsed here; what depends on the sandbox (the profile schema,
// inSegment ids, the merge policy, the name's uniqueness) is the store's.
// Everything is checked before the definition is looked up, so a bad
// request is a 400 whether or not the definition exists.
func parseDefinitionBody(body []byte) (SegmentDefinition, string, error) {
	var req definitionRequest
	if err := decodeObject(body, &req); err != nil {
		return SegmentDefinition{}, "", err
	}
	d := SegmentDefinition{
		Name:              deref(req.Name),
		Description:       deref(req.Description),
		ProfileInstanceID: cmp.Or(deref(req.ProfileInstanceID), profileInstance),
		MergePolicyID:     deref(req.MergePolicyID),
		TTLInDays:         defaultTTLInDays,
		PayloadSchema:     deref(req.PayloadSchema),
		DataGovernance:    DataGovernancePolicy{ExcludeOptOut: true},
		EvaluationInfo:    EvaluationInfo{Batch: EvaluationMode{true}},
	}
	switch {
	case req.Name == nil:
		return SegmentDefinition{}, "", badRequestf("name is required: a name unique in the sandbox")
	case strings.TrimSpace(d.Name) == "":
		return SegmentDefinition{}, "", badRequestf("name is empty: it must be a name unique in the sandbox")
	case len(d.Name) > maxDefNameLength:
		return SegmentDefinition{}, "", badRequestf("name is %d bytes long, the limit is %d", len(d.Name), maxDefNameLength)
	case req.Schema == nil:
		return SegmentDefinition{}, "", badRequestf(`schema is required: {"name": %q}`, profileClass)
	}
	d.Schema = SegmentSchema{Name: deref(req.Schema.Name), ID: deref(req.Schema.ID)}
	if err := checkDefinitionSchema(d.Schema); err != nil {
		return SegmentDefinition{}, "", err
	}
	if d.ProfileInstanceID != profileInstance {
		return SegmentDefinition{}, "", badRequestf("profileInstanceId %q is unknown: the profile instance is %q", truncate(d.ProfileInstanceID, 100), profileInstance)
	}
	if req.TTLInDays != nil {
		if *req.TTLInDays < 1 || *req.TTLInDays > maxTTLInDays {
			return SegmentDefinition{}, "", badRequestf("ttlInDays %d is invalid: it must be from 1 to %d", *req.TTLInDays, maxTTLInDays)
		}
		d.TTLInDays = *req.TTLInDays
	}
	if ei := req.EvaluationInfo; ei != nil {
		d.EvaluationInfo = EvaluationInfo{
			Batch:       EvaluationMode{ei.Batch.enabled()},
			Continuous:  EvaluationMode{ei.Continuous.enabled()},
			Synchronous: EvaluationMode{ei.Synchronous.enabled()},
		}
	}
	if dg := req.DataGovernance; dg != nil && dg.ExcludeOptOut != nil {
		d.DataGovernance.ExcludeOptOut = *dg.ExcludeOptOut
	}
	var err error
	if d.Expression, err = req.expression(); err != nil {
		return SegmentDefinition{}, "", err
	}
	if _, err := parseExpression(d.Expression); err != nil {
		return SegmentDefinition{}, "", err
	}
	return d, deref(req.ID), nil
}

// definitionLocation is a definition's href, for X-Location.
func definitionLocation(id string) string { return segmentDefinitionsBase + "/" + id }

// definitionNotFound words a 404 the way UPS does for its entities.
func definitionNotFound(id string) string {
	return fmt.Sprintf("The segment definition %s is not found. Use a valid segment definition and try again.", truncate(id, 100))
}
