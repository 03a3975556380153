package stage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/stage"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// readerLike finishes every request with batch.ready, as the reader does.
type readerLike struct{}

func (readerLike) Decode(body []byte, _ stage.Meta) (events.ExportSucceeded, error) {
	_, p, err := events.DecodeAs[events.ExportSucceeded](body)
	return p, err
}

func (readerLike) Handle(_ context.Context, in events.ExportSucceeded, _ *stage.Msg) (events.Payload, error) {
	return events.NewBatchReady(in, nil), nil
}

// exported is an export.succeeded of a request the definer took ago.
func exported(id string, ago time.Duration) events.ExportSucceeded {
	d := definition(id, "ok")
	d.Timings.Begin(events.StageDefiner, time.Now().Add(-ago))
	x := events.NewExportSucceeded(events.NewJobSucceeded(d, "job-"+id, events.JobMetrics{}))
	x.DatasetID, x.DatasetName, x.ExportJobID, x.BatchID = "ds-"+id, "segflow-"+id, "1", "batch-"+id
	return x
}

func TestPipelineMetricsTimeARequestToItsEnd(t *testing.T) {
	env := stagetest.Start(t, nil)
	reg := prometheus.NewRegistry()
	metrics, err := stage.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := &stage.Runner[events.ExportSucceeded]{
		Stage: events.StageReader, Handler: readerLike{}, Pipeline: env.Pipeline, JS: env.JS,
		Config:  stage.Config{Concurrency: 2, ShutdownTimeout: time.Second, Deadline: 90 * time.Minute},
		Metrics: metrics, Log: zerolog.Nop(),
	}
	ready := env.Watch(t, env.Pipeline.Subjects.BatchReady)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	env.Publish(t, events.StageExporter, exported("r-1", 3*time.Second))
	stagetest.Next(t, ready)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	want := `
# HELP segflow_pipeline_request_deadline_seconds SEGFLOW_REQUEST_DEADLINE: how old a message may be when a stage takes it before the request fails.
# TYPE segflow_pipeline_request_deadline_seconds gauge
segflow_pipeline_request_deadline_seconds 5400
# HELP segflow_pipeline_requests_finished_total Requests that reached their end, by result: ready (batch.ready published), failed (a stage's failure event), rejected (the request was invalid).
# TYPE segflow_pipeline_requests_finished_total counter
segflow_pipeline_requests_finished_total{result="failed"} 0
segflow_pipeline_requests_finished_total{result="ready"} 1
segflow_pipeline_requests_finished_total{result="rejected"} 0
# HELP segflow_pipeline_requests_received_total Segment requests the definer received (first deliveries of segment.requested).
# TYPE segflow_pipeline_requests_received_total counter
segflow_pipeline_requests_received_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"segflow_pipeline_request_deadline_seconds", "segflow_pipeline_requests_finished_total", "segflow_pipeline_requests_received_total"); err != nil {
		t.Error(err)
	}
	// The latency runs from the definer taking the request, 3 s before.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mf := range mfs {
		if mf.GetName() != "segflow_pipeline_request_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if found = true; h.GetSampleCount() != 1 || h.GetSampleSum() < 3 || h.GetSampleSum() > 60 {
			t.Errorf("end-to-end latency: %d samples, sum %v s; want one of about 3 s", h.GetSampleCount(), h.GetSampleSum())
		}
	}
	if !found {
		t.Error("no segflow_pipeline_request_duration_seconds")
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestConsumerCollectorShowsTheQueueInFrontOfAStage(t *testing.T) {
	env := stagetest.Start(t, nil)
	reg := prometheus.NewRegistry()
	if _, err := stage.NewConsumerCollector(reg, env.Pipeline, []events.Stage{events.StageSegmenter, events.StageExporter}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Three requests wait for a segmenter that does not run.
	for _, id := range []string{"r-1", "r-2", "r-3"} {
		env.Publish(t, events.StageDefiner, definition(id, "ok"))
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					key += "/" + l.GetValue()
				}
			}
			got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"segflow_consumer_pending_messages/segmenter":          3,
		"segflow_consumer_ack_pending_messages/segmenter":      0,
		"segflow_consumer_redelivered_messages/segmenter":      0,
		"segflow_consumer_pending_messages/exporter":           0,
		"segflow_consumer_oldest_unacked_age_seconds/exporter": 0,
		"segflow_consumer_info_failures_total":                 0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if age := got["segflow_consumer_oldest_unacked_age_seconds/segmenter"]; age <= 0 || age > 60 {
		t.Errorf("the oldest waiting message is %v s old; want a small positive age", age)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// A damaged intent record cannot be mended by retrying: the request
// fails at once, saying which key to delete.
func TestDamagedIntentFailsTheRequest(t *testing.T) {
	env := stagetest.Start(t, nil)
	r, h := segmenterRunner(t, env, prometheus.NewRegistry(), 1)
	key := events.IntentKey(events.StageSegmenter, "r-damaged")
	if _, err := env.Pipeline.Intents.Put(context.Background(), key, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	failed := env.Watch(t, env.Pipeline.Subjects.JobFailed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	env.Publish(t, events.StageDefiner, definition("r-damaged", "ok"))
	var f events.Failure
	if err := stagetest.Next(t, failed).DecodeData(&f); err != nil || f.Retryable || f.Attempts != 1 || !strings.Contains(f.Reason, key) {
		t.Errorf("job.failed %+v: %v", f, err)
	}
	h.mu.Lock()
	calls := h.calls["r-damaged"]
	h.mu.Unlock()
	if calls != 0 {
		t.Errorf("the handler ran %d times over a damaged intent", calls)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
