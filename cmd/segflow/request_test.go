package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// published waits for the request the command publishes and checks its
// envelope.
func published(t *testing.T, env *stagetest.Env, requested <-chan *nats.Msg) events.Request {
	t.Helper()
	m := nextMsg(t, requested)
	ev, err := events.Decode(m.Data)
	if err != nil {
		t.Fatalf("not a CloudEvents envelope: %v\n%s", err, m.Data)
	}
	r, err := events.ParseRequest(m.Data)
	if err != nil {
		t.Fatalf("the published request does not parse: %v", err)
	}
	switch {
	case ev.Type != events.TypeRequested || ev.Source != requestSource:
		t.Errorf("type %q source %q", ev.Type, ev.Source)
	case r.RequestID == "" || ev.Subject != r.RequestID:
		t.Errorf("subject %q, requestId %q: want the same, set", ev.Subject, r.RequestID)
	case ev.ID != events.EventID(r.RequestID, events.TypeRequested):
		t.Errorf("id %q", ev.ID)
	case m.Header.Get(events.MsgIDHeader) != ev.ID:
		t.Errorf("Nats-Msg-Id %q, want the event id %q", m.Header.Get(events.MsgIDHeader), ev.ID)
	}
	var data map[string]any
	if err := json.Unmarshal(ev.Data, &data); err != nil || data["requestId"] != r.RequestID {
		t.Errorf("data.requestId = %v, want it set to %q", data["requestId"], r.RequestID)
	}
	return r
}

// pipelineRun publishes what the four stages would for r, up to and
// excluding stop (a stage name), and returns the payloads.
type simulated struct {
	dc events.DefinitionCreated
	js events.JobSucceeded
	x  events.ExportSucceeded
	br events.BatchReady
}

func simulate(t *testing.T, env *stagetest.Env, r events.Request, upTo events.Stage) simulated {
	t.Helper()
	var order []events.Stage
	for _, st := range events.Stages() {
		order = append(order, st)
		if st == upTo {
			break
		}
	}
	return simulateOrder(t, env, r, order)
}

// simulateOrder publishes the stages' events in the order given.
func simulateOrder(t *testing.T, env *stagetest.Env, r events.Request, order []events.Stage) simulated {
	t.Helper()
	at := time.Now().Add(-time.Minute)
	var s simulated
	s.dc = events.NewDefinitionCreated(r, events.Segment{ID: "seg-1", Name: r.Definition.Name, Expression: r.Definition.Expression})
	s.dc.Estimate = &events.Estimate{EstimatedSize: 4275, ConfidenceInterval: "95%", DurationMs: 300}
	s.dc.Timings.Begin(events.StageDefiner, at)
	s.dc.Timings.End(events.StageDefiner, at.Add(400*time.Millisecond))
	s.js = events.NewJobSucceeded(s.dc, "job-1", events.JobMetrics{TotalProfiles: 10000, SegmentedProfiles: 1033})
	s.js.Timings.Begin(events.StageSegmenter, at.Add(time.Second))
	s.js.Timings.End(events.StageSegmenter, at.Add(3100*time.Millisecond))
	s.x = events.NewExportSucceeded(s.js)
	s.x.DatasetID, s.x.DatasetName, s.x.ExportJobID, s.x.BatchID, s.x.ProfileCount = "ds-1", "audiences", "42", "batch-1", 1033
	s.x.Timings.Begin(events.StageExporter, at.Add(4*time.Second))
	s.x.Timings.End(events.StageExporter, at.Add(7*time.Second))
	s.br = events.NewBatchReady(s.x, []events.File{
		{URI: "file:///data/batch-1/part-0.parquet", Name: "part-0.parquet", Size: 123456, Records: 1000, SHA256: strings.Repeat("ab", 32)},
		{URI: "file:///data/batch-1/part-1.parquet", Name: "part-1.parquet", Size: 4567, Records: 33, SHA256: strings.Repeat("cd", 32)},
	})
	s.br.Timings.Begin(events.StageReader, at.Add(8*time.Second))
	s.br.Timings.End(events.StageReader, at.Add(8800*time.Millisecond))
	payloads := map[events.Stage]events.Payload{
		events.StageDefiner: s.dc, events.StageSegmenter: s.js, events.StageExporter: s.x, events.StageReader: s.br,
	}
	for _, st := range order {
		env.Publish(t, st, payloads[st])
	}
	return s
}

