package platform

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the client-side request metrics. A nil *Metrics records
// nothing, so a Client without metrics needs no special case.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the client metrics with reg. A nil reg gives a nil
// *Metrics: no metrics.
//
//	segflow_platform_requests_total{operation,status_class}   HTTP requests sent, each attempt counted
//	segflow_platform_request_duration_seconds{operation}      time to the response headers (or failure)
//
// status_class is "2xx" … "5xx", or "error" when no response came.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_platform_requests_total",
			Help: "HTTP requests sent to the Platform, each attempt counted, by operation and status class.",
		}, []string{"operation", "status_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segflow_platform_request_duration_seconds",
			Help:    "Time from sending a Platform request to its response headers, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9), // 1 ms to about 65 s
		}, []string{"operation"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering platform client metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one attempt: status 0 means no response.
func (m *Metrics) observe(op string, status int, d time.Duration) {
	if m == nil {
		return
	}
	class := "error"
	if status > 0 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.requests.WithLabelValues(op, class).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}
