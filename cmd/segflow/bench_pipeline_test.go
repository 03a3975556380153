package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestBenchPipeline runs "segflow bench pipeline" at a tiny size: the
// report has its four parts, every request ends in batch.ready, nothing
// is lost, and the run's directory is removed.
func TestBenchPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	env := []string{"SEGFLOW_JOB_POLL=100ms", "SEGFLOW_EXPORTER_POLL_INITIAL=100ms", "SEGFLOW_NATS_URL=nats://192.0.2.1:4222"}
	stdout, stderr, err := runSegflow(t, env, "bench", "pipeline", "-profiles", "300", "-events-per-profile", "2",
		"-requests", "5", "-latency-requests", "3", "-timeout", "2m", "-json")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var rep pipelineReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}

	if rep.Profiles != 300 || rep.Events == 0 || rep.IngestSeconds <= 0 {
		t.Errorf("data set: %d profiles, %d events, ingest %g s", rep.Profiles, rep.Events, rep.IngestSeconds)
	}
	// The tuning variables reach the pipeline; its own addresses do not.
	if !slices.Contains(rep.Tuning, "SEGFLOW_JOB_POLL=100ms") || slices.ContainsFunc(rep.Tuning, func(s string) bool { return strings.HasPrefix(s, "SEGFLOW_NATS_URL") }) {
		t.Errorf("tuning %q", rep.Tuning)
	}

	l := rep.Latency
	if l.Requests != 3 || l.Failed != 0 || l.EndToEnd.N != 3 || l.EndToEnd.P50Ms <= 0 || l.EndToEnd.MaxMs < l.EndToEnd.P99Ms || l.ColdMs <= 0 || len(l.Stages) != 4 {
		t.Errorf("latency %+v", l)
	}
	for _, st := range l.Stages {
		if st.Busy.N != 3 {
			t.Errorf("latency: stage %s has %d timings", st.Stage, st.Busy.N)
		}
	}

	var hops []string
	for _, h := range rep.Hops {
		hops = append(hops, h.Hop)
		if h.Events.N != 3 || h.Events.P50Ms < 0 || h.UnderLoad.N != 5 || h.ToStatus.N != 3 || h.StatusToHandler.N != 3 ||
			math.Abs(h.ToStatus.MeanMs+h.StatusToHandler.MeanMs-h.Events.MeanMs) > 0.01 {
			t.Errorf("hop %s: events %+v, under load %+v", h.Hop, h.Events, h.UnderLoad)
		}
		if h.Metric == nil || h.Metric.Count != 3 || h.Metric.AtMostFloor < 0 || h.Metric.AtMostFloor > 1 {
			t.Errorf("hop %s: metric %+v", h.Hop, h.Metric)
		}
	}
	if want := []string{"requested→definer", "definition.created→segmenter", "job.succeeded→exporter", "export.succeeded→reader"}; !slices.Equal(hops, want) {
		t.Errorf("hops %q, want %q", hops, want)
	}

	if len(rep.PlatformCalls) != 2 || rep.PlatformCalls[0].Phase != "latency" || rep.PlatformCalls[1].Phase != "throughput" {
		t.Fatalf("platform calls %+v", rep.PlatformCalls)
	}
	for _, c := range rep.PlatformCalls {
		per := map[string]float64{}
		for _, op := range c.Operations {
			per[op.Operation] = op.PerRequest
		}
		// One definition, one segment job and one export job a request.
		for _, op := range []string{"CreateSegmentDefinition", "CreateSegmentJob", "CreateExportJob"} {
			if per[op] != 1 {
				t.Errorf("%s phase: %s %g a request, want 1 (%+v)", c.Phase, op, per[op], c.Operations)
			}
		}
		if c.PerRequest < 3 {
			t.Errorf("%s phase: %g calls a request", c.Phase, c.PerRequest)
		}
	}

	th := rep.Throughput
	if th.Requests != 5 || th.Succeeded != 5 || th.Failed != 0 || th.DeadLettered != 0 || th.Lost != 0 || th.Duplicates != 0 ||
		th.TotalSeconds <= 0 || th.RequestsPerMinute <= 0 || th.EndToEnd.N != 5 || th.Segments != 5 || len(th.Stages) != 4 {
		t.Errorf("throughput %+v", th)
	}
	for _, sl := range th.Stages {
		if sl.Busy.N != 5 || sl.Wait.N != 5 || sl.LastOutputSeconds <= 0 || sl.LastOutputSeconds > th.TotalSeconds+0.01 {
			t.Errorf("throughput stage %+v", sl)
		}
	}
	if len(rep.Floors) != 2 || !rep.Floors[1].Met {
		t.Errorf("floors %+v", rep.Floors)
	}
	if len(rep.Problems) > 0 {
		t.Errorf("problems %q", rep.Problems)
	}

	// The same report for people.
	var text bytes.Buffer
	printPipelineReport(&text, &rep)
	for _, want := range []string{
		"segflow bench pipeline: 300 profiles", "1. end-to-end latency: 3 sequential requests of loyalty.tier = \"platinum\"",
		"2. pipeline overhead per hop", "definition.created→segmenter", "3. Platform calls per request",
		"CreateExportJob", "4. throughput: 5 requests published at once", "5 succeeded, 0 failed, 0 dead-lettered, 0 lost",
		"floors", "pipeline overhead per hop, p99 <= 20 ms",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the text report lacks %q:\n%s", want, text.String())
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left %v in the temporary directory", left)
	}
}

