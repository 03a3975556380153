package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/segflow/segflow/pkg/events"
)

// natsConfig is how the command reaches NATS.
type natsConfig struct {
	// URL is the server, or a comma-separated list of servers of one
	// cluster (nats://, tls://, ws:// or wss://).
	URL string `env:"SEGFLOW_NATS_URL, default=nats://127.0.0.1:4222"`
	// Creds is a NATS credentials file (user JWT and nkey seed), if the
	// server wants one.
	Creds string `env:"SEGFLOW_NATS_CREDS"`
}

// Validate checks the configuration and names the variable at fault.
func (c natsConfig) Validate() error {
	if strings.TrimSpace(c.URL) == "" {
		return errors.New("SEGFLOW_NATS_URL is empty")
	}
	for _, s := range strings.Split(c.URL, ",") {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("SEGFLOW_NATS_URL: %q is not a URL", redactURL(s))
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("SEGFLOW_NATS_URL: %q has scheme %q, want nats://, tls://, ws:// or wss://", redactURL(s), u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("SEGFLOW_NATS_URL: %q has no host", redactURL(s))
		}
	}
	if c.Creds != "" {
		fi, err := os.Stat(c.Creds)
		if err != nil {
			return fmt.Errorf("SEGFLOW_NATS_CREDS: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("SEGFLOW_NATS_CREDS: %s is not a file", c.Creds)
		}
	}
	return nil
}

// redactURL hides a password in a server URL, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// redactedURLs is c.URL with passwords hidden.
func (c natsConfig) redactedURLs() string {
	parts := strings.Split(c.URL, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// connectNATS connects to the configured servers; name identifies the
// connection on the server (monitoring, logs).
func connectNATS(cfg natsConfig, name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.Name(name), nats.Timeout(5 * time.Second)}, extra...)
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s (SEGFLOW_NATS_URL): %w", cfg.redactedURLs(), err)
	}
	return nc, nil
}

// pipelineClient is a user command's handle on a running pipeline: the
// stream and buckets the pipeline's components created. A command never
// creates them: a missing stream means nothing runs there.
type pipelineClient struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	cfg      events.Config
	subjects events.Subjects
	stream   jetstream.Stream
	url      string
}

// connectPipeline reads SEGFLOW_NATS_* and the pipeline's
// SEGFLOW_SUBJECT_PREFIX (and the rest of events.Config) from environ,
// connects and finds the pipeline stream.
func connectPipeline(ctx context.Context, environ []string, name string) (*pipelineClient, error) {
	ncfg, err := loadEnvConfig[natsConfig](ctx, environ)
	if err != nil {
		return nil, err
	}
	ecfg, err := loadEnvConfig[events.Config](ctx, environ)
	if err != nil {
		return nil, err
	}
	nc, err := connectNATS(ncfg, "segflow "+name)
	if err != nil {
		return nil, err
	}
	c := &pipelineClient{nc: nc, cfg: ecfg, subjects: ecfg.Subjects(), url: ncfg.redactedURLs()}
	if c.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}
	c.stream, err = c.js.Stream(ctx, ecfg.StreamName())
	if err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("the pipeline stream %s does not exist on %s: start the pipeline (segflow up), or set SEGFLOW_SUBJECT_PREFIX to its prefix", ecfg.StreamName(), c.url)
		}
		return nil, fmt.Errorf("finding the pipeline stream %s on %s: %w", ecfg.StreamName(), c.url, err)
	}
	return c, nil
}

// Close closes the connection.
func (c *pipelineClient) Close() { c.nc.Close() }

// errNoStatus: the status bucket holds no record of the request.
var errNoStatus = errors.New("no status")

// requestStatus reads a request's status record, and its JSON as stored.
// A missing one is errNoStatus, with what that can mean.
func (c *pipelineClient) requestStatus(ctx context.Context, id string) (events.Status, []byte, error) {
	kv, err := c.statusBucket(ctx)
	if err != nil {
		return events.Status{}, nil, err
	}
	e, err := kv.Get(ctx, events.StatusKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return events.Status{}, nil, fmt.Errorf("%w for request %s: unknown, not taken by the definer yet, or expired (SEGFLOW_STATUS_TTL)", errNoStatus, id)
	}
	if err != nil {
		return events.Status{}, nil, fmt.Errorf("reading the status of request %s: %w", id, err)
	}
	st, err := events.DecodeStatus(e.Value())
	if err != nil {
		return events.Status{}, nil, fmt.Errorf("the status of request %s: %w", id, err)
	}
	return st, e.Value(), nil
}

// statusBucket finds the request status bucket.
func (c *pipelineClient) statusBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, c.cfg.StatusBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("the status bucket %s does not exist on %s: start the pipeline (segflow up), or set SEGFLOW_SUBJECT_PREFIX to its prefix", c.cfg.StatusBucket(), c.url)
	}
	if err != nil {
		return nil, fmt.Errorf("finding the status bucket %s: %w", c.cfg.StatusBucket(), err)
	}
	return kv, nil
}

// scan reads the messages stored on subjects from start (the zero time:
// from the beginning) in stream order, calling fn for each until fn
// returns false or everything stored when the scan began (and since) is
// read. It uses an ephemeral consumer, deleted after.
func (c *pipelineClient) scan(ctx context.Context, subjects []string, start time.Time, fn func(jetstream.Msg) bool) error {
	cfg := jetstream.ConsumerConfig{
		FilterSubjects:    subjects,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	}
	if !start.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := c.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("reading the pipeline stream: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = c.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("reading the pipeline stream: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			if md, err := msg.Metadata(); err == nil {
				pending = md.NumPending
			}
			if !fn(msg) {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("reading the pipeline stream: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if n == 0 {
			return errors.New("reading the pipeline stream: no message within 5s although some are stored")
		}
	}
	return nil
}

// followSubjects are the subjects of a request's progress: every subject
// of the pipeline but its input.
func (c *pipelineClient) followSubjects() []string {
	return slices.DeleteFunc(c.subjects.All(), func(s string) bool { return s == c.subjects.Requested })
}
