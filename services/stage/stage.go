package stage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
)

// Handler is one stage's work on messages of input type In.
type Handler[In events.Payload] interface {
	// Decode reads a message body. On error it returns what it could read
	// (the request id and labels, if any) with the error: the message is
	// failed (the definer: rejected) at once.
	Decode(body []byte, meta Meta) (In, error)
	// Handle does the stage's work and returns the payload to publish.
	// Errors are classified as the package documentation says.
	Handle(ctx context.Context, in In, m *Msg) (events.Payload, error)
}

// Config is what every stage service reads from the environment.
type Config struct {
	// Concurrency is how many messages the stage handles at once.
	Concurrency int `env:"SEGFLOW_STAGE_CONCURRENCY, default=16"`
	// ShutdownTimeout is how long a stopping stage lets in-flight messages
	// finish before handing them back for redelivery.
	ShutdownTimeout time.Duration `env:"SEGFLOW_SHUTDOWN_TIMEOUT, default=20s"`
	// Deadline bounds a request's whole run: a message older than this
	// (from its request's first event) fails instead of being retried.
	Deadline time.Duration `env:"SEGFLOW_REQUEST_DEADLINE, default=6h"`
}

// Validate checks the configuration, naming the variable at fault.
func (c Config) Validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return fmt.Errorf("SEGFLOW_STAGE_CONCURRENCY must be from 1 to 4096, not %d", c.Concurrency)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("SEGFLOW_SHUTDOWN_TIMEOUT must not be negative")
	case c.Deadline <= 0:
		return fmt.Errorf("SEGFLOW_REQUEST_DEADLINE must be positive")
	}
	return nil
}

// Runner runs one stage over a pipeline.
type Runner[In events.Payload] struct {
	Stage    events.Stage
	Handler  Handler[In]
	Pipeline *events.Pipeline
	JS       jetstream.JetStream
	Config   Config
	Metrics  *Metrics
	Log      zerolog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	readyMu sync.Mutex
	ready   bool
}

// Name is the runner's stage.
func (r *Runner[In]) Name() events.Stage { return r.Stage }

// Ready reports whether the runner is consuming.
func (r *Runner[In]) Ready() bool {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	return r.ready
}

func (r *Runner[In]) setReady(v bool) {
	r.readyMu.Lock()
	r.ready = v
	r.readyMu.Unlock()
}

func (r *Runner[In]) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run consumes until ctx is done, then stops taking messages, lets the
// ones in hand finish for up to Config.ShutdownTimeout and hands the rest
// back for redelivery.
func (r *Runner[In]) Run(ctx context.Context) error {
	if err := r.Config.Validate(); err != nil {
		return err
	}
	cons, ok := r.Pipeline.Consumers[r.Stage]
	if !ok {
		return fmt.Errorf("stage %s: the pipeline has no consumer for it", r.Stage)
	}
	r.Metrics.start(r.Stage, r.Config.Deadline)
	r.setReady(true)
	defer r.setReady(false)
	r.Log.Info().Str("stage", string(r.Stage)).Int("concurrency", r.Config.Concurrency).Msg("stage consuming")

	// Handlers run under work, which outlives ctx by the shutdown timeout.
	work, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(errShutdown)
	sem := make(chan struct{}, r.Config.Concurrency)
	var wg sync.WaitGroup
	for {
		// A message is pulled only once a handler is free for it. One
		// pulled ahead would wait unseen by the heartbeat; once its ack
		// wait ran out, JetStream would deliver it again, and the two
		// deliveries could be handled at once — two creates of the same
		// Platform object, which the intents cannot tell from a crash.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				break
			}
			if pullAgain(err) {
				if !errors.Is(err, nats.ErrTimeout) {
					r.Log.Warn().Err(err).Str("stage", string(r.Stage)).Msg("pulling a message failed; pulling again")
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
				continue
			}
			r.Log.Error().Err(err).Str("stage", string(r.Stage)).Msg("consuming failed")
			wg.Wait()
			return fmt.Errorf("stage %s: consuming: %w", r.Stage, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.handle(work, msg)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.Config.ShutdownTimeout):
		stopWork(errShutdown)
		<-done
	}
	r.Log.Info().Str("stage", string(r.Stage)).Msg("stage stopped")
	return nil
}

