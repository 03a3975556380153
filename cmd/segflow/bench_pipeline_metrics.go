package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file reads what "segflow bench pipeline" needs of the pipeline's
// /metrics endpoint: the Prometheus text format, parsed just far enough
// for counters and histogram buckets (no dependency on a parser).

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

// parsePromText parses the Prometheus text exposition format (comments
// and timestamps ignored).
func parsePromText(r io.Reader) (promScrape, error) {
	var out promScrape
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parsePromLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parsePromLine(line string) (promSample, error) {
	s := promSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ,")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad labels in %q", line)
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(line); j++ {
				c := line[j]
				if c == '\\' && j+1 < len(line) {
					j++
					switch line[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[j])
					}
					continue
				}
				if c == '"' {
					line, closed = line[j+1:], true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value for %s", key)
			}
			s.labels[key] = val.String()
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value for %s", s.name)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("value of %s: %w", s.name, err)
	}
	s.value = v
	return s, nil
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
