package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage/stagetest"
	"github.com/segflow/segflow/services/ups/gen"
	"github.com/segflow/segflow/services/ups/upstest"
)

// crashChildEnv names the stage a TestCrashChild process runs.
const crashChildEnv = "SEGFLOW_CRASH_CHILD"

// crashSeedEnv, when set, is the seed of TestCrashPipeline's schedule.
const crashSeedEnv = "SEGFLOW_CRASH_SEED"

// TestCrashChild is a stage process of TestCrashPipeline, which starts it,
// kills it with SIGKILL and starts it again: "segflow <stage>" with the
// environment it is given.
func TestCrashChild(t *testing.T) {
	st := os.Getenv(crashChildEnv)
	if st == "" {
		t.Skip("run by TestCrashPipeline")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, []string{st}, os.Environ(), nil, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "segflow:", err)
		os.Exit(1)
	}
}

// crashQueries are the requests' expressions, with an independent reading
// of who qualifies.
var crashQueries = []struct {
	pql  string
	want func(genProfile) bool
}{
	{`homeAddress.countryCode = "US"`, func(p genProfile) bool { return p.country == "US" }},
	{`loyalty.tier = "gold"`, func(p genProfile) bool { return p.tier == "gold" }},
	{`loyalty.tier = "gold" or loyalty.tier = "platinum"`, func(p genProfile) bool { return p.tier == "gold" || p.tier == "platinum" }},
}

