package ups

import (
	"errors"

	"github.com/segflow/segflow/pkg/pql"
)

// converter turns a batch's records into store records or row errors. Its
// workers decode in parallel against the batch's schema as it is; a record
// that needs the schema to learn a field comes back as a learn and is
// decoded again, one at a time, by learn.
type converter struct {
	schema  *pql.Schema
	event   bool
	dataset string
	ids     identityFields
	lay     eventLayout
}

// identityFields are the indexes of identityMap and of an identity's id
// and primary fields: declared by the XDM schema, so they never move.
type identityFields struct{ profileMap, eventMap, id, primary int }

// learn is a record the workers could not decode without a schema change.
type learn struct{ line []byte }

func newConverter(schema *pql.Schema, event bool, dataset string) *converter {
	var ids identityFields
	var mt *pql.Type
	ids.profileMap, mt, _ = schema.Profile().Lookup("identityMap")
	ids.eventMap, _, _ = schema.Event().Lookup("identityMap")
	if mt != nil && mt.Elem != nil {
		ids.id, _, _ = mt.Elem.Elem.Lookup("id")
		ids.primary, _, _ = mt.Elem.Elem.Lookup("primary")
	}
	return &converter{schema: schema, event: event, dataset: dataset, ids: ids, lay: layoutOf(schema)}
}

// worker returns the function a records worker converts lines with.
func (c *converter) worker() func(row int, line []byte) any {
	return func(row int, line []byte) any {
		v, err := c.decodeKnown(line)
		if errors.Is(err, pql.ErrSchemaChange) {
			return learn{append([]byte(nil), line...)}
		}
		return c.record(v, err)
	}
}

// learn decodes a record, letting the batch's schema learn its fields.
// The workers decode ahead of learning, so most records sent here decode
// without a change by the time they arrive: try that first, as learning
// takes the schema's write lock and stops the workers.
func (c *converter) learn(l learn) any {
	v, err := c.decodeKnown(l.line)
	if errors.Is(err, pql.ErrSchemaChange) {
		if c.event {
			v, err = c.schema.DecodeEvent(l.line)
		} else {
			v, err = c.schema.DecodeProfile(l.line)
		}
	}
	return c.record(v, err)
}

func (c *converter) decodeKnown(line []byte) (pql.Value, error) {
	if c.event {
		return c.schema.DecodeKnownEvent(line)
	}
	return c.schema.DecodeKnownProfile(line)
}

// fromMap converts a record that a records reader decoded.
func (c *converter) fromMap(doc map[string]any) any {
	var v pql.Value
	var err error
	if c.event {
		v, err = c.schema.EventValue(doc)
	} else {
		v, err = c.schema.ProfileValue(doc)
	}
	return c.record(v, err)
}

// record checks a decoded record: a newFragment, a newEvent or a *rowError.
func (c *converter) record(v pql.Value, err error) any {
	if err != nil {
		var te *pql.TypeError
		if errors.As(err, &te) {
			return &rowError{Code: codeTypeMismatch, Message: err.Error()}
		}
		return &rowError{Code: codeMalformed, Message: err.Error()}
	}
	if !c.event {
		ids := c.identities(v.Index(c.ids.profileMap))
		if len(ids) == 0 {
			return &rowError{Code: codeMissingIdentity, Message: "the record has no identity: identityMap needs at least one id"}
		}
		return newFragment{dataset: c.dataset, identities: ids, value: v}
	}
	id := v.Index(c.lay.id).Str()
	if id == "" {
		return &rowError{Code: codeMissingField, Message: "an ExperienceEvent needs _id"}
	}
	ts := v.Index(c.lay.ts)
	if ts.Kind() != pql.KindTime {
		return &rowError{Code: codeMissingField, Message: "an ExperienceEvent needs timestamp"}
	}
	ids := c.identities(v.Index(c.ids.eventMap))
	if len(ids) == 0 {
		return &rowError{Code: codeMissingIdentity, Message: "the event has no identity: identityMap needs at least one id"}
	}
	return newEvent{id: id, identities: ids, timestamp: ts.Micros(), value: v}
}

// identities reads an identityMap value: every non-empty id, the primary
// first (the one flagged primary, else the first by namespace and
// position; map entries come sorted by namespace).
func (c *converter) identities(m pql.Value) []identityKey {
	var out []identityKey
	primary := -1
	for i := range m.Len() {
		ns, list := m.Entry(i)
		for _, item := range list.Elems() {
			id := item.Index(c.ids.id).Str()
			if id == "" {
				continue
			}
			if item.Index(c.ids.primary).Bool() && primary < 0 {
				primary = len(out)
			}
			out = append(out, newIdentityKey(ns, id))
		}
	}
	if primary > 0 {
		out[0], out[primary] = out[primary], out[0]
	}
	return out
}
