package ups

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
)

// Preview and estimate (aep-api.md §2; SW-SEG /preview, /estimate): POST
// /preview starts an asynchronous run of a PQL predicate over the
// caller's merged profiles and answers at once; GET /estimate/{id} reports
// its progress and then the estimated audience size with its standard
// error and 95% confidence interval; GET /preview/{id} pages through the
// qualifying profiles the run read. This file holds the identifiers, the
// sampling rule and the statistics; preview_run.go the runs;
// preview_http.go the HTTP API.

const (
	previewBase  = "/data/core/ups/preview"
	estimateBase = "/data/core/ups/estimate"
)

// A run's states (D-PE): NEW until it gets its turn, RUNNING while it
// reads profiles, then RESULT_READY or FAILED.
const (
	previewNew     = "NEW"
	previewRunning = "RUNNING"
	previewReady   = "RESULT_READY"
	previewFailed  = "FAILED"
)

// previewKey is what a previewId encodes (aep-api.md §2, decoded from both
// documented examples): base64, without padding, of
// "0:<app>:<previewQueryId>:<previewExecutionId>". ups's app is
// "app-" and the sandbox's id, so an id names the sandbox it belongs to.
type previewKey struct {
	App       string
	QueryID   string
	Execution int
}

func (k previewKey) String() string {
	return base64.RawStdEncoding.EncodeToString([]byte("0:" + k.App + ":" + k.QueryID + ":" + strconv.Itoa(k.Execution)))
}

// parsePreviewID decodes a previewId. Padding, and the URL-safe alphabet,
// are accepted too: clients copy ids through many hands.
func parsePreviewID(id string) (previewKey, bool) {
	if id == "" || len(id) > 512 {
		return previewKey{}, false
	}
	s := strings.TrimRight(id, "=")
	raw, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return previewKey{}, false
		}
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 4 || parts[0] != "0" || parts[1] == "" || parts[2] == "" {
		return previewKey{}, false
	}
	exec, err := strconv.Atoi(parts[3])
	if err != nil || exec < 0 {
		return previewKey{}, false
	}
	return previewKey{App: parts[1], QueryID: parts[2], Execution: exec}, true
}

// previewApp is the app part of the caller's previewIds.
func previewApp(c Caller) string { return "app-" + sandboxOf(c.Org, c.Sandbox).SandboxID }

// samplingRule is how much of a population an estimate reads (D-PE,
// D-CREATE): every profile up to FullUpTo, a uniform sample of
// SampleSize up to SampleUpTo, and Fraction of them above.
type samplingRule struct {
	FullUpTo   int
	SampleSize int
	SampleUpTo int
	Fraction   float64
}

// platformSampling is the Platform's documented rule: the whole data set
// under 1M profiles, 1M of them up to 20M, 5% above.
var platformSampling = samplingRule{FullUpTo: 1_000_000, SampleSize: 1_000_000, SampleUpTo: 20_000_000, Fraction: 0.05}

// rate is the probability with which each of total persons is read.
func (r samplingRule) rate(total int) float64 {
	switch {
	case total <= r.FullUpTo:
		return 1
	case total <= r.SampleUpTo:
		return float64(r.SampleSize) / float64(total)
	}
	return r.Fraction
}

// confidenceZ is the 97.5th percentile of the standard normal
// distribution: the z of a two-sided 95% interval.
const confidenceZ = 1.959963984540054

// confidenceLevel is how the Platform names the interval it reports.
const confidenceLevel = "95%"

// sizeEstimate is what a sample says about the number of qualifying
// persons in the population.
type sizeEstimate struct {
	Size      int64   // the point estimate
	StdErr    float64 // its standard error
	Low, High int64   // the 95% confidence interval, inclusive
}

// estimateSize estimates how many of total persons qualify when read of
// them, a Bernoulli sample, were read and matched of those qualified.
//
// The statistics. Each person is read independently with probability r
// (store scans sample by a hash of the seed and the person's number).
// Given the number read, n, every set of n persons is equally likely: the
// sample is a simple random sample of n out of N drawn without
// replacement, and the matched count m is hypergeometric. We condition on
// n throughout (it is known; r only decided how big it came out), which
// also makes the numbers honest when r was chosen from a slightly stale
// N.
//
//   - Point estimate: N·m/n, the sample proportion scaled up (the ratio
//     estimator; dividing by the realised n rather than the expected N·r
//     removes the variance of n itself). Rounded to a whole profile.
//   - Standard error: for a total under sampling without replacement,
//     SE = N·sqrt((1−f)·s²/n) with f = n/N the sampling fraction and
//     s² = n/(n−1)·p̂(1−p̂) the unbiased variance of the 0/1 values; the
//     finite-population correction (1−f) makes it 0 when all N are read.
//   - Interval: the Wald interval (estimate ± 1.96·SE) covers far less
//     than 95% when p̂ is small (and is empty at m = 0), which is exactly
//     the case of a narrow audience. We use the Wilson score interval,
//     the set of p for which |p̂ − p| ≤ z·sqrt(p(1−p)/n'), whose coverage
//     stays close to nominal at small p. The hypergeometric variance of
//     p̂ is p(1−p)/n·(N−n)/(N−1), so n' = n·(N−1)/(N−n), the effective
//     sample size: this is the finite-population correction, and as n
//     approaches N the interval shrinks to the exact count. Bounds are
//     scaled by N and rounded outwards to whole profiles, then clipped to
//     what is certain: at least the m matched, at most N minus the n−m
//     read that did not match.
//
// The estimate's interval coverage is checked by TestEstimateCoverage*.
func estimateSize(total, read, matched int64) sizeEstimate {
	N, n, m := float64(total), float64(read), float64(matched)
	switch {
	case total <= 0:
		return sizeEstimate{}
	case read <= 0:
		// Nothing read: nothing known.
		return sizeEstimate{Low: 0, High: total}
	case read >= total:
		// The whole population: the count is exact.
		return sizeEstimate{Size: matched, Low: matched, High: matched}
	}
	p := m / n
	f := n / N
	var se float64
	if read > 1 {
		se = N * math.Sqrt((1-f)*p*(1-p)/(n-1))
	}
	neff := n * (N - 1) / (N - n)
	z2 := confidenceZ * confidenceZ
	denom := 1 + z2/neff
	center := (p + z2/(2*neff)) / denom
	half := confidenceZ * math.Sqrt(p*(1-p)/neff+z2/(4*neff*neff)) / denom
	low := int64(math.Floor(N * max(0, center-half)))
	high := int64(math.Ceil(N * min(1, center+half)))
	return sizeEstimate{
		Size:   scaleCount(total, read, matched),
		StdErr: se,
		Low:    max(low, matched),
		High:   min(high, total-(read-matched)),
	}
}

// scaleCount scales a count of the sample up to the population:
// round(total·count/read).
func scaleCount(total, read, count int64) int64 {
	if read <= 0 {
		return 0
	}
	if read >= total {
		return count
	}
	return int64(math.Round(float64(total) * float64(count) / float64(read)))
}

// expectedRows is how many of total persons a scan at rate reads, on
// average: the estimate's numRowsToRead while it runs.
func expectedRows(total int, rate float64) int64 {
	if rate >= 1 {
		return int64(total)
	}
	return int64(math.Round(float64(total) * rate))
}
