package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Request defaults and limits.
const (
	DefaultSandbox      = "prod"
	DefaultSchema       = "_xdm.context.profile"
	ExpressionTypePQL   = "PQL"
	FormatPQLText       = "pql/text"
	FormatPQLJSON       = "pql/json"
	MaxExpressionLength = 64 << 10 // bytes, as the Platform's PQL limit
	MaxLabels           = 64
	MaxLabelKeyLength   = 128
	MaxLabelValueLength = 1024
)

// Request is a segment request, the message on segment.requested: a
// binding contract, since other systems publish it. Only definition.name
// and definition.expression(.value) are required. RequestID is the
// idempotency key, echoed on every event; Labels are copied onto every
// event.
type Request struct {
	RequestID  string           `json:"requestId,omitempty"`
	Sandbox    string           `json:"sandbox,omitempty"`
	Definition Definition       `json:"definition"`
	Estimate   *EstimateRequest `json:"estimate,omitempty"`
	Export     *ExportRequest   `json:"export,omitempty"`
	Labels     Labels           `json:"labels,omitempty"`
}

// Definition is the segment definition to create.
type Definition struct {
	Name          string     `json:"name"`
	Description   string     `json:"description,omitempty"`
	Schema        Schema     `json:"schema,omitzero"`
	Expression    Expression `json:"expression"`
	MergePolicyID string     `json:"mergePolicyId,omitempty"`
}

// Schema names the XDM class the segment is over.
type Schema struct {
	Name string `json:"name"`
}

// Expression is a PQL expression, as the Platform takes it.
type Expression struct {
	Type   string `json:"type"`   // "PQL"
	Format string `json:"format"` // FormatPQLText or FormatPQLJSON
	Value  string `json:"value"`  // the query; for pql/json a JSON document in a string
}

// EstimateRequest asks the definer to estimate the segment's size first and
// to reject the request when the estimate falls outside [MinSize, MaxSize].
type EstimateRequest struct {
	Enabled bool   `json:"enabled"`
	MinSize *int64 `json:"minSize,omitempty"`
	MaxSize *int64 `json:"maxSize,omitempty"`
}

// ExportRequest shapes the export job. Everything is optional.
type ExportRequest struct {
	// Fields limits the exported profile fields (dot paths); empty means all.
	Fields FieldList `json:"fields,omitempty"`
	// DatasetName is the dataset exported to, created or reused by name;
	// empty lets the exporter choose one.
	DatasetName      string            `json:"datasetName,omitempty"`
	Filter           *ExportFilter     `json:"filter,omitempty"`
	AdditionalFields *AdditionalFields `json:"additionalFields,omitempty"`
}

// ExportFilter filters exported profiles.
type ExportFilter struct {
	// FromIngestTimestamp (RFC 3339) keeps profiles updated after it.
	FromIngestTimestamp string `json:"fromIngestTimestamp,omitempty"`
}

// AdditionalFields asks for more than profiles.
type AdditionalFields struct {
	EventList *EventList `json:"eventList,omitempty"`
}

// EventList exports each profile's ExperienceEvents alongside it.
type EventList struct {
	Fields FieldList    `json:"fields,omitempty"`
	Filter *EventFilter `json:"filter,omitempty"`
}

// EventFilter bounds exported events by ingestion time (RFC 3339).
type EventFilter struct {
	FromIngestTimestamp string `json:"fromIngestTimestamp,omitempty"`
	ToIngestTimestamp   string `json:"toIngestTimestamp,omitempty"`
}

// FieldList is a list of field paths. It decodes from the Platform's
// comma-separated string ("identities.id, personalEmail.address") or from
// an array of strings, and encodes as the comma-separated string.
type FieldList []string

// String is the Platform's comma-separated form.
func (f FieldList) String() string { return strings.Join(f, ",") }

// MarshalJSON encodes the comma-separated form.
func (f FieldList) MarshalJSON() ([]byte, error) { return marshal(f.String()) }

// UnmarshalJSON accepts a comma-separated string or an array of strings.
func (f *FieldList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = nil
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*f = append(*f, p)
			}
		}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return &json.UnmarshalTypeError{Value: jsonValueKind(b), Type: reflect.TypeFor[FieldList]()}
	}
	*f = nil
	for _, p := range l {
		*f = append(*f, strings.TrimSpace(p)) // blank entries are left for Validate to refuse
	}
	return nil
}

// Labels are the requester's key-value pairs, copied onto every event. A
// nil Labels encodes as {} so that consumers always find an object.
type Labels map[string]string

// MarshalJSON encodes nil as {}.
func (l Labels) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("{}"), nil
	}
	return marshal(map[string]string(l))
}

// Clone copies the labels (nil stays nil).
func (l Labels) Clone() Labels { return maps.Clone(l) }

// EventType is TypeRequested.
func (Request) EventType() string { return TypeRequested }

// EventSubject is the request id.
func (r Request) EventSubject() string { return r.RequestID }

// EventSandbox is the Platform sandbox the request works in.
func (r Request) EventSandbox() string { return r.Sandbox }

func (r Request) check() error { return r.Validate() }

