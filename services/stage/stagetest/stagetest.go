// Package stagetest runs what a stage needs in tests: an embedded NATS
// server with JetStream on a loopback port, and the pipeline's streams,
// consumers and buckets.
package stagetest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	ev, err := events.NewEvent(events.Source(source), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Publish(context.Background(), e.JS, e.Pipeline.Subjects.For(p), ev); err != nil {
		t.Fatal(err)
	}
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
