// Command segflow is Segflow's one binary: the subcommand picks the role
// (up, a pipeline stage, ups) or is a user command (request, status,
// watch, dlq, ingest, gen, pql, bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/segflow/segflow/pkg/events"
)

const usage = `usage: segflow <command> [arguments]

commands:
  pql check [-json] <query>      parse a PQL query, print it canonically and what it reads
  pql convert -to json|text <q>  convert between pql/text and pql/json
  ups                            run ups, the local Platform API (configured by SEGFLOW_* variables)
  gen -out DIR [-profiles N]     write a synthetic XDM data set (profiles, events) for ingestion
  ingest [flags] FILE|DIR ...    load JSON and Parquet files (or a gen directory) through batch ingestion
  bench ingest [-profiles N]     measure ingestion through the HTTP API (an in-process ups, or -url)
  bench pipeline [-profiles N] [-requests N] [-latency-requests N] [-keep] [-json]
                                 measure the pipeline in process: latency, overhead per hop, Platform calls, throughput
  up                             run everything in one process: NATS, ups with sample data, the four stages
  definer, segmenter, exporter, reader
                                 run one pipeline stage (NATS at SEGFLOW_NATS_URL, Platform at SEGFLOW_PLATFORM_URL)
  request [flags] [FILE|-]       publish a segment request and follow it to its batch.ready manifest
  status [-json] <requestId>     print a request's status record (stage, state, ids, timings, error)
  watch [-subject S] [-request ID] [-since D|-all] [-json]
                                 stream the pipeline's events, one line each, until Ctrl-C
  dlq list [STAGE]               list dead letters (messages a stage gave up on)
  dlq replay STAGE SEQ | -all    republish dead-lettered messages on their subjects
  env [-json] ROLE               list the SEGFLOW_* variables a role reads, with their defaults
  probe [-timeout D] URL         GET URL, exit 0 on 2xx (the container image's health check)

Run "segflow <command> -h" for a command's flags.
`

// errUsage marks errors that should print the usage text.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "segflow:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand; tests call it directly. environ is the
// process environment (KEY=value), where services read their configuration.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, environ, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h: the command printed its flags
	}
	return err
}

func dispatch(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "pql":
		return runPQL(args[1:], stdin, stdout, stderr)
	case "ups":
		return runUPS(ctx, args[1:], environ, stderr)
	case "gen":
		return runGen(ctx, args[1:], stdout, stderr)
	case "ingest":
		return runIngest(ctx, args[1:], environ, stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], environ, stdout, stderr)
	case "request":
		return runRequest(ctx, args[1:], environ, stdin, stdout, stderr)
	case "status":
		return runStatus(ctx, args[1:], environ, stdout, stderr)
	case "watch":
		return runWatch(ctx, args[1:], environ, stdout, stderr)
	case "dlq":
		return runDLQ(ctx, args[1:], environ, stdout, stderr)
	case "env":
		return runEnv(ctx, args[1:], stdout, stderr)
	case "probe":
		return runProbe(ctx, args[1:], stdout, stderr)
	case "up":
		return runUp(ctx, args[1:], environ, stdout, stderr)
	case "definer", "segmenter", "exporter", "reader":
		return runRole(ctx, events.Stage(args[0]), args[1:], environ, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
}
