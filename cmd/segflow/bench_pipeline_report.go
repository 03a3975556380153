package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segflow/segflow/pkg/events"
)

// pipelineReport is what "segflow bench pipeline" measured; -json prints
// it as is. Durations are milliseconds (…Ms) or seconds (…Seconds).
type pipelineReport struct {
	Profiles   int64 `json:"profiles"`
	Events     int64 `json:"events"`
	Seed       int64 `json:"seed"`
	GOMAXPROCS int   `json:"gomaxprocs"`
	NumCPU     int   `json:"numCPU"`
	// LoadAverage is the machine's 1-minute load average (-1: unknown).
	LoadAverage struct {
		Start      float64 `json:"start"`
		Throughput float64 `json:"throughput"` // before the throughput phase
		End        float64 `json:"end"`
	} `json:"loadAverage"`
	// Tuning are the SEGFLOW_* variables passed on to the pipeline.
	Tuning          []string `json:"tuning"`
	GenerateSeconds float64  `json:"generateSeconds"`
	UpSeconds       float64  `json:"upSeconds"`
	IngestSeconds   float64  `json:"ingestSeconds"`

	Latency       latencyReport    `json:"latency"`
	Hops          []hopReport      `json:"hops"`
	PlatformCalls []callsReport    `json:"platformCalls"`
	Throughput    throughputReport `json:"throughput"`
	Floors        []floorReport    `json:"floors"`
	// Bottlenecks are what the numbers point at.
	Bottlenecks []string `json:"bottlenecks"`
	// Problems are events the bench could not read.
	Problems []string `json:"problems,omitempty"`
}

