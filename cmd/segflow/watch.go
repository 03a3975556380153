package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/segflow/segflow/pkg/events"
)

const watchUsage = `usage: segflow watch [-subject S] [-request ID] [-since D | -all] [-json]

Streams the pipeline's events as they are stored, one line each: time,
type, request id and a summary ("segmenter: segment job j1 SUCCEEDED,
1,033 profiles 2.1s"). It reads the pipeline stream from now on (-since: from
that long ago; -all: from its first message) and stops on Ctrl-C.

NATS: SEGFLOW_NATS_URL (default nats://127.0.0.1:4222), SEGFLOW_NATS_CREDS,
SEGFLOW_SUBJECT_PREFIX.

examples:
  segflow watch
  segflow watch -subject 'dlq.*' -all
  segflow watch -request 3f0c9a4e-... -since 1h -json

flags:
`

// runWatch implements "segflow watch".
func runWatch(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, watchUsage)
		fs.PrintDefaults()
	}
	subject := fs.String("subject", "", "only this `subject` (wildcards allowed; SEGFLOW_SUBJECT_PREFIX is added), such as batch.ready or 'dlq.*'")
	request := fs.String("request", "", "only the events of this request `id`")
	since := fs.Duration("since", 0, "start this long ago, such as 15m")
	all := fs.Bool("all", false, "start from the first message the stream holds")
	asJSON := fs.Bool("json", false, "print each event as it is stored (CloudEvents JSON), one a line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("watch takes no arguments: %w", errUsage)
	}
	if *since < 0 || *since > 0 && *all {
		return errors.New("watch: -since must be positive, and not given with -all")
	}
	c, err := connectPipeline(ctx, environ, "watch")
	if err != nil {
		return err
	}
	defer c.Close()

	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	from := "from now"
	switch {
	case *all:
		cfg.DeliverPolicy, from = jetstream.DeliverAllPolicy, "from the start"
	case *since > 0:
		start := time.Now().Add(-*since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
		from = "from " + durText(*since) + " ago"
	}
	filter := "every subject"
	if *subject != "" {
		s := *subject
		if p := c.subjects.Prefix; p != "" && !strings.HasPrefix(s, p+".") {
			s = p + "." + s
		}
		cfg.FilterSubjects, filter = []string{s}, s
	}
	cons, err := c.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("watch: reading the stream %s (%s): %w", c.cfg.StreamName(), filter, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	fmt.Fprintf(stderr, "watching %s on %s (%s), %s; Ctrl-C stops\n", c.cfg.StreamName(), c.url, filter, from)
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		if *asJSON {
			if err := watchJSON(stdout, msg, *request); err != nil {
				return err
			}
			continue
		}
		if line, ok := watchLine(msg, *request); ok {
			if _, err := fmt.Fprintln(stdout, line); err != nil {
				return err
			}
		}
	}
}

// watchLine is the line of one stored message: time, type, request id,
// summary. ok is false when the message is filtered out.
func watchLine(msg jetstream.Msg, request string) (string, bool) {
	at := time.Time{}
	if md, err := msg.Metadata(); err == nil {
		at = md.Timestamp
	}
	ev, err := events.Decode(msg.Data())
	if err != nil {
		// Other systems may publish bare requests on segment.requested.
		if r, rerr := events.ParseRequest(msg.Data()); rerr == nil || r.Definition.Name != "" {
			if request != "" && r.RequestID != request {
				return "", false
			}
			return fmt.Sprintf("%s  %-22s  %-36s  bare request %q: %s", clock(at), shortType(events.TypeRequested), orDash(r.RequestID),
				r.Definition.Name, oneLine(r.Definition.Expression.Value, 60)), true
		}
		if request != "" {
			return "", false
		}
		return fmt.Sprintf("%s  %-22s  %-36s  not an event (%d bytes): %v", clock(at), msg.Subject(), "-", len(msg.Data()), err), true
	}
	if request != "" && ev.Subject != request {
		return "", false
	}
	if !ev.Time.IsZero() {
		at = ev.Time
	}
	summary := ""
	if v, err := viewEvent(ev); err == nil {
		summary = v.line()
	} else {
		summary = "malformed: " + err.Error()
	}
	return fmt.Sprintf("%s  %-22s  %-36s  %s", clock(at), shortType(ev.Type), orDash(ev.Subject), summary), true
}

// watchJSON prints a stored event on one line.
func watchJSON(w io.Writer, msg jetstream.Msg, request string) error {
	if request != "" {
		ev, err := events.Decode(msg.Data())
		if err != nil {
			r, _ := events.ParseRequest(msg.Data())
			if r.RequestID != request {
				return nil
			}
		} else if ev.Subject != request {
			return nil
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, msg.Data()); err != nil {
		return nil // not JSON: nothing to print as JSON
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// shortType is "batch.ready" for "segflow.batch.ready.v1".
func shortType(t string) string {
	t = strings.TrimPrefix(t, "segflow.")
	if i := strings.LastIndex(t, ".v"); i > 0 {
		t = t[:i]
	}
	return t
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