// The stages' events arrive on subscriptions of their own, so the last
// one may come first: the report still has every stage.
func TestRequestEventsOutOfOrder(t *testing.T) {
	env := stagetest.Start(t, nil)
	requested := subscribeMsgs(t, env, env.Pipeline.Subjects.Requested)
	cmd := start(t, env, nil, "request", "-name", "US carts", "-pql", `homeAddress.country = "US"`, "-dataset", "audiences", "-timeout", "1m")
	r := published(t, env, requested)
	simulateOrder(t, env, r, []events.Stage{events.StageDefiner, events.StageSegmenter, events.StageReader, events.StageExporter})
	if err := cmd.wait(t); err != nil {
		t.Fatalf("err = %v\nstderr:\n%s", err, cmd.errOut.String())
	}
	if want := `exporter: export job 42 SUCCEEDED`; !strings.Contains(cmd.errOut.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, cmd.errOut.String())
	}
	if want := "dataset      audiences (ds-1)"; !strings.Contains(cmd.out.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, cmd.out.String())
	}
}

func TestRequestToBatchReady(t *testing.T) {
	env := stagetest.Start(t, nil)
	requested := subscribeMsgs(t, env, env.Pipeline.Subjects.Requested)
	cmd := start(t, env, nil, "request", "-name", "US carts", "-pql", `homeAddress.country = "US"`,
		"-estimate", "-min-size", "10", "-label", "team=growth", "-label", "env=test", "-dataset", "audiences", "-fields", "personID, homeAddress", "-timeout", "1m")
	r := published(t, env, requested)
	if r.Definition.Name != "US carts" || r.Labels["team"] != "growth" || r.Labels["env"] != "test" ||
		!r.EstimateEnabled() || r.Estimate.MinSize == nil || *r.Estimate.MinSize != 10 ||
		r.Export == nil || r.Export.DatasetName != "audiences" || r.Export.Fields.String() != "personID,homeAddress" {
		t.Errorf("published request %+v", r)
	}
	simulate(t, env, r, events.StageReader)
	if err := cmd.wait(t); err != nil {
		t.Fatalf("err = %v\nstderr:\n%s", err, cmd.errOut.String())
	}
	out, progress := cmd.out.String(), cmd.errOut.String()
	for _, want := range []string{
		"request " + r.RequestID + " published on segment.requested",
		"definer: definition seg-1 created (estimate 4,275 ± 0) 0.4s",
		"segmenter: segment job job-1 SUCCEEDED, 1,033 profiles 2.1s",
		`exporter: export job 42 SUCCEEDED, 1,033 profiles to dataset "audiences" (ds-1), batch batch-1 3.0s`,
		"reader: batch batch-1 ready: 2 files, 128.0 kB, 1,033 profiles",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("stderr lacks %q:\n%s", want, progress)
		}
	}
	if strings.Contains(progress, "\r") {
		t.Errorf("stderr is not a terminal but has carriage returns: %q", progress)
	}
	for _, want := range []string{
		"request      " + r.RequestID,
		"sandbox      prod",
		"segment      US carts (seg-1)",
		"estimate     4,275 ± 0",
		"dataset      audiences (ds-1)",
		"profiles     1,033",
		"timings      definer 0.4s, segmenter 2.1s, exporter 3.0s, reader 0.8s, total 8.8s",
		"labels       env=test, team=growth",
		"file:///data/batch-1/part-0.parquet  123.5 kB    1,000  " + strings.Repeat("ab", 32),
		"file:///data/batch-1/part-1.parquet    4.6 kB       33  " + strings.Repeat("cd", 32),
		"URI                                      SIZE  RECORDS  SHA256",
		"2 files                              128.0 kB    1,033\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestRequestJSONFromStdin(t *testing.T) {
	env := stagetest.Start(t, nil)
	requested := subscribeMsgs(t, env, env.Pipeline.Subjects.Requested)
	// A CloudEvents envelope without a request id: the id is derived
	// from its source and id, as the definer would.
	in := `{"specversion":"1.0","id":"e-1","source":"/crm","type":"segflow.segment.requested.v1",
		"data":{"definition":{"name":"from stdin","expression":{"value":"a = 1"}},"labels":{"from":"file"}}}`
	cmd := start(t, env, strings.NewReader(in), "request", "-json", "-label", "extra=1", "-")
	r := published(t, env, requested)
	if want := events.DeriveRequestID("/crm\x00e-1"); r.RequestID != want {
		t.Errorf("request id %q, want %q derived from the envelope", r.RequestID, want)
	}
	if r.Labels["from"] != "file" || r.Labels["extra"] != "1" {
		t.Errorf("labels %v", r.Labels)
	}
	s := simulate(t, env, r, events.StageReader)
	if err := cmd.wait(t); err != nil {
		t.Fatalf("err = %v\nstderr:\n%s", err, cmd.errOut.String())
	}
	var got events.BatchReady
	if err := json.Unmarshal([]byte(cmd.out.String()), &got); err != nil {
		t.Fatalf("stdout is not the batch.ready data: %v\n%s", err, cmd.out.String())
	}
	if got.BatchID != s.br.BatchID || len(got.Files) != 2 || got.Files[1].SHA256 != s.br.Files[1].SHA256 || got.RequestID != r.RequestID {
		t.Errorf("stdout %+v", got)
	}
}

