package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/segflow/segflow/pkg/events"
)

// requestSource is the CloudEvents source of the requests this command
// publishes.
const requestSource = "/segflow/cli"

const requestUsage = `usage: segflow request [flags] [FILE|-]

Publishes a segment request on segment.requested and follows it through
the pipeline (definer, segmenter, exporter, reader) with a progress line
on stderr, until batch.ready, whose manifest it prints (-json: the
batch.ready data as JSON), or a failure, whose stage and reason it prints
before exiting non-zero.

The request comes from flags (-name and -pql at least), or from FILE
("-": stdin) holding a request as JSON, bare or in a CloudEvents envelope;
-id and -label may be added to a FILE. It is checked before anything is
published. The command publishes it in its own envelope (source
/segflow/cli, id "<requestId>/segflow.segment.requested.v1"), with a new
request id unless -id or the input gives one; publishing the same id again
within the stream's duplicate window is dropped, and the command follows
the request already there.

NATS: SEGFLOW_NATS_URL (default nats://127.0.0.1:4222), SEGFLOW_NATS_CREDS,
SEGFLOW_SUBJECT_PREFIX.

examples:
  segflow request -name "US carts" -pql 'homeAddress.country = "US"'
  segflow request -name big -pql @query.pql -estimate -min-size 1000 -label team=growth
  segflow request -detach request.json
  segflow request -json - < request.json > batch.json

flags:
`

// requestFields are the flags that describe the request itself; they and
// a FILE exclude each other.
var requestFields = []string{"name", "pql", "format", "description", "sandbox", "merge-policy", "estimate", "min-size", "max-size", "fields", "dataset"}

type requestFlags struct {
	name, pql, format, description, sandbox, mergePolicy string
	estimate                                             bool
	minSize, maxSize                                     optionalInt64
	fields, dataset, id                                  string
	labels                                               labelFlags
}

// runRequest implements "segflow request".
func runRequest(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("request", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, requestUsage)
		fs.PrintDefaults()
	}
	var f requestFlags
	fs.StringVar(&f.name, "name", "", "segment name (required without FILE)")
	fs.StringVar(&f.pql, "pql", "", "the PQL expression (required without FILE); @FILE reads it from a file")
	fs.StringVar(&f.format, "format", events.FormatPQLText, "expression format: pql/text or pql/json")
	fs.StringVar(&f.description, "description", "", "segment description")
	fs.StringVar(&f.sandbox, "sandbox", "", "Platform sandbox (empty: the pipeline's, its SEGFLOW_SANDBOX)")
	fs.StringVar(&f.mergePolicy, "merge-policy", "", "merge policy id (the Platform's default when empty)")
	fs.BoolVar(&f.estimate, "estimate", false, "estimate the segment's size before the segment job")
	fs.Var(&f.minSize, "min-size", "reject the request when the estimate is below `N` profiles (implies -estimate)")
	fs.Var(&f.maxSize, "max-size", "reject the request when the estimate is above `N` profiles (implies -estimate)")
	fs.StringVar(&f.fields, "fields", "", "comma-separated profile fields to export (all when empty)")
	fs.StringVar(&f.dataset, "dataset", "", "name of the dataset to export to (created or reused; the exporter picks one when empty)")
	fs.StringVar(&f.id, "id", "", "request id (a new UUID when neither this nor the input gives one)")
	fs.Var(&f.labels, "label", "`key=value` label copied onto every event (repeatable)")
	asJSON := fs.Bool("json", false, "print the batch.ready (or failure) data as JSON on stdout instead of the manifest table")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long to follow the request before giving up (it goes on)")
	detach := fs.Bool("detach", false, "publish, print the request id and exit without following")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("request takes at most one FILE: %w", errUsage)
	}
	if *timeout <= 0 {
		return errors.New("request: -timeout must be positive")
	}
	req, err := buildRequest(fs, &f, stdin)
	if err != nil {
		return err
	}

	c, err := connectPipeline(ctx, environ, "request")
	if err != nil {
		return err
	}
	defer c.Close()
	ev, err := events.NewEvent(requestSource, req, time.Now())
	if err != nil {
		return err
	}
	if *detach {
		if _, err := events.Publish(ctx, c.js, c.subjects.Requested, ev); err != nil {
			return err
		}
		fmt.Fprintln(stdout, req.RequestID)
		return nil
	}

	fctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr, err := trackRequest(fctx, c, req.RequestID)
	if err != nil {
		return err
	}
	defer tr.stop()
	prog := newProgress(stderr, environ)
	ack, err := events.Publish(ctx, c.js, c.subjects.Requested, ev)
	if err != nil {
		return err
	}
	if ack.Duplicate {
		prog.note(fmt.Sprintf("request %s was already published on %s (stream message %d) within the duplicate window: following it", req.RequestID, c.subjects.Requested, ack.Sequence))
	} else {
		prog.note(fmt.Sprintf("request %s published on %s (stream message %d)", req.RequestID, c.subjects.Requested, ack.Sequence))
	}
	res, err := tr.follow(fctx, prog)
	prog.finish()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped following request %s; it goes on: segflow status %s", req.RequestID, req.RequestID)
		}
		if fctx.Err() != nil {
			return fmt.Errorf("gave up following request %s after %s (-timeout)%s; it goes on: segflow status %s", req.RequestID, *timeout, res.where(), req.RequestID)
		}
		return err
	}
	return res.report(stdout, stderr, *asJSON)
}

