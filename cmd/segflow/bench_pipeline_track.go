package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/segflow/segflow/pkg/events"
)

// benchSource is the CloudEvents source of the bench's requests.
const benchSource = "/segflow/bench"

// benchRequest is one request the bench published and what it saw of it.
type benchRequest struct {
	id, name, pql string
	// published is the request event's time: taken just before it was
	// published.
	published time.Time

	// Filled by the tracker, under its lock.
	eventTime map[string]time.Time // CloudEvents time by event type
	received  map[string]time.Time // when the bench received it, by event type
	ready     *events.BatchReady
	failure   *events.Failure
	dead      *events.DeadLetter
	// statusBegin is when each stage recorded taking it in the status
	// bucket (its status Timings start), from a watch of the bucket.
	statusBegin map[events.Stage]time.Time
	jobMs       int64 // the segment job's run time on the Platform
	exportMs    int64 // the export job's run time on the Platform
	terminals   int   // terminal events received (more than one: a duplicate)
	ended       time.Time
	done        chan struct{}
}

// ok reports whether it ended in batch.ready.
func (r benchRequest) ok() bool { return r.ready != nil }

// finished reports whether it ended, either way.
func (r benchRequest) finished() bool { return !r.ended.IsZero() }

// benchTracker follows the bench's requests through the pipeline by
// subscribing to every subject a request's events go to (plain NATS
// subscriptions: they see each event as it is published, and leave the
// stream and its consumers alone).
type benchTracker struct {
	c         *pipelineClient
	subs      []*nats.Subscription
	stopWatch func()

	mu       sync.Mutex
	reqs     map[string]*benchRequest
	problems []string // events that could not be read
}