// pullAgain reports whether a failed pull is worth repeating: it found
// no message in time, or the connection is down for a while.
func pullAgain(err error) bool {
	for _, e := range []error{nats.ErrTimeout, jetstream.ErrNoHeartbeat, nats.ErrDisconnected, nats.ErrConnectionReconnecting, nats.ErrNoResponders} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// handle takes one message from delivery to ack (or nak).
func (r *Runner[In]) handle(ctx context.Context, jm jetstream.Msg) {
	start := r.now()
	stage := string(r.Stage)
	md, err := jm.Metadata()
	if err != nil {
		r.Log.Error().Err(err).Str("stage", stage).Msg("a message without metadata; terminated")
		_ = jm.Term()
		return
	}
	meta := Meta{
		Stream: md.Stream, Sequence: md.Sequence.Stream, Delivery: int(md.NumDelivered),
		Published: md.Timestamp, Subject: jm.Subject(), Header: jm.Headers(),
	}
	r.Metrics.inFlight.WithLabelValues(stage).Inc()
	defer r.Metrics.inFlight.WithLabelValues(stage).Dec()
	if meta.Delivery > 1 {
		r.Metrics.redelivered.WithLabelValues(stage).Inc()
	} else {
		if r.Stage == events.StageDefiner { // the pipeline's entry
			r.Metrics.received.Inc()
		}
		r.Metrics.hop.WithLabelValues(stage).Observe(max(0, start.Sub(meta.Published).Seconds()))
	}

	in, derr := r.Handler.Decode(jm.Data(), meta)
	m := &Msg{
		Meta: meta, RequestID: requestID(in, derr, jm.Data()), stage: r.Stage, intents: r.Pipeline.Intents, now: r.now,
	}
	m.log = r.Log.With().Str("stage", stage).Str("request_id", m.RequestID).Int("delivery", meta.Delivery).Logger()

	outcome := r.process(ctx, jm, in, derr, m)
	r.Metrics.messages.WithLabelValues(stage, outcome).Inc()
	r.Metrics.duration.WithLabelValues(stage, outcome).Observe(r.now().Sub(start).Seconds())
	if m.polls > 0 {
		r.Metrics.polls.WithLabelValues(stage).Observe(float64(m.polls))
	}
}

// process runs the handler and settles the message; it returns the
// outcome label.
func (r *Runner[In]) process(ctx context.Context, jm jetstream.Msg, in In, derr error, m *Msg) string {
	if derr != nil {
		return r.fail(ctx, jm, in, m, asProblem(derr, r.Stage == events.StageDefiner))
	}
	if age := r.now().Sub(m.Published); age > r.Config.Deadline {
		r.Metrics.expired.WithLabelValues(string(r.Stage)).Inc()
		return r.fail(ctx, jm, in, m, &ProblemError{Problem: events.Problem{
			Reason: fmt.Sprintf("the request's deadline passed: its %s message is %v old (SEGFLOW_REQUEST_DEADLINE %v)", r.Stage, age.Round(time.Second), r.Config.Deadline),
		}})
	}
	r.updateStatus(ctx, m, in, func(s *events.Status) { s.Begin(r.Stage, r.now()) })
	if err := m.loadIntent(ctx); err != nil {
		if pe := (*ProblemError)(nil); errors.As(err, &pe) {
			return r.fail(ctx, jm, in, m, pe)
		}
		return r.retry(ctx, jm, in, m, err)
	}

	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if s, ok := any(in).(sandboxed); ok {
		hctx = platform.WithSandbox(hctx, s.EventSandbox())
	}
	stopBeat := r.heartbeat(hctx, jm)
	out, err := r.Handler.Handle(hctx, in, m)
	stopBeat()
	if err != nil {
		var pe *ProblemError
		switch {
		case errors.As(err, &pe):
			return r.fail(ctx, jm, in, m, pe)
		case errors.Is(context.Cause(hctx), errShutdown):
			_ = jm.Nak()
			m.log.Info().Msg("handed back at shutdown")
			return outcomeHandedBack
		}
		return r.retry(ctx, jm, in, m, err)
	}
	if _, err := r.publish(ctx, out); err != nil {
		return r.retry(ctx, jm, in, m, err)
	}
	r.updateStatus(ctx, m, in, func(s *events.Status) { s.Record(out, r.now()) })
	if err := jm.DoubleAck(ctx); err != nil {
		// Published already: a redelivery republishes the same event id,
		// which JetStream drops.
		m.log.Warn().Err(err).Msg("ack failed after publishing")
	}
	if br, ok := out.(events.BatchReady); ok {
		r.Metrics.finish(resultReady, br.Timings.Requested, r.now())
	}
	m.log.Info().Str("published", out.EventType()).Msg("done")
	return outcomeSucceeded
}

// requestID is the request a message belongs to: its payload's, or, when
// the payload could not be decoded, its envelope's subject, so that the
// request still gets its failure event.
func requestID(in events.Payload, derr error, body []byte) string {
	if id := in.EventSubject(); id != "" || derr == nil {
		return id
	}
	if e, err := events.Decode(body); err == nil && events.ValidateRequestID(e.Subject) == nil {
		return e.Subject
	}
	return ""
}

// sandboxed is a payload that names the request's Platform sandbox: every
// Platform call its handler makes goes there (an empty name: the client's).
type sandboxed interface{ EventSandbox() string }

// asProblem makes a decode error a permanent problem: a rejection for the
// definer (the request itself is bad), a failure for the others.
func asProblem(err error, rejected bool) *ProblemError {
	var pe *ProblemError
	if errors.As(err, &pe) {
		return pe
	}
	return &ProblemError{Problem: events.ProblemFrom(err), Rejected: rejected, err: err}
}

// fail publishes the stage's failure event for a permanent problem and
// acks the message.
func (r *Runner[In]) fail(ctx context.Context, jm jetstream.Msg, in In, m *Msg, pe *ProblemError) string {
	f := events.NewFailure(r.Stage, in, pe.Problem)
	f.RequestID = m.RequestID // also when in could not be decoded
	f.Rejected = pe.Rejected
	f.Attempts = m.Delivery
	f.PlatformIDs = events.MergeIDs(m.Intent.PlatformIDs, f.PlatformIDs)
	outcome := outcomeFailed
	if pe.Rejected {
		outcome = outcomeRejected
	}
	if f.RequestID == "" {
		// Nothing to tie a failure event or status to: only a dead letter.
		m.log.Warn().Str("reason", pe.Reason).Msg("a message without a request id; dead-lettered")
		return r.deadLetter(ctx, jm, m, pe.Reason)
	}
	if _, err := r.publish(ctx, f); err != nil {
		// Keep the problem: should this be the last delivery, the dead
		// letter says what was wrong, not only that publishing failed.
		return r.retry(ctx, jm, in, m, fmt.Errorf("publishing the failure (%s): %w", pe.Reason, err))
	}
	r.updateStatus(ctx, m, in, func(s *events.Status) { s.Record(f, r.now()) })
	r.finishFailed(f, m)
	if err := jm.DoubleAck(ctx); err != nil {
		m.log.Warn().Err(err).Msg("ack failed after publishing the failure")
	}
	m.log.Warn().Str("reason", pe.Reason).Bool("rejected", pe.Rejected).Msg("failed")
	return outcome
}

// finishFailed records the end of a request whose failure event f was
// published. A request rejected before the definer took it has no start
// time but its segment.requested message's.
func (r *Runner[In]) finishFailed(f events.Failure, m *Msg) {
	result, requested := resultFailed, f.Timings.Requested
	if f.Rejected {
		result = resultRejected
	}
	if requested.IsZero() && r.Stage == events.StageDefiner {
		requested = m.Published
	}
	r.Metrics.finish(result, requested, r.now())
}

// retry hands the message back for redelivery after the backoff, or, on
// its last delivery, publishes a retryable failure and dead-letters it.
func (r *Runner[In]) retry(ctx context.Context, jm jetstream.Msg, in In, m *Msg, cause error) string {
	cfg := r.Pipeline.Config
	if m.Delivery >= cfg.MaxDeliver {
		p := events.ProblemFrom(cause)
		p.Reason = fmt.Sprintf("gave up after %d deliveries: %s", m.Delivery, p.Reason)
		p.Retryable = true
		if m.RequestID != "" {
			f := events.NewFailure(r.Stage, in, p)
			f.RequestID = m.RequestID
			f.Attempts = m.Delivery
			f.PlatformIDs = events.MergeIDs(m.Intent.PlatformIDs, f.PlatformIDs)
			if _, err := r.publish(ctx, f); err != nil {
				m.log.Error().Err(err).Msg("publishing the failure of a dead letter")
			} else {
				r.updateStatus(ctx, m, in, func(s *events.Status) { s.Record(f, r.now()) })
				r.finishFailed(f, m)
			}
		}
		return r.deadLetter(ctx, jm, m, p.Reason)
	}
	delay := backoff(cfg.BackOff, m.Delivery)
	m.log.Warn().Err(cause).Dur("retry_in", delay).Msg("will retry")
	if err := jm.NakWithDelay(delay); err != nil {
		m.log.Warn().Err(err).Msg("nak failed; the message comes back after its ack wait")
	}
	return outcomeRetried
}

// deadLetter publishes the message on the stage's dead-letter subject and
// terminates it.
func (r *Runner[In]) deadLetter(ctx context.Context, jm jetstream.Msg, m *Msg, reason string) string {
	d := events.DeadLetter{
		Stage: r.Stage, Stream: m.Stream, Consumer: events.ConsumerName(r.Stage),
		StreamSequence: m.Sequence, Deliveries: uint64(m.Delivery), Subject: m.Subject,
		Reason: reason, Received: m.Published,
	}
	if events.ValidateRequestID(m.RequestID) == nil {
		d.RequestID = m.RequestID
	}
	if ids := m.Header[events.MsgIDHeader]; len(ids) > 0 {
		d.MsgID = ids[0]
	}
	d.SetMessage(jm.Data())
	d.Replay = fmt.Sprintf("segflow dlq replay %s %d", r.Stage, m.Sequence)
	if err := publishDeadLetter(ctx, r.JS, r.Pipeline.Subjects, d, r.now()); err != nil {
		m.log.Error().Err(err).Msg("dead-lettering failed; the message comes back")
		_ = jm.NakWithDelay(backoff(r.Pipeline.Config.BackOff, m.Delivery))
		return outcomeRetried
	}
	_ = jm.Term()
	r.Metrics.deadLetters.WithLabelValues(string(r.Stage)).Inc()
	m.log.Error().Str("reason", reason).Msg("dead-lettered")
	return outcomeDeadLettered
}

// publish publishes a payload as an event of this stage on its subject.
func (r *Runner[In]) publish(ctx context.Context, p events.Payload) (*jetstream.PubAck, error) {
	e, err := events.NewEvent(events.Source(r.Stage), p, r.now())
	if err != nil {
		return nil, err
	}
	return events.Publish(ctx, r.JS, r.Pipeline.Subjects.For(p), e)
}

// heartbeat keeps the message from being redelivered while the handler
// works; the returned function stops it.
func (r *Runner[In]) heartbeat(ctx context.Context, jm jetstream.Msg) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.Pipeline.Config.InProgressInterval())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = jm.InProgress()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// backoff is the delay before redelivery after delivery n fails. The
// schedule is the consumer's BackOff: entry i is the ack wait of delivery
// i+1, so the wait before delivery n+1 is entry n (the last repeating).
func backoff(schedule []time.Duration, n int) time.Duration {
	if len(schedule) == 0 {
		return time.Second
	}
	return schedule[min(max(n, 0), len(schedule)-1)]
}