// buildRequest makes the request from the flags or the input, checked as
// the definer will check it (events.ParseRequest), with a request id.
func buildRequest(fs *flag.FlagSet, f *requestFlags, stdin io.Reader) (events.Request, error) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var r events.Request
	if fs.NArg() == 1 {
		for _, name := range requestFields {
			if set[name] {
				return r, fmt.Errorf("request: -%s describes the request, which FILE already does: give flags or a FILE (-id and -label may go with a FILE)", name)
			}
		}
		body, err := readInput(fs.Arg(0), stdin)
		if err != nil {
			return r, err
		}
		if r, err = events.ParseRequest(body); err != nil {
			return r, fmt.Errorf("invalid request in %s: %w", inputName(fs.Arg(0)), err)
		}
	} else {
		pql := f.pql
		if rest, ok := strings.CutPrefix(pql, "@"); ok {
			b, err := os.ReadFile(rest)
			if err != nil {
				return r, fmt.Errorf("request: -pql: %w", err)
			}
			pql = strings.TrimSpace(string(b))
		}
		r = events.Request{
			Sandbox: f.sandbox,
			Definition: events.Definition{
				Name: f.name, Description: f.description, MergePolicyID: f.mergePolicy,
				Expression: events.Expression{Type: events.ExpressionTypePQL, Format: f.format, Value: pql},
			},
		}
		if f.estimate || f.minSize.set || f.maxSize.set {
			r.Estimate = &events.EstimateRequest{Enabled: true, MinSize: f.minSize.ptr(), MaxSize: f.maxSize.ptr()}
		}
		if f.fields != "" || f.dataset != "" {
			r.Export = &events.ExportRequest{DatasetName: f.dataset}
			for p := range strings.SplitSeq(f.fields, ",") {
				if p = strings.TrimSpace(p); p != "" {
					r.Export.Fields = append(r.Export.Fields, p)
				}
			}
		}
	}
	if set["id"] {
		r.RequestID = f.id
	}
	if len(f.labels) > 0 {
		if r.Labels == nil {
			r.Labels = events.Labels{}
		}
		for _, kv := range f.labels {
			r.Labels[kv[0]] = kv[1]
		}
	}
	// Check what is published exactly as the definer will, but publish
	// no sandbox the user did not give: the definer fills in its own.
	body, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	sandbox := r.Sandbox
	r, err = events.ParseRequest(body)
	if err != nil {
		return r, fmt.Errorf("invalid request: %w", flagError(err))
	}
	r.Sandbox = sandbox
	if r.RequestID == "" {
		r.RequestID = events.NewRequestID()
	}
	return r, nil
}

// flagError names the flag of a request field at fault.
func flagError(err error) error {
	var ve *events.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	flags := map[string]string{
		"requestId": "-id", "sandbox": "-sandbox", "definition.name": "-name", "definition.description": "-description",
		"definition.expression.value": "-pql", "definition.expression.format": "-format", "definition.mergePolicyId": "-merge-policy",
		"estimate.minSize": "-min-size", "estimate.maxSize": "-max-size", "export.fields": "-fields", "export.datasetName": "-dataset",
	}
	if fl, ok := flags[ve.Field]; ok {
		return fmt.Errorf("%w (%s)", err, fl)
	}
	if strings.HasPrefix(ve.Field, "labels") {
		return fmt.Errorf("%w (-label)", err)
	}
	return err
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return b, nil
	}
	return os.ReadFile(name)
}

