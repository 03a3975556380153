package ups

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/pql"
)

// The export runner. Jobs run one at a time, in creation order (an export
// scans the store on every CPU already). A job:
//
//  1. becomes PROCESSING; its destination batches were created with the
//     job and stay "loading" in Catalog while it runs (not "processing":
//     at start, batch ingestion resumes the processing batches it finds);
//  2. scans the merged profiles on every CPU, one Parquet writer per scan
//     part, into <DataDir>/export/tmp/<job>/<batch>/, files rotating every
//     rowsPerFile rows, each fsynced;
//  3. publishes: writes each batch's manifest.json, records the job's
//     metrics, renames each batch directory to
//     <DataDir>/export/batches/<batch> (atomic), then marks the batches
//     success in Catalog with their record counts, marks the dataset's
//     earlier batches "deleted" (and removes their files: the dataset
//     holds only this export), and marks the job SUCCEEDED.
//
// Data Access lists a batch's files only once Catalog says success, so
// no reader ever sees part of an export. At start, a job found NEW or
// PROCESSING whose batch directories are all published is finished (step
// 3 resumed); any other is run again from scratch (its temporary
// directory removed), or failed if it was cancelled or has already been
// interrupted exportMaxAttempts times. A graceful shutdown interrupts a
// running job the same way: it runs again at the next start.

// exportRowsPerFile is how many rows an export file holds at most.
const exportRowsPerFile = 200_000

// exportMinPartRows is about the fewest profiles a scan part gets: small
// exports are written by fewer writers into fewer files.
const exportMinPartRows = 25_000

// exportMaxAttempts bounds the runs of a job interrupted by restarts.
const exportMaxAttempts = 3

var (
	errExportCancelled = errors.New("the export job was cancelled")
	errExportShutdown  = errors.New("ups is shutting down")
)

