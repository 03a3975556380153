package stage

import (
	"github.com/prometheus/client_golang/prometheus"
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
	}
	for _, c := range []prometheus.Collector{m.messages, m.duration, m.inFlight, m.redelivered, m.hop, m.polls, m.deadLetters} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