func inputName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

// labelFlags are repeated -label key=value flags.
type labelFlags [][2]string

func (l *labelFlags) String() string { return "" }

func (l *labelFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	*l = append(*l, [2]string{k, v})
	return nil
}

// optionalInt64 is an integer flag that knows whether it was given.
type optionalInt64 struct {
	v   int64
	set bool
}

func (o *optionalInt64) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatInt(o.v, 10)
}

func (o *optionalInt64) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not an integer")
	}
	o.v, o.set = v, true
	return nil
}

func (o *optionalInt64) ptr() *int64 {
	if !o.set {
		return nil
	}
	v := o.v
	return &v
}

// tracker gathers what happens to one request: its events on the output,
// failure and dead-letter subjects (core NATS subscriptions, set up before
// the request is published) and its status record.
type tracker struct {
	c      *pipelineClient
	id     string
	events chan events.Event
	quit   chan struct{}
	subs   []*nats.Subscription
	watch  jetstream.KeyWatcher // nil without the status bucket
}

func trackRequest(ctx context.Context, c *pipelineClient, id string) (*tracker, error) {
	t := &tracker{c: c, id: id, events: make(chan events.Event, 64), quit: make(chan struct{})}
	for _, subj := range c.followSubjects() {
		sub, err := c.nc.Subscribe(subj, func(m *nats.Msg) {
			if ev, err := events.Decode(m.Data); err == nil && ev.Subject == id {
				t.deliver(ev)
			}
		})
		if err != nil {
			t.stop()
			return nil, fmt.Errorf("subscribing to %s: %w", subj, err)
		}
		t.subs = append(t.subs, sub)
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		t.stop()
		return nil, err
	}
	if kv, err := c.statusBucket(ctx); err == nil {
		if t.watch, err = kv.Watch(ctx, events.StatusKey(id)); err != nil {
			t.stop()
			return nil, fmt.Errorf("watching the status of request %s: %w", id, err)
		}
	}
	return t, nil
}

func (t *tracker) deliver(ev events.Event) {
	select {
	case t.events <- ev:
	case <-t.quit:
	}
}

func (t *tracker) stop() {
	select {
	case <-t.quit:
		return
	default:
		close(t.quit)
	}
	for _, s := range t.subs {
		_ = s.Unsubscribe()
	}
	if t.watch != nil {
		_ = t.watch.Stop()
	}
}

// followResult is what following a request found.
type followResult struct {
	id string
	// final is the request's last event: batch.ready, a failure or a
	// dead letter. It is nil when only the status record tells the end
	// (the event left the stream) or the follow was cut short.
	final  *eventView
	status *events.Status
	// stages are the success events seen, by stage.
	stages map[events.Stage]eventView
}

// where says where the request stands, for a message.
func (r followResult) where() string {
	if r.status == nil {
		return ""
	}
	return fmt.Sprintf(" at %s (%s)", r.status.Stage, r.status.State)
}

// statusScanGrace is how long a finished status record may run ahead of
// the event that finished the request before the stream is searched.
const statusScanGrace = 500 * time.Millisecond

// finalGrace is how long the last event of a request waits for those of
// earlier stages that its subscription outran.
const finalGrace = 500 * time.Millisecond

