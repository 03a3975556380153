package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config is the pipeline's JetStream setup. The env tags are the variables
// the command reads; DefaultConfig has the same defaults.
type Config struct {
	// Prefix is put in front of every subject ("acme" gives
	// acme.segment.requested); empty for none. See NewSubjects.
	Prefix string `env:"SEGFLOW_SUBJECT_PREFIX"`
	// MaxAge is how long the stream keeps messages.
	MaxAge time.Duration `env:"SEGFLOW_STREAM_MAX_AGE, default=168h"`
	// Duplicates is the stream's duplicate window: a republished event
	// (same id) within it is dropped.
	Duplicates time.Duration `env:"SEGFLOW_STREAM_DUPLICATES, default=2h"`
	// Replicas is the stream's, consumers' and buckets' replica count.
	Replicas int `env:"SEGFLOW_STREAM_REPLICAS, default=1"`
	// Memory keeps the stream and buckets in memory instead of files
	// (tests, throwaway runs).
	Memory bool `env:"SEGFLOW_STREAM_MEMORY, default=false"`
	// MaxDeliver is how many times a stage's message is delivered before it
	// goes to the dead-letter subject.
	MaxDeliver int `env:"SEGFLOW_MAX_DELIVER, default=10"`
	// BackOff is the redelivery schedule, one entry per delivery (the last
	// repeating). Its first entry is the ack wait: a stage holding a
	// message longer must call InProgress within it (InProgressInterval).
	BackOff []time.Duration `env:"SEGFLOW_BACKOFF, default=30s,1m,2m,5m,10m"`
	// MaxAckPending bounds the messages a stage holds at once.
	MaxAckPending int `env:"SEGFLOW_MAX_ACK_PENDING, default=64"`
	// StatusTTL is how long a request's status is kept after its last
	// update.
	StatusTTL time.Duration `env:"SEGFLOW_STATUS_TTL, default=720h"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{
		MaxAge:        7 * 24 * time.Hour,
		Duplicates:    2 * time.Hour,
		Replicas:      1,
		MaxDeliver:    10,
		BackOff:       []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute},
		MaxAckPending: 64,
		StatusTTL:     30 * 24 * time.Hour,
	}
}

// Validate checks the configuration and names the variable at fault.
func (c Config) Validate() error {
	var errs []error
	if err := ValidatePrefix(c.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("SEGFLOW_SUBJECT_PREFIX: %w", err))
	}
	if c.MaxAge < time.Minute {
		errs = append(errs, fmt.Errorf("SEGFLOW_STREAM_MAX_AGE is %s, want at least 1m", c.MaxAge))
	}
	if c.Duplicates <= 0 || c.Duplicates > c.MaxAge {
		errs = append(errs, fmt.Errorf("SEGFLOW_STREAM_DUPLICATES is %s, want more than 0 and at most SEGFLOW_STREAM_MAX_AGE (%s)", c.Duplicates, c.MaxAge))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("SEGFLOW_STREAM_REPLICAS is %d, want 1 to 5", c.Replicas))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("SEGFLOW_MAX_DELIVER is %d, want at least 1", c.MaxDeliver))
	}
	if len(c.BackOff) == 0 {
		errs = append(errs, errors.New("SEGFLOW_BACKOFF is empty"))
	} else if len(c.BackOff) > c.MaxDeliver {
		errs = append(errs, fmt.Errorf("SEGFLOW_BACKOFF has %d entries, more than SEGFLOW_MAX_DELIVER (%d)", len(c.BackOff), c.MaxDeliver))
	}
	for i, d := range c.BackOff {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("SEGFLOW_BACKOFF entry %d is %s, want at least 1s", i+1, d))
		}
	}
	if c.MaxAckPending < 1 {
		errs = append(errs, fmt.Errorf("SEGFLOW_MAX_ACK_PENDING is %d, want at least 1", c.MaxAckPending))
	}
	if c.StatusTTL < time.Hour {
		errs = append(errs, fmt.Errorf("SEGFLOW_STATUS_TTL is %s, want at least 1h", c.StatusTTL))
	}
	return errors.Join(errs...)
}

// Subjects are the configuration's subjects. The prefix must be valid.
func (c Config) Subjects() Subjects { return MustSubjects(c.Prefix) }

// nameSuffix is the prefix made fit for stream and bucket names.
func (c Config) nameSuffix() string { return strings.ReplaceAll(c.Prefix, ".", "_") }

// StreamName is "SEGFLOW", or "SEGFLOW_<prefix>" with dots as underscores.
func (c Config) StreamName() string {
	if c.Prefix == "" {
		return "SEGFLOW"
	}
	return "SEGFLOW_" + c.nameSuffix()
}

// AdvisoryStreamName is the stream that keeps the max-deliveries
// advisories of the pipeline's consumers, so that no exhausted message is
// lost while nobody listens: StreamName + "_ADVISORIES".
func (c Config) AdvisoryStreamName() string { return c.StreamName() + "_ADVISORIES" }

// StatusBucket is "segflow-requests", suffixed "-<prefix>" under a prefix.
func (c Config) StatusBucket() string { return c.bucket("segflow-requests") }

// IntentBucket is "segflow-intents", suffixed "-<prefix>" under a prefix.
func (c Config) IntentBucket() string { return c.bucket("segflow-intents") }

func (c Config) bucket(name string) string {
	if c.Prefix == "" {
		return name
	}
	return name + "-" + c.nameSuffix()
}

// DeadLetterConsumer is the durable name of the consumer of the advisory
// stream that forwards exhausted messages to the dead-letter subjects.
const DeadLetterConsumer = "dead-letter"

func (c Config) storage() jetstream.StorageType {
	if c.Memory {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// StreamConfig is the pipeline's stream: every subject of the
// configuration, Limits retention, MaxAge, the duplicate window.
func (c Config) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.StreamName(),
		Description: "Segflow pipeline events",
		Subjects:    c.Subjects().All(),
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.MaxAge,
		Duplicates:  c.Duplicates,
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		MaxMsgs:     -1,
		MaxBytes:    -1,
	}
}

// MaxDeliveriesAdvisorySubject is the subject of the server's advisories
// for messages that ran out of deliveries on any pipeline consumer.
func (c Config) MaxDeliveriesAdvisorySubject() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + c.StreamName() + ".*"
}

// AdvisoryStreamConfig is the stream that keeps those advisories.
func (c Config) AdvisoryStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.AdvisoryStreamName(),
		Description: "Segflow: messages that ran out of deliveries, to forward to the dead-letter subjects",
		Subjects:    []string{c.MaxDeliveriesAdvisorySubject()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.MaxAge,
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		MaxMsgs:     -1,
		MaxBytes:    -1,
	}
}

// ConsumerName is a stage's durable consumer name: the stage's name.
func ConsumerName(stage Stage) string { return string(stage) }

// ConsumerConfig is a stage's durable pull consumer: filtered on its input
// subject, explicit acks, MaxDeliver deliveries on the BackOff schedule
// (AckWait is its first entry).
func (c Config) ConsumerConfig(stage Stage) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(stage),
		Description:   "Segflow " + string(stage) + " stage",
		FilterSubject: c.Subjects().Input(stage),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.BackOff[0],
		MaxDeliver:    c.MaxDeliver,
		BackOff:       append([]time.Duration(nil), c.BackOff...),
		MaxAckPending: c.MaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		Replicas:      c.Replicas,
	}
}

// DeadLetterConsumerConfig is the durable pull consumer of the advisory
// stream.
func (c Config) DeadLetterConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       DeadLetterConsumer,
		Description:   "Segflow dead-letter forwarder",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxDeliver:    -1,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
		Replicas:      c.Replicas,
	}
}

// InProgressInterval is how often a stage holding a message must call
// InProgress: a third of the shortest ack wait.
func (c Config) InProgressInterval() time.Duration {
	m := c.BackOff[0]
	for _, d := range c.BackOff {
		m = min(m, d)
	}
	return m / 3
}

// StatusBucketConfig is the request status bucket: a few revisions per
// request (for watch), kept StatusTTL.
func (c Config) StatusBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      c.StatusBucket(),
		Description: "Segflow request status, by request id",
		History:     5,
		TTL:         c.StatusTTL,
		Storage:     c.storage(),
		Replicas:    c.Replicas,
	}
}

// IntentBucketConfig is the stages' intent bucket, kept as long as the
// stream keeps the messages that could be redelivered.
func (c Config) IntentBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      c.IntentBucket(),
		Description: "Segflow stage intents, by <stage>.<request id>",
		History:     1,
		TTL:         c.MaxAge,
		Storage:     c.storage(),
		Replicas:    c.Replicas,
	}
}

// Pipeline is what Ensure created or found.
type Pipeline struct {
	Config    Config
	Subjects  Subjects
	Stream    jetstream.Stream
	Advisory  jetstream.Stream
	Consumers map[Stage]jetstream.Consumer
	// DeadLetter consumes the advisory stream.
	DeadLetter jetstream.Consumer
	Status     jetstream.KeyValue
	Intents    jetstream.KeyValue
}

// Ensure creates, or updates to the configuration, the pipeline stream,
// the advisory stream, the four stage consumers, the dead-letter consumer
// and the two buckets. It is idempotent: every component calls it at
// start. A setting JetStream cannot change in place (storage type) makes
// it fail with the server's error.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ensuring the pipeline: %w", err)
	}
	p := &Pipeline{Config: cfg, Subjects: cfg.Subjects(), Consumers: make(map[Stage]jetstream.Consumer, 4)}
	var err error
	if p.Stream, err = js.CreateOrUpdateStream(ctx, cfg.StreamConfig()); err != nil {
		return nil, fmt.Errorf("ensuring stream %s: %w", cfg.StreamName(), err)
	}
	if p.Advisory, err = js.CreateOrUpdateStream(ctx, cfg.AdvisoryStreamConfig()); err != nil {
		return nil, fmt.Errorf("ensuring stream %s: %w", cfg.AdvisoryStreamName(), err)
	}
	for _, s := range Stages() {
		c, err := js.CreateOrUpdateConsumer(ctx, cfg.StreamName(), cfg.ConsumerConfig(s))
		if err != nil {
			return nil, fmt.Errorf("ensuring consumer %s: %w", ConsumerName(s), err)
		}
		p.Consumers[s] = c
	}
	if p.DeadLetter, err = js.CreateOrUpdateConsumer(ctx, cfg.AdvisoryStreamName(), cfg.DeadLetterConsumerConfig()); err != nil {
		return nil, fmt.Errorf("ensuring consumer %s: %w", DeadLetterConsumer, err)
	}
	if p.Status, err = js.CreateOrUpdateKeyValue(ctx, cfg.StatusBucketConfig()); err != nil {
		return nil, fmt.Errorf("ensuring bucket %s: %w", cfg.StatusBucket(), err)
	}
	if p.Intents, err = js.CreateOrUpdateKeyValue(ctx, cfg.IntentBucketConfig()); err != nil {
		return nil, fmt.Errorf("ensuring bucket %s: %w", cfg.IntentBucket(), err)
	}
	return p, nil
}

// MaxDeliveriesAdvisory is the server's advisory (type
// io.nats.jetstream.advisory.v1.max_deliver) that a message ran out of
// deliveries. The server sends it when the last delivery's ack wait runs
// out, or, after a Nak of the last delivery, at the consumer's next pull.
// The dead-letter forwarder reads it from the advisory stream (consumer
// DeadLetterConsumer), fetches the message by StreamSeq from the pipeline
// stream, publishes a DeadLetter on Subjects.DeadLetter(Stage()) and acks.
type MaxDeliveriesAdvisory struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	StreamSeq  uint64    `json:"stream_seq"`
	Deliveries uint64    `json:"deliveries"`
}

// Stage is the stage whose consumer the advisory is about ("" if none).
func (a MaxDeliveriesAdvisory) Stage() Stage {
	if s := Stage(a.Consumer); s.Valid() {
		return s
	}
	return ""
}
