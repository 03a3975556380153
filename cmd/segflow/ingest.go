package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/gen"
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
	datasetID := fs.String("dataset", "", "id of the dataset to ingest into")
	name := fs.String("name", "", "name of the dataset to ingest into (instead of -dataset)")
	create := fs.Bool("create", false, "with -name: create the dataset, enabled for Profile, if no dataset has that name")
	class := fs.String("class", "profile", "XDM class of a dataset -create makes: profile or event")
	profilesName := fs.String("profiles-dataset", "segflow profiles", "gen directories: name of the profile dataset")
	eventsName := fs.String("events-dataset", "segflow events", "gen directories: name of the ExperienceEvent dataset")
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
	if *create && *name == "" {
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

	inputs, manifest, err := collectInputs(fs.Args(), opts.format)
	if err != nil {
		return err
	}
	var targets []ingestTarget
	if manifest != nil {
		if *datasetID != "" || *name != "" {
			return errors.New("ingest: a segflow gen directory goes to -profiles-dataset and -events-dataset, not -dataset or -name")
		}
		targets, err = genTargets(ctx, c, inputs, *profilesName, *eventsName, stderr)
	} else {
		targets, err = fileTargets(ctx, c, inputs, *datasetID, *name, *class, *create, stderr)
	}
	if err != nil {
		return err
	}
	rep, err := ingestAll(ctx, c, targets, opts)
	if len(rep.batches) > 0 {
		printIngestReport(stdout, rep)
	}
	return err
}

// loadPlatformConfig reads the Platform connection settings from environ.
func loadPlatformConfig(ctx context.Context, environ []string) (platform.Config, error) {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var cfg platform.Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(env)}); err != nil {
		return cfg, fmt.Errorf("reading configuration: %s", nameVariable(cfg, err))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

func newPlatformClient(cfg platform.Config, stderr io.Writer, verbose bool) (*platform.Client, error) {
	log := zerolog.Nop()
	if verbose {
		log = zerolog.New(stderr).With().Timestamp().Logger().Level(zerolog.DebugLevel)
	}
	return platform.New(cfg, platform.Options{Logger: log})
}

// Dataset classes the command creates datasets of.
const (
	classProfile = "profile"
	classEvent   = "event"
)

func classSchema(class string) (string, error) {
	switch class {
	case classProfile:
		return platform.SchemaProfile, nil
	case classEvent:
		return platform.SchemaExperienceEvent, nil
	}
	return "", fmt.Errorf("ingest: -class %q: want profile or event", class)
}

// schemaClass names the class of a dataset's schema ($id or meta:altId).
func schemaClass(schemaID string) string {
	switch schemaID {
	case platform.SchemaProfile, "_xdm.context.profile":
		return classProfile
	case platform.SchemaExperienceEvent, "_xdm.context.experienceevent":
		return classEvent
	}
	return schemaID
}

// inputFile is one file to upload.
type inputFile struct {
	path      string
	format    string // platform.FormatJSON or FormatParquet
	multiLine bool   // a JSON array
	size      int64
	class     string // gen directories: classProfile or classEvent
}

// formatKey groups files that can share a batch: a batch has one format.
func (f inputFile) formatKey() string { return fmt.Sprintf("%s/%v", f.format, f.multiLine) }

// collectInputs expands the arguments into files. A directory holding a
// gen manifest.json must be the only argument; its files come from the
// manifest, with their class. Other directories give their files with a
// known extension, in name order.
func collectInputs(args []string, format string) ([]inputFile, *gen.Summary, error) {
	var files []inputFile
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, nil, fmt.Errorf("ingest: %w", err)
		}
		if !st.IsDir() {
			f, err := newInputFile(arg, format)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, f)
			continue
		}
		if m, err := readManifest(arg); err != nil {
			return nil, nil, err
		} else if m != nil {
			if len(args) > 1 {
				return nil, nil, fmt.Errorf("ingest: %s is a segflow gen directory: ingest it on its own", arg)
			}
			var out []inputFile
			for _, mf := range m.Files {
				f, err := newInputFile(filepath.Join(arg, mf.Name), format)
				if err != nil {
					return nil, nil, err
				}
				f.class = classProfile
				if mf.Class == gen.EventClass {
					f.class = classEvent
				}
				out = append(out, f)
			}
			return out, m, nil
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, nil, fmt.Errorf("ingest: %w", err)
		}
		n := 0
		for _, e := range entries {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || !knownExtension(e.Name()) {
				continue
			}
			f, err := newInputFile(filepath.Join(arg, e.Name()), format)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, f)
			n++
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("ingest: %s holds no .json, .jsonl, .ndjson or .parquet files", arg)
		}
	}
	return files, nil, nil
}