// TestCrashPipeline runs the four stages as child processes against an
// embedded JetStream and an in-process ups (behind a proxy that slows the
// answers to creates), sends 100 requests, and kills a random stage
// process with SIGKILL at random moments (restarting it) until every
// request has its batch.ready. Once the stages have acked everything,
// every request has exactly one event of each stage in the stream and no
// failure; ups holds exactly one definition, segment job, dataset and
// export job per request; every manifest's files are in the sink as
// listed, holding the profiles the request selects; and every status
// record says the reader is done. The seed (logged; SEGFLOW_CRASH_SEED
// sets it) decides the publishing pace and the kill schedule; the
// interleaving with the processes' work is up to the machine.
func TestCrashPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts, kills and restarts processes for a minute")
	}
	const (
		requests = 100
		// killFor bounds the killing; the requests left then finish
		// undisturbed before deadline.
		killFor  = 90 * time.Second
		deadline = 3 * time.Minute
	)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay the schedule with %s=%d)", seed, crashSeedEnv, seed)
	sched := newCrashSchedule(seed, requests)
	ctx := context.Background()
	dir := t.TempDir()

	base := []string{
		"SEGFLOW_DATA_DIR=" + filepath.Join(dir, "data"),
		"SEGFLOW_METRICS_ADDR=127.0.0.1:0",
		"SEGFLOW_LOG_LEVEL=info",
		"SEGFLOW_LOG_FORMAT=json",
		"SEGFLOW_STAGE_CONCURRENCY=8",
		// The pipeline as every process ensures it: redelivery a second
		// after a kill, never out of deliveries.
		"SEGFLOW_STREAM_MEMORY=true",
		"SEGFLOW_BACKOFF=1s",
		"SEGFLOW_MAX_DELIVER=50",
		"SEGFLOW_JOB_POLL=100ms",
		"SEGFLOW_JOB_POLL_MAX=500ms",
		"SEGFLOW_EXPORTER_POLL_INITIAL=100ms",
		"SEGFLOW_EXPORTER_POLL_MAX=500ms",
	}
	ecfg, err := loadEnvConfig[events.Config](ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	bus := stagetest.Start(t, &ecfg)
	platformURL := upstest.Start(t, upstest.Config(t), nil)
	environ := append(slices.Clone(base), "SEGFLOW_NATS_URL="+bus.URL, "SEGFLOW_PLATFORM_URL="+platformURL)
	// The stages reach ups through a proxy that holds the answers to
	// creates back a while: a kill then often falls between a create done
	// and its answer, the window the intents are for.
	slowURL := slowCreates(t, platformURL, seed)
	stageEnviron := append(slices.Clone(base), "SEGFLOW_NATS_URL="+bus.URL, "SEGFLOW_PLATFORM_URL="+slowURL)

	// Profiles to segment.
	genCfg := gen.Config{Profiles: 500, EventsPerProfile: 2, Seed: 11, Now: time.Now().UTC().Truncate(time.Second)}
	if _, err := gen.WriteDataset(ctx, genCfg, filepath.Join(dir, "gen")); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"ingest", filepath.Join(dir, "gen")}, environ, nil, &out, &errOut); err != nil {
		t.Fatalf("ingest: %v\n%s", err, errOut.String())
	}
	profiles := readGenerated(t, genCfg)

	// The stage processes; killed (SIGKILL) before the NATS server stops.
	children := make(map[events.Stage]*crashChild)
	for _, st := range events.Stages() {
		c := &crashChild{stage: st, environ: append(slices.Clone(stageEnviron), crashChildEnv+"="+string(st)), logPath: filepath.Join(dir, string(st)+".log")}
		c.start(t)
		children[st] = c
	}
	t.Cleanup(func() {
		for _, c := range children {
			c.kill()
		}
	})

	// Everything that ends a request, read from the stream in order.
	subj := bus.Pipeline.Subjects
	ends := make(chan crashEnd, 4*requests)
	oc, err := bus.JS.OrderedConsumer(ctx, ecfg.StreamName(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj.BatchReady, subj.RequestRejected, subj.DefinitionFailed, subj.JobFailed, subj.ExportFailed, subj.BatchFailed, subj.DeadLetters()},
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := oc.Consume(func(m jetstream.Msg) {
		e := crashEnd{subject: m.Subject(), body: string(m.Data())}
		if ev, err := events.Decode(m.Data()); err == nil {
			e.requestID = ev.Subject
		}
		ends <- e
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()

	// The requests, published at the schedule's pace from the start.
	reqs := make([]crashRequest, requests)
	byID := make(map[string]int, requests)
	for i := range reqs {
		q := crashQueries[i%len(crashQueries)]
		r := events.Request{
			RequestID: events.DeriveRequestID(fmt.Sprintf("crash/%d/%d", seed, i)),
			Sandbox:   events.DefaultSandbox,
			Definition: events.Definition{
				Name:       fmt.Sprintf("crash %03d", i),
				Expression: events.Expression{Type: events.ExpressionTypePQL, Format: events.FormatPQLText, Value: q.pql},
			},
			Labels: events.Labels{"test": "crash"},
		}
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if r, err = events.ParseRequest(body); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, p := range profiles {
			if q.want(p) {
				want = append(want, p.ecid)
			}
		}
		slices.Sort(want)
		reqs[i] = crashRequest{req: r, want: want}
		byID[r.RequestID] = i
	}
	pubErr := make(chan error, 1)
	go func() {
		for i, r := range reqs {
			time.Sleep(sched.publishGaps[i])
			ev, err := events.NewEvent(requestSource, r.req, time.Now())
			if err == nil {
				_, err = events.Publish(ctx, bus.JS, subj.Requested, ev)
			}
			if err != nil {
				pubErr <- fmt.Errorf("publishing request %d: %w", i, err)
				return
			}
		}
		pubErr <- nil
	}()

	// Kill and restart until every request ended.
	start := time.Now()
	ready := make(map[string]events.BatchReady, requests)
	var failures []crashEnd
	ended := func() int {
		n := len(ready)
		for _, f := range failures {
			if _, ok := ready[f.requestID]; !ok {
				n++
			}
		}
		return n
	}
	kills := make(map[events.Stage]int)
	nkills := 0
	killing := true
	nextKill := time.NewTimer(sched.kills[0].wait)
	defer nextKill.Stop()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	timeout := time.After(deadline)
	published := false
	for !published || ended() < requests {
		select {
		case err := <-pubErr:
			if err != nil {
				t.Fatal(err)
			}
			published = true
			t.Logf("%v: %d requests published", time.Since(start).Round(time.Millisecond), requests)
		case e := <-ends:
			if _, ok := byID[e.requestID]; !ok && e.subject == subj.BatchReady {
				t.Errorf("batch.ready of an unknown request %q", e.requestID)
				continue
			}
			if e.subject != subj.BatchReady {
				failures = append(failures, e)
				t.Errorf("request %s failed on %s: %s", e.requestID, e.subject, e.body)
				continue
			}
			_, br, err := events.DecodeAs[events.BatchReady]([]byte(e.body))
			if err != nil {
				t.Errorf("batch.ready of request %s: %v", e.requestID, err)
			}
			if _, dup := ready[e.requestID]; dup {
				t.Errorf("a second batch.ready for request %s", e.requestID)
			}
			ready[e.requestID] = br
		case <-nextKill.C:
			for _, c := range children {
				if c.exitedOnItsOwn() {
					t.Fatalf("the %s process exited by itself: %s\n%s", c.stage, c.state(), tail(c.logPath, 40))
				}
			}
			if killing && time.Since(start) > killFor {
				killing = false
				t.Logf("%v: no more kills; %d/%d requests ended", time.Since(start).Round(time.Millisecond), ended(), requests)
			}
			if !killing {
				nextKill.Reset(time.Second) // only the exit check
				continue
			}
			k := sched.kills[nkills%len(sched.kills)]
			c := children[events.Stages()[k.stage]]
			c.kill()
			nkills++
			kills[c.stage]++
			time.Sleep(k.restart)
			c.start(t)
			nextKill.Reset(sched.kills[nkills%len(sched.kills)].wait)
		case <-progress.C:
			t.Logf("%v: %d/%d batch.ready, %d failed, %d kills", time.Since(start).Round(time.Millisecond), len(ready), requests, len(failures), nkills)
		case <-timeout:
			var stuck []string
			for _, r := range reqs {
				if _, ok := ready[r.req.RequestID]; !ok {
					stuck = append(stuck, describeStatus(ctx, bus, r.req))
				}
			}
			for _, st := range events.Stages() {
				if ci, err := bus.Pipeline.Consumers[st].Info(ctx); err == nil {
					t.Logf("consumer %s: %d pending, %d unacked, %d redelivered", st, ci.NumPending, ci.NumAckPending, ci.NumRedelivered)
				}
				t.Logf("the last lines of the %s process:\n%s", st, tail(children[st].logPath, 15))
			}
			t.Fatalf("after %v (seed %d, %d kills), %d of %d requests have no batch.ready:\n%s", deadline, seed, nkills, len(stuck), requests, strings.Join(stuck, "\n"))
		}
	}
	elapsed := time.Since(start)
	t.Logf("%v: all %d requests ended (%d batch.ready) after %d kills: %v", elapsed.Round(time.Millisecond), requests, len(ready), nkills, kills)

	// Let redeliveries of messages whose event went out before their ack
	// settle: every stage consumer has acked everything.
	settle := time.Now().Add(30 * time.Second)
	for {
		busy := ""
		for _, st := range events.Stages() {
			ci, err := bus.Pipeline.Consumers[st].Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				busy += fmt.Sprintf(" %s (%d pending, %d unacked)", st, ci.NumPending, ci.NumAckPending)
			}
		}
		if busy == "" {
			break
		}
		if time.Now().After(settle) {
			t.Fatalf("the stages did not settle:%s", busy)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range children {
		c.kill()
	}
	summarizeChildLogs(t, children)
	logCrashTimings(t, ready)

	checkCrashStream(t, ctx, environ, reqs, byID)
	checkCrashPlatform(t, ctx, environ, reqs, ready)
	checkCrashSink(t, reqs, ready, filepath.Join(dir, "data", "audiences"))
	for _, r := range reqs {
		e, err := bus.Pipeline.Status.Get(ctx, events.StatusKey(r.req.RequestID))
		if err != nil {
			t.Errorf("status of request %s: %v", r.req.RequestID, err)
			continue
		}
		s, err := events.DecodeStatus(e.Value())
		if err != nil || !s.Finished() || s.Stage != events.StageReader {
			t.Errorf("request %s (%s) has batch.ready, but its status says %s %s (%v)", r.req.RequestID, r.req.Definition.Name, s.Stage, s.State, err)
		}
	}
	if t.Failed() {
		t.Logf("seed %d: replay the schedule with %s=%d", seed, crashSeedEnv, seed)
	}
}

// slowCreates runs a reverse proxy to target until the test ends that
// delays the answers to POST, PUT, PATCH and DELETE requests by up to
// 300ms, and returns its URL.
func slowCreates(t *testing.T, target string, seed uint64) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0x51043))
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet {
			mu.Lock()
			d := time.Duration(rng.IntN(300)) * time.Millisecond
			mu.Unlock()
			time.Sleep(d)
		}
		return nil
	}
	proxy.ErrorLog = log.New(io.Discard, "", 0) // a killed stage's calls are cut short
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// crashRequest is a request sent and the ECIDs it selects, sorted.
type crashRequest struct {
	req  events.Request
	want []string
}

