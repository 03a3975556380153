package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CloudEvents constants.
const (
	// SpecVersion is the only CloudEvents version accepted.
	SpecVersion = "1.0"
	// ContentTypeJSON is the datacontenttype of every Segflow event.
	ContentTypeJSON = "application/json"
	// ContentTypeCloudEvents is the Content-Type header of a structured-mode
	// message.
	ContentTypeCloudEvents = "application/cloudevents+json"
	// MsgIDHeader is JetStream's deduplication header; Segflow sets it to
	// the event id.
	MsgIDHeader = jetstream.MsgIDHeader
)

// Event types: one per payload and version.
const (
	TypeRequested         = "segflow.segment.requested.v1"
	TypeDefinitionCreated = "segflow.definition.created.v1"
	TypeJobSucceeded      = "segflow.job.succeeded.v1"
	TypeExportSucceeded   = "segflow.export.succeeded.v1"
	TypeBatchReady        = "segflow.batch.ready.v1"
	TypeRequestRejected   = "segflow.request.rejected.v1"
	TypeDefinitionFailed  = "segflow.definition.failed.v1"
	TypeJobFailed         = "segflow.job.failed.v1"
	TypeExportFailed      = "segflow.export.failed.v1"
	TypeBatchFailed       = "segflow.batch.failed.v1"
	TypeDeadLetter        = "segflow.dead_letter.v1"
)