// follow waits for the request's end, showing its progress.
func (t *tracker) follow(ctx context.Context, prog *progress) (followResult, error) {
	res := followResult{id: t.id, stages: map[events.Stage]eventView{}}
	seen := map[string]bool{}
	var updates <-chan jetstream.KeyValueEntry
	if t.watch != nil {
		updates = t.watch.Updates()
	}
	var scanAfter <-chan time.Time
	scanned := false
	scanDone := make(chan error, 1)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	// Each subject has its own subscription, so the last event may come
	// before the ones of the stages before it: it is held until they
	// come, or for finalGrace.
	var finalAt <-chan time.Time
	earlierSeen := func(v eventView) bool {
		for _, st := range events.Stages() {
			if st == v.stage {
				return true
			}
			if _, ok := res.stages[st]; !ok {
				return false
			}
		}
		return true
	}
	// onEvent takes one event; it reports whether the request ended.
	onEvent := func(ev events.Event) bool {
		if seen[ev.ID] {
			return false
		}
		seen[ev.ID] = true
		v, err := viewEvent(ev)
		if err != nil {
			prog.note(fmt.Sprintf("ignoring a malformed %s event: %v", ev.Type, err))
			return false
		}
		if v.terminal() {
			res.final = &v
			if v.stage == "" || earlierSeen(v) {
				prog.line(v.line())
				return true
			}
			finalAt = time.After(finalGrace)
			return false
		}
		if v.stage != "" {
			res.stages[v.stage] = v
			prog.line(v.line())
		}
		if res.final != nil && earlierSeen(*res.final) {
			prog.line(res.final.line())
			return true
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-finalAt:
			prog.line(res.final.line())
			return res, nil
		case ev := <-t.events:
			if onEvent(ev) {
				return res, nil
			}
		case e, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			st, err := events.DecodeStatus(e.Value())
			if err != nil {
				continue
			}
			res.status = &st
			if st.State == events.StateRunning {
				if _, done := res.stages[st.Stage]; !done {
					start := time.Now()
					if tm := st.Timings.Stage(st.Stage); tm != nil && !tm.Start.IsZero() {
						start = tm.Start
					}
					prog.running(st.Stage, start)
				}
			}
			if st.Finished() && !scanned && scanAfter == nil {
				scanAfter = time.After(statusScanGrace)
			}
		case <-scanAfter:
			// The status says the request ended, but its last event was
			// not seen: it came before the subscriptions. Read it from
			// the stream.
			scanAfter, scanned = nil, true
			since := time.Time{}
			if res.status != nil && !res.status.Created.IsZero() {
				since = res.status.Created.Add(-time.Minute)
			}
			go func() {
				scanDone <- t.c.scan(ctx, t.c.followSubjects(), since, func(m jetstream.Msg) bool {
					if ev, err := events.Decode(m.Data()); err == nil && ev.Subject == t.id {
						t.deliver(ev)
					}
					return true
				})
			}()
		case err := <-scanDone:
			// The scan delivered what it found before it ended: take what
			// still waits.
			for len(t.events) > 0 {
				if onEvent(<-t.events) {
					return res, nil
				}
			}
			if err != nil && ctx.Err() == nil {
				prog.note(fmt.Sprintf("searching the stream for the request's last event: %v", err))
			}
			return res, nil // finished by its status alone
		case <-tick.C:
			prog.tick()
		}
	}
}

// report prints the outcome: the manifest (or JSON) on success, the
// problem on failure, which it returns as an error.
func (r followResult) report(stdout, stderr io.Writer, asJSON bool) error {
	if r.final == nil {
		return r.reportFromStatus(stdout, stderr, asJSON)
	}
	v := *r.final
	if asJSON {
		if err := writeIndentedJSON(stdout, v.ev.Data); err != nil {
			return err
		}
	}
	switch p := v.payload.(type) {
	case events.BatchReady:
		if !asJSON {
			printManifest(stdout, p, r.stages)
		}
		return nil
	case events.Failure:
		what := "failed"
		if p.Rejected {
			what = "was rejected"
		}
		fmt.Fprintf(stderr, "request %s %s at the %s (%s):\n", r.id, what, p.Stage, v.ev.Type)
		printProblem(stderr, "  ", p.Problem)
		if ids := idList(p.PlatformIDs); ids != "" {
			fmt.Fprintf(stderr, "  created:    %s\n", ids)
		}
		if p.Attempts > 0 {
			fmt.Fprintf(stderr, "  attempts:   %d\n", p.Attempts)
		}
		if p.Retryable {
			fmt.Fprintf(stderr, "  retryable:  yes: segflow dlq list %s, then segflow dlq replay %s <seq>\n", p.Stage, p.Stage)
		}
		return fmt.Errorf("request %s %s at the %s: %s", r.id, what, p.Stage, p.Reason)
	case events.DeadLetter:
		fmt.Fprintf(stderr, "request %s was dead-lettered by the %s after %d deliveries:\n", r.id, p.Stage, p.Deliveries)
		fmt.Fprintf(stderr, "  reason:     %s\n", orNone(p.Reason))
		replay := p.Replay
		if replay == "" {
			replay = fmt.Sprintf("segflow dlq replay %s %d", p.Stage, p.StreamSequence)
		}
		fmt.Fprintf(stderr, "  replay:     %s\n", replay)
		return fmt.Errorf("request %s was dead-lettered by the %s: %s", r.id, p.Stage, orNone(p.Reason))
	}
	return fmt.Errorf("request %s ended with an unexpected %s event", r.id, v.ev.Type)
}

