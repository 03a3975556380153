package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// DeadLetter (dlq.<stage>, type segflow.dead_letter.v1) holds a message a
// stage could not handle within its deliveries, with what is needed to
// replay it: the original subject and body.
type DeadLetter struct {
	// RequestID is the request's id when the message held one.
	RequestID string `json:"requestId,omitempty"`
	Labels    Labels `json:"labels,omitempty"`
	Stage     Stage  `json:"stage"`
	// Stream, Consumer and StreamSequence locate the original message.
	Stream         string `json:"stream"`
	Consumer       string `json:"consumer"`
	StreamSequence uint64 `json:"streamSequence"`
	Deliveries     uint64 `json:"deliveries"`
	// Subject is the original message's subject, where a replay goes.
	Subject string `json:"subject"`
	// MsgID is the original Nats-Msg-Id, if any.
	MsgID string `json:"msgId,omitempty"`
	// Reason is the last error the stage met, when it knew it.
	Reason string `json:"reason,omitempty"`
	// Message is the original body when it is JSON; MessageBase64 holds it
	// otherwise. SetMessage picks; Body reads either.
	Message       json.RawMessage `json:"message,omitempty"`
	MessageBase64 []byte          `json:"messageBase64,omitempty"`
	// Replay is the command that replays it, for people.
	Replay string `json:"replay,omitempty"`
	// Received is when the original message was stored.
	Received time.Time `json:"received,omitzero"`
}

// SetMessage stores the original body.
func (d *DeadLetter) SetMessage(body []byte) {
	d.Message, d.MessageBase64 = nil, nil
	if json.Valid(body) {
		d.Message = append(json.RawMessage(nil), body...)
	} else {
		d.MessageBase64 = append([]byte(nil), body...)
	}
}

// Body is the original body.
func (d DeadLetter) Body() []byte {
	if d.Message != nil {
		return d.Message
	}
	return d.MessageBase64
}

// EventType is TypeDeadLetter.
func (DeadLetter) EventType() string { return TypeDeadLetter }

// EventSubject is the request id, possibly empty.
func (d DeadLetter) EventSubject() string { return d.RequestID }

// eventID is unique per dead-lettered stream message, so that forwarding
// the same one twice stores it once.
func (d DeadLetter) eventID() string {
	return d.Stream + "/" + strconv.FormatUint(d.StreamSequence, 10) + "/" + TypeDeadLetter
}

func (d DeadLetter) check() error {
	switch {
	case !d.Stage.Valid():
		return invalid("stage", fmt.Sprintf("%q is not a stage", d.Stage))
	case d.Stream == "" || d.StreamSequence == 0:
		return invalid("streamSequence", "the original stream and sequence are required")
	case d.Subject == "":
		return invalid("subject", "is missing")
	}
	return nil
}

// ReplayMsgID is the Nats-Msg-Id of a replay of the dead letter: the
// original id (which the duplicate window would drop) suffixed with
// "/replay/<stream sequence>", so a replay is itself published once.
func (d DeadLetter) ReplayMsgID() string {
	base := d.MsgID
	if base == "" {
		base = d.Stream
	}
	return base + "/replay/" + strconv.FormatUint(d.StreamSequence, 10)
}

// ReplayMsg is the message that replays the dead letter: the original
// body on the original subject, with ReplayMsgID as Nats-Msg-Id.
func (d DeadLetter) ReplayMsg() *nats.Msg {
	m := nats.NewMsg(d.Subject)
	m.Data = d.Body()
	m.Header.Set(MsgIDHeader, d.ReplayMsgID())
	return m
}