func readManifest(dir string) (*gen.Summary, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	var m gen.Summary
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("ingest: %s/manifest.json is not a segflow gen manifest: %v", dir, err)
	}
	return &m, nil
}

func knownExtension(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".jsonl", ".ndjson", ".parquet":
		return true
	}
	return false
}

// newInputFile checks a file and decides its format.
func newInputFile(path, format string) (inputFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return inputFile{}, fmt.Errorf("ingest: %w", err)
	}
	if !st.Mode().IsRegular() {
		return inputFile{}, fmt.Errorf("ingest: %s is not a regular file", path)
	}
	if st.Size() > platform.MaxUploadBytes {
		return inputFile{}, fmt.Errorf("ingest: %s is %s; one upload holds at most %s: split it (segflow gen splits at 250 MB)", path, humanBytes(st.Size()), humanBytes(platform.MaxUploadBytes))
	}
	f := inputFile{path: path, size: st.Size()}
	switch format {
	case "json":
		f.format = platform.FormatJSON
	case "json-array":
		f.format, f.multiLine = platform.FormatJSON, true
	case "parquet":
		f.format = platform.FormatParquet
	case "auto":
		switch strings.ToLower(filepath.Ext(path)) {
		case ".parquet":
			f.format = platform.FormatParquet
		case ".json", ".jsonl", ".ndjson":
			f.format = platform.FormatJSON
			if f.multiLine, err = startsWithBracket(path); err != nil {
				return inputFile{}, fmt.Errorf("ingest: %w", err)
			}
		default:
			return inputFile{}, fmt.Errorf("ingest: cannot tell the format of %s from its extension: use -format", path)
		}
	default:
		return inputFile{}, fmt.Errorf("ingest: -format %q: want auto, json, json-array or parquet", format)
	}
	return f, nil
}

// startsWithBracket: the file's first non-blank byte is '[', so it is a
// JSON array (multi-line JSON) rather than one object a line.
func startsWithBracket(path string) (bool, error) {
	fh, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	r := bufio.NewReader(fh)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return false, nil // empty or unreadable: let the Platform say
		}
		switch b {
		case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF: // blanks and a UTF-8 BOM
			continue
		}
		return b == '[', nil
	}
}

// ingestTarget is a dataset and the files that go into it.
type ingestTarget struct {
	dataset platform.Dataset
	files   []inputFile
}

// fileTargets resolves the dataset of plain files.
func fileTargets(ctx context.Context, c *platform.Client, files []inputFile, id, name, class string, create bool, stderr io.Writer) ([]ingestTarget, error) {
	var ds platform.Dataset
	var err error
	switch {
	case id != "" && name != "":
		return nil, errors.New("ingest: give -dataset or -name, not both")
	case id != "":
		if ds, err = c.Dataset(ctx, id); err != nil {
			return nil, fmt.Errorf("ingest: dataset %s: %w", id, err)
		}
		warnNotForProfile(ds, stderr)
	case name != "":
		if ds, err = resolveDataset(ctx, c, name, class, create, stderr); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("ingest: which dataset? Give -dataset ID, or -name NAME (with -create to create it)")
	}
	return []ingestTarget{{dataset: ds, files: files}}, nil
}

// genTargets sends a gen directory's profiles and events to datasets
// named profilesName and eventsName, creating them if missing.
func genTargets(ctx context.Context, c *platform.Client, files []inputFile, profilesName, eventsName string, stderr io.Writer) ([]ingestTarget, error) {
	var targets []ingestTarget
	for _, t := range []struct{ class, name string }{{classProfile, profilesName}, {classEvent, eventsName}} {
		var mine []inputFile
		for _, f := range files {
			if f.class == t.class {
				mine = append(mine, f)
			}
		}
		if len(mine) == 0 {
			continue
		}
		ds, err := resolveDataset(ctx, c, t.name, t.class, true, stderr)
		if err != nil {
			return nil, err
		}
		targets = append(targets, ingestTarget{dataset: ds, files: mine})
	}
	return targets, nil
}