// durStats summarize durations (nearest-rank percentiles).
type durStats struct {
	N      int     `json:"n"`
	P50Ms  float64 `json:"p50Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
	MeanMs float64 `json:"meanMs"`
}

func statsOf(ds []time.Duration) durStats {
	if len(ds) == 0 {
		return durStats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	rank := func(q float64) time.Duration { return s[max(0, int(math.Ceil(q*float64(len(s))))-1)] }
	return durStats{N: len(s), P50Ms: ms(rank(0.5)), P99Ms: ms(rank(0.99)), MaxMs: ms(s[len(s)-1]), MeanMs: ms(sum / time.Duration(len(s)))}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

type latencyReport struct {
	PQL             string  `json:"pql"`
	SegmentProfiles int64   `json:"segmentProfiles"`
	Requests        int     `json:"requests"`
	Failed          int     `json:"failed"`
	ColdMs          float64 `json:"coldMs"` // the warm-up request, not counted
	// EndToEnd runs from the request's publication to batch.ready's
	// receipt by the bench.
	EndToEnd durStats `json:"endToEnd"`
	// Stages is each stage's time on a request (its Timings start to end).
	Stages []stageTime `json:"stages"`
	// Delivery is batch.ready's publication to its receipt by the bench.
	Delivery durStats `json:"delivery"`
}

type stageTime struct {
	Stage events.Stage `json:"stage"`
	Busy  durStats     `json:"busy"`
}

// hopReport is the pipeline's overhead on one hop: from an event's
// publication (its CloudEvents time) to the next stage's start (its
// Timings), and the stage's segflow_stage_hop_seconds.
type hopReport struct {
	Hop   string       `json:"hop"`
	Stage events.Stage `json:"stage"`
	// Events are the latency requests' hops.
	Events durStats `json:"events"`
	// ToStatus and StatusToHandler split them at the stage's status
	// record of taking the request: ToStatus is the publication, the
	// delivery and the stage's status read; StatusToHandler its status
	// write and intent read, up to its handler's start.
	ToStatus        durStats `json:"toStatus"`
	StatusToHandler durStats `json:"statusToHandler"`
	// Metric is the histogram over the latency requests, nil if it saw
	// none.
	Metric *hopMetric `json:"metric"`
	// UnderLoad are the throughput requests' hops: queueing for the
	// stage included.
	UnderLoad durStats `json:"underLoad"`
	FloorMet  bool     `json:"floorMet"`
}

// hopMetric are estimates from segflow_stage_hop_seconds's buckets
// (publication to the stage's taking the message, before its status and
// intent reads).
type hopMetric struct {
	Count float64 `json:"count"`
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	// AtMostFloor is the share of hops within 20 ms (a bucket bound:
	// exact).
	AtMostFloor float64 `json:"atMostFloor"`
}

type callsReport struct {
	Phase      string    `json:"phase"`
	Requests   int       `json:"requests"`
	Calls      float64   `json:"calls"`
	PerRequest float64   `json:"perRequest"`
	Operations []opCalls `json:"operations"`
}

type opCalls struct {
	Operation  string  `json:"operation"`
	Calls      float64 `json:"calls"`
	PerRequest float64 `json:"perRequest"`
	// Not2xx counts the answers that were not 2xx, and calls without an
	// answer.
	Not2xx float64 `json:"not2xx"`
}

type throughputReport struct {
	Requests     int      `json:"requests"`
	Segments     int      `json:"segments"`
	Succeeded    int      `json:"succeeded"`
	Failed       int      `json:"failed"`
	DeadLettered int      `json:"deadLettered"`
	Lost         int      `json:"lost"`       // not ended within -timeout
	Duplicates   int      `json:"duplicates"` // requests with more than one terminal event
	Failures     []string `json:"failures,omitempty"`
	Unfinished   []string `json:"unfinished,omitempty"`
	PublishMs    float64  `json:"publishMs"`
	// TotalSeconds runs from the first publication to the last request's
	// end.
	TotalSeconds      float64     `json:"totalSeconds"`
	RequestsPerMinute float64     `json:"requestsPerMinute"`
	EndToEnd          durStats    `json:"endToEnd"`
	Stages            []stageLoad `json:"stages"`
	// Profiles is the sum of the exported audiences.
	Profiles int64 `json:"profiles"`
	FloorMet bool  `json:"floorMet"`
}

// stageLoad is a stage under the throughput's load.
type stageLoad struct {
	Stage events.Stage `json:"stage"`
	// LastOutputSeconds is when its last success event arrived, from the
	// first publication.
	LastOutputSeconds float64 `json:"lastOutputSeconds"`
	// Wait is the hop into the stage: queueing for one of its slots
	// included.
	Wait durStats `json:"wait"`
	// Busy is its time on a request.
	Busy durStats `json:"busy"`
	// Job is the Platform job's run time (segmenter, exporter), from the
	// job's metrics; JobSeconds their sum.
	Job        *durStats `json:"job,omitempty"`
	JobSeconds float64   `json:"jobSeconds,omitempty"`
}

type floorReport struct {
	Floor    string `json:"floor"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// hopDefs are the four stage hops: the event a stage takes and the stage.
var hopDefs = []struct {
	name  string
	input string // the input event's type
	stage events.Stage
}{
	{"requested→definer", events.TypeRequested, events.StageDefiner},
	{"definition.created→segmenter", events.TypeDefinitionCreated, events.StageSegmenter},
	{"job.succeeded→exporter", events.TypeJobSucceeded, events.StageExporter},
	{"export.succeeded→reader", events.TypeExportSucceeded, events.StageReader},
}

// outputType is the success event type of each stage.
var outputType = map[events.Stage]string{
	events.StageDefiner:   events.TypeDefinitionCreated,
	events.StageSegmenter: events.TypeJobSucceeded,
	events.StageExporter:  events.TypeExportSucceeded,
	events.StageReader:    events.TypeBatchReady,
}

// hop is a succeeded request's hop into stage: the stage's start minus
// its input event's publication.
func (r benchRequest) hop(input string, st events.Stage) (time.Duration, bool) {
	if r.ready == nil {
		return 0, false
	}
	tm := r.ready.Timings.Stage(st)
	if tm == nil || tm.Start.IsZero() {
		return 0, false
	}
	from := r.published
	if input != events.TypeRequested {
		var ok bool
		if from, ok = r.eventTime[input]; !ok {
			return 0, false
		}
	}
	return tm.Start.Sub(from), true
}

// hopSplit splits the hop into stage st at the stage's status record of
// taking the request.
func (r benchRequest) hopSplit(input string, st events.Stage) (toStatus, toHandler time.Duration, ok bool) {
	total, ok := r.hop(input, st)
	at, seen := r.statusBegin[st]
	if !ok || !seen {
		return 0, 0, false
	}
	start := r.ready.Timings.Stage(st).Start
	return total - start.Sub(at), start.Sub(at), true
}

// busy is a succeeded request's time in stage st.
func (r benchRequest) busy(st events.Stage) (time.Duration, bool) {
	if r.ready == nil {
		return 0, false
	}
	tm := r.ready.Timings.Stage(st)
	if tm == nil || tm.Start.IsZero() || tm.End.IsZero() {
		return 0, false
	}
	return tm.End.Sub(tm.Start), true
}

func (rep *pipelineReport) latencyFrom(rs []benchRequest) {
	var e2e, delivery []time.Duration
	busy := map[events.Stage][]time.Duration{}
	for _, r := range rs {
		if !r.ok() {
			rep.Latency.Failed++
			continue
		}
		e2e = append(e2e, r.ended.Sub(r.published))
		if t, ok := r.eventTime[events.TypeBatchReady]; ok {
			delivery = append(delivery, r.received[events.TypeBatchReady].Sub(t))
		}
		for _, st := range events.Stages() {
			if d, ok := r.busy(st); ok {
				busy[st] = append(busy[st], d)
			}
		}
	}
	rep.Latency.EndToEnd, rep.Latency.Delivery = statsOf(e2e), statsOf(delivery)
	for _, st := range events.Stages() {
		rep.Latency.Stages = append(rep.Latency.Stages, stageTime{Stage: st, Busy: statsOf(busy[st])})
	}
}

func (rep *pipelineReport) hopsFrom(rs []benchRequest, before, after promScrape) {
	for _, h := range hopDefs {
		var ds, toStatus, toHandler []time.Duration
		for _, r := range rs {
			if d, ok := r.hop(h.input, h.stage); ok {
				ds = append(ds, d)
			}
			if a, b, ok := r.hopSplit(h.input, h.stage); ok {
				toStatus, toHandler = append(toStatus, a), append(toHandler, b)
			}
		}
		hr := hopReport{Hop: h.name, Stage: h.stage, Events: statsOf(ds), ToStatus: statsOf(toStatus), StatusToHandler: statsOf(toHandler)}
		match := map[string]string{"stage": string(h.stage)}
		hist := after.histogram("segflow_stage_hop_seconds", match).minus(before.histogram("segflow_stage_hop_seconds", match))
		if hist.count > 0 {
			hr.Metric = &hopMetric{
				Count: hist.count, P50Ms: secMs(hist.quantile(0.5)), P99Ms: secMs(hist.quantile(0.99)),
				AtMostFloor: hist.fractionAtMost(hopFloor.Seconds()),
			}
			if math.IsNaN(hr.Metric.AtMostFloor) {
				hr.Metric.AtMostFloor = -1
			}
		}
		hr.FloorMet = hr.Events.N > 0 && hr.Events.P99Ms <= ms(hopFloor)
		rep.Hops = append(rep.Hops, hr)
	}
}

func secMs(s float64) float64 {
	if math.IsNaN(s) {
		return -1
	}
	return math.Round(s*1e6) / 1e3
}

// platformCalls is the client's request count between two scrapes, by
// operation, per request.
func platformCalls(phase string, requests int, before, after promScrape) callsReport {
	const name = "segflow_platform_requests_total"
	all0, all1 := before.sum(name, nil, "operation"), after.sum(name, nil, "operation")
	ok0, ok1 := before.sum(name, map[string]string{"status_class": "2xx"}, "operation"), after.sum(name, map[string]string{"status_class": "2xx"}, "operation")
	c := callsReport{Phase: phase, Requests: requests}
	for op, n := range all1 {
		calls := n - all0[op]
		if calls <= 0 {
			continue
		}
		c.Calls += calls
		c.Operations = append(c.Operations, opCalls{
			Operation: op, Calls: calls, PerRequest: round2(calls / float64(requests)),
			Not2xx: calls - (ok1[op] - ok0[op]),
		})
	}
	sort.Slice(c.Operations, func(i, j int) bool {
		a, b := c.Operations[i], c.Operations[j]
		return a.Calls > b.Calls || a.Calls == b.Calls && a.Operation < b.Operation
	})
	c.PerRequest = round2(c.Calls / float64(requests))
	return c
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func (rep *pipelineReport) throughputFrom(rs []benchRequest, t0 time.Time, published, timeout time.Duration) {
	t := &rep.Throughput
	t.Requests, t.PublishMs = len(rs), ms(published)
	segs := map[string]bool{}
	failures := map[string]int{}
	var last time.Time
	var e2e []time.Duration
	wait := map[events.Stage][]time.Duration{}
	busy := map[events.Stage][]time.Duration{}
	jobs := map[events.Stage][]time.Duration{}
	lastOut := map[events.Stage]time.Time{}
	for _, r := range rs {
		segs[r.pql] = true
		if r.terminals > 1 {
			t.Duplicates++
		}
		for _, st := range events.Stages() {
			if at, ok := r.received[outputType[st]]; ok && at.After(lastOut[st]) {
				lastOut[st] = at
			}
		}
		switch {
		case !r.finished():
			t.Lost++
			continue
		case r.ok():
			t.Succeeded++
			t.Profiles += r.ready.ProfileCount
		case r.failure != nil:
			t.Failed++
			failures[fmt.Sprintf("%s: %s", r.failure.Stage, oneLine(r.failure.Reason, 160))]++
		default:
			t.DeadLettered++
			failures[fmt.Sprintf("%s dead letter: %s", r.dead.Stage, oneLine(r.dead.Reason, 160))]++
		}
		if r.ended.After(last) {
			last = r.ended
		}
		if !r.ok() {
			continue
		}
		e2e = append(e2e, r.ended.Sub(r.published))
		for _, h := range hopDefs {
			if d, ok := r.hop(h.input, h.stage); ok {
				wait[h.stage] = append(wait[h.stage], d)
			}
			if d, ok := r.busy(h.stage); ok {
				busy[h.stage] = append(busy[h.stage], d)
			}
		}
		jobs[events.StageSegmenter] = append(jobs[events.StageSegmenter], time.Duration(r.jobMs)*time.Millisecond)
		jobs[events.StageExporter] = append(jobs[events.StageExporter], time.Duration(r.exportMs)*time.Millisecond)
	}
	t.Segments = len(segs)
	if !last.IsZero() {
		t.TotalSeconds = round2(last.Sub(t0).Seconds())
	}
	if t.Lost > 0 {
		t.TotalSeconds = round2(timeout.Seconds()) // at least
	}
	if t.TotalSeconds > 0 {
		t.RequestsPerMinute = round2(float64(t.Succeeded) / t.TotalSeconds * 60)
	}
	t.EndToEnd = statsOf(e2e)
	for _, st := range events.Stages() {
		sl := stageLoad{Stage: st, Wait: statsOf(wait[st]), Busy: statsOf(busy[st])}
		if at := lastOut[st]; !at.IsZero() {
			sl.LastOutputSeconds = round2(at.Sub(t0).Seconds())
		}
		if js, ok := jobs[st]; ok {
			s := statsOf(js)
			sl.Job = &s
			var sum time.Duration
			for _, d := range js {
				sum += d
			}
			sl.JobSeconds = round2(sum.Seconds())
		}
		t.Stages = append(t.Stages, sl)
	}
	for i := range rep.Hops {
		rep.Hops[i].UnderLoad = statsOf(wait[rep.Hops[i].Stage])
	}
	for reason, n := range failures {
		t.Failures = append(t.Failures, fmt.Sprintf("%d× %s", n, reason))
	}
	slices.Sort(t.Failures)
	t.FloorMet = t.Lost == 0 && t.TotalSeconds > 0 && t.TotalSeconds <= throughputFloor.Seconds()
}

// judge fills the floors and the bottlenecks the numbers point at.
func (rep *pipelineReport) judge() {
	worst, worstHop, hopsMet := 0.0, "", len(rep.Hops) > 0
	for _, h := range rep.Hops {
		hopsMet = hopsMet && h.FloorMet
		if h.Events.P99Ms >= worst {
			worst, worstHop = h.Events.P99Ms, h.Hop
		}
	}
	rep.Floors = append(rep.Floors, floorReport{
		Floor:    "pipeline overhead per hop, p99 <= 20 ms",
		Measured: fmt.Sprintf("worst p99 %s (%s), %d sequential requests", msText(worst), worstHop, rep.Latency.Requests),
		Met:      hopsMet,
	})
	t := rep.Throughput
	rep.Floors = append(rep.Floors, floorReport{
		Floor: fmt.Sprintf("%d requests on a %s-profile store within 3 minutes, nothing lost", t.Requests, commas(rep.Profiles)),
		Measured: fmt.Sprintf("%s, %d succeeded, %d failed, %d dead-lettered, %d lost",
			durText(time.Duration(t.TotalSeconds*float64(time.Second))), t.Succeeded, t.Failed, t.DeadLettered, t.Lost),
		Met: t.FloorMet,
	})

	// Bottlenecks: where the throughput's time went.
	if t.TotalSeconds <= 0 {
		return
	}
	for _, sl := range t.Stages {
		// ups runs export jobs one at a time, so their run times add up
		// to time its export runner was busy (segment jobs waiting
		// together run in one pass: their times overlap).
		if sl.Stage == events.StageExporter && sl.Job != nil && sl.JobSeconds >= 0.5*t.TotalSeconds {
			rep.Bottlenecks = append(rep.Bottlenecks, fmt.Sprintf(
				"the Platform's export jobs: ups runs them one at a time (each scanning the whole store); %d jobs ran %.1f s in all (p50 %s, p99 %s each): %.0f%% of the %.1f s the %d requests took",
				sl.Job.N, sl.JobSeconds, msText(sl.Job.P50Ms), msText(sl.Job.P99Ms), 100*sl.JobSeconds/t.TotalSeconds, t.TotalSeconds, t.Requests))
		}
		if sl.Wait.N > 0 && sl.Wait.P99Ms > 1000 {
			rep.Bottlenecks = append(rep.Bottlenecks, fmt.Sprintf(
				"requests queued for the %s: hop p50 %s, p99 %s, max %s (its SEGFLOW_STAGE_CONCURRENCY slots were all busy)",
				sl.Stage, msText(sl.Wait.P50Ms), msText(sl.Wait.P99Ms), msText(sl.Wait.MaxMs)))
		}
		if sl.Job != nil && sl.Busy.N > 0 && sl.Busy.P50Ms > 2*sl.Job.P50Ms+500 {
			rep.Bottlenecks = append(rep.Bottlenecks, fmt.Sprintf(
				"the %s spent p50 %s on a request whose Platform job ran p50 %s: the rest is the job's wait in the Platform's queue and the stage's polling interval",
				sl.Stage, msText(sl.Busy.P50Ms), msText(sl.Job.P50Ms)))
		}
	}
}

// endText says how a request ended.
func endText(r benchRequest) string {
	switch {
	case r.ready != nil:
		return "batch.ready"
	case r.failure != nil:
		return fmt.Sprintf("failed at the %s: %s", r.failure.Stage, r.failure.Reason)
	case r.dead != nil:
		return fmt.Sprintf("dead-lettered by the %s: %s", r.dead.Stage, r.dead.Reason)
	}
	return "not ended"
}

// msText is a duration in milliseconds for people: "3.2 ms", "1.45 s".
func msText(v float64) string {
	switch {
	case v < 0:
		return "n/a"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.1f ms", v)
	case v < 60_000:
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return durText(time.Duration(v * float64(time.Millisecond)))
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func writeJSONReport(w io.Writer, rep *pipelineReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// printPipelineReport prints the report for people.
func printPipelineReport(w io.Writer, rep *pipelineReport) {
	fmt.Fprintf(w, "segflow bench pipeline: %s profiles, %s events (seed %d); segflow up in process, GOMAXPROCS %d, load average %s at start, %s before the throughput, %s at the end\n",
		commas(rep.Profiles), commas(rep.Events), rep.Seed, rep.GOMAXPROCS, loadText(rep.LoadAverage.Start), loadText(rep.LoadAverage.Throughput), loadText(rep.LoadAverage.End))
	fmt.Fprintf(w, "setup: generate %.1f s, up %.2f s, ingest %.1f s", rep.GenerateSeconds, rep.UpSeconds, rep.IngestSeconds)
	if len(rep.Tuning) > 0 {
		fmt.Fprintf(w, "; tuning %s", strings.Join(rep.Tuning, " "))
	}
	fmt.Fprintln(w)

	l := rep.Latency
	fmt.Fprintf(w, "\n1. end-to-end latency: %d sequential requests of %s (%s profiles), publication to batch.ready\n", l.Requests, l.PQL, commas(l.SegmentProfiles))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   \tp50\tp99\tmax\tmean\n")
	statRow := func(name string, s durStats) {
		if s.N == 0 {
			fmt.Fprintf(tw, "   %s\t-\t-\t-\t-\n", name)
			return
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\n", name, msText(s.P50Ms), msText(s.P99Ms), msText(s.MaxMs), msText(s.MeanMs))
	}
	statRow("end to end", l.EndToEnd)
	for _, st := range l.Stages {
		statRow("  "+string(st.Stage)+" (its time)", st.Busy)
	}
	statRow("  batch.ready to the bench", l.Delivery)
	tw.Flush()
	fmt.Fprintf(w, "   cold (the warm-up request, not counted): %s", msText(l.ColdMs))
	if l.Failed > 0 {
		fmt.Fprintf(w, "; FAILED: %d", l.Failed)
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "\n2. pipeline overhead per hop: the stage's start minus the previous event's time, %d sequential requests (floor p99 <= 20 ms)\n", l.Requests)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   hop\tn\tp50\tp99\tmax\tfloor\t│ to status p50\tp99\t│ status→handler p50\tp99\t│ metric p50\tp99\t<=20ms\n")
	for _, h := range rep.Hops {
		mp50, mp99, share := "-", "-", "-"
		if m := h.Metric; m != nil {
			mp50, mp99 = "≈"+msText(m.P50Ms), "≈"+msText(m.P99Ms)
			if m.AtMostFloor >= 0 {
				share = fmt.Sprintf("%.0f%%", 100*m.AtMostFloor)
			}
		}
		fmt.Fprintf(tw, "   %s\t%d\t%s\t%s\t%s\t%s\t│ %s\t%s\t│ %s\t%s\t│ %s\t%s\t%s\n", h.Hop, h.Events.N, msText(h.Events.P50Ms), msText(h.Events.P99Ms), msText(h.Events.MaxMs),
			metOrMissed(h.FloorMet), statMs(h.ToStatus, h.ToStatus.P50Ms), statMs(h.ToStatus, h.ToStatus.P99Ms),
			statMs(h.StatusToHandler, h.StatusToHandler.P50Ms), statMs(h.StatusToHandler, h.StatusToHandler.P99Ms), mp50, mp99, share)
	}
	tw.Flush()
	fmt.Fprintf(w, "   to status: publication, delivery and the stage's status read, up to its status record of taking the request;\n")
	fmt.Fprintf(w, "   status→handler: its status write and intent read, up to its handler's start;\n")
	fmt.Fprintf(w, "   metric: segflow_stage_hop_seconds over the same requests (storage in the stream to the stage's taking the message).\n")
	fmt.Fprintf(w, "   p99 is nearest-rank: with under 100 requests it is the maximum. The hops under load are the throughput's waits (4.).\n")

	fmt.Fprintf(w, "\n3. Platform calls per request (segflow_platform_requests_total)\n")
	for _, c := range rep.PlatformCalls {
		fmt.Fprintf(w, "   %s phase, %d requests: %.2f calls a request\n", c.Phase, c.Requests, c.PerRequest)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "     operation\tcalls\tper request\tnot 2xx\n")
		for _, op := range c.Operations {
			fmt.Fprintf(tw, "     %s\t%.0f\t%.2f\t%.0f\n", op.Operation, op.Calls, op.PerRequest, op.Not2xx)
		}
		tw.Flush()
	}

	t := rep.Throughput
	fmt.Fprintf(w, "\n4. throughput: %d requests published at once (%d distinct attribute segments, %s profiles exported in all), published in %s\n",
		t.Requests, t.Segments, commas(t.Profiles), msText(t.PublishMs))
	fmt.Fprintf(w, "   all ended after %s: %d succeeded, %d failed, %d dead-lettered, %d lost, %d duplicated: %.1f requests/min\n",
		msText(t.TotalSeconds*1000), t.Succeeded, t.Failed, t.DeadLettered, t.Lost, t.Duplicates, t.RequestsPerMinute)
	fmt.Fprintf(w, "   end to end: p50 %s, p99 %s, max %s\n", msText(t.EndToEnd.P50Ms), msText(t.EndToEnd.P99Ms), msText(t.EndToEnd.MaxMs))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   stage\tlast output at\twait p50\twait p99\tbusy p50\tbusy p99\tPlatform job p50\tjob p99\tjob time summed\n")
	for _, sl := range t.Stages {
		jp50, jp99, jsum := "-", "-", "-"
		if sl.Job != nil {
			jp50, jp99, jsum = msText(sl.Job.P50Ms), msText(sl.Job.P99Ms), fmt.Sprintf("%.1f s", sl.JobSeconds)
		}
		fmt.Fprintf(tw, "   %s\t%.1f s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sl.Stage, sl.LastOutputSeconds, msText(sl.Wait.P50Ms), msText(sl.Wait.P99Ms),
			msText(sl.Busy.P50Ms), msText(sl.Busy.P99Ms), jp50, jp99, jsum)
	}
	tw.Flush()
	fmt.Fprintf(w, "   wait: the hop into the stage, queueing for one of its slots included; busy: its time on a request;\n")
	fmt.Fprintf(w, "   Platform job: the job's own run time (segment jobs waiting together share one pass: their times overlap;\n")
	fmt.Fprintf(w, "   export jobs run one at a time: theirs add up).\n")
	for _, f := range t.Failures {
		fmt.Fprintf(w, "   failure: %s\n", f)
	}
	for _, u := range t.Unfinished {
		fmt.Fprintf(w, "   lost: %s\n", u)
	}

	fmt.Fprintf(w, "\nfloors (2-core machine; indicative)\n")
	for _, f := range rep.Floors {
		fmt.Fprintf(w, "   %-6s  %s: %s\n", metOrMissed(f.Met), f.Floor, f.Measured)
	}
	if len(rep.Bottlenecks) > 0 {
		fmt.Fprintf(w, "\nbottlenecks\n")
		for _, b := range rep.Bottlenecks {
			fmt.Fprintf(w, "   - %s\n", b)
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

// statMs is v of s for people, "-" when s is empty.
func statMs(s durStats, v float64) string {
	if s.N == 0 {
		return "-"
	}
	return msText(v)
}

func loadText(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}
