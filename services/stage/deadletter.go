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

// publishDeadLetter publishes d on its stage's dead-letter subject. Its
// event id is the original message's stream and sequence, so the stage
// and the forwarder dead-lettering the same message publish it once.
func publishDeadLetter(ctx context.Context, js jetstream.Publisher, subjects events.Subjects, d events.DeadLetter, now time.Time) error {
	e, err := events.NewEvent(events.Source(d.Stage), d, now)
	if err != nil {
		return err
	}
	_, err = events.Publish(ctx, js, subjects.DeadLetter(d.Stage), e)
	return err
}

// ForwardDeadLetters turns the server's max-deliveries advisories into
// dead letters until ctx is done: for a message whose last delivery
// timed out (its stage crashed or hung) the runner never saw the end, and
// the advisory is all that is left. Every stage process runs it; the
// advisory consumer shares the work among them. m (nil for none) counts
// the dead letters it makes.
func ForwardDeadLetters(ctx context.Context, js jetstream.JetStream, p *events.Pipeline, m *Metrics, log zerolog.Logger, now func() time.Time) error {
	it, err := p.DeadLetter.Messages()
	if err != nil {
		return fmt.Errorf("consuming max-deliveries advisories: %w", err)
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := forward(ctx, js, p, m, msg, now()); err != nil {
			log.Warn().Err(err).Msg("forwarding a dead letter failed; retried later")
			_ = msg.NakWithDelay(5 * time.Second)
			continue
		}
		_ = msg.Ack()
	}
}

func forward(ctx context.Context, js jetstream.JetStream, p *events.Pipeline, m *Metrics, msg jetstream.Msg, now time.Time) error {
	var a events.MaxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data(), &a); err != nil {
		return nil // not an advisory we can use: drop it
	}
	stage := a.Stage()
	if stage == "" || a.Stream != p.Stream.CachedInfo().Config.Name {
		return nil
	}
	raw, err := p.Stream.GetMsg(ctx, a.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // aged out of the stream: nothing to keep
	}
	if err != nil {
		return err
	}
	d := events.DeadLetter{
		Stage: stage, Stream: a.Stream, Consumer: a.Consumer, StreamSequence: a.StreamSeq,
		Deliveries: a.Deliveries, Subject: raw.Subject, Received: raw.Time,
		Reason: "its deliveries ran out without an answer from the stage (it crashed, hung or was stopped)",
		Replay: fmt.Sprintf("segflow dlq replay %s %d", stage, a.StreamSeq),
	}
	if ids := raw.Header[events.MsgIDHeader]; len(ids) > 0 {
		d.MsgID = ids[0]
	}
	if ev, err := events.Decode(raw.Data); err == nil && events.ValidateRequestID(ev.Subject) == nil {
		d.RequestID = ev.Subject
	}
	d.SetMessage(raw.Data)
	if err := publishDeadLetter(ctx, js, p.Subjects, d, now); err != nil {
		return err
	}
	if m != nil {
		m.deadLetters.WithLabelValues(string(stage)).Inc()
	}
	return nil
}
