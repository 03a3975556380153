package stagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/segflow/segflow/pkg/events"
)

// Collector gathers the events published on a subject by request id,
// their payloads being P (such as events.Failure).
type Collector[P any] struct {
	mu    sync.Mutex
	byID  map[string][]events.Event
	count int
	ch    chan struct{}
}

// Collect gathers the events published on subject from now on, until the
// test ends.
func Collect[P any](t testing.TB, env *Env, subject string) *Collector[P] {
	t.Helper()
	c := &Collector[P]{byID: map[string][]events.Event{}, ch: make(chan struct{}, 1)}
	sub, err := env.NC.Subscribe(subject, func(m *nats.Msg) {
		ev, err := events.Decode(m.Data)
		if err != nil {
			t.Errorf("a message on %s that is not an event: %v", subject, err)
			return
		}
		c.mu.Lock()
		c.byID[ev.Subject] = append(c.byID[ev.Subject], ev)
		c.count++
		c.mu.Unlock()
		select {
		case c.ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return c
}

// N is how many events of request id came so far.
func (c *Collector[P]) N(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID[id])
}

// Count is how many events came so far, of every request.
func (c *Collector[P]) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// Event returns the k-th (from 1) event of request id, waiting for it.
func (c *Collector[P]) Event(t testing.TB, id string, k int) events.Event {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		c.mu.Lock()
		evs := c.byID[id]
		c.mu.Unlock()
		if len(evs) >= k {
			return evs[k-1]
		}
		select {
		case <-c.ch:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no event %d of request %s within 15s", k, id)
		}
	}
}

// Wait returns the payload of the k-th (from 1) event of request id,
// waiting for it.
func (c *Collector[P]) Wait(t testing.TB, id string, k int) P {
	t.Helper()
	return decode[P](t, c.Event(t, id, k))
}
