package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// This file reads what "segflow bench pipeline" needs of the pipeline's
// /metrics endpoint: counters and histogram buckets.

// promSample is one sample line: name{labels} value.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// promScrape is one reading of /metrics.
type promScrape []promSample

// scrapeMetrics fetches and parses url (…/metrics).
func scrapeMetrics(ctx context.Context, url string) (promScrape, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the pipeline's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the pipeline's metrics: %s answered %s", url, resp.Status)
	}
	return parsePromText(resp.Body)
}

// parsePromText parses the Prometheus text exposition format (with
// prometheus/common's parser) into samples; a histogram gives its
// _bucket (le), _sum and _count samples, as the text shows them.
func parsePromText(r io.Reader) (promScrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	var out promScrape
	add := func(name string, m *dto.Metric, v float64, extra ...string) {
		labels := make(map[string]string, len(m.GetLabel())+1)
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k := 0; k+1 < len(extra); k += 2 {
			labels[extra[k]] = extra[k+1]
		}
		out = append(out, promSample{name: name, labels: labels, value: v})
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.GetBucket() {
					inf = inf || math.IsInf(b.GetUpperBound(), 1)
					add(name+"_bucket", m, float64(b.GetCumulativeCount()), "le", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
				}
				if !inf {
					add(name+"_bucket", m, float64(h.GetSampleCount()), "le", "+Inf")
				}
				add(name+"_sum", m, h.GetSampleSum())
				add(name+"_count", m, float64(h.GetSampleCount()))
			case m.GetCounter() != nil:
				add(name, m, m.GetCounter().GetValue())
			case m.GetGauge() != nil:
				add(name, m, m.GetGauge().GetValue())
			case m.GetUntyped() != nil:
				add(name, m, m.GetUntyped().GetValue())
			}
		}
	}
	return out, nil
}

// sum adds the values of the samples named name whose labels include
// match, grouped by the value of label by ("" for one group).
func (p promScrape) sum(name string, match map[string]string, by string) map[string]float64 {
	out := map[string]float64{}
next:
	for _, s := range p {
		if s.name != name {
			continue
		}
		for k, v := range match {
			if s.labels[k] != v {
				continue next
			}
		}
		out[s.labels[by]] += s.value
	}
	return out
}

// promHistogram is a histogram's cumulative buckets (upper bound →
// count) and count, possibly the difference of two scrapes.
type promHistogram struct {
	bounds []float64 // sorted, +Inf last
	counts []float64 // cumulative
	count  float64
}

// histogram reads histogram name for the samples whose labels include
// match.
func (p promScrape) histogram(name string, match map[string]string) promHistogram {
	byBound := map[float64]float64{}
	for le, c := range p.sum(name+"_bucket", match, "le") {
		if b, err := strconv.ParseFloat(le, 64); err == nil {
			byBound[b] += c
		}
	}
	var h promHistogram
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	slices.Sort(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, byBound[b])
	}
	h.count = p.sum(name+"_count", match, "")[""]
	return h
}

// minus is h's observations since before (same buckets).
func (h promHistogram) minus(before promHistogram) promHistogram {
	out := promHistogram{bounds: h.bounds, counts: slices.Clone(h.counts), count: h.count - before.count}
	for i, b := range h.bounds {
		if j := slices.Index(before.bounds, b); j >= 0 {
			out.counts[i] -= before.counts[j]
		}
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket; the largest finite bound when it falls
// in the +Inf bucket. NaN without observations.
func (h promHistogram) quantile(q float64) float64 {
	if h.count <= 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, prev := 0.0, 0.0
	for i, b := range h.bounds {
		c := h.counts[i]
		if c >= rank {
			if math.IsInf(b, 1) {
				if i > 0 {
					return h.bounds[i-1]
				}
				return math.NaN()
			}
			if c == prev {
				return b
			}
			return lower + (b-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = b, c
	}
	return h.bounds[len(h.bounds)-1]
}

// fractionAtMost is the share of observations at most bound, when bound
// is one of the bucket bounds (NaN otherwise, or without observations).
func (h promHistogram) fractionAtMost(bound float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	for i, b := range h.bounds {
		if b == bound {
			return h.counts[i] / h.count
		}
	}
	return math.NaN()
}