func TestRequestFailure(t *testing.T) {
	env := stagetest.Start(t, nil)
	requested := subscribeMsgs(t, env, env.Pipeline.Subjects.Requested)
	cmd := start(t, env, nil, "request", "-name", "bad job", "-pql", "a = 1")
	r := published(t, env, requested)
	s := simulate(t, env, r, events.StageDefiner)
	f := events.NewFailure(events.StageSegmenter, s.dc, events.Problem{
		Reason: "the segment job FAILED: field not found",
		PlatformError: &events.PlatformError{Status: 400, Code: "SEG-400", Message: "field not found",
			RequestID: "x-1", Operation: "CreateSegmentJob"},
	})
	env.Publish(t, events.StageSegmenter, f)
	err := cmd.wait(t)
	if err == nil || !strings.Contains(err.Error(), "failed at the segmenter: the segment job FAILED: field not found") {
		t.Fatalf("err = %v, want the failure", err)
	}
	progress := cmd.errOut.String()
	for _, want := range []string{
		"segmenter: FAILED: the segment job FAILED: field not found",
		"reason:     the segment job FAILED: field not found",
		"platform:   400 SEG-400: field not found (CreateSegmentJob, x-request-id x-1)",
		"created:    definition seg-1",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("stderr lacks %q:\n%s", want, progress)
		}
	}
	if cmd.out.String() != "" {
		t.Errorf("stdout %q, want nothing", cmd.out.String())
	}
}

