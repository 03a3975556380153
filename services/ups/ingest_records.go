package ups

import (
	"bytes"
	"errors"
	"strings"

	"github.com/segflow/segflow/pkg/pql"
)

// converter turns a batch's records into store records or row errors. Its
// workers decode in parallel against the batch's schema as it is; a record
// that needs the schema to learn a field comes back as a learn and is
// decoded again, one at a time, by learn.
//
// It works in one of two modes. Validating, it only checks records and
// returns valid or a *rowError. Applying, it returns a newFragment or a
// newEvent whose value is already in pql's binary form, made in the
// workers: nothing of the decoded Values outlives the worker's call, so
// the workers reuse their memory and the collector has little to do.
type converter struct {
	schema  *pql.Schema
	event   bool
	dataset string
	ids     identityFields
	lay     eventLayout
	apply   bool
	pdict   *pql.Dict        // applying fragments: the scope's Dict for them
	w       recordWriter     // for learn and fromMap, which run serially
	k       pql.KnownDecoder // for learn
}

// recordWriter writes records' binary form, reusing a buffer: each record
// then costs one allocation of its exact size.
type recordWriter struct {
	enc pql.Encoder
	buf []byte
}

func (w *recordWriter) bytes(v pql.Value) []byte {
	w.buf = w.enc.Append(w.buf[:0], v)
	return bytes.Clone(w.buf)
}

// identityFields are the indexes of identityMap and of an identity's id
// and primary fields: declared by the XDM schema, so they never move.
type identityFields struct{ profileMap, eventMap, id, primary int }

// learn is a record the workers could not decode without a schema change.
type learn struct{ line []byte }

// valid is a record that passed validation.
type valid struct{}

// newValidator returns a converter that checks records.
func newValidator(schema *pql.Schema, event bool, dataset string) *converter {
	return newConverter(schema, event, dataset, false, nil)
}

// newApplier returns a converter that makes store records; fragments'
// strings are numbered by pdict.
func newApplier(schema *pql.Schema, event bool, dataset string, pdict *pql.Dict) *converter {
	return newConverter(schema, event, dataset, true, pdict)
}

func newConverter(schema *pql.Schema, event bool, dataset string, apply bool, pdict *pql.Dict) *converter {
	var ids identityFields
	var mt *pql.Type
	ids.profileMap, mt, _ = schema.Profile().Lookup("identityMap")
	ids.eventMap, _, _ = schema.Event().Lookup("identityMap")
	if mt != nil && mt.Elem != nil {
		ids.id, _, _ = mt.Elem.Elem.Lookup("id")
		ids.primary, _, _ = mt.Elem.Elem.Lookup("primary")
	}
	c := &converter{schema: schema, event: event, dataset: dataset, ids: ids, lay: layoutOf(schema), apply: apply, pdict: pdict}
	c.w.enc = c.encoder()
	return c
}

// encoder is how records are written: fragments with the scope's Dict,
// events inline (their blocks number strings when they are built).
func (c *converter) encoder() pql.Encoder {
	if c.event {
		return pql.Encoder{}
	}
	return pql.Encoder{Dict: c.pdict}
}

// worker returns the function a records worker converts lines with.
func (c *converter) worker() func(row int, line []byte) any {
	var k pql.KnownDecoder
	w := recordWriter{enc: c.encoder()}
	return func(row int, line []byte) any {
		v, err := k.Decode(c.schema, line, c.event)
		if errors.Is(err, pql.ErrSchemaChange) {
			return learn{append([]byte(nil), line...)}
		}
		return c.record(v, err, &w)
	}
}

// learn decodes a record, letting the batch's schema learn its fields.
// The workers decode ahead of learning, so most records sent here decode
// without a change by the time they arrive: try that first, as learning
// takes the schema's write lock and stops the workers.
func (c *converter) learn(l learn) any {
	v, err := c.k.Decode(c.schema, l.line, c.event)
	if errors.Is(err, pql.ErrSchemaChange) {
		if c.event {
			v, err = c.schema.DecodeEvent(l.line)
		} else {
			v, err = c.schema.DecodeProfile(l.line)
		}
	}
	return c.record(v, err, &c.w)
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
	return c.record(v, err, &c.w)
}

// record checks a decoded record: valid, a newFragment or a newEvent
// (applying), or a *rowError. v may be reused after the call: what is kept
// of it is copied.
func (c *converter) record(v pql.Value, err error, w *recordWriter) any {
	if err != nil {
		var te *pql.TypeError
		if errors.As(err, &te) {
			return &rowError{Code: codeTypeMismatch, Message: err.Error()}
		}
		return &rowError{Code: codeMalformed, Message: err.Error()}
	}
	if !c.event {
		if !c.hasIdentity(v.Index(c.ids.profileMap)) {
			return &rowError{Code: codeMissingIdentity, Message: "the record has no identity: identityMap needs at least one id"}
		}
		if !c.apply {
			return valid{}
		}
		return newFragment{dataset: c.dataset, identities: c.identities(v.Index(c.ids.profileMap)), data: w.bytes(v)}
	}
	id := v.Index(c.lay.id).Str()
	if id == "" {
		return &rowError{Code: codeMissingField, Message: "an ExperienceEvent needs _id"}
	}
	ts := v.Index(c.lay.ts)
	if ts.Kind() != pql.KindTime {
		return &rowError{Code: codeMissingField, Message: "an ExperienceEvent needs timestamp"}
	}
	if !c.hasIdentity(v.Index(c.ids.eventMap)) {
		return &rowError{Code: codeMissingIdentity, Message: "the event has no identity: identityMap needs at least one id"}
	}
	if !c.apply {
		return valid{}
	}
	return newEvent{id: strings.Clone(id), identity: c.identities(v.Index(c.ids.eventMap))[0], timestamp: ts.Micros(), data: w.bytes(v)}
}

// hasIdentity reports whether an identityMap value holds an id.
func (c *converter) hasIdentity(m pql.Value) bool {
	for i := range m.Len() {
		_, list := m.Entry(i)
		for _, item := range list.Elems() {
			if item.Index(c.ids.id).Str() != "" {
				return true
			}
		}
	}
	return false
}

// identities reads an identityMap value: every non-empty id, the primary
// first (the one flagged primary, else the first by namespace and
// position; map entries come sorted by namespace). The keys are new
// strings.
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