// exporter runs export jobs and owns their files.
type exporter struct {
	jobs     *exportStore
	catalog  *catalog
	policies *policyStore
	store    *profileStore
	members  *memberships
	commits  string // batch ingestion's commits.log: when fragments were ingested
	dir      string // <DataDir>/export
	log      zerolog.Logger
	now      func() time.Time
	// rowsPerFile bounds the rows of a file (tests make it small).
	rowsPerFile int

	qmu   sync.Mutex
	queue []int64
	wake  chan struct{}

	runMu     sync.Mutex
	running   int64 // the job in hand, 0 when none
	cancelRun context.CancelCauseFunc

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// openExporter loads the export jobs under dataDir, recovers those a
// stop interrupted and starts the runner.
func openExporter(dataDir string, cat *catalog, policies *policyStore, store *profileStore, members *memberships, commits string, log zerolog.Logger, now func() time.Time) (*exporter, error) {
	jobs, err := openExportStore(filepath.Join(dataDir, "exportjobs"), now)
	if err != nil {
		return nil, err
	}
	x := &exporter{
		jobs: jobs, catalog: cat, policies: policies, store: store, members: members,
		commits: commits, dir: filepath.Join(dataDir, "export"), log: log, now: now,
		rowsPerFile: exportRowsPerFile,
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	for _, d := range []string{x.tmpRoot(), filepath.Join(x.dir, "batches")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	for _, r := range jobs.unfinished() {
		if x.recover(r) {
			x.queue = append(x.queue, r.Job.ID)
		}
	}
	// Whatever is left in tmp was never published: runs start afresh.
	stale, _ := os.ReadDir(x.tmpRoot())
	for _, e := range stale {
		_ = os.RemoveAll(filepath.Join(x.tmpRoot(), e.Name()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	x.stop = cancel
	go x.loop(ctx)
	return x, nil
}

func (x *exporter) tmpRoot() string { return filepath.Join(x.dir, "tmp") }
func (x *exporter) tmpDir(id int64) string {
	return filepath.Join(x.tmpRoot(), strconv.FormatInt(id, 10))
}
func (x *exporter) batchDir(id string) string { return filepath.Join(x.dir, "batches", id) }
func (x *exporter) manifestPath(id string) string {
	return filepath.Join(x.batchDir(id), "manifest.json")
}

// close stops the runner; a job in hand is interrupted and runs again at
// the next start. It may be called more than once, and on nil.
func (x *exporter) close() {
	if x == nil {
		return
	}
	x.closeOnce.Do(func() {
		x.stop()
		x.interrupt(0, errExportShutdown)
		<-x.done
	})
}

// interrupt cancels job id (any job when id is 0) if it is running.
func (x *exporter) interrupt(id int64, cause error) {
	x.runMu.Lock()
	defer x.runMu.Unlock()
	if x.cancelRun != nil && (id == 0 || id == x.running) {
		x.cancelRun(cause)
	}
}

func (x *exporter) enqueue(id int64) {
	x.qmu.Lock()
	x.queue = append(x.queue, id)
	x.qmu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *exporter) loop(ctx context.Context) {
	defer close(x.done)
	for {
		x.qmu.Lock()
		var id int64
		if len(x.queue) > 0 {
			id = x.queue[0]
			x.queue = x.queue[1:]
		}
		x.qmu.Unlock()
		if id == 0 {
			select {
			case <-ctx.Done():
				return
			case <-x.wake:
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		x.run(ctx, id)
	}
}

// recover decides at start what becomes of an unfinished job: it is
// finished, failed, or (true) to be run again.
func (x *exporter) recover(r exportRecord) bool {
	log := x.log.With().Int64("export_job", r.Job.ID).Logger()
	published := true
	for _, b := range r.Job.batchIDs() {
		if _, err := os.Stat(x.manifestPath(b)); err != nil {
			published = false
		}
	}
	if published {
		if err := x.finish(r); err != nil {
			log.Error().Err(err).Msg("finishing an export job a restart interrupted")
		}
		return false
	}
	x.removeFiles(r)
	var reason error
	switch {
	case r.Cancel:
		reason = errExportCancelled
	case r.Attempts >= exportMaxAttempts:
		reason = fmt.Errorf("the export was interrupted %d times (ups stopped while it ran); giving up", r.Attempts)
	default:
		for _, id := range r.Job.batchIDs() {
			if b, err := x.catalog.batch(r.caller(), id); err != nil || finalBatchStatus(b.Status) {
				reason = fmt.Errorf("the export was interrupted and its batch %s can no longer be written", id)
			}
		}
	}
	if reason != nil {
		if err := x.fail(r, reason); err != nil {
			log.Error().Err(err).Msg("failing an export job a restart interrupted")
		}
		return false
	}
	log.Info().Str("status", r.Job.Status).Msg("export job interrupted by a restart: running it again")
	return true
}

// removeFiles removes whatever an unfinished run of r wrote.
func (x *exporter) removeFiles(r exportRecord) {
	_ = os.RemoveAll(x.tmpDir(r.Job.ID))
	for _, b := range r.Job.batchIDs() {
		_ = os.RemoveAll(x.batchDir(b))
	}
}

// run runs job id if it is still to run.
func (x *exporter) run(ctx context.Context, id int64) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x.runMu.Lock()
	x.running, x.cancelRun = id, cancel
	x.runMu.Unlock()
	defer func() {
		x.runMu.Lock()
		x.running, x.cancelRun = 0, nil
		x.runMu.Unlock()
	}()
	started := false
	r, err := x.jobs.update(id, func(r *exportRecord) bool {
		if exportFinal(r.Job.Status) || r.Cancel {
			return false
		}
		started = true
		r.Job.Status = exportProcessing
		r.Attempts++
		now := x.now().UnixMilli()
		r.Job.Metrics = exportMetrics{TotalTime: startTiming(now), ProfileExportTime: startTiming(now)}
		return true
	})
	if err != nil {
		x.log.Error().Err(err).Int64("export_job", id).Msg("starting an export job")
		return
	}
	if !started {
		return
	}
	log := x.log.With().Int64("export_job", id).Logger()
	res, err := x.export(ctx, r)
	if err == nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	switch {
	case err == nil:
		err = x.publish(r, res)
		if err != nil {
			log.Error().Err(err).Msg("publishing an export failed")
			err = errors.Join(err, x.fail(r, fmt.Errorf("writing the batch: %w", err)))
		}
	case errors.Is(context.Cause(ctx), errExportShutdown):
		// Runs again at the next start.
		_ = os.RemoveAll(x.tmpDir(id))
		return
	case errors.Is(context.Cause(ctx), errExportCancelled):
		err = x.fail(r, errExportCancelled)
	default:
		log.Error().Err(err).Msg("export job failed")
		err = x.fail(r, err)
	}
	if err != nil {
		log.Error().Err(err).Msg("recording an export job's outcome")
	}
}

// exportResult is what a run wrote.
type exportResult struct {
	targets  []exportTargetResult
	profiles int64
	byNS     map[string]int64
}

type exportTargetResult struct {
	batchID string
	records int64
	files   []exportFile
}

// exportManifest is a published batch's list of files.
type exportManifest struct {
	Job     int64        `json:"job"`
	BatchID string       `json:"batchId"`
	Records int64        `json:"records"`
	Created int64        `json:"created"` // Unix ms
	Files   []exportFile `json:"files"`
}

// export writes the job's files into its temporary directory.
func (x *exporter) export(ctx context.Context, r exportRecord) (*exportResult, error) {
	caller := r.caller()
	job := &r.Job
	ds, err := x.catalog.dataset(caller, job.Destination.DatasetID)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", job.Destination.DatasetID, err)
	}
	if ds.schemaClass() != schemaProfileUnion {
		return nil, fmt.Errorf("dataset %s is not on the profile union schema", ds.ID)
	}
	pol, err := x.policies.get(caller, job.MergePolicy.ID)
	if err != nil {
		return nil, fmt.Errorf("merge policy %s: %w", job.MergePolicy.ID, err)
	}
	var events *exportEventList
	if job.AdditionalFields != nil {
		events = job.AdditionalFields.EventList
	}
	lay, err := newExportLayout(x.store.schema(caller).Clone(), job.Fields, events)
	if err != nil {
		return nil, err
	}
	lay.spec.rule = pol.rule()
	filter := job.Filter
	if filter == nil {
		filter = &exportFilter{}
	}
	m, err := newExportMatcher(filter, job.Destination.SegmentPerBatch, x.members.view(caller))
	if err != nil {
		return nil, err
	}
	var minSeq uint64
	if filter.FromIngestTimestamp != "" {
		t, _ := time.Parse(time.RFC3339Nano, filter.FromIngestTimestamp) // validated
		if minSeq, err = x.ingestedAfter(t); err != nil {
			return nil, err
		}
	}
	targets := job.batchIDs()
	tmp := x.tmpDir(job.ID)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	for _, b := range targets {
		if err := os.MkdirAll(filepath.Join(tmp, b), 0o755); err != nil {
			return nil, err
		}
	}
	fragments, _ := x.store.counts(caller)
	if n, ok := m.maxRows(); ok {
		fragments = min(fragments, n) // a segment's members: fewer parts, fewer files
	}
	workers := runtime.GOMAXPROCS(0)
	parts := min(4*workers, max(1, fragments/exportMinPartRows))
	states := make([]*exportPart, parts)
	emptyProfiles := filter.EmptyProfiles
	// A part's files are finished when the scan is done with it, and its
	// row writers (their grown buffers) go to the next part.
	var free exportWriters
	// A part's files are fsynced as soon as it is done, while the scan
	// goes on: the disk waits overlap the CPU work.
	syncer := newFileSyncer(4)
	opts := scanOptions{Parts: parts, PartDone: func(part int) error {
		if st := states[part]; st != nil {
			if err := st.end(&free); err != nil {
				return err
			}
			syncer.sync(st.paths(tmp, targets)...)
			st.synced = true
		}
		return nil
	}}
	if len(m.segs) > 0 {
		// Only members can qualify: the others are not even decoded.
		opts.Skip = func(id uint32) bool { return !m.any(id) }
	}
	_, err = x.store.scan(ctx, caller, lay.spec, opts, func(part int, p *scanPerson) error {
		st := states[part]
		if st == nil {
			st = newExportPart(lay, len(targets))
			states[part] = st
		}
		return st.person(p, lay, m, minSeq, emptyProfiles, func(t int) *pqFileWriter {
			return newFileWriterWith(free.get(lay.plan), filepath.Join(tmp, targets[t]), fmt.Sprintf("part-%05d", part), x.rowsPerFile)
		})
	})
	if err == nil {
		err = closeExportParts(states)
	}
	for _, st := range states {
		if err == nil && st != nil && !st.synced {
			syncer.sync(st.paths(tmp, targets)...)
		}
	}
	if serr := syncer.wait(); err == nil {
		err = serr
	}
	if err != nil {
		for _, st := range states {
			if st != nil {
				for _, w := range st.writers {
					if w != nil {
						w.abort()
					}
				}
			}
		}
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	res := &exportResult{byNS: map[string]int64{}}
	for t, id := range targets {
		tr := exportTargetResult{batchID: id, files: []exportFile{}}
		for _, st := range states {
			if st == nil {
				continue
			}
			tr.records += st.records[t]
			tr.files = append(tr.files, st.files[t]...)
		}
		res.targets = append(res.targets, tr)
	}
	for _, st := range states {
		if st == nil {
			continue
		}
		res.profiles += st.profiles
		st.byNS.addTo(res.byNS)
	}
	return res, nil
}

// exportPart is the state of one scan part: written by one goroutine at
// a time.
type exportPart struct {
	row      []pql.Value
	members  []pqMembership
	cursors  []memberCursor
	synced   bool // its files are being fsynced
	match    []bool
	writers  []*pqFileWriter
	files    [][]exportFile
	records  []int64
	profiles int64
	byNS     *nsCounter
}

func newExportPart(lay *exportLayout, targets int) *exportPart {
	st := &exportPart{
		row:     make([]pql.Value, len(lay.cols)),
		match:   make([]bool, targets),
		writers: make([]*pqFileWriter, targets),
		files:   make([][]exportFile, targets),
		records: make([]int64, targets),
	}
	return st
}

// person exports one scanned person, if the job's filters take it.
func (st *exportPart) person(p *scanPerson, lay *exportLayout, m *exportMatcher, minSeq uint64, emptyProfiles bool, open func(target int) *pqFileWriter) error {
	if p.Subject.Profile.IsNull() && !emptyProfiles {
		return nil
	}
	if minSeq > 0 && !ingestedSince(p, minSeq) {
		return nil
	}
	if !m.match(p.Identity, st.match) {
		return nil
	}
	lay.fill(st.row, p)
	st.members, st.cursors = m.memberships(p.Identity, st.members[:0], st.cursors)
	for t, ok := range st.match {
		if !ok {
			continue
		}
		w := st.writers[t]
		if w == nil {
			w = open(t)
			st.writers[t] = w
		}
		if err := w.write(st.row, st.members); err != nil {
			return err
		}
		st.records[t]++
	}
	st.profiles++
	if st.byNS == nil {
		var err error
		if st.byNS, err = newNSCounter(p.sc, p.g); err != nil {
			return err
		}
	}
	st.byNS.add(p.Person)
	return nil
}

// end finishes the part's files and hands its row writers on.
func (st *exportPart) end(free *exportWriters) error {
	for t, w := range st.writers {
		if w == nil {
			continue
		}
		files, err := w.close()
		if err != nil {
			return err
		}
		st.files[t] = append(st.files[t], files...)
		st.writers[t] = nil
		free.put(w.rw)
	}
	return nil
}

// exportWriters are row writers free for another part of a job.
type exportWriters struct {
	mu   sync.Mutex
	free []*pqRowWriter
}

func (f *exportWriters) get(plan *pqPlan) *pqRowWriter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.free); n > 0 {
		rw := f.free[n-1]
		f.free = f.free[:n-1]
		return rw
	}
	return newRowWriter(plan)
}

func (f *exportWriters) put(rw *pqRowWriter) {
	f.mu.Lock()
	f.free = append(f.free, rw)
	f.mu.Unlock()
}

// paths are the files the part has finished.
func (st *exportPart) paths(tmp string, targets []string) []string {
	var out []string
	for t, files := range st.files {
		for _, f := range files {
			out = append(out, filepath.Join(tmp, targets[t], f.Name))
		}
	}
	return out
}

// fileSyncer fsyncs files in the background, a few at a time (the
// directories are synced when the manifests are written).
type fileSyncer struct {
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func newFileSyncer(n int) *fileSyncer { return &fileSyncer{sem: make(chan struct{}, n)} }

// sync starts fsyncing paths.
func (s *fileSyncer) sync(paths ...string) {
	for _, path := range paths {
		s.wg.Go(func() {
			s.sem <- struct{}{}
			defer func() { <-s.sem }()
			f, err := os.Open(path)
			if err == nil {
				err = f.Sync()
				f.Close()
			}
			if err != nil {
				s.mu.Lock()
				s.errs = append(s.errs, err)
				s.mu.Unlock()
			}
		})
	}
}

// wait waits for every fsync started and reports their errors.
func (s *fileSyncer) wait() error {
	s.wg.Wait()
	return errors.Join(s.errs...)
}

// closeExportParts finishes every part's last files, on every CPU.
func closeExportParts(states []*exportPart) error {
	type item struct {
		st *exportPart
		t  int
	}
	var items []item
	for _, st := range states {
		if st == nil {
			continue
		}
		for t, w := range st.writers {
			if w != nil {
				items = append(items, item{st, t})
			}
		}
	}
	errs := make([]error, len(items))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var files []exportFile
			files, errs[i] = it.st.writers[it.t].close()
			it.st.files[it.t] = append(it.st.files[it.t], files...)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// publish makes a run's files the batches' (see the top of the file).
func (x *exporter) publish(r exportRecord, res *exportResult) error {
	writeStart := x.now().UnixMilli()
	tmp := x.tmpDir(r.Job.ID)
	for _, t := range res.targets {
		data, err := json.Marshal(exportManifest{Job: r.Job.ID, BatchID: t.batchID, Records: t.records, Created: writeStart, Files: t.files})
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(tmp, t.batchID, "manifest.json"), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	// The metrics first: a restart that finds the batches published
	// finishes the job with them.
	r, err := x.jobs.update(r.Job.ID, func(r *exportRecord) bool {
		m := &r.Job.Metrics
		m.ProfileExportTime.stop(writeStart)
		m.ACPDatasetWriteTime = startTiming(writeStart)
		m.TotalExportedProfileCounter = res.profiles
		m.ExportedProfileByNamespaceCounter = res.byNS
		return true
	})
	if err != nil {
		return err
	}
	batches := filepath.Join(x.dir, "batches")
	for _, t := range res.targets {
		if err := os.RemoveAll(x.batchDir(t.batchID)); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(tmp, t.batchID), x.batchDir(t.batchID)); err != nil {
			return err
		}
	}
	if err := syncDir(batches); err != nil {
		return err
	}
	return x.finish(r)
}

// finish completes a job whose batches are published: Catalog, the
// dataset's earlier batches, the job. It is also what a restart does for
// a job interrupted there, so every step tolerates having been done.
func (x *exporter) finish(r exportRecord) error {
	caller := r.caller()
	mine := map[string]bool{}
	for _, id := range r.Job.batchIDs() {
		mine[id] = true
		data, err := os.ReadFile(x.manifestPath(id))
		if err != nil {
			return err
		}
		var man exportManifest
		if err := json.Unmarshal(data, &man); err != nil {
			return fmt.Errorf("%s: %w", x.manifestPath(id), err)
		}
		_, err = x.catalog.completeBatch(caller, id, batchOutcome{Status: batchSuccess, RecordsRead: man.Records, RecordsWritten: man.Records})
		if err != nil && !errors.Is(err, errBatchClosed) {
			return err
		}
	}
	// The dataset now holds this export only. The replaced batches'
	// files are moved aside at once and removed once the job has
	// succeeded: removing a million profiles' files takes tens of
	// milliseconds the client need not wait for, and a crash before
	// then leaves them in tmp, which the next start empties.
	var replaced []string
	defer func() {
		for _, dir := range replaced {
			if err := os.RemoveAll(dir); err != nil {
				x.log.Warn().Err(err).Str("dir", dir).Msg("removing the files of a replaced export batch")
			}
		}
	}()
	for _, o := range x.catalog.batchObjects(caller) {
		if mine[o.id] {
			continue
		}
		b, err := x.catalog.batch(caller, o.id)
		if err != nil || b.DatasetID != r.Job.Destination.DatasetID || b.Status != batchSuccess {
			continue
		}
		if _, err := x.catalog.setBatchStatus(caller, b.ID, "deleted"); err != nil && !errors.Is(err, errBatchClosed) {
			return err
		}
		aside := filepath.Join(x.tmpRoot(), "replaced-"+b.ID)
		switch err := os.Rename(x.batchDir(b.ID), aside); {
		case err == nil:
			replaced = append(replaced, aside)
		case !errors.Is(err, os.ErrNotExist): // gone already when a restart finishes the job again
			x.log.Warn().Err(err).Str("batch", b.ID).Msg("moving aside the files of a replaced export batch")
		}
	}
	_, err := x.jobs.update(r.Job.ID, func(r *exportRecord) bool {
		now := x.now().UnixMilli()
		m := &r.Job.Metrics
		if m.TotalTime == nil {
			m.TotalTime = startTiming(r.Job.CreationTime)
		}
		m.TotalTime.stop(now)
		m.ACPDatasetWriteTime.stop(now)
		r.Job.Status = exportSucceeded
		return true
	})
	_ = os.RemoveAll(x.tmpDir(r.Job.ID))
	return err
}

// fail records that a job failed (or was cancelled: cause
// errExportCancelled) and fails (aborts) its batches.
func (x *exporter) fail(r exportRecord, cause error) error {
	x.removeFiles(r)
	status, code := batchFailed, exportErrCode
	if errors.Is(cause, errExportCancelled) {
		status, code = batchAborted, exportCancelledCode
	}
	msg := cause.Error()
	if errors.Is(cause, errExportCancelled) {
		msg = "The export job was cancelled."
	} else {
		msg = "Error in Export Job: " + msg
	}
	var errs []error
	for _, id := range r.Job.batchIDs() {
		_, err := x.catalog.completeBatch(r.caller(), id, batchOutcome{Status: status, Errors: []batchError{{Code: code, Description: msg}}})
		if err != nil && !errors.Is(err, errBatchClosed) && !errors.Is(err, errBatchNotFound) {
			errs = append(errs, err)
		}
	}
	_, err := x.jobs.update(r.Job.ID, func(r *exportRecord) bool {
		if exportFinal(r.Job.Status) {
			return false
		}
		now := x.now().UnixMilli()
		r.Job.Status = exportFailed
		r.Job.Errors = append(r.Job.Errors, exportJobError{Code: code, Msg: msg, CallStack: exportCallStack})
		m := &r.Job.Metrics
		if m.TotalTime == nil {
			m.TotalTime = startTiming(now)
		}
		m.TotalTime.stop(now)
		if m.ProfileExportTime != nil && m.ProfileExportTime.EndTimeInMs == 0 {
			m.ProfileExportTime.stop(now)
		}
		return true
	})
	return errors.Join(append(errs, err)...)
}

// ingestedSince reports whether a person has a fragment of commit minSeq
// or later.
func ingestedSince(p *scanPerson, minSeq uint64) bool {
	pr := p.g.persons[p.Person]
	for _, fi := range p.g.frags[pr.fragStart:pr.fragEnd] {
		if p.sc.frags[fi].seq >= minSeq {
			return true
		}
	}
	return false
}

// ingestedAfter is the first commit (store seq) of a batch ingested
// after t, from batch ingestion's commit log and the batches' end times
// in Catalog; math.MaxUint64 when there is none. (The store keeps each
// fragment's commit number, not a time.)
func (x *exporter) ingestedAfter(t time.Time) (uint64, error) {
	f, err := os.Open(x.commits)
	if errors.Is(err, os.ErrNotExist) {
		return math.MaxUint64, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for seq := uint64(1); ; seq++ {
		line, err := r.ReadBytes('\n')
		if err != nil { // io.EOF; a torn last line is no commit
			return math.MaxUint64, nil
		}
		var e commitEntry
		if json.Unmarshal(line, &e) != nil {
			return 0, fmt.Errorf("%s: corrupt line %d", x.commits, seq)
		}
		b, err := x.catalog.batch(Caller{Org: e.Org, Sandbox: e.Sandbox}, e.Batch)
		// A batch not yet marked success was ingested just now.
		if err != nil || b.Metrics.EndTime == 0 || time.UnixMilli(b.Metrics.EndTime).After(t) {
			return seq, nil
		}
	}
}

// Sources of an export column's value, besides a profile field's index.
const (
	exportSrcNull     = -1 // a field the schema does not know
	exportSrcIdentity = -2
	exportSrcMembers  = -3
	exportSrcEvents   = -4
)

// exportLayout is what an export writes and reads: the Parquet plan, the
// source of each column's value and the scan's projections.
type exportLayout struct {
	plan         *pqPlan
	cols         []exportColumn
	src          []int
	identityIdx  int
	identityType *pql.Type
	spec         scanSpec
}

// newExportLayout lays out an export of fields (comma-separated paths,
// "" for every field) of the profiles of schema, and of their events
// when events is set. Rows always carry identityMap and, from the
// membership view, segmentMembership.
func newExportLayout(schema *pql.Schema, fields string, events *exportEventList) (*exportLayout, error) {
	pt := schema.Profile()
	lay := &exportLayout{identityIdx: -1}
	add := func(c exportColumn, src int) {
		lay.cols = append(lay.cols, c)
		lay.src = append(lay.src, src)
	}
	special := func(name string) bool { return name == "identityMap" || name == "segmentMembership" }
	paths, err := parseFieldList("fields", fields)
	if err != nil {
		return nil, err
	}
	var keep []string // profile paths to decode
	if paths == nil {
		for i := range pt.NumFields() {
			if name := pt.FieldName(i); !special(name) {
				add(exportColumn{name: name, typ: pt.FieldType(i)}, i)
				keep = append(keep, name)
			}
		}
	} else {
		sel, err := selectPaths(pt, paths)
		if err != nil {
			return nil, err
		}
		for _, name := range exportSortedKeys(sel) {
			if special(name) {
				continue
			}
			i, ft, ok := pt.Lookup(name)
			src := i
			if !ok {
				src = exportSrcNull
			}
			add(exportColumn{name: name, typ: ft, sel: sel[name]}, src)
		}
		keep = paths
	}
	if i, it, ok := pt.Lookup("identityMap"); ok {
		lay.identityIdx, lay.identityType = i, it
		keep = append(keep, "identityMap")
		add(exportColumn{name: "identityMap", typ: it}, exportSrcIdentity)
	}
	add(exportColumn{name: "segmentMembership", typ: membershipType()}, exportSrcMembers)
	lay.spec.profile = schema.ProfileProjection(keep)
	lay.spec.noEvents = events == nil
	if events != nil {
		epaths, err := parseFieldList("additionalFields.eventList.fields", events.Fields)
		if err != nil {
			return nil, err
		}
		var esel *pqSel
		if epaths != nil {
			kids, err := selectPaths(schema.Event(), epaths)
			if err != nil {
				return nil, badRequestf("additionalFields.eventList.%s", err)
			}
			esel = &pqSel{kids: kids}
			lay.spec.events = schema.EventProjection(epaths)
		}
		add(exportColumn{name: "eventList", typ: pql.ArrayOf(schema.Event()), sel: esel}, exportSrcEvents)
	}
	if lay.plan, err = newParquetPlan(lay.cols); err != nil {
		return nil, err
	}
	return lay, nil
}

// fill sets row to p's column values.
func (lay *exportLayout) fill(row []pql.Value, p *scanPerson) {
	prof := p.Subject.Profile
	for j, src := range lay.src {
		switch {
		case src >= 0:
			row[j] = prof.Index(src)
		case src == exportSrcIdentity:
			row[j] = prof.Index(lay.identityIdx)
			if row[j].IsNull() {
				ns, id, _ := cutIdentity(p.key)
				row[j] = synthIdentityMap(lay.identityType, ns, id)
			}
		case src == exportSrcEvents:
			row[j] = pql.Array(p.Subject.Events)
		default:
			row[j] = pql.Null()
		}
	}
}

// synthIdentityMap is the identityMap of a profile without fragments
// (events only): its identity, primary.
func synthIdentityMap(t *pql.Type, ns, id string) pql.Value {
	if t == nil || t.Kind != pql.TypeMap || t.Elem == nil || t.Elem.Kind != pql.TypeArray || t.Elem.Elem == nil || t.Elem.Elem.Kind != pql.TypeObject {
		return pql.Null()
	}
	item := t.Elem.Elem
	fields := make([]pql.Value, item.NumFields())
	set := func(name string, v pql.Value) {
		if i, _, ok := item.Lookup(name); ok {
			fields[i] = v
		}
	}
	set("id", pql.String(id))
	set("primary", pql.Bool(true))
	set("authenticatedState", pql.String("ambiguous"))
	return pql.Map([]string{ns}, []pql.Value{pql.Array([]pql.Value{pql.Object(fields)})})
}

// exportMatcher decides which batches of a job a profile goes to, and
// lists its segment memberships.
type exportMatcher struct {
	segs     []exportSegMatch
	perBatch bool
	// all are the segments of the membership view, for segmentMembership.
	all []exportSegTable
}

type exportSegMatch struct {
	members  *segmentMembers // nil: nobody (unknown segment, or not namespace ups)
	statuses [4]bool         // by memberStatus
	from, to int64           // lastQualificationTime bounds (µs), inclusive
}

type exportSegTable struct {
	id      string
	members *segmentMembers
}

func newExportMatcher(f *exportFilter, perBatch bool, view membershipView) (*exportMatcher, error) {
	m := &exportMatcher{perBatch: perBatch}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if q := f.SegmentQualificationTime; q != nil {
		if q.StartTime != "" {
			t, _ := time.Parse(time.RFC3339Nano, q.StartTime) // validated
			from = t.UnixMicro()
		}
		if q.EndTime != "" {
			t, _ := time.Parse(time.RFC3339Nano, q.EndTime)
			to = t.UnixMicro()
		}
	}
	for _, s := range f.Segments {
		sm := exportSegMatch{from: from, to: to}
		if s.SegmentNs == "ups" {
			sm.members = view[s.SegmentID]
		}
		for _, st := range s.Status {
			if ms, ok := parseMemberStatus(st); ok {
				sm.statuses[ms] = true
			}
		}
		m.segs = append(m.segs, sm)
	}
	for _, id := range view.segmentIDs() {
		m.all = append(m.all, exportSegTable{id, view[id]})
	}
	return m, nil
}

// match sets out[t] for each target batch the profile of identity id
// goes to, and reports whether there is one.
func (m *exportMatcher) match(id uint32, out []bool) bool {
	if len(m.segs) == 0 {
		out[0] = true
		return true
	}
	if !m.perBatch {
		out[0] = m.any(id)
		return out[0]
	}
	found := false
	for i := range m.segs {
		out[i] = m.segs[i].has(id)
		found = found || out[i]
	}
	return found
}

// any reports whether the profile of identity id matches a segment of
// the filter. Safe for concurrent use.
func (m *exportMatcher) any(id uint32) bool {
	for i := range m.segs {
		if m.segs[i].has(id) {
			return true
		}
	}
	return false
}

// maxRows bounds the profiles the filter's segments can select; ok is
// false without segments (every profile).
func (m *exportMatcher) maxRows() (n int, ok bool) {
	if len(m.segs) == 0 {
		return 0, false
	}
	for _, s := range m.segs {
		n += s.members.len()
	}
	return n, true
}

func (s *exportSegMatch) has(id uint32) bool {
	if s.members == nil {
		return false
	}
	st, at := s.members.get(id)
	return st != statusNone && s.statuses[st] && at >= s.from && at <= s.to
}

// memberships appends the profile's memberships of every segment of the
// view, looked up with cursors (one per segment, reused by one scan part).
func (m *exportMatcher) memberships(id uint32, out []pqMembership, cursors []memberCursor) ([]pqMembership, []memberCursor) {
	if cursors == nil {
		cursors = make([]memberCursor, len(m.all))
		for i, s := range m.all {
			cursors[i].m = s.members
		}
	}
	for i, s := range m.all {
		if st, at := cursors[i].get(id); st != statusNone {
			out = append(out, pqMembership{segmentID: s.id, status: st, at: at})
		}
	}
	return out, cursors
}

// submit creates a job for the caller from the client's part of it
// (parseExportRequest) and queues it. Errors: *badRequestError,
// *exportUnprocessableError, or internal ones.
func (x *exporter) submit(caller Caller, in ExportJob, requestID, instanceID string) (ExportJob, error) {
	if err := checkCaller(caller); err != nil {
		return ExportJob{}, err
	}
	ds, err := x.catalog.dataset(caller, in.Destination.DatasetID)
	if errors.Is(err, errDatasetNotFound) {
		return ExportJob{}, exportUnprocessablef("destination.datasetId %q is not a dataset of this org and sandbox: create one on the profile union schema (%s) with POST /data/foundation/catalog/dataSets", truncate(in.Destination.DatasetID, 100), schemaProfileUnion)
	}
	if err != nil {
		return ExportJob{}, err
	}
	if ds.schemaClass() != schemaProfileUnion {
		return ExportJob{}, exportUnprocessablef("destination.datasetId %s is on schema %s: exports are written to a dataset on the profile union schema, %s", ds.ID, ds.SchemaRef.ID, schemaProfileUnion)
	}
	var pol MergePolicy
	if in.MergePolicy.ID == "" {
		pol, err = x.policies.defaultFor(caller, profileClass)
		if errors.Is(err, errNoDefaultMergePolicy) {
			return ExportJob{}, exportUnprocessablef("mergePolicy is required: this sandbox has no default merge policy for %s", profileClass)
		}
	} else {
		pol, err = x.policies.get(caller, in.MergePolicy.ID)
		if errors.Is(err, errMergePolicyNotFound) {
			return ExportJob{}, exportUnprocessablef("mergePolicy.id %q is not a merge policy of this org and sandbox", truncate(in.MergePolicy.ID, 100))
		}
	}
	if err != nil {
		return ExportJob{}, err
	}
	if v := in.MergePolicy.Version; v != 0 && v != pol.Version {
		return ExportJob{}, exportUnprocessablef("mergePolicy.version %d of merge policy %s is not its current version, %d: ups keeps only the current one", v, pol.ID, pol.Version)
	}
	// The layout is checked now so that a bad field list is a 400, not a
	// failed job (it is built again at run time, on the schema then).
	var events *exportEventList
	if in.AdditionalFields != nil {
		events = in.AdditionalFields.EventList
	}
	if _, err := newExportLayout(x.store.schema(caller).Clone(), in.Fields, events); err != nil {
		return ExportJob{}, err
	}
	in.MergePolicy = exportPolicyRef{ID: pol.ID, Version: pol.Version}
	in.ImsOrgID = caller.Org
	in.Sandbox = sandboxOf(caller.Org, caller.Sandbox)
	in.Status = exportNew
	in.ProfileInstanceID = cmp.Or(instanceID, "ups")
	in.RequestID = requestID
	in.ComputeGatewayJobID = exportComputeJobID{ExportJob: newPolicyID()}
	in.Metrics = exportMetrics{ExportedProfileByNamespaceCounter: map[string]int64{}}
	rec := exportRecord{Job: in, Org: caller.Org, Sandbox: caller.Sandbox, ClientID: caller.ClientID}
	var created []string
	rec, err = x.jobs.create(rec, func(r *exportRecord) error {
		newBatch := func() (string, error) {
			b, err := x.catalog.createBatch(caller, ds.ID, inputFormat{Format: "parquet"})
			if err != nil {
				return "", err
			}
			created = append(created, b.ID)
			return b.ID, nil
		}
		d := &r.Job.Destination
		if !d.SegmentPerBatch {
			id, err := newBatch()
			d.BatchID = id
			return err
		}
		for _, s := range r.Job.Filter.Segments {
			id, err := newBatch()
			if err != nil {
				return err
			}
			d.Batches = append(d.Batches, exportSegmentBatch{SegmentID: s.SegmentID, SegmentNs: s.SegmentNs, Status: s.Status, BatchID: id})
		}
		return nil
	})
	if err != nil {
		// Batches of a job that was never acknowledged.
		for _, id := range created {
			_, _ = x.catalog.completeBatch(caller, id, batchOutcome{Status: batchAborted})
		}
		return ExportJob{}, err
	}
	x.enqueue(rec.Job.ID)
	return rec.Job, nil
}

// cancel asks for the caller's job id to stop: a NEW job fails at once,
// a PROCESSING one when the runner notices (a job already publishing its
// batches still succeeds). It reports false for a job already finished.
func (x *exporter) cancel(caller Caller, id int64) (ExportJob, bool, error) {
	r, err := x.jobs.get(caller, id)
	if err != nil {
		return ExportJob{}, false, err
	}
	if exportFinal(r.Job.Status) {
		return r.Job, false, nil
	}
	wasNew := false
	r, err = x.jobs.update(id, func(r *exportRecord) bool {
		if exportFinal(r.Job.Status) {
			return false
		}
		r.Cancel = true
		wasNew = r.Job.Status == exportNew
		return true
	})
	if err != nil {
		return ExportJob{}, false, err
	}
	if exportFinal(r.Job.Status) {
		return r.Job, false, nil
	}
	if wasNew {
		// The runner skips cancelled jobs; fail it now.
		if err := x.fail(r, errExportCancelled); err != nil {
			return ExportJob{}, false, err
		}
	} else {
		x.interrupt(id, errExportCancelled)
	}
	r, err = x.jobs.get(caller, id)
	return r.Job, true, err
}

// get returns the caller's job id.
func (x *exporter) get(caller Caller, id int64) (ExportJob, error) {
	r, err := x.jobs.get(caller, id)
	return r.Job, err
}
