package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// deadLetterOf stores a request, then a dead letter of the definer for
// it, as the stage runtime does; it returns the original message.
func deadLetterOf(t *testing.T, env *stagetest.Env, id, reason string) (events.DeadLetter, []byte) {
	t.Helper()
	ctx := context.Background()
	r := request(id, "stuck "+id)
	ev, err := events.NewEvent(requestSource, r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ack, err := events.Publish(ctx, env.JS, env.Pipeline.Subjects.Requested, ev)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Pipeline.Stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	d := events.DeadLetter{RequestID: id, Stage: events.StageDefiner, Stream: ack.Stream, Consumer: "definer",
		StreamSequence: ack.Sequence, Deliveries: 3, Subject: raw.Subject, MsgID: ev.ID, Reason: reason, Received: raw.Time}
	d.SetMessage(raw.Data)
	env.Publish(t, events.StageDefiner, d)
	return d, raw.Data
}

func TestDLQListReplay(t *testing.T) {
	env := stagetest.Start(t, nil)
	cmd := start(t, env, nil, "dlq", "list")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd.errOut.String(), "no dead letters on dlq.*") {
		t.Errorf("stderr %q", cmd.errOut.String())
	}

	d1, body1 := deadLetterOf(t, env, "req-1", "503 from the Platform")
	d2, _ := deadLetterOf(t, env, "req-2", "")

	cmd = start(t, env, nil, "dlq", "list", "definer")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	out := cmd.out.String()
	for _, want := range []string{
		"STAGE    SEQ  REQUEST  DELIVERIES  RECEIVED",
		"definer    1  req-1             3  " + clock(d1.Received) + "  503 from the Platform",
		"definer    3  req-2             3  " + clock(d2.Received) + "  (none given)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	cmd = start(t, env, nil, "dlq", "list", "-json", "segmenter")
	if err := cmd.wait(t); err != nil || cmd.out.String() != "" {
		t.Errorf("segmenter: %v, %q, want none", err, cmd.out.String())
	}
	cmd = start(t, env, nil, "dlq", "list", "-json")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	var got events.DeadLetter
	if err := json.Unmarshal([]byte(strings.Split(cmd.out.String(), "\n")[0]), &got); err != nil || got.StreamSequence != 1 || got.Reason != d1.Reason {
		t.Errorf("-json: %+v, %v", got, err)
	}

	requested := subscribeMsgs(t, env, env.Pipeline.Subjects.Requested)
	cmd = start(t, env, nil, "dlq", "replay", "definer", "1")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if want := "replayed definer 1 (request req-1) to segment.requested as stream message 5"; !strings.Contains(cmd.out.String(), want) {
		t.Errorf("stdout %q, want %q", cmd.out.String(), want)
	}
	m := nextMsg(t, requested)
	if !bytes.Equal(m.Data, body1) {
		t.Errorf("replayed body %s, want the original %s", m.Data, body1)
	}
	if got, want := m.Header.Get(events.MsgIDHeader), d1.ReplayMsgID(); got != want {
		t.Errorf("Nats-Msg-Id %q, want %q", got, want)
	}

	// Again: the duplicate window drops it.
	cmd = start(t, env, nil, "dlq", "replay", "definer", "1")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd.out.String(), "was already replayed") {
		t.Errorf("stdout %q", cmd.out.String())
	}

	// -all replays the other one and skips the first.
	cmd = start(t, env, nil, "dlq", "replay", "-all", "definer")
	if err := cmd.wait(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd.out.String(), "replayed definer 3 (request req-2)") || !strings.Contains(cmd.errOut.String(), "1 replayed, 1 already replayed") {
		t.Errorf("stdout %q stderr %q", cmd.out.String(), cmd.errOut.String())
	}
	if n := storedMessages(t, env); n != 6 {
		t.Errorf("%d messages stored, want 6 (2 requests, 2 dead letters, 2 replays)", n)
	}

	for args, wantErr := range map[string]string{
		"dlq replay definer 99": "no dead letter of the definer for stream message 99",
		"dlq replay definer x":  `"x" is not a stream sequence`,
		"dlq replay nobody 1":   `"nobody" is not a stage`,
		"dlq replay definer":    "usage",
		"dlq list a b":          "usage",
		"dlq frob":              "usage",
		"dlq":                   "usage",
	} {
		cmd = start(t, env, nil, strings.Fields(args)...)
		if err := cmd.wait(t); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: err = %v, want %q", args, err, wantErr)
		}
	}
}