// Event is a CloudEvents 1.0 event in structured JSON mode, the form of
// every message on the pipeline's subjects.
type Event struct {
	SpecVersion string `json:"specversion"`
	// ID is deterministic for Segflow's events (see EventID), so that a
	// republish is dropped by JetStream's duplicate window.
	ID string `json:"id"`
	// Source is the producer, "/segflow/<stage>" for the stages.
	Source string `json:"source"`
	// Type is one of the Type constants for Segflow's events.
	Type string `json:"type"`
	// Subject is the request id.
	Subject string `json:"subject,omitempty"`
	// Time is when the event was produced.
	Time            time.Time       `json:"time,omitzero"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// Payload is the data of an event: every payload type of this package.
type Payload interface {
	// EventType is the CloudEvents type, such as TypeBatchReady.
	EventType() string
	// EventSubject is the request id the payload belongs to.
	EventSubject() string
}

// eventIDer is a payload whose event id is not EventID(subject, type).
type eventIDer interface{ eventID() string }

// Source is the CloudEvents source of a stage's events.
func Source(stage Stage) string { return "/segflow/" + string(stage) }

// EventID is the deterministic id of the event of type eventType for
// request requestID: "<requestID>/<eventType>". Publishing it again (a
// redelivered message handled twice, a crash before the ack) reuses the id,
// and JetStream drops the copy within the stream's duplicate window.
func EventID(requestID, eventType string) string {
	return requestID + "/" + eventType
}

// NewEvent wraps p in an envelope from source at time t, with the
// deterministic id, subject = the request id and JSON data. The request id
// must be valid (ValidateRequestID), except on a dead letter, which may
// have none; the payload must hold what its consumers rely on (a
// DefinitionCreated its segment id, a BatchReady its batch id and a valid
// manifest, a Failure a stage and reason, a Request must pass Validate).
func NewEvent(source string, p Payload, t time.Time) (Event, error) {
	subject := p.EventSubject()
	_, isDLQ := p.(eventIDer)
	if subject != "" || !isDLQ {
		if err := ValidateRequestID(subject); err != nil {
			return Event{}, fmt.Errorf("new %s event: %w", p.EventType(), err)
		}
	}
	if c, ok := p.(checker); ok {
		if err := c.check(); err != nil {
			return Event{}, fmt.Errorf("new %s event: %w", p.EventType(), err)
		}
	}
	data, err := marshal(p)
	if err != nil {
		return Event{}, fmt.Errorf("new %s event: encoding data: %w", p.EventType(), err)
	}
	id := EventID(subject, p.EventType())
	if d, ok := p.(eventIDer); ok {
		id = d.eventID()
	}
	e := Event{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          source,
		Type:            p.EventType(),
		Subject:         subject,
		Time:            t.UTC(),
		DataContentType: ContentTypeJSON,
		Data:            data,
	}
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("new %s event: %w", p.EventType(), err)
	}
	return e, nil
}

// Validate checks the envelope: specversion 1.0, non-empty id, source and
// type, a JSON datacontenttype if any, and JSON data that is not null.
// The error is a *ValidationError naming the attribute.
func (e Event) Validate() error {
	switch {
	case e.SpecVersion != SpecVersion:
		return invalid("specversion", fmt.Sprintf("is %q, want %q", e.SpecVersion, SpecVersion))
	case e.ID == "":
		return invalid("id", "is missing")
	case e.Source == "":
		return invalid("source", "is missing")
	case e.Type == "":
		return invalid("type", "is missing")
	}
	if e.DataContentType != "" && !isJSONContentType(e.DataContentType) {
		return invalid("datacontenttype", fmt.Sprintf("is %q, want application/json", e.DataContentType))
	}
	if d := bytes.TrimSpace(e.Data); len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return invalid("data", "is missing")
	}
	if !json.Valid(e.Data) {
		return invalid("data", "is not valid JSON")
	}
	return nil
}

func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// Encode validates the event and returns its JSON.
func (e Event) Encode() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("encoding event: %w", err)
	}
	return marshal(e)
}

// Decode parses a structured-mode CloudEvents JSON document strictly:
// specversion must be "1.0"; id, source and type non-empty strings; time,
// when present, RFC 3339; datacontenttype, when present, JSON; data present
// and not null (data_base64 is refused). Extension attributes are
// tolerated and dropped. Errors wrap a *ValidationError naming the
// attribute.
func Decode(b []byte) (Event, error) {
	e, err := decodeEnvelope(b)
	if err != nil {
		return Event{}, fmt.Errorf("decoding event: %w", err)
	}
	return e, nil
}

func decodeEnvelope(b []byte) (Event, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(b, &attrs); err != nil || attrs == nil {
		return Event{}, invalid("", "not a JSON object")
	}
	return envelopeFrom(attrs)
}

// envelopeFrom reads an envelope from its decoded top-level members.
func envelopeFrom(attrs map[string]json.RawMessage) (Event, error) {
	var e Event
	var err error
	str := func(name string, required bool) string {
		raw, ok := attrs[name]
		if err != nil || !ok {
			if err == nil && required {
				err = invalid(name, "is missing")
			}
			return ""
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			err = invalid(name, "must be a string")
		}
		return s
	}
	e.SpecVersion = str("specversion", true)
	e.ID = str("id", true)
	e.Source = str("source", true)
	e.Type = str("type", true)
	e.Subject = str("subject", false)
	e.DataContentType = str("datacontenttype", false)
	ts := str("time", false)
	if err != nil {
		return Event{}, err
	}
	if ts != "" {
		t, perr := time.Parse(time.RFC3339Nano, ts)
		if perr != nil {
			return Event{}, invalid("time", fmt.Sprintf("%q is not an RFC 3339 timestamp", ts))
		}
		e.Time = t
	}
	if _, ok := attrs["data_base64"]; ok {
		return Event{}, invalid("data_base64", "binary data is not supported: send JSON in data")
	}
	e.Data = attrs["data"]
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// DecodeData decodes the event's data into p (a pointer to a payload
// type) and checks that the payload agrees with the envelope: its
// EventType must be the envelope's type, and its request id the envelope's
// subject. Unknown data fields are tolerated (later minor versions may add
// some); wrong types are not.
func (e Event) DecodeData(p Payload) error {
	if err := json.Unmarshal(e.Data, p); err != nil {
		return fmt.Errorf("decoding %s data: %w", e.Type, jsonError(err, ""))
	}
	if got := p.EventType(); got != e.Type {
		return fmt.Errorf("decoding %s data: %w", e.Type, invalid("type", fmt.Sprintf("data is a %s payload", got)))
	}
	if got := p.EventSubject(); got != e.Subject {
		return fmt.Errorf("decoding %s data: %w", e.Type, invalid("subject", fmt.Sprintf("is %q but data.requestId is %q", e.Subject, got)))
	}
	if c, ok := p.(checker); ok {
		if err := c.check(); err != nil {
			return fmt.Errorf("decoding %s data: %w", e.Type, err)
		}
	}
	return nil
}

// DecodeAs decodes a message body into an envelope and its payload of type
// T, such as events.DecodeAs[events.BatchReady](msg.Data()).
func DecodeAs[T any, PT interface {
	*T
	Payload
}](b []byte) (Event, T, error) {
	var v T
	e, err := Decode(b)
	if err != nil {
		return Event{}, v, err
	}
	if err := e.DecodeData(PT(&v)); err != nil {
		return Event{}, v, err
	}
	return e, v, nil
}

// Msg is the NATS message that carries e on subject, with the Nats-Msg-Id
// header set to the event id and Content-Type to application/cloudevents+json.
func (e Event) Msg(subject string) (*nats.Msg, error) {
	b, err := e.Encode()
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subject)
	m.Data = b
	m.Header.Set(MsgIDHeader, e.ID)
	m.Header.Set("Content-Type", ContentTypeCloudEvents)
	return m, nil
}

// Publish publishes e on subject through JetStream with Nats-Msg-Id = the
// event id. A PubAck with Duplicate set means the server already had it.
func Publish(ctx context.Context, js jetstream.Publisher, subject string, e Event, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	m, err := e.Msg(subject)
	if err != nil {
		return nil, err
	}
	ack, err := js.PublishMsg(ctx, m, opts...) // m carries Nats-Msg-Id
	if err != nil {
		return nil, fmt.Errorf("publishing %s to %s: %w", e.Type, subject, err)
	}
	return ack, nil
}
