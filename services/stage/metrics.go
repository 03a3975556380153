package stage

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/segflow/segflow/pkg/events"
)

// Metrics are the stages' metrics. One set serves every stage of a
// process (segflow up runs four), labelled by stage.
type Metrics struct {
	messages    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    *prometheus.GaugeVec
	redelivered *prometheus.CounterVec
	hop         *prometheus.HistogramVec
	polls       *prometheus.HistogramVec
	deadLetters *prometheus.CounterVec
	expired     *prometheus.CounterVec

	// The pipeline as a whole, seen from its ends: the definer counts the
	// requests it receives, the stage that finishes a request (the reader
	// with batch.ready, any stage with a failure) counts and times it.
	received prometheus.Counter
	finished *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	deadline prometheus.Gauge
}

// Outcomes of a message, the values of the outcome label.
const (
	outcomeSucceeded    = "succeeded"
	outcomeFailed       = "failed"
	outcomeRejected     = "rejected"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
	outcomeHandedBack   = "handed_back"
)

// Results of a whole request, the values of the result label.
const (
	resultReady    = "ready"
	resultFailed   = "failed"
	resultRejected = "rejected"
)

// NewMetrics registers the stage metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_stage_messages_total",
			Help: "Messages a stage finished handling, by outcome: succeeded, failed, rejected, retried (handed back for redelivery after an error), dead_lettered, handed_back (at shutdown).",
		}, []string{"stage", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segflow_stage_duration_seconds",
			Help:    "Time a stage spent on a message, Platform calls and polling included, by outcome.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"stage", "outcome"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "segflow_stage_in_flight",
			Help: "Messages a stage is handling now.",
		}, []string{"stage"}),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_stage_redeliveries_total",
			Help: "Messages a stage received again (delivery count above one).",
		}, []string{"stage"}),
		hop: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segflow_stage_hop_seconds",
			Help:    "Time from a message's publication to its stage taking it: the pipeline's own latency per hop.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 5, 30},
		}, []string{"stage"}),
		polls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segflow_stage_job_polls",
			Help:    "Status polls a stage made of one Platform job (segment job, export job, estimate) until it finished.",
			Buckets: []float64{1, 2, 3, 5, 8, 13, 21, 34, 55, 89},
		}, []string{"stage"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_stage_dead_letters_total",
			Help: "Messages sent to a stage's dead-letter subject.",
		}, []string{"stage"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_stage_deadline_exceeded_total",
			Help: "Messages a stage failed because they were older than SEGFLOW_REQUEST_DEADLINE when it took them.",
		}, []string{"stage"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segflow_pipeline_requests_received_total",
			Help: "Segment requests the definer received (first deliveries of segment.requested).",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_pipeline_requests_finished_total",
			Help: "Requests that reached their end, by result: ready (batch.ready published), failed (a stage's failure event), rejected (the request was invalid).",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segflow_pipeline_request_duration_seconds",
			Help:    "Time from the definer taking a request to its end (batch.ready or a failure), by result.",
			Buckets: []float64{.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600},
		}, []string{"result"}),
		deadline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "segflow_pipeline_request_deadline_seconds",
			Help: "SEGFLOW_REQUEST_DEADLINE: how old a message may be when a stage takes it before the request fails.",
		}),
	}
	for _, c := range []prometheus.Collector{m.messages, m.duration, m.inFlight, m.redelivered, m.hop, m.polls, m.deadLetters, m.expired, m.received, m.finished, m.latency, m.deadline} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Zero series exist from the start, so rate() and absent-data alerts
	// see them before the first request.
	for _, r := range []string{resultReady, resultFailed, resultRejected} {
		m.finished.WithLabelValues(r)
	}
	return m, nil
}

// start makes a stage's series exist at zero before its first message,
// so that rate() and increase() see its first event, and sets the
// deadline gauge.
func (m *Metrics) start(st events.Stage, deadline time.Duration) {
	stage := string(st)
	for _, o := range []string{outcomeSucceeded, outcomeFailed, outcomeRejected, outcomeRetried, outcomeDeadLettered, outcomeHandedBack} {
		m.messages.WithLabelValues(stage, o)
	}
	m.inFlight.WithLabelValues(stage)
	m.redelivered.WithLabelValues(stage)
	m.deadLetters.WithLabelValues(stage)
	m.expired.WithLabelValues(stage)
	m.deadline.Set(deadline.Seconds())
}

// finish records a request's end. requested is when the definer took it;
// zero means unknown (a request rejected before it was read).
func (m *Metrics) finish(result string, requested, now time.Time) {
	m.finished.WithLabelValues(result).Inc()
	if !requested.IsZero() {
		m.latency.WithLabelValues(result).Observe(max(0, now.Sub(requested).Seconds()))
	}
}
