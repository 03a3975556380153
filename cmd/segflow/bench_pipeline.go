package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/ups/gen"
)

const benchPipelineUsage = `usage: segflow bench pipeline [flags]

Measures the pipeline end to end, in this process: it generates -profiles
profiles (services/ups/gen, seeded), starts "segflow up" (embedded NATS,
ups and the four stages) on loopback random ports over a temporary data
directory, ingests the data set, then measures:

  1. latency: -latency-requests requests of one small segment (-pql), one
     after the other, from publication to batch.ready's receipt (after
     one warm-up request, reported as "cold" and not counted);
  2. the pipeline's own overhead per stage hop, over the same requests:
     the next stage's start (its Timings in the payloads) minus the
     previous event's CloudEvents time, for requested→definer,
     definition.created→segmenter, job.succeeded→exporter and
     export.succeeded→reader; split at the stage's status record of
     taking the request (a watch of the status bucket), cross-checked
     with segflow_stage_hop_seconds from /metrics; floor p99 <= 20 ms;
  3. Platform calls per request, from the client's
     segflow_platform_requests_total, by operation;
  4. throughput: -requests requests (distinct names, a mix of cheap
     attribute segments) published at once, until each reaches
     batch.ready or fails: total time, requests/min, failures and lost
     requests, against the floor "within 3 minutes, nothing lost".

SEGFLOW_* tuning variables of the environment (SEGFLOW_STAGE_CONCURRENCY,
SEGFLOW_JOB_POLL, SEGFLOW_EXPORTER_POLL_INITIAL, ...) apply to the pipeline
under test; its addresses, data directory and credentials are the bench's
own. The pipeline's log goes to up.log in the run's directory (-keep keeps
it; -v copies it to stderr). Numbers depend on the machine and whatever else
runs on it: they are indicative. Exits non-zero if a request failed or was
lost (after printing the report); a missed floor is only reported.

flags:
`

// benchPipelineConfig are the flags of "segflow bench pipeline".
type benchPipelineConfig struct {
	profiles        int
	eventsPer       float64
	seed            int64
	latencyRequests int
	requests        int
	pql             string
	timeout         time.Duration
	keep, asJSON    bool
	verbose         bool
}

// Floors of the pipeline issue, on a 2-core machine.
const (
	hopFloor        = 20 * time.Millisecond
	throughputFloor = 3 * time.Minute
)

// runBenchPipeline implements "segflow bench pipeline".
func runBenchPipeline(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench pipeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchPipelineUsage)
		fs.PrintDefaults()
	}
	var bc benchPipelineConfig
	fs.IntVar(&bc.profiles, "profiles", 100_000, "profiles to generate and ingest")
	fs.Float64Var(&bc.eventsPer, "events-per-profile", gen.DefaultEventsPerProfile, "mean ExperienceEvents a profile")
	fs.Int64Var(&bc.seed, "seed", 1, "generator seed")
	fs.IntVar(&bc.requests, "requests", 500, "requests published at once for the throughput")
	fs.IntVar(&bc.latencyRequests, "latency-requests", 50, "sequential requests for the latency and the hops")
	fs.StringVar(&bc.pql, "pql", `loyalty.tier = "platinum"`, "the latency requests' segment (small: about 2.4% of the profiles by default)")
	fs.DurationVar(&bc.timeout, "timeout", 15*time.Minute, "how long to wait for the throughput requests (and for each latency request)")
	fs.BoolVar(&bc.keep, "keep", false, "keep the run's directory (gen/: the data set, data/: the pipeline's, up.log)")
	fs.BoolVar(&bc.asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&bc.verbose, "v", false, "copy the pipeline's log and ingestion's progress to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench pipeline takes flags only: %w", errUsage)
	}
	switch {
	case bc.profiles < 1:
		return errors.New("bench pipeline: -profiles must be at least 1")
	case bc.requests < 1 || bc.latencyRequests < 1:
		return errors.New("bench pipeline: -requests and -latency-requests must be at least 1")
	case bc.timeout <= 0:
		return errors.New("bench pipeline: -timeout must be positive")
	case strings.TrimSpace(bc.pql) == "":
		return errors.New("bench pipeline: -pql is empty")
	}

	tmp, err := os.MkdirTemp("", "segflow-bench-pipeline-")
	if err != nil {
		return err
	}
	b := &pipelineBench{cfg: bc, environ: environ, stderr: stderr, tmp: tmp}
	defer func() {
		if bc.keep {
			fmt.Fprintf(stderr, "bench: kept %s (gen/: the data set, data/: the pipeline's data, up.log: its log)\n", tmp)
			return
		}
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(stderr, "bench: removing %s: %v\n", tmp, err)
		}
	}()
	rep, err := b.run(ctx)
	if err != nil {
		if tail := logTail(benchLogPath(tmp), 4000); tail != "" && !bc.verbose {
			fmt.Fprintf(stderr, "bench: the end of the pipeline's log:\n%s\n", tail)
		}
		return err
	}
	if bc.asJSON {
		if err := writeJSONReport(stdout, rep); err != nil {
			return err
		}
	} else {
		printPipelineReport(stdout, rep)
	}
	t := rep.Throughput
	if bad := rep.Latency.Failed + t.Failed + t.DeadLettered + t.Lost; bad > 0 {
		return fmt.Errorf("bench pipeline: %d latency requests failed; of %d throughput requests %d failed, %d were dead-lettered, %d were lost", rep.Latency.Failed, t.Requests, t.Failed, t.DeadLettered, t.Lost)
	}
	return nil
}

