package stage

import (
	"context"
	"errors"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/segflow/segflow/pkg/events"
)

// updateStatus applies change to the request's status record, creating
// it if needed. Two stages never work on one request at once, but a
// redelivery may race its predecessor: the update is a compare-and-set,
// retried a few times. A record a later stage wrote is left as it is: a
// redelivery of a message whose event went out before its ack was lost
// (the process died) runs again while the next stages carry the request
// on, and must not move the record back to this stage. Status is for
// people: a failure to write it is logged, never fatal to the message.
func (r *Runner[In]) updateStatus(ctx context.Context, m *Msg, in In, change func(*events.Status)) {
	if m.RequestID == "" {
		return
	}
	kv := r.Pipeline.Status
	key := events.StatusKey(m.RequestID)
	for range 5 {
		var s events.Status
		var rev uint64
		if m.status != nil {
			// This message wrote the record last: skip reading it back.
			// Should another write have come in between, the update fails
			// on its revision and the loop reads the record.
			s, rev, m.status = *m.status, m.statusRev, nil
			change(&s)
			if r.writeStatus(ctx, m, key, &s, rev) {
				return
			}
			continue
		}
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			s = events.NewStatus(m.RequestID, events.LabelsOf(in), r.now())
		case err != nil:
			m.log.Warn().Err(err).Msg("reading the request status")
			return
		default:
			if s, err = events.DecodeStatus(e.Value()); err != nil {
				s = events.NewStatus(m.RequestID, events.LabelsOf(in), r.now())
			}
			rev = e.Revision()
			if stageIndex(s.Stage) > stageIndex(r.Stage) {
				m.log.Debug().Str("status_stage", string(s.Stage)).Str("status_state", string(s.State)).Msg("the request is past this stage; its status is left as it is")
				return
			}
		}
		change(&s)
		if r.writeStatus(ctx, m, key, &s, rev) {
			return
		}
	}
	m.log.Warn().Msg("the request status kept changing under this stage; not updated")
}

// writeStatus writes s over revision rev (0: a new record). It reports
// false when another write came first, so the caller reads again; any
// other failure is logged and ends the update (true).
func (r *Runner[In]) writeStatus(ctx context.Context, m *Msg, key string, s *events.Status, rev uint64) bool {
	s.Updated = r.now()
	data, err := s.Encode()
	if err != nil {
		m.log.Warn().Err(err).Msg("encoding the request status")
		return true
	}
	kv := r.Pipeline.Status
	var next uint64
	if rev == 0 {
		next, err = kv.Create(ctx, key, data)
	} else {
		next, err = kv.Update(ctx, key, data, rev)
	}
	switch {
	case err == nil:
		m.status, m.statusRev = s, next
		return true
	// A lost race: ErrKeyRevisionMismatch covers both the single-replica
	// and the replicated streams' error codes.
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return false
	default:
		m.log.Warn().Err(err).Msg("writing the request status")
		return true
	}
}

// stageIndex is the stage's place in the pipeline (-1 if none).
func stageIndex(s events.Stage) int { return slices.Index(events.Stages(), s) }