// crashEnd is a message that ends a request: batch.ready, a failure or a
// dead letter.
type crashEnd struct {
	subject, requestID, body string
}

// crashSchedule is what the seed decides: when each request is published,
// and when which stage process is killed and how long it stays down.
type crashSchedule struct {
	publishGaps []time.Duration
	kills       []crashKill
}

type crashKill struct {
	wait    time.Duration // from the previous kill's restart
	stage   int           // index into events.Stages()
	restart time.Duration // down time
}

func newCrashSchedule(seed uint64, requests int) crashSchedule {
	rng := rand.New(rand.NewPCG(seed, 0x5e9f1c3a))
	var s crashSchedule
	for range requests {
		s.publishGaps = append(s.publishGaps, time.Duration(rng.IntN(600))*time.Millisecond)
	}
	for range 500 {
		s.kills = append(s.kills, crashKill{
			wait:    time.Duration(100+rng.IntN(800)) * time.Millisecond,
			stage:   rng.IntN(len(events.Stages())),
			restart: time.Duration(rng.IntN(250)) * time.Millisecond,
		})
	}
	return s
}

// crashChild is one stage process, restarted after each kill; every run
// appends its output to logPath.
type crashChild struct {
	stage   events.Stage
	environ []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	killed  bool
	waitErr error
	starts  int
}