func newBenchTracker(c *pipelineClient) (*benchTracker, error) {
	t := &benchTracker{c: c, reqs: map[string]*benchRequest{}}
	for _, subj := range c.followSubjects() {
		sub, err := c.nc.Subscribe(subj, t.receive)
		if err != nil {
			t.stop()
			return nil, fmt.Errorf("subscribing to %s: %w", subj, err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		t.subs = append(t.subs, sub)
	}
	// The subscriptions are in place on the server before anything is
	// published.
	if err := c.nc.Flush(); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

func (t *benchTracker) stop() {
	for _, s := range t.subs {
		_ = s.Unsubscribe()
	}
	if t.stopWatch != nil {
		t.stopWatch()
	}
}

// watchStatus follows the status bucket: when a stage records that it
// took a request (state running), its status Timings start is the time
// between its status read and its status write, which splits a hop.
func (t *benchTracker) watchStatus(ctx context.Context) error {
	kv, err := t.c.statusBucket(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		cancel()
		return fmt.Errorf("watching the status bucket: %w", err)
	}
	t.stopWatch = func() { cancel(); _ = w.Stop() }
	go func() {
		for e := range w.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			st, err := events.DecodeStatus(e.Value())
			if err != nil || st.State != events.StateRunning {
				continue
			}
			tm := st.Timings.Stage(st.Stage)
			if tm == nil || tm.Start.IsZero() {
				continue
			}
			t.mu.Lock()
			if r := t.reqs[st.RequestID]; r != nil {
				if _, seen := r.statusBegin[st.Stage]; !seen {
					r.statusBegin[st.Stage] = tm.Start
				}
			}
			t.mu.Unlock()
		}
	}()
	return nil
}

// add makes a request to publish: name and pql, a new id, labelled
// bench=phase.
func (t *benchTracker) add(name, pql, phase string) (*benchRequest, events.Request, error) {
	req := events.Request{
		RequestID: events.NewRequestID(),
		Definition: events.Definition{
			Name:       name,
			Expression: events.Expression{Type: events.ExpressionTypePQL, Format: events.FormatPQLText, Value: pql},
		},
		Labels: events.Labels{"bench": phase},
	}
	req.SetDefaults()
	if err := req.Validate(); err != nil {
		return nil, req, fmt.Errorf("bench request %q: %w", name, err)
	}
	r := &benchRequest{
		id: req.RequestID, name: name, pql: pql,
		eventTime: map[string]time.Time{}, received: map[string]time.Time{}, statusBegin: map[events.Stage]time.Time{},
		done: make(chan struct{}),
	}
	t.mu.Lock()
	t.reqs[r.id] = r
	t.mu.Unlock()
	return r, req, nil
}

// event wraps req in its envelope, timed now: the request's start.
func (t *benchTracker) event(r *benchRequest, req events.Request) (events.Event, error) {
	ev, err := events.NewEvent(benchSource, req, time.Now())
	if err != nil {
		return ev, err
	}
	r.published = ev.Time
	return ev, nil
}

// publish publishes one request and waits for the server's ack.
func (t *benchTracker) publish(ctx context.Context, r *benchRequest, req events.Request) error {
	ev, err := t.event(r, req)
	if err != nil {
		return err
	}
	ack, err := events.Publish(ctx, t.c.js, t.c.subjects.Requested, ev)
	if err != nil {
		return err
	}
	if ack.Duplicate {
		return fmt.Errorf("request %s was dropped as a duplicate", r.id)
	}
	return nil
}

// publishAsyncChunk bounds the asynchronous publications in flight (the
// client's own limit is 4000).
const publishAsyncChunk = 1000

// publishAll publishes the requests at once (asynchronously, up to
// publishAsyncChunk in flight together) and waits for the server's acks.
func (t *benchTracker) publishAll(ctx context.Context, rs []*benchRequest, reqs []events.Request) error {
	futures := make([]jetstream.PubAckFuture, len(rs))
	for i, r := range rs {
		ev, err := t.event(r, reqs[i])
		if err != nil {
			return err
		}
		m, err := ev.Msg(t.c.subjects.Requested)
		if err != nil {
			return err
		}
		if futures[i], err = t.c.js.PublishMsgAsync(m, jetstream.WithMsgID(ev.ID)); err != nil {
			return fmt.Errorf("publishing request %d of %d: %w", i+1, len(rs), err)
		}
		if (i+1)%publishAsyncChunk == 0 || i == len(rs)-1 {
			select {
			case <-t.c.js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	var errs []error
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				errs = append(errs, fmt.Errorf("request %s was dropped as a duplicate", rs[i].id))
			}
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("publishing request %s: %w", rs[i].id, err))
		}
	}
	return errors.Join(errs...)
}

// receive handles one event from the subscriptions.
func (t *benchTracker) receive(m *nats.Msg) {
	now := time.Now()
	ev, err := events.Decode(m.Data)
	if err != nil {
		t.problem(fmt.Sprintf("%s: %v", m.Subject, err))
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.reqs[ev.Subject]
	var payload events.Payload
	switch ev.Type {
	case events.TypeDeadLetter:
		var p events.DeadLetter
		if err := ev.DecodeData(&p); err != nil {
			t.problems = append(t.problems, fmt.Sprintf("%s: %v", m.Subject, err))
			return
		}
		if r == nil {
			r = t.reqs[p.RequestID]
		}
		payload = p
	default:
		if r == nil {
			return // not the bench's
		}
		v, err := viewEvent(ev)
		if err != nil {
			t.problems = append(t.problems, fmt.Sprintf("%s: %v", m.Subject, err))
			return
		}
		payload = v.payload
	}
	if r == nil {
		return
	}
	if _, seen := r.received[ev.Type]; !seen {
		r.eventTime[ev.Type], r.received[ev.Type] = ev.Time, now
	}
	terminal := false
	switch p := payload.(type) {
	case events.JobSucceeded:
		r.jobMs = p.Metrics.TotalTimeMs
	case events.ExportSucceeded:
		r.exportMs = p.Metrics.TotalTimeMs
	case events.BatchReady:
		terminal = true
		if r.ready == nil {
			r.ready = &p
		}
	case events.Failure:
		terminal = true
		if r.failure == nil {
			r.failure = &p
		}
	case events.DeadLetter:
		terminal = true
		if r.dead == nil {
			r.dead = &p
		}
	}
	if !terminal {
		return
	}
	r.terminals++
	if r.ended.IsZero() {
		r.ended = now
		close(r.done)
	}
}

func (t *benchTracker) problem(s string) {
	t.mu.Lock()
	t.problems = append(t.problems, s)
	t.mu.Unlock()
}

// wait waits until every request of rs has ended, or ctx is done.
func (t *benchTracker) wait(ctx context.Context, rs []*benchRequest) error {
	for _, r := range rs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// snapshot copies r's tracked state under the lock.
func (t *benchTracker) snapshot(r *benchRequest) benchRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := *r
	c.eventTime, c.received = cloneTimes(r.eventTime), cloneTimes(r.received)
	c.statusBegin = make(map[events.Stage]time.Time, len(r.statusBegin))
	for k, v := range r.statusBegin {
		c.statusBegin[k] = v
	}
	return c
}

// unfinishedStatus is where the status bucket says an unfinished request
// stands: "segmenter running", or "no status record".
func (t *benchTracker) unfinishedStatus(ctx context.Context, id string) string {
	st, _, err := t.c.requestStatus(ctx, id)
	if errors.Is(err, errNoStatus) {
		return "no status record: no stage took it"
	}
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s %s", st.Stage, st.State)
}

func cloneTimes(m map[string]time.Time) map[string]time.Time {
	c := make(map[string]time.Time, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