// pipelineBench is one run of "segflow bench pipeline".
type pipelineBench struct {
	cfg     benchPipelineConfig
	environ []string
	stderr  io.Writer
	tmp     string

	up      *inProcessUp
	tr      *benchTracker
	metrics string // the pipeline's /metrics URL
}

func (b *pipelineBench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

func (b *pipelineBench) run(ctx context.Context) (*pipelineReport, error) {
	rep := &pipelineReport{GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), Tuning: []string{}, Bottlenecks: []string{}}
	rep.LoadAverage.Start = loadAverage()

	// 1. The data set.
	genDir := filepath.Join(b.tmp, "gen")
	b.logf("generating %d profiles (seed %d) in %s", b.cfg.profiles, b.cfg.seed, genDir)
	start := time.Now()
	sum, err := gen.WriteDataset(ctx, gen.Config{
		Profiles: b.cfg.profiles, EventsPerProfile: b.cfg.eventsPer, Seed: b.cfg.seed,
		Now: time.Now().UTC().Truncate(time.Second),
	}, genDir)
	if err != nil {
		return nil, fmt.Errorf("bench: generating: %w", err)
	}
	rep.Profiles, rep.Events, rep.Seed = sum.Profiles, sum.Events, sum.Seed
	rep.GenerateSeconds = time.Since(start).Seconds()

	// 2. The pipeline.
	logFile, err := os.Create(benchLogPath(b.tmp))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	var logs io.Writer = logFile
	if b.cfg.verbose {
		logs = io.MultiWriter(logFile, b.stderr)
	}
	upEnv, tuning := benchUpEnv(b.environ, filepath.Join(b.tmp, "data"))
	rep.Tuning = append(rep.Tuning, tuning...)
	start = time.Now()
	if b.up, err = startInProcessUp(ctx, upEnv, logs); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if err := b.up.stop(); err != nil {
			b.logf("stopping segflow up: %v", err)
		}
	}()
	rep.UpSeconds = time.Since(start).Seconds()
	b.metrics = b.up.metricsURL
	b.logf("segflow up: NATS %s, Platform %s, metrics %s", b.up.natsURL, b.up.platformURL, b.up.metricsURL)
	clientEnv := append(upEnv[:len(upEnv):len(upEnv)], "SEGFLOW_PLATFORM_URL="+b.up.platformURL, "SEGFLOW_NATS_URL="+b.up.natsURL)

	// 3. The data, as "segflow ingest" loads it.
	b.logf("ingesting %d profiles and %d events", sum.Profiles, sum.Events)
	var ingestOut, ingestErr bytes.Buffer
	var progress io.Writer = &ingestErr
	if b.cfg.verbose {
		progress = b.stderr
	}
	start = time.Now()
	if err := run(ctx, []string{"ingest", genDir}, clientEnv, nil, &ingestOut, progress); err != nil {
		return nil, fmt.Errorf("bench: ingesting: %w\n%s%s", err, ingestErr.String(), ingestOut.String())
	}
	rep.IngestSeconds = time.Since(start).Seconds()

	c, err := connectPipeline(ctx, clientEnv, "bench pipeline")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if b.tr, err = newBenchTracker(c); err != nil {
		return nil, err
	}
	defer b.tr.stop()
	if err := b.tr.watchStatus(ctx); err != nil {
		return nil, err
	}

	// 4. Latency and hops: one request at a time.
	if err := b.latency(ctx, rep); err != nil {
		return nil, err
	}
	// 5. Throughput: all at once.
	rep.LoadAverage.Throughput = loadAverage()
	if err := b.throughput(ctx, rep); err != nil {
		return nil, err
	}
	rep.LoadAverage.End = loadAverage()
	rep.Problems = b.tr.problems
	rep.judge()
	return rep, nil
}

