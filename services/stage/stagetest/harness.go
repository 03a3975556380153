package stagetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage"
)

// Harness runs a stage's handler as a stage.Runner over an Env, and
// counts the handler's deliveries per request.
type Harness[In events.Payload] struct {
	*Env
	Stage   events.Stage
	Handler stage.Handler[In]
	// Config is the runner's: RunnerConfig unless the test changes it
	// before Run.
	Config stage.Config
	// Registry holds the running runner's metrics (a new one every Run).
	Registry *prometheus.Registry

	mu      sync.Mutex
	handled map[string]int
	stop    func(t testing.TB)
}

// RunnerConfig is the stage configuration of tests: four messages at once,
// 200 ms to finish them at shutdown, an hour's deadline.
func RunnerConfig() stage.Config {
	return stage.Config{Concurrency: 4, ShutdownTimeout: 200 * time.Millisecond, Deadline: time.Hour}
}

// NewHarness is a harness of handler as st over env, not running yet.
func NewHarness[In events.Payload](env *Env, st events.Stage, handler stage.Handler[In]) *Harness[In] {
	return &Harness[In]{Env: env, Stage: st, Handler: handler, Config: RunnerConfig(), handled: map[string]int{}}
}

// Run starts a runner of the harness's handler (another one after Stop)
// with a new metrics registry, waits until it consumes, and stops it when
// the test ends.
func (h *Harness[In]) Run(t testing.TB) {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics, err := stage.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := &stage.Runner[In]{
		Stage: h.Stage, Handler: counted[In]{h}, Pipeline: h.Pipeline, JS: h.JS,
		Config: h.Config, Metrics: metrics, Log: Log(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func(t testing.TB) {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("runner: %v", err)
			}
		})
	}
	t.Cleanup(func() { stop(t) })
	h.Registry, h.stop = reg, stop
	Eventually(t, "the runner consuming", r.Ready)
}

// Stop stops the running runner (at once, handing its messages back) and
// waits for it.
func (h *Harness[In]) Stop(t testing.TB) {
	t.Helper()
	if h.stop != nil {
		h.stop(t)
	}
}

// Handled is how many deliveries of request id the handler had.
func (h *Harness[In]) Handled(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.handled[id]
}

// counted is the harness's handler, counting its deliveries.
type counted[In events.Payload] struct{ h *Harness[In] }

func (c counted[In]) Decode(body []byte, meta stage.Meta) (In, error) {
	return c.h.Handler.Decode(body, meta)
}

func (c counted[In]) Handle(ctx context.Context, in In, m *stage.Msg) (events.Payload, error) {
	c.h.mu.Lock()
	c.h.handled[in.EventSubject()]++
	c.h.mu.Unlock()
	return c.h.Handler.Handle(ctx, in, m)
}

// Settled waits until the stage's consumer holds no message: every one
// was acked (or terminated).
func (h *Harness[In]) Settled(t testing.TB) {
	t.Helper()
	cons := h.Pipeline.Consumers[h.Stage]
	Eventually(t, "the "+string(h.Stage)+"'s messages acked", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// SeedIntent writes the stage's intent record for a request, as an
// earlier delivery would have left it.
func (h *Harness[In]) SeedIntent(t testing.TB, in events.Intent) {
	t.Helper()
	in.Stage = h.Stage
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Pipeline.Intents.Put(context.Background(), events.IntentKey(h.Stage, in.RequestID), b); err != nil {
		t.Fatal(err)
	}
}

// Counter is the value of the running runner's counter name, with the
// label outcome when outcome is not "" (the first series otherwise); 0 if
// absent.
func (h *Harness[In]) Counter(t testing.TB, name, outcome string) float64 {
	t.Helper()
	mfs, err := h.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := outcome == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
