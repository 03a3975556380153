package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
)

// Meta is what a handler's Decode knows of a message besides its body.
type Meta struct {
	Stream    string
	Sequence  uint64 // stream sequence: stable across redeliveries
	Delivery  int    // 1 for the first delivery
	Published time.Time
	Subject   string
	Header    map[string][]string
}

// Msg is one message while its handler works on it: its delivery, the
// request's intent record, and what the handler reports back.
type Msg struct {
	Meta
	// RequestID is the request the message belongs to.
	RequestID string
	// Intent is the stage's intent record for the request, as the last
	// delivery left it (zero on the first).
	Intent events.Intent

	log     zerolog.Logger
	stage   events.Stage
	intents jetstream.KeyValue
	rev     uint64 // the intent's KV revision, 0 when absent
	// status is the request's status record as this message last wrote
	// it, at statusRev: the next update starts from it.
	status    *events.Status
	statusRev uint64
	now       func() time.Time
	polls     int
}

// Log is the message's logger (stage, request id, delivery).
func (m *Msg) Log() *zerolog.Logger { return &m.log }

// SaveIntent records the step the handler is about to take (or has
// taken) and the Platform ids it holds, before it creates anything: a
// redelivery then finds the ids and resumes instead of creating again.
// It fails if another delivery of the same request changed the record
// meanwhile.
func (m *Msg) SaveIntent(ctx context.Context, step string, ids events.PlatformIDs) error {
	now := m.now()
	in := m.Intent
	if in.Started.IsZero() {
		in = events.Intent{RequestID: m.RequestID, Stage: m.stage, Started: now}
	}
	in.Step, in.PlatformIDs, in.Updated = step, ids, now
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	key := events.IntentKey(m.stage, m.RequestID)
	var rev uint64
	if m.rev == 0 {
		rev, err = m.intents.Create(ctx, key, data)
	} else {
		rev, err = m.intents.Update(ctx, key, data, m.rev)
	}
	if err != nil {
		return fmt.Errorf("recording the %s intent of request %s: %w", m.stage, m.RequestID, err)
	}
	m.Intent, m.rev = in, rev
	return nil
}

// loadIntent reads the request's intent record, if any.
func (m *Msg) loadIntent(ctx context.Context) error {
	e, err := m.intents.Get(ctx, events.IntentKey(m.stage, m.RequestID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the %s intent of request %s: %w", m.stage, m.RequestID, err)
	}
	if err := json.Unmarshal(e.Value(), &m.Intent); err != nil {
		// Retrying cannot mend it: fail the request, saying what to do.
		return Fail("the %s intent record of request %s (key %q of the intents bucket) is damaged: %v; delete that key, then send the request again", m.stage, m.RequestID, events.IntentKey(m.stage, m.RequestID), err)
	}
	m.rev = e.Revision()
	return nil
}

// Polled reports that the handler polled a Platform job n times until it
// finished (segflow_stage_job_polls).
func (m *Msg) Polled(n int) { m.polls += n }