// resolveDataset finds the dataset named name, or creates it (enabled for
// Profile, of class) when create is set.
func resolveDataset(ctx context.Context, c *platform.Client, name, class string, create bool, stderr io.Writer) (platform.Dataset, error) {
	schema, err := classSchema(class)
	if err != nil {
		return platform.Dataset{}, err
	}
	found, err := c.FindDatasets(ctx, name)
	if err != nil {
		return platform.Dataset{}, fmt.Errorf("ingest: looking up dataset %q: %w", name, err)
	}
	switch {
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, d := range found {
			ids[i] = d.ID
		}
		return platform.Dataset{}, fmt.Errorf("ingest: %d datasets are named %q (%s): use -dataset ID", len(found), name, strings.Join(ids, ", "))
	case len(found) == 1:
		ds := found[0]
		if create && schemaClass(ds.SchemaRef.ID) != class {
			return platform.Dataset{}, fmt.Errorf("ingest: dataset %q (%s) has schema %s, not the %s class", name, ds.ID, ds.SchemaRef.ID, class)
		}
		warnNotForProfile(ds, stderr)
		return ds, nil
	case !create:
		return platform.Dataset{}, fmt.Errorf("ingest: no dataset is named %q: add -create to create it", name)
	}
	id, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: name, Schema: schema, Profile: true, Description: "created by segflow ingest"})
	if err != nil {
		return platform.Dataset{}, fmt.Errorf("ingest: creating dataset %q: %w", name, err)
	}
	fmt.Fprintf(stderr, "ingest: created dataset %q (%s, %s class, enabled for Profile)\n", name, id, class)
	return c.Dataset(ctx, id)
}

func warnNotForProfile(ds platform.Dataset, stderr io.Writer) {
	if !ds.ProfileEnabled() {
		fmt.Fprintf(stderr, "ingest: note: dataset %q (%s) is not enabled for Profile: its records are counted but do not reach the profile store\n", ds.Name, ds.ID)
	}
}

// ingestOptions tune ingestAll.
type ingestOptions struct {
	format        string
	filesPerBatch int
	parallel      int
	maxFailedRows int
	poll          platform.Backoff
	progress      io.Writer
	// progressEvery is how often a long wait for processing reports.
	progressEvery time.Duration
}

func defaultIngestOptions() ingestOptions {
	return ingestOptions{
		format:        "auto",
		filesPerBatch: 10,
		parallel:      4,
		maxFailedRows: 20,
		poll:          platform.Backoff{Initial: 50 * time.Millisecond, Max: time.Second, Multiplier: 1.5},
		progress:      io.Discard,
		progressEvery: 10 * time.Second,
	}
}

// batchReport is how one batch went.
type batchReport struct {
	id, datasetID, datasetName string
	files                      int
	bytes                      int64
	records                    int64         // written, per Catalog
	upload                     time.Duration // create, uploads and COMPLETE
	processing                 time.Duration // COMPLETE acknowledged to success seen
	status                     string
}

// ingestReport is how a run went.
type ingestReport struct {
	batches []batchReport
	elapsed time.Duration
}

func (r ingestReport) totals() (b batchReport) {
	for _, x := range r.batches {
		b.files += x.files
		b.bytes += x.bytes
		b.records += x.records
		b.upload += x.upload
		b.processing += x.processing
	}
	return b
}

// plannedBatch is the files of one batch.
type plannedBatch struct {
	dataset platform.Dataset
	files   []inputFile
}

// planBatches splits each target's files into batches of one format and
// at most per files, in order.
func planBatches(targets []ingestTarget, per int) []plannedBatch {
	var out []plannedBatch
	for _, t := range targets {
		var keys []string
		groups := map[string][]inputFile{}
		for _, f := range t.files {
			k := f.formatKey()
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], f)
		}
		for _, k := range keys {
			for chunk := range slices.Chunk(groups[k], per) {
				out = append(out, plannedBatch{dataset: t.dataset, files: chunk})
			}
		}
	}
	return out
}

