package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// runIngest implements "segflow ingest": it loads files into a dataset
// through the batch ingestion API, one batch at a time, waiting for each
// to succeed.
func runIngest(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: segflow ingest [flags] FILE|DIR ...

Loads single-line JSON, JSON arrays and Parquet files into a dataset through
the batch ingestion API. A directory written by "segflow gen" (it holds
manifest.json) is ingested in one go: profiles into -profiles-dataset,
events into -events-dataset, both created if missing. Platform settings
come from SEGFLOW_PLATFORM_URL, SEGFLOW_CLIENT_ID, ... (see README).

flags:
`)
		fs.PrintDefaults()
	}
	var choice datasetChoice
	fs.StringVar(&choice.id, "dataset", "", "id of the dataset to ingest into")
	fs.StringVar(&choice.name, "name", "", "name of the dataset to ingest into (instead of -dataset)")
	fs.BoolVar(&choice.create, "create", false, "with -name: create the dataset, enabled for Profile, if no dataset has that name")
	fs.StringVar(&choice.class, "class", classProfile, "XDM class of a dataset -create makes: profile or event")
	fs.StringVar(&choice.profilesName, "profiles-dataset", "segflow profiles", "gen directories: name of the profile dataset")
	fs.StringVar(&choice.eventsName, "events-dataset", "segflow events", "gen directories: name of the ExperienceEvent dataset")
	opts := defaultIngestOptions()
	fs.StringVar(&opts.format, "format", "auto", "file format: auto (by extension; a .json file starting with [ is a JSON array), json (one record a line), json-array, or parquet")
	fs.IntVar(&opts.filesPerBatch, "files-per-batch", opts.filesPerBatch, "files per batch (the Platform takes up to 1500)")
	fs.IntVar(&opts.parallel, "parallel", opts.parallel, "files uploaded at once")
	fs.IntVar(&opts.maxFailedRows, "max-failed-rows", opts.maxFailedRows, "failed rows to print when a batch fails")
	verbose := fs.Bool("v", false, "log the client's retries and token renewals")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("ingest needs files or directories: %w", errUsage)
	}
	if opts.filesPerBatch < 1 || opts.filesPerBatch > 1500 || opts.parallel < 1 {
		return errors.New("ingest: -files-per-batch must be 1 to 1500 and -parallel at least 1")
	}
	if choice.create && choice.name == "" {
		return errors.New("ingest: -create needs -name")
	}
	cfg, err := loadPlatformConfig(ctx, environ)
	if err != nil {
		return err
	}
	c, err := newPlatformClient(cfg, stderr, *verbose)
	if err != nil {
		return err
	}
	opts.progress = stderr

	targets, err := ingestTargets(ctx, c, fs.Args(), opts.format, choice, stderr)
	if err != nil {
		return err
	}
	rep, err := ingestAll(ctx, c, targets, opts)
	if len(rep.batches) > 0 {
		printIngestReport(stdout, rep)
	}
	return err
}
