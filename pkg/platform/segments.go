package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Segment definitions (aep-api.md §1): named PQL predicates over profiles,
// under /data/core/ups/segment/definitions, and POST /segment/conversion.
//
// Retries: reads, PATCH (a whole-object overwrite: repeating it writes the
// same object) and DELETE are retried; so is a conversion, which stores
// nothing. A create is not retried after a 5xx or a broken connection
// (only after a 429 or a refused connection, which the Platform did not
// act on): the first attempt may have created the definition, and a
// second would fail with 422 (names are unique) or, on a Platform that
// did not check, make a twin. The caller — a stage with its own intent
// record — looks the name up (FindSegmentDefinitions) before trying again.

const (
	segmentBase            = "/data/core/ups/segment"
	segmentDefinitionsPath = segmentBase + "/definitions"
	segmentConversionPath  = segmentBase + "/conversion"
)

// Expression types and formats.
const (
	ExpressionPQL = "PQL"
	FormatPQLText = "pql/text"
	FormatPQLJSON = "pql/json"
)

// Expression is a definition's query. Value is PQL text, or for pql/json
// the JSON tree as text (the API sends it as a JSON string; an object is
// accepted when decoding and kept as its compact text).
type Expression struct {
	Type   string `json:"type"`   // ExpressionPQL
	Format string `json:"format"` // FormatPQLText or FormatPQLJSON
	Value  string `json:"value"`
}

// PQL is a pql/text expression.
func PQL(text string) Expression {
	return Expression{Type: ExpressionPQL, Format: FormatPQLText, Value: text}
}