// ingestAll ingests the targets batch by batch. It stops at the first
// batch that fails; the report holds the batches done until then.
func ingestAll(ctx context.Context, c *platform.Client, targets []ingestTarget, opts ingestOptions) (ingestReport, error) {
	start := time.Now()
	var rep ingestReport
	plan := planBatches(targets, opts.filesPerBatch)
	for i, pb := range plan {
		br, err := ingestBatch(ctx, c, pb, fmt.Sprintf("%d/%d", i+1, len(plan)), opts)
		if br.id != "" {
			rep.batches = append(rep.batches, br)
		}
		if err != nil {
			rep.elapsed = time.Since(start)
			return rep, err
		}
	}
	rep.elapsed = time.Since(start)
	return rep, nil
}

// ingestBatch creates, fills, completes and waits for one batch.
func ingestBatch(ctx context.Context, c *platform.Client, pb plannedBatch, label string, opts ingestOptions) (batchReport, error) {
	out := opts.progress
	br := batchReport{datasetID: pb.dataset.ID, datasetName: pb.dataset.Name, files: len(pb.files)}
	for _, f := range pb.files {
		br.bytes += f.size
	}
	if err := uniqueNames(pb.files); err != nil {
		return br, err
	}
	start := time.Now()
	b, err := c.CreateBatch(ctx, pb.dataset.ID, pb.files[0].format, pb.files[0].multiLine)
	if err != nil {
		return br, fmt.Errorf("ingest: creating a batch on dataset %q: %w", pb.dataset.Name, err)
	}
	br.id, br.status = b.ID, b.Status
	kind := pb.files[0].format
	if pb.files[0].multiLine {
		kind = "JSON array"
	}
	plural := "s"
	if len(pb.files) == 1 {
		plural = ""
	}
	fmt.Fprintf(out, "ingest: batch %s %s → dataset %q (%s): %d file%s (%s), %s\n", label, b.ID, pb.dataset.Name, pb.dataset.ID, len(pb.files), plural, kind, humanBytes(br.bytes))
	if err := uploadFiles(ctx, c, b.ID, pb.dataset.ID, pb.files, opts); err != nil {
		abortBatch(ctx, c, b.ID, out)
		return br, err
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		return br, fmt.Errorf("ingest: completing batch %s: %w", b.ID, err)
	}
	br.upload = time.Since(start)
	fmt.Fprintf(out, "ingest:   uploaded %s in %s (%s/s); processing…\n", humanBytes(br.bytes), seconds(br.upload), humanBytes(perSecond(br.bytes, br.upload)))

	completed := time.Now()
	stop := reportWhile(out, opts.progressEvery, func(d time.Duration) string {
		return fmt.Sprintf("ingest:   batch %s still processing after %s\n", b.ID, seconds(d))
	})
	done, err := c.WaitBatch(ctx, b.ID, opts.poll)
	stop()
	br.processing = time.Since(completed)
	br.status, br.records = done.Status, done.Metrics.RecordsWritten
	var failed *platform.BatchFailedError
	if errors.As(err, &failed) {
		return br, batchFailure(ctx, c, failed.Batch, opts)
	}
	if err != nil {
		return br, fmt.Errorf("ingest: waiting for batch %s: %w", b.ID, err)
	}
	fmt.Fprintf(out, "ingest:   %s: %d records in %s (%s records/s)\n", done.Status, br.records, seconds(br.processing), rate(br.records, br.processing))
	return br, nil
}

func uniqueNames(files []inputFile) error {
	seen := map[string]string{}
	for _, f := range files {
		base := filepath.Base(f.path)
		if other, ok := seen[base]; ok {
			return fmt.Errorf("ingest: %s and %s would be the same file of one batch: rename one, or use -files-per-batch 1", other, f.path)
		}
		seen[base] = f.path
	}
	return nil
}