func (c *crashChild) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts++
	fmt.Fprintf(f, "=== start %d of %s\n", c.starts, c.stage)
	// The timeout ends a child the test could not kill (it was killed
	// itself).
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.timeout=6m")
	cmd.Env = c.environ
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the %s process: %v", c.stage, err)
	}
	exited := make(chan struct{})
	c.cmd, c.exited, c.killed = cmd, exited, false
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		c.waitErr = err
		c.mu.Unlock()
		close(exited)
	}()
}

// kill kills the process with SIGKILL and waits for it.
func (c *crashChild) kill() {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.killed = true
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill() // SIGKILL
	<-exited
}

// exitedOnItsOwn reports whether the process ended without being killed.
func (c *crashChild) exitedOnItsOwn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.exited:
		return !c.killed
	default:
		return false
	}
}

func (c *crashChild) state() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.waitErr)
}

// describeStatus says where a request is, from its status record.
func describeStatus(ctx context.Context, bus *stagetest.Env, r events.Request) string {
	line := fmt.Sprintf("  %s (%s): ", r.RequestID, r.Definition.Name)
	e, err := bus.Pipeline.Status.Get(ctx, events.StatusKey(r.RequestID))
	if err != nil {
		return line + "no status: " + err.Error()
	}
	s, err := events.DecodeStatus(e.Value())
	if err != nil {
		return line + err.Error()
	}
	line += fmt.Sprintf("%s %s, ids %+v", s.Stage, s.State, s.PlatformIDs)
	if s.Error != nil {
		line += ", error: " + s.Error.Reason
	}
	return line
}

