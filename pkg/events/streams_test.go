package events

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"
)

// startJetStream runs an embedded JetStream server on a random loopback
// port, stored in the test's temporary directory.
func startJetStream(t *testing.T) jetstream.JetStream {
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
	return js
}

func TestConfigFromEnv(t *testing.T) {
	var c Config
	if err := envconfig.ProcessWith(t.Context(), &envconfig.Config{Target: &c, Lookuper: envconfig.MapLookuper(nil)}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Fatalf("env defaults %+v\nDefaultConfig %+v", c, DefaultConfig())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = Config{}
	err := envconfig.ProcessWith(t.Context(), &envconfig.Config{Target: &c, Lookuper: envconfig.MapLookuper(map[string]string{
		"SEGFLOW_SUBJECT_PREFIX": "acme.prod", "SEGFLOW_BACKOFF": "5s,20s", "SEGFLOW_MAX_DELIVER": "3",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "acme.prod" || !slices.Equal(c.BackOff, []time.Duration{5 * time.Second, 20 * time.Second}) || c.MaxDeliver != 3 {
		t.Fatalf("from env: %+v", c)
	}
	if c.StreamName() != "SEGFLOW_acme_prod" || c.StatusBucket() != "segflow-requests-acme_prod" || c.IntentBucket() != "segflow-intents-acme_prod" {
		t.Fatalf("names: %s %s %s", c.StreamName(), c.StatusBucket(), c.IntentBucket())
	}
	if c.InProgressInterval() != 5*time.Second/3 {
		t.Fatalf("InProgressInterval %s", c.InProgressInterval())
	}
}

func TestConfigValidateNamesTheVariable(t *testing.T) {
	for variable, mutate := range map[string]func(*Config){
		"SEGFLOW_SUBJECT_PREFIX":    func(c *Config) { c.Prefix = "a..b" },
		"SEGFLOW_STREAM_MAX_AGE":    func(c *Config) { c.MaxAge = time.Second },
		"SEGFLOW_STREAM_DUPLICATES": func(c *Config) { c.Duplicates = 8 * 24 * time.Hour },
		"SEGFLOW_STREAM_REPLICAS":   func(c *Config) { c.Replicas = 0 },
		"SEGFLOW_MAX_DELIVER":       func(c *Config) { c.MaxDeliver = 0 },
		"SEGFLOW_BACKOFF":           func(c *Config) { c.MaxDeliver = 2 }, // 5 entries > 2
		"SEGFLOW_MAX_ACK_PENDING":   func(c *Config) { c.MaxAckPending = 0 },
		"SEGFLOW_STATUS_TTL":        func(c *Config) { c.StatusTTL = time.Minute },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), variable) {
			t.Errorf("%s: err = %v", variable, err)
		}
	}
	c := DefaultConfig()
	c.BackOff = nil
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "SEGFLOW_BACKOFF") {
		t.Errorf("empty backoff: %v", err)
	}
}

func TestEnsure(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	cfg := DefaultConfig()

	if _, err := Ensure(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second start finds everything as configured.
	p, err := Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}

	info, err := p.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Config.Subjects, cfg.Subjects().All(); !slices.Equal(got, want) {
		t.Errorf("stream subjects %v, want %v", got, want)
	}
	if info.Config.Retention != jetstream.LimitsPolicy || info.Config.MaxAge != 7*24*time.Hour ||
		info.Config.Duplicates != 2*time.Hour || info.Config.Storage != jetstream.FileStorage {
		t.Errorf("stream config %+v", info.Config)
	}
	for _, st := range Stages() {
		ci, err := p.Consumers[st].Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := ci.Config
		if c.Durable != string(st) || c.FilterSubject != cfg.Subjects().Input(st) || c.AckPolicy != jetstream.AckExplicitPolicy ||
			c.MaxDeliver != 10 || !slices.Equal(c.BackOff, cfg.BackOff) || c.AckWait != cfg.BackOff[0] {
			t.Errorf("%s consumer %+v", st, c)
		}
	}
	for _, kv := range []jetstream.KeyValue{p.Status, p.Intents} {
		if _, err := kv.Status(ctx); err != nil {
			t.Errorf("bucket %s: %v", kv.Bucket(), err)
		}
	}
	if p.Status.Bucket() != "segflow-requests" || p.Intents.Bucket() != "segflow-intents" {
		t.Errorf("buckets %s %s", p.Status.Bucket(), p.Intents.Bucket())
	}

	// The same event published twice is stored once.
	e, err := NewEvent(Source(StageReader), sampleBatchReady(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	first, err := Publish(ctx, js, cfg.Subjects().BatchReady, e)
	if err != nil {
		t.Fatal(err)
	}
	e.Time = e.Time.Add(time.Minute) // a later republish: same id
	second, err := Publish(ctx, js, cfg.Subjects().BatchReady, e)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !second.Duplicate || first.Sequence != second.Sequence {
		t.Errorf("acks %+v %+v", first, second)
	}
	info, err = p.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages, want 1", info.State.Msgs)
	}
	raw, err := p.Stream.GetMsg(ctx, first.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := DecodeAs[BatchReady](raw.Data); err != nil || got.BatchID != sampleBatchReady().BatchID {
		t.Errorf("stored event: %v", err)
	}

	// The status record round-trips through its bucket.
	st := sampleStatus()
	b, err := st.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Status.Create(ctx, StatusKey(st.RequestID), b); err != nil {
		t.Fatal(err)
	}
	ent, err := p.Status.Get(ctx, StatusKey(st.RequestID))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeStatus(ent.Value()); err != nil || got.SegmentJobID != st.SegmentJobID {
		t.Errorf("status: %+v %v", got, err)
	}
	if _, err := p.Intents.Put(ctx, IntentKey(StageSegmenter, st.RequestID), []byte(`{}`)); err != nil {
		t.Errorf("intent key: %v", err)
	}
}

// A prefixed pipeline lives beside the default one without touching it.
func TestEnsurePrefixed(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	if _, err := Ensure(ctx, js, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Prefix = "acme"
	cfg.Memory = true
	p, err := Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Name != "SEGFLOW_acme" || info.Config.Subjects[0] != "acme.segment.requested" || info.Config.Storage != jetstream.MemoryStorage {
		t.Errorf("prefixed stream %+v", info.Config)
	}
	bad := DefaultConfig()
	bad.MaxDeliver = 0
	if _, err := Ensure(ctx, js, bad); err == nil {
		t.Error("Ensure took an invalid config")
	}
}

// A message that runs out of deliveries leaves an advisory in the
// advisory stream, from which it can be forwarded to the dead-letter
// subject.
func TestExhaustedMessageReachesTheAdvisoryStream(t *testing.T) {
	js := startJetStream(t)
	ctx := t.Context()
	cfg := DefaultConfig()
	cfg.MaxDeliver = 2
	cfg.BackOff = []time.Duration{time.Second}
	p, err := Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, cfg.Subjects().Requested, []byte(minimalRequest))
	if err != nil {
		t.Fatal(err)
	}
	for range cfg.MaxDeliver {
		msgs, err := p.Consumers[StageDefiner].Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			if err := m.Nak(); err != nil {
				t.Fatal(err)
			}
		}
		if n != 1 {
			t.Fatalf("fetched %d messages, want 1 (%v)", n, msgs.Error())
		}
	}

	// The server notices the exhaustion when it next looks for a message
	// to deliver, as a stage's next pull makes it.
	none, err := p.Consumers[StageDefiner].Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for m := range none.Messages() {
		t.Fatalf("delivered beyond MaxDeliver: %s", m.Data())
	}

	msgs, err := p.DeadLetter.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var adv MaxDeliveriesAdvisory
	var got jetstream.Msg
	for m := range msgs.Messages() {
		got = m
	}
	if got == nil {
		t.Fatalf("no advisory: %v", msgs.Error())
	}
	if err := json.Unmarshal(got.Data(), &adv); err != nil {
		t.Fatal(err)
	}
	if adv.Stage() != StageDefiner || adv.Stream != cfg.StreamName() || adv.StreamSeq != ack.Sequence || adv.Deliveries != 2 {
		t.Fatalf("advisory %+v", adv)
	}

	// Forward it: fetch the message, publish the dead letter, ack.
	raw, err := p.Stream.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		t.Fatal(err)
	}
	dl := DeadLetter{Stage: adv.Stage(), Stream: adv.Stream, Consumer: adv.Consumer, StreamSequence: adv.StreamSeq,
		Deliveries: adv.Deliveries, Subject: raw.Subject, Received: raw.Time}
	dl.SetMessage(raw.Data)
	e, err := NewEvent("/segflow/dead-letter", dl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second forward is dropped as a duplicate
		if _, err := Publish(ctx, js, cfg.Subjects().For(dl), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := got.Ack(); err != nil {
		t.Fatal(err)
	}
	last, err := p.Stream.GetLastMsgForSubject(ctx, "dlq.definer")
	if err != nil {
		t.Fatal(err)
	}
	_, back, err := DecodeAs[DeadLetter](last.Data)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Body()) != minimalRequest || back.Subject != "segment.requested" {
		t.Fatalf("dead letter %+v", back)
	}
	info, err := p.Stream.Info(ctx, jetstream.WithSubjectFilter("dlq.*"))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects["dlq.definer"]; n != 1 {
		t.Fatalf("dlq.definer holds %d messages, want 1", n)
	}

	// Replaying publishes the original under a new id, once.
	for range 2 {
		if _, err := js.PublishMsg(ctx, back.ReplayMsg()); err != nil {
			t.Fatal(err)
		}
	}
	info, err = p.Stream.Info(ctx, jetstream.WithSubjectFilter(cfg.Subjects().Requested))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[cfg.Subjects().Requested]; n != 2 {
		t.Fatalf("segment.requested holds %d messages, want the original and one replay", n)
	}
}