func TestBenchPipelineUsage(t *testing.T) {
	if _, _, err := runSegflow(t, nil, "bench", "pipeline", "extra"); !errors.Is(err, errUsage) {
		t.Errorf("an argument: err = %v, want usage", err)
	}
	for _, args := range [][]string{{"-requests", "0"}, {"-latency-requests", "0"}, {"-profiles", "0"}, {"-pql", " "}} {
		if _, _, err := runSegflow(t, nil, append([]string{"bench", "pipeline"}, args...)...); err == nil {
			t.Errorf("%q ran", args)
		}
	}
	_, stderr, err := runSegflow(t, nil, "bench", "pipeline", "-h")
	if err != nil || !strings.Contains(stderr, "usage: segflow bench pipeline") || !strings.Contains(stderr, "-latency-requests") {
		t.Errorf("-h: %v\n%s", err, stderr)
	}
}

func TestParsePromText(t *testing.T) {
	const before = `# HELP segflow_stage_hop_seconds x
# TYPE segflow_stage_hop_seconds histogram
segflow_stage_hop_seconds_bucket{stage="definer",le="0.001"} 1
segflow_stage_hop_seconds_bucket{stage="definer",le="0.02"} 1
segflow_stage_hop_seconds_bucket{stage="definer",le="+Inf"} 1
segflow_stage_hop_seconds_count{stage="definer"} 1
segflow_platform_requests_total{operation="SegmentJob",status_class="2xx"} 4
`
	const after = `segflow_stage_hop_seconds_bucket{stage="definer",le="0.001"} 3
segflow_stage_hop_seconds_bucket{stage="definer",le="0.02"} 10
segflow_stage_hop_seconds_bucket{stage="definer",le="+Inf"} 11
segflow_stage_hop_seconds_count{stage="definer"} 11
segflow_stage_hop_seconds_bucket{stage="reader",le="+Inf"} 7
segflow_platform_requests_total{operation="SegmentJob",status_class="2xx"} 10
segflow_platform_requests_total{operation="SegmentJob",status_class="5xx"} 2
segflow_platform_requests_total{operation="CreateSegmentJob",status_class="2xx"} 2
odd_label{v="a \"quoted\" \\ value, {x}"} 1.5e3 1700000000
`
	b, err := parsePromText(strings.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	a, err := parsePromText(strings.NewReader(after))
	if err != nil {
		t.Fatal(err)
	}
	if got := a.sum("odd_label", map[string]string{"v": `a "quoted" \ value, {x}`}, ""); got[""] != 1500 {
		t.Errorf("odd label: %v", got)
	}
	m := map[string]string{"stage": "definer"}
	h := a.histogram("segflow_stage_hop_seconds", m).minus(b.histogram("segflow_stage_hop_seconds", m))
	if h.count != 10 || h.fractionAtMost(0.02) != 0.9 {
		t.Errorf("histogram %+v, share at most 20 ms %g", h, h.fractionAtMost(0.02))
	}
	// Rank 5 of 10: in the 1 ms to 20 ms bucket, third of its 7.
	if q := h.quantile(0.5); math.Abs(q-(0.001+0.019*3/7)) > 1e-9 {
		t.Errorf("p50 %g", q)
	}
	if q := h.quantile(0.99); q != 0.02 {
		t.Errorf("p99 %g, want the largest finite bound", q)
	}
	c := platformCalls("x", 2, b, a)
	if c.Calls != 10 || c.PerRequest != 5 || len(c.Operations) != 2 || c.Operations[0].Operation != "SegmentJob" || c.Operations[0].Calls != 8 || c.Operations[0].Not2xx != 2 {
		t.Errorf("calls %+v", c)
	}
	if _, err := parsePromText(strings.NewReader("broken{x=\"1\" 2\n")); err == nil {
		t.Error("an unterminated label parsed")
	}
}