// UnmarshalJSON accepts a value that is a string or a JSON object.
func (e *Expression) UnmarshalJSON(b []byte) error {
	type plain Expression
	w := struct {
		*plain
		Value json.RawMessage `json:"value"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	raw := bytes.TrimSpace(w.Value)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		e.Value = ""
	case raw[0] == '"':
		return json.Unmarshal(raw, &e.Value)
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return err
		}
		e.Value = buf.String()
	}
	return nil
}

// EvaluationInfo says how a definition is evaluated: batch (segment jobs),
// continuous (streaming) or synchronous (edge). Omitted on create means
// batch.
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

// SegmentDefinition is a segment definition. Name, Schema and Expression
// are required to create one; the server sets ID, IMSOrgID, Sandbox and
// the times (and defaults MergePolicyID to the sandbox's default policy).
type SegmentDefinition struct {
	ID                string                `json:"id,omitempty"`
	Name              string                `json:"name,omitempty"`
	Description       string                `json:"description,omitempty"`
	ProfileInstanceID string                `json:"profileInstanceId,omitempty"`
	Schema            SchemaName            `json:"schema"`
	Expression        Expression            `json:"expression"`
	EvaluationInfo    *EvaluationInfo       `json:"evaluationInfo,omitempty"`
	MergePolicyID     string                `json:"mergePolicyId,omitempty"`
	TTLInDays         int                   `json:"ttlInDays,omitempty"`
	PayloadSchema     string                `json:"payloadSchema,omitempty"`
	DataGovernance    *DataGovernancePolicy `json:"dataGovernancePolicy,omitempty"`
	IMSOrgID          string                `json:"imsOrgId,omitempty"`
	Sandbox           *Sandbox              `json:"sandbox,omitempty"`
	CreationTime      int64                 `json:"creationTime,omitempty"` // Unix ms
	UpdateEpoch       int64                 `json:"updateEpoch,omitempty"`  // Unix s
	UpdateTime        int64                 `json:"updateTime,omitempty"`   // Unix ms
}

// CreateSegmentDefinition creates a definition and returns it as stored
// (the Platform answers 200 with it). An empty Schema becomes
// ProfileClass, an empty ProfileInstanceID "ups", an empty Expression
// type "PQL" and format pql/text.
//
// Not retried after a 5xx or a broken connection (see the top of this
// file). A name already taken is a 422: errors.Is(err, ErrBadRequest).
func (c *Client) CreateSegmentDefinition(ctx context.Context, def SegmentDefinition) (SegmentDefinition, error) {
	def = def.withDefaults()
	if def.Name == "" || def.Expression.Value == "" {
		return SegmentDefinition{}, errors.New("platform: CreateSegmentDefinition: a definition needs a Name and an Expression")
	}
	// Only what the client may set: the server's fields of a definition
	// read earlier are not sent.
	def.ID, def.IMSOrgID, def.Sandbox = "", "", nil
	def.CreationTime, def.UpdateEpoch, def.UpdateTime = 0, 0, 0
	var out SegmentDefinition
	if err := c.do(ctx, call{op: "CreateSegmentDefinition", method: http.MethodPost, path: segmentDefinitionsPath, jsonBody: def, out: &out}); err != nil {
		return SegmentDefinition{}, err
	}
	if out.ID == "" {
		return SegmentDefinition{}, errors.New("platform: CreateSegmentDefinition: the answer has no definition id")
	}
	return out, nil
}

func (d SegmentDefinition) withDefaults() SegmentDefinition {
	if d.Schema == (SchemaName{}) {
		d.Schema.Name = ProfileClass
	}
	if d.ProfileInstanceID == "" {
		d.ProfileInstanceID = ProfileInstance
	}
	if d.Expression.Type == "" {
		d.Expression.Type = ExpressionPQL
	}
	if d.Expression.Format == "" {
		d.Expression.Format = FormatPQLText
	}
	return d
}

// SegmentDefinition returns the definition id.
func (c *Client) SegmentDefinition(ctx context.Context, id string) (SegmentDefinition, error) {
	var out SegmentDefinition
	err := c.do(ctx, call{op: "SegmentDefinition", method: http.MethodGet, path: segmentDefinitionsPath + "/" + escape(id), out: &out})
	return out, err
}

// UpdateSegmentDefinition overwrites the definition def.ID with def (the
// API's PATCH takes the whole object, not a JSON Patch): read it, change
// it, send it back. It returns the definition as stored. Retried like a
// PUT: repeating an overwrite writes the same object.
func (c *Client) UpdateSegmentDefinition(ctx context.Context, def SegmentDefinition) (SegmentDefinition, error) {
	if def.ID == "" {
		return SegmentDefinition{}, errors.New("platform: UpdateSegmentDefinition: the definition has no ID")
	}
	def = def.withDefaults()
	var out SegmentDefinition
	err := c.do(ctx, call{op: "UpdateSegmentDefinition", method: http.MethodPatch, path: segmentDefinitionsPath + "/" + escape(def.ID), jsonBody: def, idempotent: true, out: &out})
	return out, err
}

// DeleteSegmentDefinition deletes the definition id. It is retried, so a
// 404 (ErrNotFound) may mean an earlier attempt deleted it: callers that
// want it gone treat ErrNotFound as done. A definition others use (in
// inSegment, or activated) cannot be deleted: ErrBadRequest (422).
func (c *Client) DeleteSegmentDefinition(ctx context.Context, id string) error {
	return c.do(ctx, call{op: "DeleteSegmentDefinition", method: http.MethodDelete, path: segmentDefinitionsPath + "/" + escape(id)})
}

// SegmentDefinitionListOptions select definitions.
type SegmentDefinitionListOptions struct {
	// Limit is the page size; 0 leaves the Platform's default.
	Limit int
	// Page is the 1-based page number (AEPP pages this way); 0 omits it.
	Page int
	// Start is the start parameter (an offset); 0 omits it.
	Start int64
	// Sort is <attr>:<asc|desc>[,…], such as "updateTime:desc".
	Sort string
	// Batch, Continuous and Synchronous, when set, keep the definitions
	// whose evaluationInfo.<mode>.enabled is the value.
	Batch, Continuous, Synchronous *bool
}

func (o SegmentDefinitionListOptions) values() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.Start > 0 {
		q.Set("start", strconv.FormatInt(o.Start, 10))
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	for _, f := range []struct {
		name string
		v    *bool
	}{{"evaluationInfo.batch.enabled", o.Batch}, {"evaluationInfo.continuous.enabled", o.Continuous}, {"evaluationInfo.synchronous.enabled", o.Synchronous}} {
		if f.v != nil {
			q.Set(f.name, strconv.FormatBool(*f.v))
		}
	}
	return q
}

// SegmentDefinitionPage is one page of definitions.
type SegmentDefinitionPage struct {
	Segments []SegmentDefinition `json:"segments"`
	Page     DefinitionPageInfo  `json:"page"`
	Link     PageLink            `json:"link"`
}

// DefinitionPageInfo describes a page of definitions.
type DefinitionPageInfo struct {
	TotalCount int    `json:"totalCount"`
	TotalPages int    `json:"totalPages"`
	SortField  string `json:"sortField"`
	Sort       string `json:"sort"`
	PageSize   int    `json:"pageSize"`
	Limit      int    `json:"limit"`
}

// PageLink is a list page's link to the next page.
type PageLink struct {
	// Next is the href of the next page, "" on the last.
	Next string `json:"next,omitempty"`
}

// UnmarshalJSON accepts next as a string or as {"href": "…"}: the
// Platform's services write both.
func (l *PageLink) UnmarshalJSON(b []byte) error {
	var w struct {
		Next json.RawMessage `json:"next"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	l.Next = hrefOf(w.Next)
	return nil
}

// hrefOf reads a link written as "…" or {"href": "…"}.
func hrefOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var l Link
		if json.Unmarshal(raw, &l) == nil {
			return l.Href
		}
		return ""
	}
	return rawText(raw)
}

