package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/segflow/segflow/pkg/events"
)

const statusUsage = `usage: segflow status [-json] <requestId>

Prints a request's status record from the pipeline's status bucket
(segflow-requests): the stage it is at and its state (pending, running,
done, failed, rejected), the Platform ids created so far, each stage's
start, end and duration, and the error of a failed or rejected request.
Records are kept SEGFLOW_STATUS_TTL (30 days) after their last update.

NATS: SEGFLOW_NATS_URL (default nats://127.0.0.1:4222), SEGFLOW_NATS_CREDS,
SEGFLOW_SUBJECT_PREFIX.

flags:
`

// runStatus implements "segflow status".
func runStatus(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, statusUsage)
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print the record as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("status needs one request id: %w", errUsage)
	}
	id := fs.Arg(0)
	if err := events.ValidateRequestID(id); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	c, err := connectPipeline(ctx, environ, "status")
	if err != nil {
		return err
	}
	defer c.Close()
	st, raw, err := c.requestStatus(ctx, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeIndentedJSON(stdout, raw)
	}
	printStatus(stdout, st, time.Now())
	return nil
}

// printStatus prints a status record for people.
func printStatus(w io.Writer, st events.Status, now time.Time) {
	state := fmt.Sprintf("%s at the %s", st.State, st.Stage)
	if st.Stage == events.StageReader && st.State == events.StateDone {
		state = "done: the batch is ready"
	}
	rows := [][]string{{"request", st.RequestID}, {"state", state}}
	add := func(name, v string) {
		if v != "" {
			rows = append(rows, []string{name, v})
		}
	}
	add("segment", st.SegmentName)
	add("sandbox", st.Sandbox)
	add("definition", st.DefinitionID)
	add("preview", st.PreviewID)
	add("segment job", st.SegmentJobID)
	add("dataset", st.DatasetID)
	add("export job", st.ExportJobID)
	add("batch", st.BatchID)
	if st.ProfileCount > 0 {
		add("profiles", commas(st.ProfileCount))
	}
	if st.Files > 0 {
		add("files", fmt.Sprint(st.Files))
	}
	if len(st.Labels) > 0 {
		add("labels", labelsText(st.Labels))
	}
	add("created", timeAgo(st.Created, now))
	add("updated", timeAgo(st.Updated, now))
	writeTable(w, rows, "ll")

	timing := [][]string{}
	for _, s := range events.Stages() {
		t := st.Timings.Stage(s)
		if t == nil {
			continue
		}
		switch {
		case !t.End.IsZero():
			timing = append(timing, []string{"  " + string(s), durText(time.Duration(t.DurationMs) * time.Millisecond), clock(t.Start) + " → " + clock(t.End)})
		case s == st.Stage && st.State == events.StateRunning:
			timing = append(timing, []string{"  " + string(s), "running", "since " + clock(t.Start) + ", " + durText(now.Sub(t.Start))})
		default:
			timing = append(timing, []string{"  " + string(s), "-", "since " + clock(t.Start)})
		}
	}
	if st.Timings.TotalMs > 0 {
		timing = append(timing, []string{"  total", durText(time.Duration(st.Timings.TotalMs) * time.Millisecond), ""})
	}
	if len(timing) > 0 {
		fmt.Fprintln(w, "timings")
		writeTable(w, timing, "lrl")
	}
	if st.Error != nil {
		fmt.Fprintln(w, "error")
		printProblem(w, "  ", *st.Error)
		if st.Error.Retryable {
			fmt.Fprintf(w, "  retryable:  yes: segflow dlq list %s\n", st.Stage)
		}
	}
}

// clock is a time for tables, in local time.
func clock(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// timeAgo is "2006-01-02 15:04:05.000 (3m05s ago)".
func timeAgo(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s (%s ago)", clock(t), durText(max(0, now.Sub(t))))
}
