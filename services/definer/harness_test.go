package definer_test

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
	"github.com/segflow/segflow/services/definer"
	"github.com/segflow/segflow/services/stage"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness is an embedded JetStream with the pipeline, a definer runner
// over a Platform at base, and collectors of the definer's subjects.
type harness struct {
	env      *stagetest.Env
	client   *platform.Client
	handler  *counting
	created  *collector
	rejected *collector
	failed   *collector
	cancel   context.CancelFunc
	done     chan error
}

// counting wraps the definer to count its deliveries per request.
type counting struct {
	*definer.Handler
	mu      sync.Mutex
	handled map[string]int
}

func (c *counting) Handle(ctx context.Context, req events.Request, m *stage.Msg) (events.Payload, error) {
	c.mu.Lock()
	c.handled[req.RequestID]++
	c.mu.Unlock()
	return c.Handler.Handle(ctx, req, m)
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

// fastConfig polls estimates quickly.
func fastConfig() definer.Config {
	c := definer.DefaultConfig()
	c.EstimatePoll, c.EstimatePollMax = 5*time.Millisecond, 50*time.Millisecond
	c.EstimateTimeout = 20 * time.Second
	return c
}

func startHarness(t *testing.T, base string, cfg definer.Config) *harness {
	t.Helper()
	env := stagetest.Start(t, nil)
	h := &harness{env: env, client: newClient(t, base)}
	subj := env.Pipeline.Subjects
	h.created = collect(t, env, subj.DefinitionCreated)
	h.rejected = collect(t, env, subj.RequestRejected)
	h.failed = collect(t, env, subj.DefinitionFailed)
	h.handler = &counting{Handler: definer.New(h.client, cfg, zerolog.Nop()), handled: map[string]int{}}
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
	r := &stage.Runner[events.Request]{
		Stage: events.StageDefiner, Handler: h.handler, Pipeline: h.env.Pipeline, JS: h.env.JS,
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

// publish publishes a raw body on segment.requested, as another system
// would, with a fresh message id.
func (h *harness) publish(t *testing.T, body string) uint64 {
	t.Helper()
	ack, err := h.env.JS.PublishMsg(context.Background(), &nats.Msg{Subject: h.env.Pipeline.Subjects.Requested, Data: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// publishRequest publishes r as bare JSON.
func (h *harness) publishRequest(t *testing.T, r map[string]any) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	h.publish(t, string(b))
}

// settled waits until the definer's consumer holds no message: every
// one was acked (or terminated).
func (h *harness) settled(t *testing.T) {
	t.Helper()
	cons := h.env.Pipeline.Consumers[events.StageDefiner]
	eventually(t, "the definer's messages acked", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// seedIntent writes the definer's intent record for a request, as an
// earlier delivery would have left it.
func (h *harness) seedIntent(t *testing.T, in events.Intent) {
	t.Helper()
	in.Stage = events.StageDefiner
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.env.Pipeline.Intents.Put(context.Background(), events.IntentKey(events.StageDefiner, in.RequestID), b); err != nil {
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

// created waits for the request's k-th definition.created and decodes it.
func (c *collector) definition(t *testing.T, id string, k int) events.DefinitionCreated {
	t.Helper()
	var d events.DefinitionCreated
	if err := c.wait(t, id, k).DecodeData(&d); err != nil {
		t.Fatal(err)
	}
	return d
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

func request(id, name, expr string) map[string]any {
	r := map[string]any{
		"definition": map[string]any{"name": name, "expression": map[string]any{"value": expr}},
		"labels":     map[string]string{"team": "growth"},
	}
	if id != "" {
		r["requestId"] = id
	}
	return r
}

func withEstimate(r map[string]any, minSize, maxSize int64) map[string]any {
	e := map[string]any{"enabled": true}
	if minSize >= 0 {
		e["minSize"] = minSize
	}
	if maxSize >= 0 {
		e["maxSize"] = maxSize
	}
	r["estimate"] = e
	return r
}