// reportFromStatus reports a request whose end only the status record
// tells.
func (r followResult) reportFromStatus(stdout, stderr io.Writer, asJSON bool) error {
	st := r.status
	if st == nil {
		return fmt.Errorf("request %s: no end seen", r.id)
	}
	if asJSON {
		b, err := st.Encode()
		if err != nil {
			return err
		}
		if err := writeIndentedJSON(stdout, b); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stderr, "the last event of request %s has left the stream; its status record:\n", r.id)
		printStatus(stdout, *st, time.Now())
	}
	if st.State == events.StateDone {
		return nil
	}
	reason := "no reason recorded"
	if st.Error != nil {
		reason = st.Error.Reason
	}
	return fmt.Errorf("request %s %s at the %s: %s", r.id, st.State, st.Stage, reason)
}

// printManifest prints batch.ready as a summary and a table of files.
func printManifest(w io.Writer, b events.BatchReady, stages map[events.Stage]eventView) {
	rows := [][]string{
		{"request", b.RequestID},
		{"sandbox", b.Sandbox},
		{"segment", fmt.Sprintf("%s (%s)", b.Segment.Name, b.Segment.ID)},
		{"expression", oneLine(b.Segment.Expression.Value, 100)},
	}
	if v, ok := stages[events.StageDefiner]; ok {
		if d, ok := v.payload.(events.DefinitionCreated); ok && d.Estimate != nil {
			rows = append(rows, []string{"estimate", estimateText(d.Estimate)})
		}
	}
	rows = append(rows,
		[]string{"segment job", b.SegmentJobID},
		[]string{"export job", b.ExportJobID},
	)
	dataset := b.DatasetID
	if v, ok := stages[events.StageExporter]; ok {
		if x, ok := v.payload.(events.ExportSucceeded); ok && x.DatasetName != "" {
			dataset = fmt.Sprintf("%s (%s)", x.DatasetName, b.DatasetID)
		}
	}
	rows = append(rows,
		[]string{"dataset", dataset},
		[]string{"batch", b.BatchID},
		[]string{"profiles", commas(b.ProfileCount)},
		[]string{"timings", timingsText(b.Timings)},
	)
	if len(b.Labels) > 0 {
		rows = append(rows, []string{"labels", labelsText(b.Labels)})
	}
	writeTable(w, rows, "ll")
	fmt.Fprintln(w)
	files := [][]string{{"URI", "SIZE", "RECORDS", "SHA256"}}
	var size, records int64
	for _, f := range b.Files {
		files = append(files, []string{f.URI, humanBytes(f.Size), commas(f.Records), f.SHA256})
		size += f.Size
		records += f.Records
	}
	files = append(files, []string{fmt.Sprintf("%d files", len(b.Files)), humanBytes(size), commas(records), ""})
	writeTable(w, files, "lrrl")
}

// printProblem prints a failure's reason, field, position and Platform
// error.
func printProblem(w io.Writer, indent string, p events.Problem) {
	fmt.Fprintf(w, "%sreason:     %s\n", indent, orNone(p.Reason))
	if p.Field != "" {
		fmt.Fprintf(w, "%sfield:      %s\n", indent, p.Field)
	}
	if p.Position != nil {
		fmt.Fprintf(w, "%sposition:   line %d, column %d (byte %d)\n", indent, p.Position.Line, p.Position.Column, p.Position.Offset)
	}
	if e := p.PlatformError; e != nil {
		var b strings.Builder
		if e.Status != 0 {
			fmt.Fprintf(&b, "%d ", e.Status)
		}
		if e.Code != "" {
			b.WriteString(e.Code + ": ")
		}
		b.WriteString(e.Message)
		var extra []string
		if e.Operation != "" {
			extra = append(extra, e.Operation)
		}
		if e.RequestID != "" {
			extra = append(extra, "x-request-id "+e.RequestID)
		}
		if len(extra) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(extra, ", "))
		}
		fmt.Fprintf(w, "%splatform:   %s\n", indent, b.String())
	}
}

