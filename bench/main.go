// Command bench measures ups, the local Experience Platform, against
// DuckDB on the same generated data set: it loads the data into both,
// evaluates ten segments in each (PQL segment jobs in ups, equivalent SQL
// counts in DuckDB), checks that the two agree on every member count,
// and times a one-segment job, a ten-segment job, a preview/estimate and
// an export job against their floors. See README.md.
//
//	cd bench && go run . -profiles 100000
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errMismatch):
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
}

// errMismatch is a run whose ups and DuckDB results disagree (or whose
// ups side failed a segment): the exit status is 1.
var errMismatch = errors.New("MISMATCH")

// options are the command's flags.
type options struct {
	profiles  int
	eventsPer float64
	seed      int64
	data      string
	keep      bool
	json      bool
	jsonFile  string
	duckRuns  int
	upsRuns   int
	verbose   bool
	cpuProf   string
	memLimit  int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.profiles, "profiles", 100_000, "profiles to generate (about 20 events each)")
	fs.Float64Var(&o.eventsPer, "events-per-profile", 0, "mean events a profile (0: the generator's default, 20)")
	fs.Int64Var(&o.seed, "seed", 1, "generator seed")
	fs.StringVar(&o.data, "data", "", "reuse the data set in `DIR` (written by segflow gen or -keep); generated there first if DIR has no manifest.json")
	fs.BoolVar(&o.keep, "keep", false, "keep the generated data set (and ups's data directory)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of the table")
	fs.StringVar(&o.jsonFile, "json-file", "", "also write the results as JSON to `FILE`")
	fs.IntVar(&o.duckRuns, "duckdb-runs", 3, "DuckDB runs per query; the fastest counts")
	fs.IntVar(&o.upsRuns, "ups-runs", 3, "segment jobs per segment alone, one after the other; the fastest counts (the first is reported too)")
	fs.BoolVar(&o.verbose, "v", false, "show ups's warnings")
	fs.IntVar(&o.memLimit, "memory-limit-mb", 0, "SEGFLOW_UPS_MEMORY_LIMIT_MB of the in-process ups: the Go memory budget its collector works against, with GOGC=400 (0: none, GOGC=25, as segflow ups runs without one)")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the segmentation phase (after the load) to `FILE`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run . [flags]   (in bench/)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.profiles < 1 || o.duckRuns < 1 || o.upsRuns < 1 {
		return o, errors.New("-profiles, -duckdb-runs and -ups-runs must be at least 1")
	}
	return o, nil
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tuneGC(environ, o.memLimit)
	b := &bench{opts: o, log: stderr}
	res, err := b.run(ctx)
	if err != nil {
		if len(res.Segments) > 0 && !o.json {
			// Show what was measured before the failure.
			printReport(stdout, res)
		}
		return err
	}
	if o.jsonFile != "" {
		var buf bytes.Buffer
		if err := printJSON(&buf, res); err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonFile, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if o.json {
		if err := printJSON(stdout, res); err != nil {
			return err
		}
	} else {
		printReport(stdout, res)
	}
	if len(res.Mismatches) > 0 {
		return fmt.Errorf("%w: %s", errMismatch, strings.Join(res.Mismatches, "; "))
	}
	return nil
}

// tuneGC runs the in-process ups's collector as "segflow ups" does with
// SEGFLOW_UPS_MEMORY_LIMIT_MB set to limitMB (GOGC=400 against that
// limit; GOGC=25 when it is 0), unless GOGC or GOMEMLIMIT is set.
func tuneGC(environ []string, limitMB int) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return
		}
	}
	if limitMB > 0 {
		debug.SetMemoryLimit(int64(limitMB) << 20)
		debug.SetGCPercent(400)
		return
	}
	debug.SetGCPercent(25)
}