// latency runs the sequential requests.
func (b *pipelineBench) latency(ctx context.Context, rep *pipelineReport) error {
	n := b.cfg.latencyRequests
	b.logf("latency: a warm-up request, then %d requests of %s one at a time", n, b.cfg.pql)
	one := func(name string) (*benchRequest, error) {
		r, req, err := b.tr.add(name, b.cfg.pql, "latency")
		if err != nil {
			return nil, err
		}
		if err := b.tr.publish(ctx, r, req); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
		defer cancel()
		if err := b.tr.wait(wctx, []*benchRequest{r}); err != nil {
			where := b.tr.unfinishedStatus(ctx, r.id)
			return nil, fmt.Errorf("bench: latency request %q (%s) did not end within %s (-timeout): %s", name, r.id, b.cfg.timeout, where)
		}
		return r, nil
	}
	warm, err := one("bench warm-up")
	if err != nil {
		return err
	}
	w := b.tr.snapshot(warm)
	if !w.ok() {
		return fmt.Errorf("bench: the warm-up request did not succeed: %s", endText(w))
	}
	rep.Latency.PQL, rep.Latency.Requests = b.cfg.pql, n
	rep.Latency.ColdMs = ms(w.ended.Sub(w.published))
	rep.Latency.SegmentProfiles = w.ready.ProfileCount

	before, err := scrapeMetrics(ctx, b.metrics)
	if err != nil {
		return err
	}
	var rs []benchRequest
	for i := range n {
		r, err := one(fmt.Sprintf("bench latency %d", i+1))
		if err != nil {
			return err
		}
		rs = append(rs, b.tr.snapshot(r))
	}
	after, err := scrapeMetrics(ctx, b.metrics)
	if err != nil {
		return err
	}
	rep.latencyFrom(rs)
	rep.hopsFrom(rs, before, after)
	rep.PlatformCalls = append(rep.PlatformCalls, platformCalls("latency", n, before, after))
	return nil
}

// throughput publishes the requests at once and waits for them all.
func (b *pipelineBench) throughput(ctx context.Context, rep *pipelineReport) error {
	n := b.cfg.requests
	mix := benchSegmentMix()
	rs := make([]*benchRequest, n)
	reqs := make([]events.Request, n)
	for i := range n {
		var err error
		if rs[i], reqs[i], err = b.tr.add("bench throughput "+strconv.Itoa(i+1), mix[i%len(mix)], "throughput"); err != nil {
			return err
		}
	}
	before, err := scrapeMetrics(ctx, b.metrics)
	if err != nil {
		return err
	}
	b.logf("throughput: publishing %d requests at once (%d segments)", n, min(n, len(mix)))
	t0 := time.Now()
	if err := b.tr.publishAll(ctx, rs, reqs); err != nil {
		return err
	}
	published := time.Since(t0)
	wctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	waited := make(chan error, 1)
	go func() { waited <- b.tr.wait(wctx, rs) }()
wait:
	for {
		select {
		case <-waited:
			break wait
		case <-progress.C:
			done := 0
			for _, r := range rs {
				if b.tr.snapshot(r).finished() {
					done++
				}
			}
			b.logf("throughput: %d of %d ended after %s", done, n, time.Since(t0).Round(time.Second))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	after, err := scrapeMetrics(ctx, b.metrics)
	if err != nil {
		return err
	}
	snaps := make([]benchRequest, n)
	for i, r := range rs {
		snaps[i] = b.tr.snapshot(r)
	}
	rep.throughputFrom(snaps, t0, published, b.cfg.timeout)
	for _, s := range snaps {
		if !s.finished() {
			rep.Throughput.Unfinished = append(rep.Throughput.Unfinished, fmt.Sprintf("%s (%s): %s", s.name, s.id, b.tr.unfinishedStatus(ctx, s.id)))
		}
	}
	rep.PlatformCalls = append(rep.PlatformCalls, platformCalls("throughput", n, before, after))
	return nil
}

// benchSegmentMix are the throughput's segments: cheap attribute
// segments, each country of the generated data with each loyalty tier
// (from under 0.1% to about 12% of the profiles), and a few more.
func benchSegmentMix() []string {
	var out []string
	for _, tier := range []string{"gold", "platinum", "silver", "bronze"} {
		for _, cc := range []string{"US", "GB", "DE", "FR", "CA", "MX", "ES", "IT", "NL", "AU"} {
			out = append(out, fmt.Sprintf(`homeAddress.countryCode = "%s" and loyalty.tier = "%s"`, cc, tier))
		}
	}
	return append(out, `loyalty.tier = "platinum"`, `loyalty.points > 90000`, `homeAddress.countryCode = "NL"`, `loyalty.tier = "gold" and loyalty.points > 20000`)
}

// loadAverage is the 1-minute load average, or -1 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