// eventView is what the commands show of one pipeline event.
type eventView struct {
	ev      events.Event
	payload events.Payload
	stage   events.Stage // the stage that published it; "" for a request
	text    string
	dur     time.Duration // the stage's time on it, 0 when unknown
}

// terminal reports whether the request ends with this event.
func (v eventView) terminal() bool {
	switch v.payload.(type) {
	case events.BatchReady, events.Failure, events.DeadLetter:
		return true
	}
	return false
}

// line is the progress line: "segmenter: segment job j1 SUCCEEDED, 1,033 profiles 2.1s".
func (v eventView) line() string {
	s := v.text
	if v.stage != "" {
		s = string(v.stage) + ": " + s
	}
	if v.dur > 0 {
		s += " " + durText(v.dur)
	}
	return s
}

// viewEvent decodes an event's payload and describes it.
func viewEvent(ev events.Event) (eventView, error) {
	v := eventView{ev: ev}
	stageDur := func(t events.Timings, s events.Stage) time.Duration {
		if st := t.Stage(s); st != nil {
			return time.Duration(st.DurationMs) * time.Millisecond
		}
		return 0
	}
	switch ev.Type {
	case events.TypeRequested:
		var p events.Request
		if err := ev.DecodeData(&p); err != nil {
			return v, err
		}
		v.payload = p
		v.text = fmt.Sprintf("requested %q in sandbox %s: %s", p.Definition.Name, p.Sandbox, oneLine(p.Definition.Expression.Value, 60))
	case events.TypeDefinitionCreated:
		var p events.DefinitionCreated
		if err := ev.DecodeData(&p); err != nil {
			return v, err
		}
		v.payload, v.stage, v.dur = p, events.StageDefiner, stageDur(p.Timings, events.StageDefiner)
		v.text = fmt.Sprintf("definition %s created", p.Segment.ID)
		if p.Estimate != nil {
			v.text += " (estimate " + estimateText(p.Estimate) + ")"
		}
	case events.TypeJobSucceeded:
		var p events.JobSucceeded
		if err := ev.DecodeData(&p); err != nil {
			return v, err
		}
		v.payload, v.stage, v.dur = p, events.StageSegmenter, stageDur(p.Timings, events.StageSegmenter)
		v.text = fmt.Sprintf("segment job %s SUCCEEDED, %s profiles", p.SegmentJobID, commas(p.Metrics.SegmentedProfiles))
	case events.TypeExportSucceeded:
		var p events.ExportSucceeded
		if err := ev.DecodeData(&p); err != nil {
			return v, err
		}
		v.payload, v.stage, v.dur = p, events.StageExporter, stageDur(p.Timings, events.StageExporter)
		v.text = fmt.Sprintf("export job %s SUCCEEDED, %s profiles to dataset %s, batch %s", p.ExportJobID, commas(p.ProfileCount), nameOrID(p.DatasetName, p.DatasetID), p.BatchID)
	case events.TypeBatchReady:
		var p events.BatchReady
		if err := ev.DecodeData(&p); err != nil {
			return v, err
		}
		v.payload, v.stage, v.dur = p, events.StageReader, stageDur(p.Timings, events.StageReader)
		var size int64
		for _, f := range p.Files {
			size += f.Size
		}
		v.text = fmt.Sprintf("batch %s ready: %d files, %s, %s profiles", p.BatchID, len(p.Files), humanBytes(size), commas(p.ProfileCount))
		if p.Timings.TotalMs > 0 {
			v.text += fmt.Sprintf(" (total %s)", durText(time.Duration(p.Timings.TotalMs)*time.Millisecond))
		}
	case events.TypeRequestRejected, events.TypeDefinitionFailed, events.TypeJobFailed, events.TypeExportFailed, events.TypeBatchFailed:
		var p events.Failure
		if err := ev.DecodeData(&p); err != nil {
			return v, err
		}
		v.payload, v.stage = p, p.Stage
		what := "FAILED"
		if p.Rejected {
			what = "REJECTED"
		}
		v.text = what + ": " + oneLine(p.Reason, 160)
		if p.Field != "" {
			v.text += " [" + p.Field + "]"
		}
		if p.Position != nil {
			v.text += fmt.Sprintf(" at line %d, column %d", p.Position.Line, p.Position.Column)
		}
	case events.TypeDeadLetter:
		var p events.DeadLetter
		if err := ev.DecodeData(&p); err != nil {
			return v, err
		}
		v.payload, v.stage = p, p.Stage
		v.text = fmt.Sprintf("DEAD-LETTERED message %d of %s after %d deliveries: %s", p.StreamSequence, p.Subject, p.Deliveries, oneLine(orNone(p.Reason), 160))
	default:
		return v, fmt.Errorf("unknown event type %q", ev.Type)
	}
	return v, nil
}