// EstimateEnabled reports whether the request asks for an estimate.
func (r Request) EstimateEnabled() bool { return r.Estimate != nil && r.Estimate.Enabled }

// ParseRequest decodes a segment.requested message body: a bare JSON
// request, or a CloudEvents envelope (recognised by its "specversion"
// attribute) whose data is one. Unknown top-level fields are tolerated
// for forward compatibility; unknown nested fields, fields in another
// case ("requestID"), and wrong types are refused. Defaults are applied
// (SetDefaults), then the request is validated (Validate).
//
// An enveloped request without a requestId gets one derived from the
// envelope's source and id (DeriveRequestID), so a redelivered envelope
// keeps it. A bare request without one keeps an empty RequestID: the
// caller sets it (DeriveRequestID of the message's stream and sequence, or
// NewRequestID).
//
// Every error is a *ValidationError (possibly wrapped) naming the field.
// On error the returned Request still holds whatever could be decoded,
// notably RequestID and Labels, for the rejection event.
func ParseRequest(body []byte) (Request, error) {
	return ParseRequestIn(body, DefaultSandbox)
}

// ParseRequestIn is ParseRequest with the sandbox a request that names
// none works in: the pipeline's (the definer's SEGFLOW_SANDBOX).
func ParseRequestIn(body []byte, defaultSandbox string) (Request, error) {
	var r Request
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return r, jsonError(err, "")
	}
	data := body
	fromEnvelope := false
	var env Event
	if _, ok := top["specversion"]; ok {
		e, err := envelopeFrom(top)
		if err != nil {
			return r, err
		}
		env, data, fromEnvelope = e, e.Data, true
	}
	if err := json.Unmarshal(data, &r); err != nil {
		err = jsonError(err, "")
		if ve, ok := err.(*ValidationError); ok && fromEnvelope && ve.Field == "" {
			ve.Field = "data" // the envelope's data as a whole
		}
		return r, err
	}
	if err := checkFields(data, reflect.TypeFor[Request](), "", true); err != nil {
		return r, err
	}
	if len(r.Labels) == 0 {
		r.Labels = nil // {} and absent are the same
	}
	if r.RequestID == "" && fromEnvelope {
		r.RequestID = DeriveRequestID(env.Source + "\x00" + env.ID)
	}
	r.setDefaults(defaultSandbox)
	return r, r.Validate()
}

// SetDefaults fills what the request may leave out: sandbox "prod",
// schema "_xdm.context.profile", expression type "PQL" and format
// "pql/text".
func (r *Request) SetDefaults() { r.setDefaults(DefaultSandbox) }

func (r *Request) setDefaults(sandbox string) {
	if r.Sandbox == "" {
		r.Sandbox = sandbox
	}
	if r.Definition.Schema.Name == "" {
		r.Definition.Schema.Name = DefaultSchema
	}
	if r.Definition.Expression.Type == "" {
		r.Definition.Expression.Type = ExpressionTypePQL
	}
	if r.Definition.Expression.Format == "" {
		r.Definition.Expression.Format = FormatPQLText
	}
}

