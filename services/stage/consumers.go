package stage

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/segflow/segflow/pkg/events"
)

// ConsumerCollector reports the stages' durable consumers as JetStream
// sees them, read when Prometheus scrapes: the work waiting for each
// stage, which the stage's own counters cannot show while it is stalled
// or gone. Several processes report the same consumer; dashboards take
// the max per consumer.
type ConsumerCollector struct {
	pipeline *events.Pipeline
	stages   []events.Stage
	timeout  time.Duration
	now      func() time.Time

	pending, ackPending, redelivered, oldest *prometheus.Desc
	failures                                 prometheus.Counter
}

// NewConsumerCollector registers a collector of the consumers of stages
// with reg. Each scrape makes one consumer-info request per stage (and a
// message lookup while one has work), bounded by timeout.
func NewConsumerCollector(reg prometheus.Registerer, p *events.Pipeline, stages []events.Stage, timeout time.Duration) (*ConsumerCollector, error) {
	labels := []string{"consumer", "stage"}
	c := &ConsumerCollector{
		pipeline: p, stages: stages, timeout: timeout, now: time.Now,
		pending: prometheus.NewDesc("segflow_consumer_pending_messages",
			"Messages on a stage's input subject its consumer has not delivered yet: the queue in front of the stage.", labels, nil),
		ackPending: prometheus.NewDesc("segflow_consumer_ack_pending_messages",
			"Messages delivered to a stage and not acknowledged yet: the work it holds.", labels, nil),
		redelivered: prometheus.NewDesc("segflow_consumer_redelivered_messages",
			"Messages delivered to a stage more than once and not acknowledged yet.", labels, nil),
		oldest: prometheus.NewDesc("segflow_consumer_oldest_unacked_age_seconds",
			"Age of the oldest message waiting for or held by a stage (0 when none): compare with segflow_pipeline_request_deadline_seconds.", labels, nil),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_consumer_info_failures_total",
			Help: "Scrapes that could not read a consumer's state from JetStream (its series are missing from that scrape).",
		}),
	}
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Describe implements prometheus.Collector.
func (c *ConsumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.redelivered
	ch <- c.oldest
	c.failures.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *ConsumerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for _, st := range c.stages {
		if err := c.collect(ctx, ch, st); err != nil {
			c.failures.Inc()
		}
	}
	c.failures.Collect(ch)
}

func (c *ConsumerCollector) collect(ctx context.Context, ch chan<- prometheus.Metric, st events.Stage) error {
	cons, ok := c.pipeline.Consumers[st]
	if !ok {
		return errors.New("no consumer")
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	age, err := c.oldestAge(ctx, info, st)
	if err != nil {
		return err
	}
	labels := []string{info.Name, string(st)}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), labels...)
	ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), labels...)
	ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered), labels...)
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, labels...)
	return nil
}

// oldestAge is the age of the first message above the consumer's ack
// floor on its subject: every message below the floor is acknowledged,
// so that one is the oldest still waiting or held.
func (c *ConsumerCollector) oldestAge(ctx context.Context, info *jetstream.ConsumerInfo, st events.Stage) (float64, error) {
	if info.NumPending == 0 && info.NumAckPending == 0 {
		return 0, nil
	}
	msg, err := c.pipeline.Stream.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(c.pipeline.Subjects.Input(st)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil // aged out or deleted meanwhile
	}
	if err != nil {
		return 0, err
	}
	return max(0, c.now().Sub(msg.Time).Seconds()), nil
}