// uploadFiles uploads a batch's files, opts.parallel at a time. The first
// failure cancels the others.
func uploadFiles(ctx context.Context, c *platform.Client, batchID, datasetID string, files []inputFile, opts ingestOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards first and progress output
		first error
		sem   = make(chan struct{}, opts.parallel)
	)
	for _, f := range files {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			err := uploadFile(ctx, c, batchID, datasetID, f)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
					cancel()
				}
				return
			}
			if len(files) > 1 {
				fmt.Fprintf(opts.progress, "ingest:   uploaded %s (%s) in %s\n", filepath.Base(f.path), humanBytes(f.size), seconds(time.Since(start)))
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

func uploadFile(ctx context.Context, c *platform.Client, batchID, datasetID string, f inputFile) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer fh.Close()
	if err := c.UploadFile(ctx, batchID, datasetID, filepath.Base(f.path), fh, f.size); err != nil {
		return fmt.Errorf("ingest: uploading %s: %w", f.path, err)
	}
	return nil
}

// abortBatch abandons a batch whose upload failed, so it does not stay
// open; even when ctx was cancelled (it gets a little time of its own).
func abortBatch(ctx context.Context, c *platform.Client, id string, out io.Writer) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.AbortBatch(actx, id); err != nil {
		fmt.Fprintf(out, "ingest: could not abort batch %s: %v\n", id, err)
		return
	}
	fmt.Fprintf(out, "ingest: aborted batch %s\n", id)
}

// batchFailure prints a failed batch's rejected rows and returns the
// command's error.
func batchFailure(ctx context.Context, c *platform.Client, b platform.Batch, opts ingestOptions) error {
	out := opts.progress
	m := b.Metrics
	fmt.Fprintf(out, "ingest: batch %s %s: %d of %d records rejected; nothing of the batch was ingested\n", b.ID, strings.ToUpper(b.Status), m.RecordsFailed, m.RecordsRead)
	for _, e := range b.Errors {
		fmt.Fprintf(out, "ingest:   %s: %s\n", e.Code, e.Description)
	}
	rows, err := c.FailedRows(ctx, b.ID)
	switch {
	case err != nil:
		fmt.Fprintf(out, "ingest:   (the failed rows could not be read: %v)\n", err)
	case len(rows) > 0:
		table := [][]string{{"", "file", "row", "code", "message"}}
		for _, r := range rows[:min(len(rows), opts.maxFailedRows)] {
			table = append(table, []string{"", r.File, strconv.Itoa(r.Row), r.Code, r.Message})
		}
		writeTable(out, table, "llrll")
		if len(rows) > opts.maxFailedRows {
			fmt.Fprintf(out, "  … and %d more rows (GET /data/foundation/export/batches/%s/failed)\n", len(rows)-opts.maxFailedRows, b.ID)
		}
	}
	return fmt.Errorf("ingest: batch %s failed: %d of %d records rejected", b.ID, m.RecordsFailed, m.RecordsRead)
}

// reportWhile calls line every interval until stop is called, and writes
// what it returns.
func reportWhile(out io.Writer, every time.Duration, line func(time.Duration) string) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprint(out, line(time.Since(start)))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// printIngestReport prints one line a batch and the totals.
func printIngestReport(w io.Writer, rep ingestReport) {
	rows := [][]string{{"batch", "dataset", "status", "files", "bytes", "records", "upload s", "processing s", "records/s"}}
	for _, b := range rep.batches {
		rows = append(rows, []string{b.id, b.datasetName, b.status, strconv.Itoa(b.files), humanBytes(b.bytes), strconv.FormatInt(b.records, 10),
			secs(b.upload), secs(b.processing), rate(b.records, b.upload+b.processing)})
	}
	t := rep.totals()
	rows = append(rows, []string{"total", "", "", strconv.Itoa(t.files), humanBytes(t.bytes), strconv.FormatInt(t.records, 10),
		secs(t.upload), secs(t.processing), rate(t.records, rep.elapsed)})
	writeTable(w, rows, "lll")
}

// writeTable writes rows as columns, aligned per align: 'l' left (names),
// anything else or nothing right (numbers).
func writeTable(w io.Writer, rows [][]string, align string) {
	var width []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, cell := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < len(align) && align[i] == 'l' {
				b.WriteString(cell + pad)
			} else {
				b.WriteString(pad + cell)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// rate is n per second over d, for tables.
func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/d.Seconds(), 'f', 0, 64)
}

// humanBytes is n in decimal units, as gen's 250 MB limit is.
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func perSecond(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// seconds is a duration for progress lines.
func seconds(d time.Duration) string { return secs(d) + "s" }

// secs is a duration in seconds for tables.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