// checkCrashStream counts the stream's events per request: one of each
// stage's output, no failure, no dead letter.
func checkCrashStream(t *testing.T, ctx context.Context, environ []string, reqs []crashRequest, byID map[string]int) {
	t.Helper()
	c, err := connectPipeline(ctx, environ, "crash test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.subjects
	outputs := []string{s.Requested, s.DefinitionCreated, s.JobSucceeded, s.ExportSucceeded, s.BatchReady}
	counts := make(map[string]map[string]int) // request id -> subject -> messages
	other := 0
	err = c.scan(ctx, s.All(), time.Time{}, func(m jetstream.Msg) bool {
		ev, err := events.Decode(m.Data())
		if err != nil {
			t.Errorf("a message on %s that is not an event: %v", m.Subject(), err)
			return true
		}
		if !slices.Contains(outputs, m.Subject()) {
			other++
			t.Errorf("%s for request %s: %s", m.Subject(), ev.Subject, m.Data())
		}
		if counts[ev.Subject] == nil {
			counts[ev.Subject] = map[string]int{}
		}
		counts[ev.Subject][m.Subject()]++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range counts {
		if _, ok := byID[id]; !ok {
			t.Errorf("events of an unknown request %q: %v", id, counts[id])
		}
	}
	for _, r := range reqs {
		for _, subject := range outputs {
			if n := counts[r.req.RequestID][subject]; n != 1 {
				t.Errorf("request %s (%s): %d messages on %s in the stream, want 1", r.req.RequestID, r.req.Definition.Name, n, subject)
			}
		}
	}
}

// checkCrashPlatform checks that ups holds exactly one definition,
// segment job, dataset and export job per request, the ones batch.ready
// names.
func checkCrashPlatform(t *testing.T, ctx context.Context, environ []string, reqs []crashRequest, ready map[string]events.BatchReady) {
	t.Helper()
	cfg, err := loadPlatformConfig(ctx, environ)
	if err != nil {
		t.Fatal(err)
	}
	client, err := platform.New(cfg, platform.Options{})
	if err != nil {
		t.Fatal(err)
	}

	defs := map[string][]string{} // name -> ids
	for page := 1; ; page++ {
		p, err := client.ListSegmentDefinitions(ctx, platform.SegmentDefinitionListOptions{Limit: 100, Page: page})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Segments {
			defs[d.Name] = append(defs[d.Name], d.ID)
		}
		if len(p.Segments) < 100 || p.Page.TotalPages > 0 && page >= p.Page.TotalPages {
			break
		}
	}
	if len(defs) != len(reqs) {
		t.Errorf("ups holds definitions of %d names, want %d", len(defs), len(reqs))
	}

	exports := map[string][]string{} // dataset id -> export job ids
	total := 0
	opts := platform.ExportJobListOptions{Limit: 100}
	for {
		p, err := client.ListExportJobs(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range p.Jobs {
			exports[j.Destination.DatasetID] = append(exports[j.Destination.DatasetID], j.ID.String())
			total++
		}
		next, ok := p.NextOffset()
		if !ok || next == opts.Offset || len(p.Jobs) == 0 {
			break
		}
		opts.Offset = next
	}
	if total != len(reqs) {
		t.Errorf("ups holds %d export jobs, want %d", total, len(reqs))
	}

	for _, r := range reqs {
		name := r.req.Definition.Name
		br, ok := ready[r.req.RequestID]
		if !ok {
			continue
		}
		if ids := defs[name]; len(ids) != 1 || ids[0] != br.Segment.ID {
			t.Errorf("%s: definitions %v, want exactly the one batch.ready names (%s)", name, ids, br.Segment.ID)
		}
		jobs, err := client.ListSegmentJobs(ctx, platform.SegmentJobListOptions{SegmentID: br.Segment.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var jobIDs []string
		for _, j := range jobs.Jobs {
			jobIDs = append(jobIDs, j.ID)
		}
		if len(jobIDs) != 1 || jobIDs[0] != br.SegmentJobID {
			t.Errorf("%s: segment jobs %v of definition %s, want exactly the one batch.ready names (%s)", name, jobIDs, br.Segment.ID, br.SegmentJobID)
		}
		ds, err := client.Dataset(ctx, br.DatasetID)
		if err != nil {
			t.Errorf("%s: dataset %s: %v", name, br.DatasetID, err)
			continue
		}
		same, err := client.FindDatasets(ctx, ds.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(same) != 1 {
			t.Errorf("%s: %d datasets named %q, want 1", name, len(same), ds.Name)
		}
		if ids := exports[br.DatasetID]; len(ids) != 1 || ids[0] != br.ExportJobID {
			t.Errorf("%s: export jobs %v into dataset %s, want exactly the one batch.ready names (%s)", name, ids, br.DatasetID, br.ExportJobID)
		}
	}
}

// checkCrashSink checks every manifest against the sink: each file is
// there with its size and checksum, and the files hold the profiles the
// request selects. Files in a request's directory that no manifest lists
// (a write cut short by a kill) are reported.
func checkCrashSink(t *testing.T, reqs []crashRequest, ready map[string]events.BatchReady, sinkDir string) {
	t.Helper()
	stray := 0
	for _, r := range reqs {
		br, ok := ready[r.req.RequestID]
		if !ok {
			continue
		}
		name := r.req.Definition.Name
		listed := map[string]bool{}
		var got []string
		var rows int64
		for _, f := range br.Files {
			u, err := url.Parse(f.URI)
			if err != nil || u.Scheme != "file" {
				t.Errorf("%s: file uri %q", name, f.URI)
				continue
			}
			listed[filepath.Clean(u.Path)] = true
			data, err := os.ReadFile(u.Path)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			sum := sha256.Sum256(data)
			if int64(len(data)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
				t.Errorf("%s: %s holds %d bytes (sha256 %x); the manifest says %d (%s)", name, u.Path, len(data), sum, f.Size, f.SHA256)
				continue
			}
			ids, err := upstest.ParquetIdentities(data, "ECID")
			if err != nil {
				t.Errorf("%s: %s: %v", name, u.Path, err)
				continue
			}
			if int64(len(ids)) != f.Records {
				t.Errorf("%s: %s holds %d rows, the manifest says %d", name, u.Path, len(ids), f.Records)
			}
			rows += f.Records
			got = append(got, ids...)
		}
		slices.Sort(got)
		if !slices.Equal(got, r.want) || rows != br.ProfileCount {
			t.Errorf("%s: the files hold %d profiles (%d rows, profileCount %d), want %d", name, len(got), rows, br.ProfileCount, len(r.want))
		}
		_ = filepath.WalkDir(filepath.Join(sinkDir, r.req.RequestID), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !listed[filepath.Clean(p)] {
				stray++
				t.Logf("%s: %s is in the sink but in no manifest", name, p)
			}
			return nil
		})
	}
	if stray > 0 {
		t.Logf("%d files in the sink are in no manifest (writes cut short by kills)", stray)
	}
}

// summarizeChildLogs logs how often the stages resumed work a killed
// process left, from the processes' logs, and fails on a data race.
func summarizeChildLogs(t *testing.T, children map[events.Stage]*crashChild) {
	t.Helper()
	for _, st := range events.Stages() {
		c := children[st]
		f, err := os.Open(c.logPath)
		if err != nil {
			t.Error(err)
			continue
		}
		resumed, found := 0, 0
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if bytes.Contains(line, []byte("WARNING: DATA RACE")) {
				t.Errorf("the %s process had a data race:\n%s", st, tail(c.logPath, 60))
			}
			var rec struct {
				Msg      string `json:"message"`
				Delivery int    `json:"delivery"`
				Reused   bool   `json:"reused"`
			}
			if json.Unmarshal(line, &rec) != nil {
				continue
			}
			switch {
			case rec.Msg == "done" && rec.Delivery > 1:
				resumed++
			case rec.Reused && rec.Delivery > 1, strings.HasPrefix(rec.Msg, "found the"):
				found++
			}
		}
		f.Close()
		t.Logf("%s: %d starts, %d messages finished on a redelivery, %d times an earlier delivery's Platform object was found", st, c.starts, resumed, found)
	}
}

// logCrashTimings logs the median and longest time each stage took over
// the requests, from the first delivery to the event, and the whole.
func logCrashTimings(t *testing.T, ready map[string]events.BatchReady) {
	t.Helper()
	line := "time taken, median/max:"
	for _, st := range append(events.Stages(), "total") {
		var ms []int64
		for _, br := range ready {
			if st == "total" {
				ms = append(ms, br.Timings.TotalMs)
			} else if tm := br.Timings.Stage(st); tm != nil {
				ms = append(ms, tm.DurationMs)
			}
		}
		if len(ms) == 0 {
			continue
		}
		slices.Sort(ms)
		line += fmt.Sprintf(" %s %v/%v", st, time.Duration(ms[len(ms)/2])*time.Millisecond, time.Duration(ms[len(ms)-1])*time.Millisecond)
	}
	t.Log(line)
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
