package segmenter_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/segmenter"
	"github.com/segflow/segflow/services/stage"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness is an embedded JetStream with the pipeline, a segmenter runner
// over a Platform at base, and collectors of the segmenter's subjects.
type harness struct {
	env       *stagetest.Env
	client    *platform.Client
	handler   *counting
	succeeded *collector
	failed    *collector
	cancel    context.CancelFunc
	done      chan error
}

// counting wraps the segmenter to count its deliveries per request.
type counting struct {
	*segmenter.Handler
	mu      sync.Mutex
	handled map[string]int
}

func (c *counting) Handle(ctx context.Context, in events.DefinitionCreated, m *stage.Msg) (events.Payload, error) {
	c.mu.Lock()
	c.handled[in.RequestID]++
	c.mu.Unlock()
	return c.Handler.Handle(ctx, in, m)
}

func (c *counting) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handled[id]
}

func newClient(t *testing.T, base string) *platform.Client {
	t.Helper()
	c, err := platform.New(platform.Config{
		BaseURL: base, ClientID: "segflow-dev", ClientSecret: "segflow-dev-secret", OrgID: "SEGFLOWDEV@AdobeOrg", Sandbox: "prod",
	}, platform.Options{Retry: platform.RetryPolicy{MaxAttempts: 4, Backoff: platform.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fastConfig polls jobs quickly.
func fastConfig() segmenter.Config {
	return segmenter.Config{JobTimeout: time.Minute, JobPoll: 5 * time.Millisecond, JobPollMax: 50 * time.Millisecond}
}

func startHarness(t *testing.T, base string, cfg segmenter.Config) *harness {
	t.Helper()
	env := stagetest.Start(t, nil)
	h := &harness{env: env, client: newClient(t, base)}
	subj := env.Pipeline.Subjects
	h.succeeded = collect(t, env, subj.JobSucceeded)
	h.failed = collect(t, env, subj.JobFailed)
	h.handler = &counting{Handler: segmenter.New(h.client, cfg, zerolog.Nop()), handled: map[string]int{}}
	h.run(t)
	t.Cleanup(func() { h.stop(t) })
	return h
}

// run starts a runner of the harness's handler.
func (h *harness) run(t *testing.T) {
	t.Helper()
	metrics, err := stage.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &stage.Runner[events.DefinitionCreated]{
		Stage: events.StageSegmenter, Handler: h.handler, Pipeline: h.env.Pipeline, JS: h.env.JS,
		Config:  stage.Config{Concurrency: 4, ShutdownTimeout: 200 * time.Millisecond, Deadline: time.Hour},
		Metrics: metrics, Log: zerolog.Nop(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- r.Run(ctx) }()
}

// stop stops the runner (once).
func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		t.Error(err)
	}
	h.cancel = nil
}

// publish publishes d as the definer would. again publishes it as a
// new message (another Nats-Msg-Id), as a replay or a second definer
// publishing would, rather than a copy JetStream drops.
func (h *harness) publish(t *testing.T, d events.DefinitionCreated, again bool) {
	t.Helper()
	ev, err := events.NewEvent(events.Source(events.StageDefiner), d, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ev.Msg(h.env.Pipeline.Subjects.DefinitionCreated)
	if err != nil {
		t.Fatal(err)
	}
	if again {
		msg.Header.Set(events.MsgIDHeader, ev.ID+"/again/"+time.Now().Format(time.RFC3339Nano))
	}
	if _, err := h.env.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// settled waits until the segmenter's consumer holds no message.
func (h *harness) settled(t *testing.T) {
	t.Helper()
	cons := h.env.Pipeline.Consumers[events.StageSegmenter]
	eventually(t, "the segmenter's messages acked", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// seedIntent writes the segmenter's intent record for a request, as an
// earlier delivery would have left it.
func (h *harness) seedIntent(t *testing.T, in events.Intent) {
	t.Helper()
	in.Stage = events.StageSegmenter
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.env.Pipeline.Intents.Put(context.Background(), events.IntentKey(events.StageSegmenter, in.RequestID), b); err != nil {
		t.Fatal(err)
	}
}

// collector gathers the events of one subject by request id.
type collector struct {
	mu    sync.Mutex
	byID  map[string][]events.Event
	count atomic.Int32
	ch    chan struct{}
}

func collect(t *testing.T, env *stagetest.Env, subject string) *collector {
	t.Helper()
	c := &collector{byID: map[string][]events.Event{}, ch: make(chan struct{}, 1)}
	sub, err := env.NC.Subscribe(subject, func(m *nats.Msg) {
		ev, err := events.Decode(m.Data)
		if err != nil {
			t.Errorf("a message on %s that is not an event: %v", subject, err)
			return
		}
		c.mu.Lock()
		c.byID[ev.Subject] = append(c.byID[ev.Subject], ev)
		c.mu.Unlock()
		c.count.Add(1)
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

// n is how many events of the request came so far.
func (c *collector) n(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID[id])
}

// wait returns the k-th (from 1) event of the request, waiting for it.
func (c *collector) wait(t *testing.T, id string, k int) events.Event {
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

// failure waits for the request's first failure event and decodes it.
func (c *collector) failure(t *testing.T, id string) events.Failure {
	t.Helper()
	var f events.Failure
	if err := c.wait(t, id, 1).DecodeData(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

// job waits for the request's k-th job.succeeded and decodes it.
func (c *collector) job(t *testing.T, id string, k int) events.JobSucceeded {
	t.Helper()
	var j events.JobSucceeded
	if err := c.wait(t, id, k).DecodeData(&j); err != nil {
		t.Fatal(err)
	}
	return j
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// definition is the definer's event for request id and segment segID.
func definition(id, segID, expr string) events.DefinitionCreated {
	r := events.Request{RequestID: id, Labels: events.Labels{"team": "growth"}, Definition: events.Definition{
		Name: "seg-" + id, Expression: events.Expression{Value: expr},
	}}
	r.SetDefaults()
	d := events.NewDefinitionCreated(r, events.Segment{ID: segID, Name: r.Definition.Name, Expression: r.Definition.Expression})
	now := time.Now()
	d.Timings.Begin(events.StageDefiner, now.Add(-time.Second))
	d.Timings.End(events.StageDefiner, now)
	return d
}