// ListSegmentDefinitions returns one page of definitions.
func (c *Client) ListSegmentDefinitions(ctx context.Context, opts SegmentDefinitionListOptions) (SegmentDefinitionPage, error) {
	var out SegmentDefinitionPage
	err := c.do(ctx, call{op: "ListSegmentDefinitions", method: http.MethodGet, path: segmentDefinitionsPath, query: opts.values(), out: &out})
	return out, err
}

// FindSegmentDefinitions returns every definition named name (there is at
// most one: names are unique in a sandbox). The list has no name filter,
// so it pages through all definitions, page=1…totalPages as AEPP does.
func (c *Client) FindSegmentDefinitions(ctx context.Context, name string) ([]SegmentDefinition, error) {
	const limit = 100
	var out []SegmentDefinition
	for page := 1; ; page++ {
		p, err := c.ListSegmentDefinitions(ctx, SegmentDefinitionListOptions{Limit: limit, Page: page, Sort: "creationTime:asc"})
		if err != nil {
			return nil, err
		}
		for _, d := range p.Segments {
			if d.Name == name {
				out = append(out, d)
			}
		}
		// totalPages, when given, decides (a server may cap the page
		// below limit); else a short page is the last.
		last := len(p.Segments) == 0 || len(p.Segments) < limit
		if p.Page.TotalPages > 0 {
			last = len(p.Segments) == 0 || page >= p.Page.TotalPages
		}
		if last || page >= maxPages {
			return out, nil
		}
	}
}

// maxPages bounds the pages one listing walks, so that a server that
// keeps answering full pages cannot keep a caller forever.
const maxPages = 10_000

// ConvertSegmentDefinition converts def's expression from pql/text to
// pql/json or back (POST /segment/conversion). The answer holds the
// converted expression (and imsOrgId, sandbox, description, ttlInDays);
// nothing is stored, so it is retried like a read.
func (c *Client) ConvertSegmentDefinition(ctx context.Context, def SegmentDefinition) (SegmentDefinition, error) {
	def = def.withDefaults()
	var out SegmentDefinition
	err := c.do(ctx, call{op: "ConvertSegmentDefinition", method: http.MethodPost, path: segmentConversionPath, jsonBody: def, idempotent: true, out: &out})
	return out, err
}

// ConvertExpression converts an expression between pql/text and pql/json.
func (c *Client) ConvertExpression(ctx context.Context, e Expression) (Expression, error) {
	if e.Value == "" {
		return Expression{}, errors.New("platform: ConvertExpression: the expression is empty")
	}
	out, err := c.ConvertSegmentDefinition(ctx, SegmentDefinition{Schema: SchemaName{Name: ProfileClass}, Expression: e})
	if err != nil {
		return Expression{}, err
	}
	if out.Expression.Value == "" {
		return Expression{}, fmt.Errorf("platform: ConvertExpression: the answer has no expression")
	}
	return out.Expression, nil
}