var sandboxName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks a request after SetDefaults and returns a
// *ValidationError naming the first field at fault, in document order. It
// does not parse the PQL: the definer does, and rejects with the position.
// An empty RequestID passes (the caller assigns one).
func (r Request) Validate() error {
	if r.RequestID != "" {
		if err := ValidateRequestID(r.RequestID); err != nil {
			return err
		}
	}
	// Empty: the pipeline's sandbox, which the definer fills in.
	if r.Sandbox != "" && !sandboxName.MatchString(r.Sandbox) {
		return invalid("sandbox", fmt.Sprintf("%q is not a sandbox name (lowercase letters, digits and '-', at most 63)", r.Sandbox))
	}
	d := r.Definition
	if strings.TrimSpace(d.Name) == "" {
		return invalid("definition.name", "is required")
	}
	if strings.TrimSpace(d.Schema.Name) == "" {
		return invalid("definition.schema.name", "is empty")
	}
	if d.Expression.Type != ExpressionTypePQL {
		return invalid("definition.expression.type", fmt.Sprintf("is %q, want %q", d.Expression.Type, ExpressionTypePQL))
	}
	if d.Expression.Format != FormatPQLText && d.Expression.Format != FormatPQLJSON {
		return invalid("definition.expression.format", fmt.Sprintf("is %q, want %q or %q", d.Expression.Format, FormatPQLText, FormatPQLJSON))
	}
	switch v := d.Expression.Value; {
	case strings.TrimSpace(v) == "":
		return invalid("definition.expression.value", "is required")
	case len(v) > MaxExpressionLength:
		return invalid("definition.expression.value", fmt.Sprintf("is %d bytes long, the most is %d", len(v), MaxExpressionLength))
	case d.Expression.Format == FormatPQLJSON && !json.Valid([]byte(v)):
		return invalid("definition.expression.value", "is not a JSON document, as pql/json requires")
	}
	if e := r.Estimate; e != nil {
		for _, b := range []struct {
			field string
			v     *int64
		}{{"estimate.minSize", e.MinSize}, {"estimate.maxSize", e.MaxSize}} {
			if b.v == nil {
				continue
			}
			if *b.v < 0 {
				return invalid(b.field, fmt.Sprintf("is %d, want 0 or more", *b.v))
			}
			if !e.Enabled {
				return invalid("estimate.enabled", fmt.Sprintf("must be true when %s is set", strings.TrimPrefix(b.field, "estimate.")))
			}
		}
		if e.MinSize != nil && e.MaxSize != nil && *e.MinSize > *e.MaxSize {
			return invalid("estimate.maxSize", fmt.Sprintf("is %d, below minSize %d", *e.MaxSize, *e.MinSize))
		}
	}
	if x := r.Export; x != nil {
		if err := checkFieldList("export.fields", x.Fields); err != nil {
			return err
		}
		if x.DatasetName != "" && strings.TrimSpace(x.DatasetName) == "" {
			return invalid("export.datasetName", "is blank")
		}
		if x.Filter != nil {
			if err := checkTimestamp("export.filter.fromIngestTimestamp", x.Filter.FromIngestTimestamp); err != nil {
				return err
			}
		}
		if a := x.AdditionalFields; a != nil && a.EventList != nil {
			if err := checkFieldList("export.additionalFields.eventList.fields", a.EventList.Fields); err != nil {
				return err
			}
			if f := a.EventList.Filter; f != nil {
				const p = "export.additionalFields.eventList.filter."
				if err := checkTimestamp(p+"fromIngestTimestamp", f.FromIngestTimestamp); err != nil {
					return err
				}
				if err := checkTimestamp(p+"toIngestTimestamp", f.ToIngestTimestamp); err != nil {
					return err
				}
				if f.FromIngestTimestamp != "" && f.ToIngestTimestamp != "" {
					from, _ := time.Parse(time.RFC3339Nano, f.FromIngestTimestamp)
					to, _ := time.Parse(time.RFC3339Nano, f.ToIngestTimestamp)
					if to.Before(from) {
						return invalid(p+"toIngestTimestamp", "is before fromIngestTimestamp")
					}
				}
			}
		}
	}
	return validateLabels(r.Labels)
}

func checkFieldList(field string, l FieldList) error {
	for i, f := range l {
		if strings.TrimSpace(f) == "" || strings.Contains(f, ",") {
			return invalid(field, fmt.Sprintf("entry %d (%q) is not a field path", i+1, f))
		}
	}
	return nil
}

func checkTimestamp(field, v string) error {
	if v == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		return invalid(field, fmt.Sprintf("%q is not an RFC 3339 timestamp such as 2026-01-02T15:04:05Z", v))
	}
	return nil
}

func validateLabels(l Labels) error {
	if len(l) > MaxLabels {
		return invalid("labels", fmt.Sprintf("has %d labels, the most is %d", len(l), MaxLabels))
	}
	for _, k := range slices.Sorted(maps.Keys(l)) {
		switch {
		case strings.TrimSpace(k) == "":
			return invalid("labels", "has a blank key")
		case len(k) > MaxLabelKeyLength:
			return invalid("labels", fmt.Sprintf("a key is %d bytes long, the most is %d", len(k), MaxLabelKeyLength))
		case strings.IndexFunc(k, unicode.IsControl) >= 0:
			return invalid("labels", fmt.Sprintf("key %q holds a control character", k))
		case len(l[k]) > MaxLabelValueLength:
			return invalid("labels."+k, fmt.Sprintf("is %d bytes long, the most is %d", len(l[k]), MaxLabelValueLength))
		}
	}
	return nil
}

// checkFields walks raw JSON against the struct type t and refuses keys
// that no field has exactly (encoding/json would silently take another
// case, or drop them). Unknown keys are tolerated at the top level only.
func checkFields(raw json.RawMessage, t reflect.Type, path string, top bool) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return nil // null, or a type error that Unmarshal reported
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, k) {
						return invalid(join(path, k), fmt.Sprintf("unknown field; did you mean %q?", name))
					}
				}
				if top {
					continue
				}
				return invalid(join(path, k), "unknown field")
			}
			if err := checkFields(obj[k], f, join(path, k), false); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String || t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return nil
		}
		for i, it := range items {
			if err := checkFields(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i), false); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields maps a struct's JSON names to field types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonError turns an encoding/json error into a *ValidationError naming
// the field (under prefix).
func jsonError(err error, prefix string) error {
	var ve *ValidationError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return invalid(prefix, "must be a JSON object, got null")
	case errors.As(err, &ve):
		return err
	case errors.As(err, &se):
		return invalid("", fmt.Sprintf("not valid JSON (at byte %d): %s", se.Offset, strings.TrimPrefix(se.Error(), "json: ")))
	case errors.As(err, &te):
		return invalid(join(prefix, te.Field), fmt.Sprintf("must be %s, got %s", kindName(te.Type), te.Value))
	}
	return invalid(prefix, strings.TrimPrefix(err.Error(), "json: "))
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	if t == reflect.TypeFor[FieldList]() {
		return "a comma-separated string or an array of strings"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a " + t.Kind().String()
}

func jsonValueKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}
