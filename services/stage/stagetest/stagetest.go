// Package stagetest runs what a stage needs in tests: an embedded NATS
// server with JetStream on a loopback port, and the pipeline's streams,
// consumers and buckets (Start); a stage's handler run as a stage.Runner
// over them (Harness); the events it publishes, by request (Collect) or
// in order (WatchAs); the base of a fake Platform with fault injection
// (Fake); and ups with a few profiles (StartUPS).
package stagetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"

	"github.com/segflow/segflow/pkg/events"
)

// Env is a running JetStream server with the pipeline ensured.
type Env struct {
	URL      string
	NC       *nats.Conn
	JS       jetstream.JetStream
	Pipeline *events.Pipeline
}

// Start runs a JetStream server until the test ends and ensures the
// pipeline with cfg (events.DefaultConfig with short redelivery backoffs
// when cfg is nil).
func Start(t testing.TB, cfg *events.Config) *Env {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := Config()
	if cfg != nil {
		c = *cfg
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := events.Ensure(ctx, js, c)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{URL: srv.ClientURL(), NC: nc, JS: js, Pipeline: p}
}

// Config is the pipeline configuration of tests: in memory, redeliveries
// after a second (the shortest JetStream allows), three deliveries.
func Config() events.Config {
	c := events.DefaultConfig()
	c.BackOff = []time.Duration{time.Second}
	c.MaxDeliver = 3
	c.Memory = true
	return c
}

// Publish publishes p as an event of source on its subject.
func (e *Env) Publish(t testing.TB, source events.Stage, p events.Payload) {
	t.Helper()
	if _, err := events.Publish(context.Background(), e.JS, e.Pipeline.Subjects.For(p), NewEvent(t, source, p)); err != nil {
		t.Fatal(err)
	}
}

// NewEvent is p as an event of source, now.
func NewEvent(t testing.TB, source events.Stage, p events.Payload) events.Event {
	t.Helper()
	ev, err := events.NewEvent(events.Source(source), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// PublishCopy publishes ev on subject as another message than ev's own:
// with the Nats-Msg-Id <event id>/<suffix>, which the stream keeps beside
// the first instead of dropping it as a duplicate, as a replay or a
// second publisher would.
func (e *Env) PublishCopy(t testing.TB, subject string, ev events.Event, suffix string) {
	t.Helper()
	m, err := ev.Msg(subject)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Set(events.MsgIDHeader, ev.ID+"/"+suffix)
	if _, err := e.JS.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// InStream is how many messages the stream holds on subject.
func (e *Env) InStream(t testing.TB, subject string) uint64 {
	t.Helper()
	info, err := e.Pipeline.Stream.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// PublishRaw publishes body on subject as it is, as another system would,
// and returns its sequence in the stream.
func (e *Env) PublishRaw(t testing.TB, subject string, body []byte) uint64 {
	t.Helper()
	ack, err := e.JS.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: body})
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// Watch returns a channel of the events published on subject from now on.
func (e *Env) Watch(t testing.TB, subject string) <-chan events.Event {
	t.Helper()
	ch := make(chan events.Event, 1024)
	sub, err := e.NC.Subscribe(subject, func(m *nats.Msg) {
		ev, err := events.Decode(m.Data)
		if err != nil {
			t.Errorf("a message on %s that is not an event: %v", m.Subject, err)
			return
		}
		ch <- ev
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

// Watcher is the events published on a subject, in order, their payloads
// being P (a payload type, such as events.Failure).
type Watcher[P any] struct{ ch <-chan events.Event }

// WatchAs watches the events published on subject from now on.
func WatchAs[P any](t testing.TB, env *Env, subject string) *Watcher[P] {
	t.Helper()
	return &Watcher[P]{ch: env.Watch(t, subject)}
}

// Next waits for the next event and returns its payload.
func (w *Watcher[P]) Next(t testing.TB) P {
	t.Helper()
	return decode[P](t, Next(t, w.ch))
}

// decode decodes ev's data, a P.
func decode[P any](t testing.TB, ev events.Event) P {
	t.Helper()
	var p P
	pp, ok := any(&p).(events.Payload)
	if !ok {
		t.Fatalf("%T is not a payload type", p)
	}
	if err := ev.DecodeData(pp); err != nil {
		t.Fatal(err)
	}
	return p
}

// Next waits for the next event on ch.
func Next(t testing.TB, ch <-chan events.Event) events.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return events.Event{}
	}
}

// Eventually polls cond until it holds, failing the test after 20 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Log is the logger of what runs in a test: nothing, or the test's log
// (debug level) when SEGFLOW_TEST_LOG is set.
func Log(t testing.TB) zerolog.Logger {
	if os.Getenv("SEGFLOW_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
}

// FromEnv is a C (a stage's Config) read from env alone, as the commands
// read the environment.
func FromEnv[C any](t testing.TB, env map[string]string) C {
	t.Helper()
	var c C
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &c, Lookuper: envconfig.MapLookuper(env)}); err != nil {
		t.Fatal(err)
	}
	return c
}
