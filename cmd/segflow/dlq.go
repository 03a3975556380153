package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/segflow/segflow/pkg/events"
)

const dlqUsage = `usage: segflow dlq list [-json] [STAGE]
       segflow dlq replay STAGE SEQ
       segflow dlq replay -all [STAGE]

Dead letters are the messages a stage (definer, segmenter, exporter,
reader) could not handle within its deliveries (SEGFLOW_MAX_DELIVER). They
are kept in the pipeline stream on dlq.<stage>, as long as the stream keeps
messages (SEGFLOW_STREAM_MAX_AGE).

list prints them: stage, the original message's stream sequence (SEQ), the
request id, deliveries, when the original was stored, and the reason.

replay republishes the original message, unchanged, on its subject, so the
stage takes it again; SEQ is the original's stream sequence, as list shows
it. A replay's Nats-Msg-Id is the original's with "/replay/<SEQ>", so
replaying one dead letter twice within the duplicate window publishes it
once. -all replays every dead letter (of STAGE).

NATS: SEGFLOW_NATS_URL (default nats://127.0.0.1:4222), SEGFLOW_NATS_CREDS,
SEGFLOW_SUBJECT_PREFIX.
`

// runDLQ implements "segflow dlq".
func runDLQ(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return fmt.Errorf("dlq needs list or replay: %w", errUsage)
	}
	switch args[0] {
	case "list":
		return runDLQList(ctx, args[1:], environ, stdout, stderr)
	case "replay":
		return runDLQReplay(ctx, args[1:], environ, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, dlqUsage)
		return nil
	}
	fmt.Fprint(stderr, dlqUsage)
	return fmt.Errorf("dlq: unknown command %q: %w", args[0], errUsage)
}

func dlqFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("dlq "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, dlqUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runDLQList(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := dlqFlags("list", stderr)
	asJSON := fs.Bool("json", false, "print each dead letter's data as JSON, one a line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("dlq list takes at most a stage: %w", errUsage)
	}
	stage, err := optionalStage(fs.Arg(0))
	if err != nil {
		return err
	}
	c, err := connectPipeline(ctx, environ, "dlq")
	if err != nil {
		return err
	}
	defer c.Close()
	dls, err := readDeadLetters(ctx, c, stage, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		for _, d := range dls {
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", b)
		}
		return nil
	}
	if len(dls) == 0 {
		fmt.Fprintf(stderr, "no dead letters on %s\n", dlqSubject(c, stage))
		return nil
	}
	rows := [][]string{{"STAGE", "SEQ", "REQUEST", "DELIVERIES", "RECEIVED", "REASON"}}
	for _, l := range dls {
		received := "-"
		if !l.Received.IsZero() {
			received = clock(l.Received)
		}
		rows = append(rows, []string{string(l.Stage), strconv.FormatUint(l.StreamSequence, 10), orDash(l.RequestID),
			strconv.FormatUint(l.Deliveries, 10), received, oneLine(orNone(l.Reason), 100)})
	}
	writeTable(stdout, rows, "lrlrll")
	return nil
}

func runDLQReplay(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := dlqFlags("replay", stderr)
	all := fs.Bool("all", false, "replay every dead letter (of the stage given)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var stage events.Stage
	var seq uint64
	var err error
	switch {
	case *all && fs.NArg() <= 1:
		stage, err = optionalStage(fs.Arg(0))
	case !*all && fs.NArg() == 2:
		if stage, err = optionalStage(fs.Arg(0)); err == nil && stage == "" {
			err = fmt.Errorf("dlq replay needs a stage: %w", errUsage)
		} else if err == nil {
			if seq, err = strconv.ParseUint(fs.Arg(1), 10, 64); err != nil || seq == 0 {
				err = fmt.Errorf("dlq replay: %q is not a stream sequence", fs.Arg(1))
			}
		}
	default:
		return fmt.Errorf("dlq replay needs STAGE SEQ, or -all [STAGE]: %w", errUsage)
	}
	if err != nil {
		return err
	}
	c, err := connectPipeline(ctx, environ, "dlq")
	if err != nil {
		return err
	}
	defer c.Close()
	dls, err := readDeadLetters(ctx, c, stage, stderr)
	if err != nil {
		return err
	}
	if !*all {
		var found *events.DeadLetter
		for i := range dls {
			if dls[i].StreamSequence == seq {
				found = &dls[i] // the last one, if forwarded twice
			}
		}
		if found == nil {
			return fmt.Errorf("no dead letter of the %s for stream message %d on %s (segflow dlq list %s)", stage, seq, dlqSubject(c, stage), stage)
		}
		dls = []events.DeadLetter{*found}
	}
	if len(dls) == 0 {
		fmt.Fprintf(stderr, "no dead letters on %s\n", dlqSubject(c, stage))
		return nil
	}
	var replayed, dup int
	for _, l := range dls {
		ack, err := c.js.PublishMsg(ctx, l.ReplayMsg())
		if err != nil {
			return fmt.Errorf("replaying the %s's dead letter of stream message %d to %s: %w", l.Stage, l.StreamSequence, l.Subject, err)
		}
		who := ""
		if l.RequestID != "" {
			who = " (request " + l.RequestID + ")"
		}
		if ack.Duplicate {
			dup++
			fmt.Fprintf(stdout, "%s %d%s was already replayed to %s as stream message %d within the duplicate window: not published again\n",
				l.Stage, l.StreamSequence, who, l.Subject, ack.Sequence)
			continue
		}
		replayed++
		fmt.Fprintf(stdout, "replayed %s %d%s to %s as stream message %d\n", l.Stage, l.StreamSequence, who, l.Subject, ack.Sequence)
	}
	if *all {
		fmt.Fprintf(stderr, "%d replayed, %d already replayed\n", replayed, dup)
	}
	return nil
}

// readDeadLetters reads the dead letters of stage (all stages when
// empty) kept in the stream, oldest first.
func readDeadLetters(ctx context.Context, c *pipelineClient, stage events.Stage, stderr io.Writer) ([]events.DeadLetter, error) {
	var out []events.DeadLetter
	var bad int
	err := c.scan(ctx, []string{dlqSubject(c, stage)}, time.Time{}, func(m jetstream.Msg) bool {
		_, d, err := events.DecodeAs[events.DeadLetter](m.Data())
		if err != nil {
			bad++
			return true
		}
		out = append(out, d)
		return true
	})
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "skipped %d messages on %s that are not dead letters\n", bad, dlqSubject(c, stage))
	}
	return out, nil
}

func dlqSubject(c *pipelineClient, stage events.Stage) string {
	if stage == "" {
		return c.subjects.DeadLetters()
	}
	return c.subjects.DeadLetter(stage)
}

// optionalStage checks a stage argument; "" means every stage.
func optionalStage(s string) (events.Stage, error) {
	st := events.Stage(s)
	if s == "" || st.Valid() {
		return st, nil
	}
	return "", fmt.Errorf("%q is not a stage: definer, segmenter, exporter or reader", s)
}