func TestRequestRejected(t *testing.T) {
	env := stagetest.Start(t, nil)
	requested := subscribeMsgs(t, env, env.Pipeline.Subjects.Requested)
	cmd := start(t, env, nil, "request", "-name", "typo", "-pql", `person.name.startswith("Joe")`, "-json")
	r := published(t, env, requested)
	f := events.NewFailure(events.StageDefiner, r, events.Problem{
		Reason: `unknown function "startswith": did you mean "startsWith"?`, Field: "definition.expression.value",
		Position: &events.Position{Offset: 12, Line: 1, Column: 13},
	})
	f.Rejected = true
	env.Publish(t, events.StageDefiner, f)
	err := cmd.wait(t)
	if err == nil || !strings.Contains(err.Error(), "was rejected at the definer") {
		t.Fatalf("err = %v, want the rejection", err)
	}
	for _, want := range []string{"field:      definition.expression.value", "position:   line 1, column 13 (byte 12)", "REJECTED"} {
		if !strings.Contains(cmd.errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, cmd.errOut.String())
		}
	}
	var got events.Failure
	if err := json.Unmarshal([]byte(cmd.out.String()), &got); err != nil || !got.Rejected || got.Field != "definition.expression.value" {
		t.Errorf("-json stdout %q (%v), want the failure data", cmd.out.String(), err)
	}
}

func TestRequestDeadLettered(t *testing.T) {
	env := stagetest.Start(t, nil)
	requested := subscribeMsgs(t, env, env.Pipeline.Subjects.Requested)
	cmd := start(t, env, nil, "request", "-name", "stuck", "-pql", "a = 1")
	r := published(t, env, requested)
	d := events.DeadLetter{RequestID: r.RequestID, Stage: events.StageDefiner, Stream: "SEGFLOW", Consumer: "definer",
		StreamSequence: 1, Deliveries: 3, Subject: "segment.requested", Reason: "503 from the Platform"}
	d.SetMessage([]byte(`{}`))
	env.Publish(t, events.StageDefiner, d)
	err := cmd.wait(t)
	if err == nil || !strings.Contains(err.Error(), "dead-lettered by the definer: 503 from the Platform") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(cmd.errOut.String(), "replay:     segflow dlq replay definer 1") {
		t.Errorf("stderr lacks the replay command:\n%s", cmd.errOut.String())
	}
}

// A request that ended before the command subscribed (the same id asked
// again) is found through its status record and the stream.
func TestRequestAlreadyFinished(t *testing.T) {
	env := stagetest.Start(t, nil)
	r := events.Request{RequestID: "order-42", Definition: events.Definition{Name: "earlier",
		Expression: events.Expression{Value: "a = 1"}}}
	r.SetDefaults()
	s := simulate(t, env, r, events.StageReader)
	st := events.NewStatus(r.RequestID, nil, time.Now().Add(-time.Minute))
	st.Record(s.br, time.Now())
	putStatus(t, env, st)

	cmd := start(t, env, nil, "request", "-id", "order-42", "-name", "earlier", "-pql", "a = 1")
	if err := cmd.wait(t); err != nil {
		t.Fatalf("err = %v\nstderr:\n%s", err, cmd.errOut.String())
	}
	if out := cmd.out.String(); !strings.Contains(out, "file:///data/batch-1/part-0.parquet") || !strings.Contains(out, "request      order-42") {
		t.Errorf("stdout lacks the manifest:\n%s", out)
	}
}

func TestRequestDetach(t *testing.T) {
	env := stagetest.Start(t, nil)
	cmd := start(t, env, nil, "request", "-detach", "-id", "r-1", "-name", "n", "-pql", "a = 1")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := cmd.out.String(); got != "r-1\n" {
		t.Errorf("stdout %q, want the request id", got)
	}
	raw, err := env.Pipeline.Stream.GetLastMsgForSubject(context.Background(), env.Pipeline.Subjects.Requested)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := events.ParseRequest(raw.Data); err != nil || r.RequestID != "r-1" {
		t.Errorf("stored request %+v, %v", r, err)
	}
	// The same id again is dropped by the duplicate window.
	cmd = start(t, env, nil, "request", "-detach", "-id", "r-1", "-name", "n", "-pql", "a = 1")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if n := storedMessages(t, env); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}

func TestRequestInvalidInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		wantErr string
	}{
		{name: "missing name", args: []string{"-pql", "a = 1"}, wantErr: "definition.name: is required (-name)"},
		{name: "missing pql", args: []string{"-name", "n"}, wantErr: "definition.expression.value: is required (-pql)"},
		{name: "bad format", args: []string{"-name", "n", "-pql", "a = 1", "-format", "sql"}, wantErr: "definition.expression.format"},
		{name: "bad pql/json", args: []string{"-name", "n", "-pql", "a = 1", "-format", "pql/json"}, wantErr: "pql/json requires"},
		{name: "bad id", args: []string{"-id", "a..b", "-name", "n", "-pql", "a = 1"}, wantErr: "requestId"},
		{name: "bad sandbox", args: []string{"-name", "n", "-pql", "a = 1", "-sandbox", "Prod!"}, wantErr: "sandbox"},
		{name: "bounds", args: []string{"-name", "n", "-pql", "a = 1", "-min-size", "10", "-max-size", "5"}, wantErr: "estimate.maxSize"},
		{name: "bad label", args: []string{"-name", "n", "-pql", "a = 1", "-label", "novalue"}, wantErr: "not key=value"},
		{name: "bad JSON", args: []string{"-"}, stdin: `{"definition": `, wantErr: "invalid request in stdin"},
		{name: "not an object", args: []string{"-"}, stdin: `[1]`, wantErr: "invalid request in stdin"},
		{name: "unknown field", args: []string{"-"}, stdin: `{"definition":{"name":"n","expresion":{"value":"a"}}}`, wantErr: "expresion"},
		{name: "envelope", args: []string{"-"}, stdin: `{"specversion":"0.3","id":"1","source":"s","type":"t","data":{}}`, wantErr: "specversion"},
		{name: "file and flags", args: []string{"-name", "n", "-"}, stdin: `{}`, wantErr: "-name describes the request"},
		{name: "two files", args: []string{"a.json", "b.json"}, wantErr: "usage"},
		{name: "missing file", args: []string{"/nonexistent/request.json"}, wantErr: "no such file"},
	}
	env := stagetest.Start(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := start(t, env, strings.NewReader(tt.stdin), append([]string{"request"}, tt.args...)...)
			err := cmd.wait(t)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if n := storedMessages(t, env); n != 0 {
		t.Errorf("%d messages published, want none", n)
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 4275: "4,275", 1234567: "1,234,567", -1033: "-1,033"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDurText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		412 * time.Millisecond: "0.4s", 2100 * time.Millisecond: "2.1s", 125 * time.Second: "2m05s", 62 * time.Minute: "1h02m",
	} {
		if got := durText(d); got != want {
			t.Errorf("durText(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestProgressTerminal(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, tty: true}
	p.note("request r published")
	p.running(events.StageDefiner, time.Now().Add(-1500*time.Millisecond))
	p.line("definer: definition d created 0.4s")
	p.note("a note")
	p.finish()
	want := "request r published\n" +
		"\r\x1b[Kdefiner: running Ns" +
		"\r\x1b[Kdefiner: definition d created 0.4s" +
		"\r\x1b[Ka note\ndefiner: definition d created 0.4s" +
		"\n"
	// The running time is the clock's: 1.5s or a little more.
	got := regexp.MustCompile(`running 1\.\ds`).ReplaceAllString(b.String(), "running Ns")
	if got != want {
		t.Errorf("terminal output %q,\nwant %q", got, want)
	}
	n := b.Len()
	p.tick() // nothing runs: nothing drawn
	if b.Len() != n {
		t.Errorf("tick drew %q", b.String()[n:])
	}

	b.Reset()
	p = &progress{w: &b}
	p.note("request r published")
	p.running(events.StageDefiner, time.Now())
	p.tick()
	p.line("definer: definition d created 0.4s")
	p.finish()
	if want := "request r published\ndefiner: definition d created 0.4s\n"; b.String() != want {
		t.Errorf("plain output %q, want %q", b.String(), want)
	}
}
