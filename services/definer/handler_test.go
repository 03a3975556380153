package definer_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/definer"
	"github.com/segflow/segflow/services/stage/stagetest"
)

func TestConfig(t *testing.T) {
	c := stagetest.FromEnv[definer.Config](t, nil)
	if c != definer.DefaultConfig() {
		t.Fatalf("env defaults %+v, DefaultConfig %+v", c, definer.DefaultConfig())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string]string{
		"SEGFLOW_ESTIMATE_TIMEOUT":  "SEGFLOW_ESTIMATE_TIMEOUT",
		"SEGFLOW_ESTIMATE_POLL":     "SEGFLOW_ESTIMATE_POLL",
		"SEGFLOW_ESTIMATE_POLL_MAX": "SEGFLOW_ESTIMATE_POLL_MAX",
	} {
		val := "0s"
		if env == "SEGFLOW_ESTIMATE_POLL_MAX" {
			val = "1ms"
		}
		c := stagetest.FromEnv[definer.Config](t, map[string]string{env: val})
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: %v", env, val, err)
		}
	}
}

// TestBadRequests: requests that are wrong are rejected at once, naming
// the field (and the PQL position), without a Platform call.
func TestBadRequests(t *testing.T) {
	fake := newFake(t)
	h := startHarness(t, fake.URL, fastConfig())
	for _, tc := range []struct {
		name, id, body, field string
		pos                   *events.Position
		reason                string
	}{
		{name: "not JSON", body: `{"requestId": "r-json", "definition": `, reason: "not valid JSON"},
		{name: "missing name", id: "r-name", body: `{"requestId": "r-name", "definition": {"expression": {"value": "true"}}}`, field: "definition.name"},
		{name: "missing expression", id: "r-expr", body: `{"requestId": "r-expr", "definition": {"name": "x"}}`, field: "definition.expression.value"},
		{name: "wrong type", id: "r-type", body: `{"requestId": "r-type", "definition": {"name": 3, "expression": {"value": "true"}}}`, field: "definition.name"},
		{name: "unknown field", id: "r-unknown", body: `{"requestId": "r-unknown", "definition": {"name": "x", "expresion": {"value": "true"}}}`, field: "definition.expresion"},
		{name: "invalid PQL", id: "r-pql", body: `{"requestId": "r-pql", "definition": {"name": "x", "expression": {"value": "homeAddress.countryCode = "}}}`,
			field: "definition.expression.value", pos: &events.Position{Offset: 26, Line: 1, Column: 27}, reason: "expected an expression"},
		{name: "invalid PQL on line 2", id: "r-pql2", body: `{"requestId": "r-pql2", "definition": {"name": "x", "expression": {"value": "a = 1 and\n  person.name.startswith(\"J\")"}}}`,
			field: "definition.expression.value", pos: &events.Position{Offset: 24, Line: 2, Column: 15}, reason: `did you mean "startsWith"?`},
		{name: "invalid pql/json", id: "r-pqljson", body: `{"requestId": "r-pqljson", "definition": {"name": "x", "expression": {"format": "pql/json", "value": "{\"nodeType\": \"bogus\"}"}}}`,
			field: "definition.expression.value", reason: "bogus"},
		{name: "not a sandbox name", id: "r-sandbox", body: `{"requestId": "r-sandbox", "sandbox": "Dev Box", "definition": {"name": "x", "expression": {"value": "true"}}}`, field: "sandbox"},
		{name: "bad request id", body: `{"requestId": "..", "definition": {"name": "x", "expression": {"value": "true"}}}`, field: "requestId"},
		{name: "minSize without estimate", id: "r-min", body: `{"requestId": "r-min", "definition": {"name": "x", "expression": {"value": "true"}}, "estimate": {"minSize": 3}}`, field: "estimate.enabled"},
		{name: "enveloped, invalid PQL", id: "r-env", body: `{"specversion": "1.0", "id": "e-1", "source": "/crm", "type": "segflow.segment.requested.v1",
			"data": {"requestId": "r-env", "definition": {"name": "x", "expression": {"value": "a = = 1"}}}}`, field: "definition.expression.value", pos: &events.Position{Offset: 4, Line: 1, Column: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq := h.publish(t, tc.body)
			id := tc.id
			if id == "" {
				// Derived from the message's place in the stream, so that
				// every delivery agrees.
				id = events.DeriveRequestID(fmt.Sprintf("%s/%d", h.Pipeline.Config.StreamName(), seq))
			}
			f := h.rejected.Wait(t, id, 1)
			if !f.Rejected || f.Field != tc.field || f.Attempts != 1 || f.Retryable || !strings.Contains(f.Reason, tc.reason) {
				t.Fatalf("rejection %+v", f)
			}
			if fmt.Sprint(f.Position) != fmt.Sprint(tc.pos) {
				t.Fatalf("position %+v, want %+v (%s)", f.Position, tc.pos, f.Reason)
			}
			if tc.id != "" && (f.Request == nil || f.Request.RequestID != tc.id) {
				t.Errorf("the rejection carries request %+v", f.Request)
			}
		})
	}
	h.Settled(t)
	if n := fake.apiCalls(); n != 0 {
		t.Errorf("%d Platform calls for bad requests", n)
	}
	// The status record says rejected, with the problem.
	e, err := h.Pipeline.Status.Get(context.Background(), events.StatusKey("r-pql"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := events.DecodeStatus(e.Value()); err != nil || s.State != events.StateRejected || s.Error == nil || s.Error.Position == nil {
		t.Fatalf("status %+v, %v", s, err)
	}
}

// TestFaults drives the definer against a Platform that misbehaves.
func TestFaults(t *testing.T) {
	t.Run("429 with Retry-After on create", func(t *testing.T) {
		fake := newFake(t)
		fake.createDef = func(w http.ResponseWriter, n int, _ func()) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				stagetest.UPSError(w, 429, "Too many requests")
				return true
			}
			return false
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, request("r-429", "x", "true"))
		d := h.created.Wait(t, "r-429", 1)
		if d.Segment.ID != "def-1" || d.MergePolicyID != "default-policy" {
			t.Fatalf("definition.created %+v", d)
		}
		if fake.Count("POST /segment/definitions") != 2 || fake.definitions() != 1 || h.Handled("r-429") != 1 {
			t.Fatalf("creates %d, definitions %d, deliveries %d", fake.Count("POST /segment/definitions"), fake.definitions(), h.Handled("r-429"))
		}
		h.Settled(t)
	})

	t.Run("503 after the create happened", func(t *testing.T) {
		// The Platform created the definition but the answer was a 503:
		// the redelivery finds it by name instead of creating another.
		fake := newFake(t)
		fake.createDef = func(w http.ResponseWriter, n int, store func()) bool {
			if n == 1 {
				store()
				stagetest.UPSError(w, 503, "Service unavailable")
				return true
			}
			return false
		}
		h := startHarness(t, fake.URL, fastConfig())
		// A bare request without an id: both deliveries derive the same.
		seq := h.publish(t, `{"definition": {"name": "x", "expression": {"value": "true"}}}`)
		id := events.DeriveRequestID(fmt.Sprintf("%s/%d", h.Pipeline.Config.StreamName(), seq))
		d := h.created.Wait(t, id, 1)
		if d.Segment.ID != "def-1" || fake.definitions() != 1 || fake.Count("POST /segment/definitions") != 1 || fake.Count("GET /segment/definitions") != 1 {
			t.Fatalf("definition.created %+v; calls %v", d, fake.Calls)
		}
		if h.Handled(id) != 2 {
			t.Errorf("%d deliveries, want 2", h.Handled(id))
		}
		h.Settled(t)
	})

	t.Run("503 burst while estimating", func(t *testing.T) {
		fake := newFake(t)
		fake.estimate = func(w http.ResponseWriter, _ string, polls int) bool {
			if polls <= 4 {
				stagetest.UPSError(w, 503, "Service unavailable")
				return true
			}
			return false
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, withEstimate(request("r-burst", "x", "true"), 1, 100))
		d := h.created.Wait(t, "r-burst", 1)
		if d.Estimate == nil || d.Estimate.EstimatedSize != 42 || d.Estimate.PreviewID != "preview-1" || d.Estimate.ConfidenceInterval != "95%" {
			t.Fatalf("estimate %+v", d.Estimate)
		}
		if fake.Count("POST /preview") != 1 || h.Handled("r-burst") != 1 {
			t.Fatalf("previews %d, deliveries %d", fake.Count("POST /preview"), h.Handled("r-burst"))
		}
		h.Settled(t)
	})

	t.Run("slow Platform outlasts the ack wait", func(t *testing.T) {
		// The ack wait is a second: the stage keeps the message alive
		// while the estimate runs and the create is slow.
		fake := newFake(t)
		started := time.Now()
		fake.estimate = func(w http.ResponseWriter, _ string, _ int) bool {
			if time.Since(started) < 2500*time.Millisecond {
				stagetest.WriteJSON(w, 200, map[string]any{"state": "RUNNING", "estimatedSize": 7})
				return true
			}
			return false
		}
		fake.createDef = func(http.ResponseWriter, int, func()) bool {
			time.Sleep(1500 * time.Millisecond)
			return false
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, withEstimate(request("r-slow", "x", "true"), -1, -1))
		d := h.created.Wait(t, "r-slow", 1)
		if d.Estimate == nil || d.Estimate.EstimatedSize != 42 || d.Estimate.DurationMs < 2000 {
			t.Fatalf("estimate %+v", d.Estimate)
		}
		if h.Handled("r-slow") != 1 || fake.Count("POST /preview") != 1 || fake.Count("POST /segment/definitions") != 1 {
			t.Fatalf("deliveries %d, calls %v", h.Handled("r-slow"), fake.Calls)
		}
		h.Settled(t)
	})

	t.Run("estimate FAILED", func(t *testing.T) {
		fake := newFake(t)
		fake.estimate = func(w http.ResponseWriter, _ string, _ int) bool {
			stagetest.WriteJSON(w, 200, map[string]any{"state": "FAILED", "error": map[string]any{"description": "sampling failed", "traceback": "at x"}})
			return true
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, withEstimate(request("r-estfail", "x", "true"), -1, -1))
		f := h.failed.Wait(t, "r-estfail", 1)
		if f.Rejected || f.Retryable || f.PlatformError == nil || f.PlatformError.Message != "sampling failed" || f.PreviewID != "preview-1" {
			t.Fatalf("definition.failed %+v (%+v)", f, f.PlatformError)
		}
		if fake.definitions() != 0 {
			t.Errorf("a definition was created")
		}
		h.Settled(t)
	})

	t.Run("estimate not ready in time", func(t *testing.T) {
		fake := newFake(t)
		fake.estimate = func(w http.ResponseWriter, _ string, _ int) bool {
			stagetest.WriteJSON(w, 200, map[string]any{"state": "RUNNING"})
			return true
		}
		cfg := fastConfig()
		cfg.EstimateTimeout = 300 * time.Millisecond
		h := startHarness(t, fake.URL, cfg)
		h.publishRequest(t, withEstimate(request("r-esttime", "x", "true"), -1, -1))
		f := h.failed.Wait(t, "r-esttime", 1)
		if f.Rejected || !strings.Contains(f.Reason, "SEGFLOW_ESTIMATE_TIMEOUT") || f.Attempts != 1 {
			t.Fatalf("definition.failed %+v", f)
		}
		h.Settled(t)
	})

	t.Run("the Platform refuses the preview", func(t *testing.T) {
		fake := newFake(t)
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, withEstimate(request("r-refused", "x", `a = "refuse-me"`), -1, -1))
		f := h.rejected.Wait(t, "r-refused", 1)
		if f.Field != "definition.expression.value" || f.PlatformError == nil || f.PlatformError.Status != 400 || f.PlatformError.Operation != "CreatePreview" {
			t.Fatalf("rejection %+v (%+v)", f, f.PlatformError)
		}
		h.Settled(t)
	})

	t.Run("403 on create", func(t *testing.T) {
		fake := newFake(t)
		fake.createDef = func(w http.ResponseWriter, _ int, _ func()) bool {
			stagetest.UPSError(w, 403, "Permission denied on some resources")
			return true
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, request("r-403", "x", "true"))
		f := h.failed.Wait(t, "r-403", 1)
		if f.Rejected || f.Retryable || f.PlatformError == nil || f.PlatformError.Status != 403 || f.Attempts != 1 {
			t.Fatalf("definition.failed %+v (%+v)", f, f.PlatformError)
		}
		h.Settled(t)
	})

	t.Run("unknown merge policy as a 404", func(t *testing.T) {
		fake := newFake(t)
		fake.createDef = func(w http.ResponseWriter, _ int, _ func()) bool {
			stagetest.UPSError(w, 404, "The merge policy nope is not found.")
			return true
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, request("r-mp404", "x", "true"))
		f := h.rejected.Wait(t, "r-mp404", 1)
		if f.Field != "definition.mergePolicyId" || f.PlatformError == nil || f.PlatformError.Status != 404 {
			t.Fatalf("rejection %+v", f)
		}
		h.Settled(t)
	})

	t.Run("the recorded definition is gone", func(t *testing.T) {
		fake := newFake(t)
		h := startHarness(t, fake.URL, fastConfig())
		h.SeedIntent(t, events.Intent{RequestID: "r-gone", Step: "create-definition", PlatformIDs: events.PlatformIDs{DefinitionID: "def-77"}, Started: time.Now(), Updated: time.Now()})
		h.publishRequest(t, request("r-gone", "x", "true"))
		f := h.failed.Wait(t, "r-gone", 1)
		if f.PlatformError == nil || f.PlatformError.Status != 404 || f.DefinitionID != "def-77" || fake.Count("POST /segment/definitions") != 0 {
			t.Fatalf("definition.failed %+v", f)
		}
		h.Settled(t)
	})

	t.Run("a request id used before for another query", func(t *testing.T) {
		fake := newFake(t)
		fake.defs = append(fake.defs, map[string]any{"id": "def-9", "name": "x", "expression": map[string]any{"type": "PQL", "format": "pql/text", "value": "a = 1"}})
		h := startHarness(t, fake.URL, fastConfig())
		h.SeedIntent(t, events.Intent{RequestID: "r-reused", Step: "create-definition", PlatformIDs: events.PlatformIDs{DefinitionID: "def-9"}, Started: time.Now(), Updated: time.Now()})
		h.publishRequest(t, request("r-reused", "x", "a = 2"))
		if f := h.rejected.Wait(t, "r-reused", 1); f.Field != "requestId" || !strings.Contains(f.Reason, "def-9") {
			t.Fatalf("rejection %+v", f)
		}
		h.publishRequest(t, request("r-reused", "x", "a  =  1"))
		if d := h.created.Wait(t, "r-reused", 1); d.Segment.ID != "def-9" || fake.Count("POST /segment/definitions") != 0 {
			t.Fatalf("definition.created %+v", d)
		}
		h.Settled(t)
	})

	t.Run("an expired preview is started again", func(t *testing.T) {
		fake := newFake(t)
		h := startHarness(t, fake.URL, fastConfig())
		h.SeedIntent(t, events.Intent{RequestID: "r-expired", Step: "estimate", PlatformIDs: events.PlatformIDs{PreviewID: "preview-old"}, Started: time.Now(), Updated: time.Now()})
		h.publishRequest(t, withEstimate(request("r-expired", "x", "true"), -1, -1))
		d := h.created.Wait(t, "r-expired", 1)
		if d.Estimate == nil || d.Estimate.PreviewID != "preview-1" || fake.Count("POST /preview") != 1 {
			t.Fatalf("estimate %+v", d.Estimate)
		}
		h.Settled(t)
	})

	t.Run("shutdown hands the message back", func(t *testing.T) {
		fake := newFake(t)
		release := make(chan struct{})
		fake.estimate = func(w http.ResponseWriter, _ string, _ int) bool {
			select {
			case <-release:
				return false
			default:
				stagetest.WriteJSON(w, 200, map[string]any{"state": "RUNNING"})
				return true
			}
		}
		h := startHarness(t, fake.URL, fastConfig())
		h.publishRequest(t, withEstimate(request("r-stop", "x", "true"), -1, -1))
		stagetest.Eventually(t, "the estimate polled", func() bool { return fake.Count("GET /estimate/{id}") > 2 })
		h.Stop(t)
		if n := h.failed.N("r-stop") + h.rejected.N("r-stop"); n != 0 {
			t.Fatalf("%d failure events at shutdown", n)
		}
		close(release)
		h.Run(t)
		d := h.created.Wait(t, "r-stop", 1)
		if d.Estimate == nil || d.Estimate.PreviewID != "preview-1" || fake.Count("POST /preview") != 1 || h.Handled("r-stop") != 2 {
			t.Fatalf("after restart %+v; previews %d, deliveries %d", d.Estimate, fake.Count("POST /preview"), h.Handled("r-stop"))
		}
		if n := h.failed.N("r-stop") + h.rejected.N("r-stop"); n != 0 {
			t.Fatalf("%d failure events", n) // they would have come before definition.created
		}
		h.Settled(t)
	})
}
