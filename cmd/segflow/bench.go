package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups"
	"github.com/segflow/segflow/services/ups/gen"
)

// runBench dispatches "segflow bench <benchmark>".
func runBench(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "ingest":
			return runBenchIngest(ctx, args[1:], environ, stdout, stderr)
		case "pipeline":
			return runBenchPipeline(ctx, args[1:], environ, stdout, stderr)
		}
	}
	return fmt.Errorf("bench needs a benchmark: bench ingest or bench pipeline: %w", errUsage)
}

// benchIngestConfig are the flags of "segflow bench ingest".
type benchIngestConfig struct {
	profiles       int
	eventsPer      float64
	seed           int64
	recordsPerFile int
	url            string
	keep           bool
	verbose        bool
	memoryLimitMB  int
	ingest         ingestOptions
}

// runBenchIngest implements "segflow bench ingest": it generates a data
// set, ingests it through the HTTP API with the code of "segflow ingest",
// and prints throughput, memory and (for an in-process ups) restart time.
func runBenchIngest(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bc := benchIngestConfig{ingest: defaultIngestOptions()}
	fs.IntVar(&bc.profiles, "profiles", 50_000, "profiles to generate")
	fs.Float64Var(&bc.eventsPer, "events-per-profile", gen.DefaultEventsPerProfile, "mean ExperienceEvents a profile")
	fs.Int64Var(&bc.seed, "seed", 1, "generator seed")
	fs.IntVar(&bc.recordsPerFile, "records-per-file", gen.DefaultRecordsPerFile, "split generated files beyond this many records")
	fs.IntVar(&bc.ingest.filesPerBatch, "files-per-batch", bc.ingest.filesPerBatch, "files per batch")
	fs.IntVar(&bc.ingest.parallel, "parallel", bc.ingest.parallel, "files uploaded at once")
	fs.StringVar(&bc.url, "url", "", "ingest into the Platform (or ups) at this URL instead of an in-process ups; credentials from SEGFLOW_CLIENT_ID, ... (no restart measurement)")
	fs.BoolVar(&bc.keep, "keep", false, "keep the generated files and ups's data directory")
	fs.BoolVar(&bc.verbose, "v", false, "log the client's retries and ups's warnings")
	fs.IntVar(&bc.memoryLimitMB, "memory-limit-mb", 2560, "SEGFLOW_UPS_MEMORY_LIMIT_MB of the in-process ups: the memory budget its collector works against (0: none, GOGC=25)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the ingestion (generation excluded) to this file, for go tool pprof")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench ingest takes flags only: %w", errUsage)
	}
	if bc.profiles < 1 || bc.ingest.filesPerBatch < 1 || bc.ingest.parallel < 1 {
		return errors.New("bench ingest: -profiles, -files-per-batch and -parallel must be at least 1")
	}
	// Processing is timed by polling: poll finely so the poll does not
	// dominate small batches.
	bc.ingest.poll = platform.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 1.5}
	bc.ingest.progress = stderr

	tmp, err := os.MkdirTemp("", "segflow-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if bc.keep {
			fmt.Fprintf(stderr, "bench: kept %s (gen/: the data set, ups/: ups's data directory)\n", tmp)
			return
		}
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(stderr, "bench: removing %s: %v\n", tmp, err)
		}
	}()
	b := &benchRun{cfg: bc, environ: environ, stderr: stderr, tmp: tmp, cpuProfile: *cpuProfile}
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	printBenchReport(stdout, res)
	return nil
}

// benchRun is one run of "segflow bench ingest".
type benchRun struct {
	cfg        benchIngestConfig
	environ    []string
	stderr     io.Writer
	tmp        string
	cpuProfile string // file for a CPU profile of the ingestion, or ""
}

// benchResult is what a run measured.
type benchResult struct {
	target       string // where it ingested
	sum          gen.Summary
	genBytes     int64
	genTime      time.Duration
	ingest       ingestReport
	heapInuse    uint64
	heapAlloc    uint64
	rss, peakRSS int64 // bytes; -1 when unknown
	restart      time.Duration
	restartHeap  uint64
	restartCheck string // what was verified after the restart
	inProcess    bool
	gc           string // how the in-process ups's collector ran
}

