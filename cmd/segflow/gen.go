package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/segflow/segflow/services/ups/gen"
)

// genProgressEvery is how often "segflow gen" reports progress; runs
// shorter than that print only the summary.
const genProgressEvery = 2 * time.Second

// runGen implements "segflow gen": it writes a synthetic XDM data set
// (profiles, events, manifest) for batch ingestion.
func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profiles := fs.Int("profiles", 1000, "number of profiles")
	mean := fs.Float64("events-per-profile", gen.DefaultEventsPerProfile, "mean ExperienceEvents a profile (counts vary around it)")
	seed := fs.Int64("seed", 1, "seed: the same seed and -now give the same bytes")
	nowFlag := fs.String("now", "", "end of the data, RFC 3339 (default: the current time, printed so the run can be repeated)")
	perFile := fs.Int("records-per-file", gen.DefaultRecordsPerFile, "split files beyond this many records (files also stay under 250 MB)")
	out := fs.String("out", "", "directory to write profiles.json, events.json and manifest.json to (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("gen needs -out DIR and no arguments: %w", errUsage)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *nowFlag)
		if err != nil {
			return fmt.Errorf("gen: -now: %w", err)
		}
		now = t
	}
	start := time.Now()
	last := start
	cfg := gen.Config{
		Profiles:         *profiles,
		EventsPerProfile: *mean,
		Seed:             *seed,
		Now:              now,
		RecordsPerFile:   *perFile,
		Progress: func(p gen.Progress) {
			if time.Since(last) < genProgressEvery {
				return
			}
			last = time.Now()
			elapsed := time.Since(start).Seconds()
			fmt.Fprintf(stderr, "gen: %d/%d profiles, %d events (%.0f records/s)\n",
				p.Profiles, p.TotalProfiles, p.Events, float64(p.Profiles+p.Events)/elapsed)
		},
	}
	sum, err := gen.WriteDataset(ctx, cfg, *out)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "wrote %d profiles and %d events to %s in %s (%.0f records/s): %s\n",
		sum.Profiles, sum.Events, *out, elapsed.Round(time.Millisecond),
		float64(sum.Profiles+sum.Events)/elapsed.Seconds(), fileList(sum.Files))
	fmt.Fprintf(stdout, "repeat with: segflow gen -profiles %d -events-per-profile %g -seed %d -now %s\n",
		*profiles, sum.EventsPerProfile, sum.Seed, sum.Now.Format(time.RFC3339Nano))
	return nil
}

// fileList names the files of a data set, eliding the middle of long runs
// of chunks.
func fileList(files []gen.File) string {
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.Name)
	}
	list := strings.Join(names, ", ")
	if len(names) > 6 {
		list = fmt.Sprintf("%s, %s, …, %s (%d files)", names[0], names[1], names[len(names)-1], len(names))
	}
	return list + " and manifest.json"
}
