package definer_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/definer"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// harness is the definer running over a Platform at base, with
// collectors of its subjects.
type harness struct {
	*stagetest.Harness[events.Request]
	client   *platform.Client
	created  *stagetest.Collector[events.DefinitionCreated]
	rejected *stagetest.Collector[events.Failure]
	failed   *stagetest.Collector[events.Failure]
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
	subj := env.Pipeline.Subjects
	h := &harness{
		client:   stagetest.Client(t, base, nil),
		created:  stagetest.Collect[events.DefinitionCreated](t, env, subj.DefinitionCreated),
		rejected: stagetest.Collect[events.Failure](t, env, subj.RequestRejected),
		failed:   stagetest.Collect[events.Failure](t, env, subj.DefinitionFailed),
	}
	h.Harness = stagetest.NewHarness[events.Request](env, events.StageDefiner, definer.New(h.client, cfg))
	h.Run(t)
	return h
}

// publish publishes a raw body on segment.requested, as another system
// would, with a fresh message id.
func (h *harness) publish(t *testing.T, body string) uint64 {
	t.Helper()
	return h.PublishRaw(t, h.Pipeline.Subjects.Requested, []byte(body))
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