func (b *benchRun) run(ctx context.Context) (benchResult, error) {
	var res benchResult
	out := b.stderr

	// 1. The data set.
	genDir := filepath.Join(b.tmp, "gen")
	fmt.Fprintf(out, "bench: generating %d profiles with about %g events each in %s\n", b.cfg.profiles, b.cfg.eventsPer, genDir)
	start := time.Now()
	sum, err := gen.WriteDataset(ctx, gen.Config{
		Profiles:         b.cfg.profiles,
		EventsPerProfile: b.cfg.eventsPer,
		Seed:             b.cfg.seed,
		Now:              time.Now().UTC().Truncate(time.Second),
		RecordsPerFile:   b.cfg.recordsPerFile,
	}, genDir)
	if err != nil {
		return res, fmt.Errorf("bench: generating: %w", err)
	}
	res.genTime, res.sum = time.Since(start), sum
	for _, f := range sum.Files {
		res.genBytes += f.Bytes
	}

	// 2. The Platform: an in-process ups, or the one at -url.
	var (
		pcfg    platform.Config
		srv     *benchUPS
		upsCfg  ups.Config
		profNm  = "bench profiles"
		eventNm = "bench events"
	)
	if b.cfg.url == "" {
		res.inProcess = true
		if upsCfg, err = loadUPSConfig(ctx, nil); err != nil { // ups's defaults, dev client included
			return res, err
		}
		upsCfg.Addr, upsCfg.DataDir = "127.0.0.1:0", filepath.Join(b.tmp, "ups")
		upsCfg.MemoryLimitMB = b.cfg.memoryLimitMB
		defer tuneGC(b.environ, upsCfg.MemoryLimitMB)() // as segflow ups runs
		res.gc = gcSetting()
		if srv, _, err = startBenchUPS(ctx, upsCfg, b.upsLogger()); err != nil {
			return res, err
		}
		defer func() { _ = srv.stop() }()
		if pcfg, err = loadPlatformConfig(ctx, nil); err != nil { // the dev client
			return res, err
		}
		pcfg.BaseURL = srv.url
		res.target = fmt.Sprintf("ups in process at %s (data dir %s)", strings.TrimPrefix(srv.url, "http://"), upsCfg.DataDir)
	} else {
		if pcfg, err = loadPlatformConfig(ctx, b.environ); err != nil {
			return res, err
		}
		pcfg.BaseURL = b.cfg.url
		if err := pcfg.Validate(); err != nil {
			return res, fmt.Errorf("bench: -url: %w", err)
		}
		// Another run's datasets must not take these batches' counts.
		stamp := time.Now().UTC().Format("20060102-150405")
		profNm, eventNm = profNm+" "+stamp, eventNm+" "+stamp
		res.target = b.cfg.url
	}
	c, err := newPlatformClient(pcfg, out, b.cfg.verbose)
	if err != nil {
		return res, err
	}

	// 3. Ingestion, as "segflow ingest" does it.
	targets, err := ingestTargets(ctx, c, []string{genDir}, b.cfg.ingest.format, datasetChoice{profilesName: profNm, eventsName: eventNm}, out)
	if err != nil {
		return res, err
	}
	stop, err := startCPUProfile(b.cpuProfile)
	if err != nil {
		return res, err
	}
	rep, err := ingestAll(ctx, c, targets, b.cfg.ingest)
	if err := errors.Join(err, stop()); err != nil {
		return res, err
	}
	res.ingest = rep

	// 4. Memory, with the data in the store.
	res.heapInuse, res.heapAlloc = heapAfterGC()
	res.rss, res.peakRSS = procMemory()

	// 5. Restart: the time to open the same data directory again.
	if !res.inProcess {
		return res, nil
	}
	before, err := catalogCounts(ctx, c, targets)
	if err != nil {
		return res, err
	}
	if err := srv.stop(); err != nil {
		return res, fmt.Errorf("bench: stopping ups: %w", err)
	}
	srv = nil
	// As when the old process exits: its heap goes back to the system
	// before the new one maps the snapshot.
	debug.FreeOSMemory()
	fmt.Fprintf(out, "bench: restarting ups on %s\n", upsCfg.DataDir)
	srv2, took, err := startBenchUPS(ctx, upsCfg, b.upsLogger())
	if err != nil {
		return res, fmt.Errorf("bench: restarting ups: %w", err)
	}
	defer func() { _ = srv2.stop() }()
	res.restart = took
	res.restartHeap, _ = heapAfterGC()
	pcfg.BaseURL = srv2.url
	c2, err := newPlatformClient(pcfg, out, b.cfg.verbose)
	if err != nil {
		return res, err
	}
	after, err := catalogCounts(ctx, c2, targets)
	if err != nil {
		return res, fmt.Errorf("bench: reading Catalog after the restart: %w", err)
	}
	if after != before {
		res.restartCheck = fmt.Sprintf("CHANGED: before %s; after %s", before, after)
		return res, fmt.Errorf("bench: Catalog changed across the restart: before %s; after %s", before, after)
	}
	res.restartCheck = "unchanged: " + after.String()
	return res, nil
}

func (b *benchRun) upsLogger() zerolog.Logger {
	level := zerolog.WarnLevel
	if b.cfg.verbose {
		level = zerolog.InfoLevel
	}
	return zerolog.New(b.stderr).With().Timestamp().Str("service", "ups").Logger().Level(level)
}