// progress shows a request's progress on stderr: on a terminal one line
// rewritten in place (with the running stage's time ticking), otherwise
// one line per stage.
type progress struct {
	w    io.Writer
	tty  bool
	live string // the text on the in-place line
	// running is the stage at work and since when, for the ticking line.
	stage events.Stage
	since time.Time
}

func newProgress(w io.Writer, environ []string) *progress {
	return &progress{w: w, tty: isTerminal(w, environ)}
}

// isTerminal reports whether w is a character device on a terminal that
// can move the cursor.
func isTerminal(w io.Writer, environ []string) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	if term, _ := lookupEnv(environ, "TERM"); term == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// note prints a line that stays.
func (p *progress) note(s string) {
	if p.tty && p.live != "" {
		fmt.Fprintf(p.w, "\r\x1b[K%s\n%s", s, p.live)
		return
	}
	fmt.Fprintln(p.w, s)
}

// line reports a stage's result.
func (p *progress) line(s string) {
	p.stage = ""
	if p.tty {
		p.show(s)
		return
	}
	fmt.Fprintln(p.w, s)
}

// running reports that stage works on the request since start.
func (p *progress) running(stage events.Stage, start time.Time) {
	p.stage, p.since = stage, start
	p.tick()
}

// tick redraws the running stage's line on a terminal.
func (p *progress) tick() {
	if !p.tty || p.stage == "" {
		return
	}
	p.show(fmt.Sprintf("%s: running %s", p.stage, durText(time.Since(p.since))))
}

func (p *progress) show(s string) {
	s = oneLine(s, 150)
	p.live = s
	fmt.Fprintf(p.w, "\r\x1b[K%s", s)
}

// finish ends the in-place line.
func (p *progress) finish() {
	if p.tty && p.live != "" {
		fmt.Fprintln(p.w)
		p.live = ""
	}
	p.stage = ""
}

// estimateText is the estimate and its standard error: "4,275 ± 12".
func estimateText(e *events.Estimate) string {
	return fmt.Sprintf("%s ± %s", commas(e.EstimatedSize), commas(int64(e.StandardError+0.5)))
}

// timingsText is each stage's duration and the total.
func timingsText(t events.Timings) string {
	var parts []string
	for _, s := range events.Stages() {
		if st := t.Stage(s); st != nil {
			parts = append(parts, fmt.Sprintf("%s %s", s, durText(time.Duration(st.DurationMs)*time.Millisecond)))
		}
	}
	if t.TotalMs > 0 {
		parts = append(parts, "total "+durText(time.Duration(t.TotalMs)*time.Millisecond))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// durText is a short duration: "0.4s", "12.3s", "2m05s", "1h02m".
func durText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// commas writes n with thousands separators: 4,275.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// oneLine folds whitespace and cuts s to max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(none given)"
	}
	return s
}

func nameOrID(name, id string) string {
	if name == "" {
		return id
	}
	return fmt.Sprintf("%q (%s)", name, id)
}

// labelsText is "k=v, k2=v2" in key order.
func labelsText(l events.Labels) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ", ")
}

// idList lists the Platform ids that are set.
func idList(ids events.PlatformIDs) string {
	var parts []string
	for _, f := range []struct{ name, v string }{
		{"definition", ids.DefinitionID}, {"preview", ids.PreviewID}, {"segment job", ids.SegmentJobID},
		{"dataset", ids.DatasetID}, {"export job", ids.ExportJobID}, {"batch", ids.BatchID},
	} {
		if f.v != "" {
			parts = append(parts, f.name+" "+f.v)
		}
	}
	return strings.Join(parts, ", ")
}

// writeIndentedJSON writes a JSON document indented, with a newline.
func writeIndentedJSON(w io.Writer, data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
