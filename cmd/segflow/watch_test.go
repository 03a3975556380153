package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage/stagetest"
)

func request(id, name string) events.Request {
	r := events.Request{RequestID: id, Definition: events.Definition{Name: name, Expression: events.Expression{Value: "a = 1"}}}
	r.SetDefaults()
	return r
}

func TestWatchFromNow(t *testing.T) {
	env := stagetest.Start(t, nil)
	env.Publish(t, "cli", request("before", "old")) // before the watch: not shown
	cmd := start(t, env, nil, "watch")
	eventually(t, "the watch starts", func() bool { return strings.Contains(cmd.errOut.String(), "watching SEGFLOW") })

	r := request("req-1", "carts")
	env.Publish(t, "cli", r)
	s := simulate(t, env, r, events.StageSegmenter)
	f := events.NewFailure(events.StageExporter, s.js, events.Problem{Reason: "export job FAILED"})
	env.Publish(t, events.StageExporter, f)
	eventually(t, "four lines", func() bool { return strings.Count(cmd.out.String(), "\n") >= 4 })
	cmd.cancel()
	if err := cmd.wait(t); err != nil {
		t.Fatalf("err = %v, want nil on Ctrl-C", err)
	}
	lines := strings.Split(strings.TrimSpace(cmd.out.String()), "\n")
	want := []string{
		`segment.requested       req-1  requested "carts" in sandbox prod: a = 1`,
		"definition.created      req-1  definer: definition seg-1 created (estimate 4,275 ± 0) 0.4s",
		"job.succeeded           req-1  segmenter: segment job job-1 SUCCEEDED, 1,033 profiles 2.1s",
		"export.failed           req-1  exporter: FAILED: export job FAILED",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), cmd.out.String())
	}
	for i, w := range want {
		if !strings.Contains(strings.Join(strings.Fields(lines[i]), " "), strings.Join(strings.Fields(w), " ")) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
}

func TestWatchAllOneRequestJSON(t *testing.T) {
	env := stagetest.Start(t, nil)
	env.Publish(t, "cli", request("a", "first"))
	env.Publish(t, "cli", request("b", "second"))
	simulate(t, env, request("b", "second"), events.StageDefiner)
	// A bare request from another system is shown too.
	if _, err := env.JS.Publish(t.Context(), "segment.requested", []byte(`{"requestId":"b","definition":{"name":"bare","expression":{"value":"x = 2"}}}`)); err != nil {
		t.Fatal(err)
	}
	cmd := start(t, env, nil, "watch", "-all", "-request", "b", "-json")
	eventually(t, "three events", func() bool { return strings.Count(cmd.out.String(), "\n") >= 3 })
	cmd.cancel()
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(cmd.out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), cmd.out.String())
	}
	for i, typ := range []string{events.TypeRequested, events.TypeDefinitionCreated} {
		ev, err := events.Decode([]byte(lines[i]))
		if err != nil || ev.Type != typ || ev.Subject != "b" {
			t.Errorf("line %d: %+v, %v", i, ev, err)
		}
	}
	var bare map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &bare); err != nil || bare["requestId"] != "b" {
		t.Errorf("line 2 = %s, want the bare request", lines[2])
	}
}

func TestWatchSubject(t *testing.T) {
	env := stagetest.Start(t, nil)
	r := request("req-2", "x")
	env.Publish(t, "cli", r)
	simulate(t, env, r, events.StageReader)
	cmd := start(t, env, nil, "watch", "-since", "1h", "-subject", "batch.ready")
	eventually(t, "one event", func() bool { return strings.Contains(cmd.out.String(), "\n") })
	cmd.cancel()
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if out := cmd.out.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "reader: batch batch-1 ready: 2 files") {
		t.Errorf("stdout:\n%s", out)
	}
	cmd = start(t, env, nil, "watch", "-all", "-since", "1m")
	if err := cmd.wait(t); err == nil || !strings.Contains(err.Error(), "-since") {
		t.Errorf("err = %v, want -since and -all refused together", err)
	}
}
