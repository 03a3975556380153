package ups

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/segflow/segflow/pkg/pql"
	"github.com/segflow/segflow/services/ups/records"
)

// Batch ingestion's durability protocol:
//
//  1. Uploaded files are written atomically under ingest/<batch>/files
//     before the upload is acknowledged.
//  2. COMPLETE marks the batch processing in Catalog and queues it.
//  3. Processing reads and validates every record. Any bad record fails
//     the whole batch: its row errors go to ingest/<batch>/failed.json and
//     Catalog says failed; nothing is applied.
//  4. A valid batch is appended to ingest/commits.log (fsynced): that line
//     is the commit. Then it is applied to the profile store and Catalog
//     says success.
//  5. Every SnapshotRecords records, and at shutdown, the whole store is
//     written to ingest/store.snapshot (atomically) with the number of
//     commits it covers.
//
// At start the store is loaded from the snapshot and the commits after it
// are replayed in order; batches still processing (a crash between 2 and
// 4) are processed again, and a committed batch Catalog does not yet call
// a success is marked so. A kill at any moment therefore loses no
// acknowledged batch and shows no half batch.
type ingester struct {
	dir     string
	catalog *catalog
	store   *profileStore
	log     zerolog.Logger

	// Batches go through two stages, each one batch at a time: validation
	// and commit (run), then apply (applyLoop), so the next batch is
	// validated while the last one is applied. Commit order is apply
	// order.
	commits *os.File
	seq     uint64 // committed batches so far (run's)
	applyCh chan *committed

	mu      sync.Mutex // held while a batch is applied
	applied uint64     // batches applied so far: what a snapshot covers
	// applyFailed stops snapshots after a committed batch failed to
	// apply: the next start must replay it.
	applyFailed bool

	// pending is, per scope, the schema of the last batch committed but
	// not yet applied: the base the next batch of the scope validates
	// against.
	pendMu  sync.Mutex
	pending map[scopeKey]*pql.Schema

	snapEvery int           // records between snapshots
	snapSeq   atomic.Uint64 // commits the last snapshot covers
	sinceSnap int           // records applied since the last one began
	snapMu    sync.Mutex    // held while a snapshot is written
	snapWG    sync.WaitGroup

	qmu       sync.Mutex
	queue     []job         // batches waiting, in COMPLETE order
	wake      chan struct{} // has room for one pending wake-up
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// job is a batch to process.
type job struct {
	caller Caller
	id     string
}

// commitEntry is one line of commits.log.
type commitEntry struct {
	Batch   string `json:"batch"`
	Org     string `json:"org"`
	Sandbox string `json:"sandbox"`
}

// rowError is one record that failed validation.
type rowError struct {
	File    string `json:"file"`
	Row     int    `json:"row"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Row error codes.
const (
	codeMalformed       = "MalformedRecord"
	codeTypeMismatch    = "TypeCompatibilityException"
	codeMissingIdentity = "MissingIdentity"
	codeMissingField    = "MissingRequiredField"
)

// openIngester rebuilds the store from the commit log and resumes the
// batches a crash interrupted.
func openIngester(dir string, cat *catalog, store *profileStore, log zerolog.Logger, snapEvery int) (*ingester, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	in := &ingester{dir: dir, catalog: cat, store: store, log: log, done: make(chan struct{}), snapEvery: max(1, snapEvery)}
	entries, err := readCommits(filepath.Join(dir, "commits.log"))
	if err != nil {
		return nil, err
	}
	// A kill while a snapshot was written leaves its temporary file: as
	// big as the store, and never to be renamed.
	stale, _ := filepath.Glob(filepath.Join(dir, ".store.snapshot.*"))
	for _, f := range stale {
		if err := os.Remove(f); err != nil {
			log.Warn().Err(err).Str("path", f).Msg("removing an unfinished snapshot")
		}
	}
	snapSeq, err := store.readSnapshot(in.snapshotPath())
	if errors.Is(err, errBadSnapshot) {
		// The commits alone rebuild the store: slower, never wrong.
		log.Warn().Err(err).Str("path", in.snapshotPath()).Msg("ignoring the store snapshot; replaying every commit")
		store.scopes, snapSeq = map[scopeKey]*scopeStore{}, 0
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", in.snapshotPath(), err)
	}
	if snapSeq > uint64(len(entries)) {
		return nil, fmt.Errorf("%s covers %d commits but %s holds only %d: restore commits.log, or remove the snapshot to rebuild from the commits there are",
			in.snapshotPath(), snapSeq, filepath.Join(dir, "commits.log"), len(entries))
	}
	in.seq, in.applied = snapSeq, snapSeq
	in.pending = map[scopeKey]*pql.Schema{}
	in.snapSeq.Store(snapSeq)
	isCommitted := map[string]bool{}
	for _, e := range entries[:snapSeq] {
		isCommitted[e.Batch] = true
	}
	for _, e := range entries[snapSeq:] {
		caller := Caller{Org: e.Org, Sandbox: e.Sandbox}
		b, err := cat.batch(caller, e.Batch)
		if err != nil {
			return nil, fmt.Errorf("replaying commits.log: batch %s: %w", e.Batch, err)
		}
		in.seq++
		in.applied = in.seq
		os.Remove(filepath.Join(in.batchDir(b.ID), spillName)) // a stop between commit and apply
		n, err := in.applyTo(caller, b, store.schema(caller).Clone(), 0, "", in.seq)
		if err != nil {
			// Committed files are never changed by ups: someone edited or
			// removed them. Starting without them would silently lose data.
			return nil, fmt.Errorf("replaying committed batch %s: its files in %s no longer validate (%v); restore them from a backup, or remove the batch's line from %s to drop it knowingly",
				e.Batch, in.filesDir(e.Batch), err, filepath.Join(dir, "commits.log"))
		}
		in.sinceSnap += n
		isCommitted[e.Batch] = true
		if b.Status != batchSuccess {
			if _, err := cat.completeBatch(caller, b.ID, successOutcome(n)); err != nil && !errors.Is(err, errBatchClosed) {
				return nil, fmt.Errorf("marking committed batch %s: %w", b.ID, err)
			}
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "commits.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	in.commits = f
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.wake = make(chan struct{}, 1)
	in.applyCh = make(chan *committed, 1)
	go in.run(ctx)
	for _, b := range cat.unfinishedBatches() {
		if b.Status == batchProcessing && !isCommitted[b.ID] {
			in.enqueue(b.owner(), b.ID)
		}
	}
	return in, nil
}

// readCommits reads commits.log. A torn last line (a crash mid-append)
// was never a commit: it is ignored and cut off.
func readCommits(path string) ([]commitEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []commitEntry
	r := bufio.NewReader(f)
	good := int64(0)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil { // io.EOF: a line without its newline is torn
			break
		}
		var e commitEntry
		if json.Unmarshal(line, &e) != nil || e.Batch == "" {
			return nil, fmt.Errorf("%s: corrupt line after byte %d", path, good)
		}
		out = append(out, e)
		good += int64(len(line))
	}
	if st, err := f.Stat(); err == nil && st.Size() > good {
		if err := os.Truncate(path, good); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// enqueue schedules a batch for processing. It never blocks: the queue
// is unbounded (and durable, as the batches' processing status).
func (in *ingester) enqueue(c Caller, batchID string) {
	in.qmu.Lock()
	in.queue = append(in.queue, job{c, batchID})
	in.qmu.Unlock()
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// run validates and commits queued batches until ctx is done, handing
// them to the apply stage; at the end it waits for that stage to apply
// what was committed.
func (in *ingester) run(ctx context.Context) {
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		in.applyLoop()
	}()
	defer func() {
		close(in.applyCh)
		<-applied
		close(in.done)
	}()
	for {
		in.qmu.Lock()
		var next *job
		if len(in.queue) > 0 {
			next = &in.queue[0]
			in.queue = in.queue[1:]
		}
		in.qmu.Unlock()
		if next == nil {
			select {
			case <-ctx.Done():
				return
			case <-in.wake:
				continue
			}
		}
		if err := in.process(next.caller, next.id); err != nil {
			in.log.Error().Err(err).Str("batch", next.id).Msg("batch processing failed")
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// applyLoop applies committed batches in commit order.
func (in *ingester) applyLoop() {
	for cm := range in.applyCh {
		if err := in.apply(cm); err != nil {
			in.log.Error().Err(err).Str("batch", cm.b.ID).Msg("batch processing failed")
		}
	}
}

// close stops the worker after the batch in hand, once what is committed
// is applied (an interrupted batch is resumed at the next start).
func (in *ingester) close() {
	in.closeOnce.Do(func() {
		in.cancel()
		<-in.done
		in.snapWG.Wait()
		in.mu.Lock()
		if in.applied > in.snapSeq.Load() {
			// A restart then replays nothing.
			if err := in.snapshot(true); err != nil {
				in.log.Error().Err(err).Msg("store snapshot at shutdown failed; the next start replays the commits")
			}
		}
		in.mu.Unlock()
		in.commits.Close()
	})
}

// committed is a batch validated and committed, for the apply stage.
type committed struct {
	c         Caller
	b         batch
	v         *validated
	seq       uint64
	start     time.Time
	validated time.Duration
}

// process validates a batch and commits it (handing it to the apply
// stage) or fails it.
func (in *ingester) process(c Caller, id string) error {
	b, err := in.catalog.batch(c, id)
	if err != nil {
		return err
	}
	if b.Status != batchProcessing {
		return nil // already done (a duplicate COMPLETE)
	}
	start := time.Now()
	v, err := in.validate(c, b)
	validated := time.Since(start)
	if err != nil {
		_, cerr := in.catalog.completeBatch(c, id, batchOutcome{Status: batchFailed, Errors: []batchError{{Code: codeMalformed, Description: err.Error()}}})
		return errors.Join(err, cerr)
	}
	if len(v.rowErrs) > 0 {
		return in.fail(c, b, v.rowErrs, v.records)
	}
	line, _ := json.Marshal(commitEntry{Batch: id, Org: c.Org, Sandbox: c.Sandbox})
	if _, err := in.commits.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("committing batch %s: %w", id, err)
	}
	if err := in.commits.Sync(); err != nil {
		return fmt.Errorf("committing batch %s: %w", id, err)
	}
	in.seq++
	if v.spill != "" { // the batch is for the store: its schema will be the scope's
		in.pendMu.Lock()
		in.pending[scopeKey{c.Org, c.Sandbox}] = v.schema
		in.pendMu.Unlock()
	}
	in.applyCh <- &committed{c: c, b: b, v: v, seq: in.seq, start: start, validated: validated}
	return nil
}

// baseSchema is the schema a new batch of the caller validates against:
// that of its last committed batch if it is not applied yet, else the
// store's.
func (in *ingester) baseSchema(c Caller) *pql.Schema {
	in.pendMu.Lock()
	defer in.pendMu.Unlock()
	if s, ok := in.pending[scopeKey{c.Org, c.Sandbox}]; ok {
		return s
	}
	return in.store.schema(c)
}

// apply puts a committed batch in the store and tells Catalog.
func (in *ingester) apply(cm *committed) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	c, id := cm.c, cm.b.ID
	n, err := in.applyTo(c, cm.b, cm.v.schema, cm.v.records, cm.v.spill, cm.seq)
	in.applied = cm.seq
	in.pendMu.Lock()
	if k := (scopeKey{c.Org, c.Sandbox}); in.pending[k] == cm.v.schema {
		delete(in.pending, k)
	}
	in.pendMu.Unlock()
	if err != nil {
		// The commit stands, and a restart replays it; until then the
		// store lacks (part of) the batch, so no snapshot may claim it.
		// Only a disk failure or someone changing the files between the
		// two reads gets here.
		in.applyFailed = true
		in.log.Error().Err(err).Str("batch", id).Msg("applying a committed batch failed; restart ups to replay it")
		return err
	}
	if _, err := in.catalog.completeBatch(c, id, successOutcome(n)); err != nil {
		return err
	}
	in.log.Info().Str("batch", id).Int("records", n).Dur("validated", cm.validated).Dur("applied", time.Since(cm.start)-cm.validated).Msg("batch ingested")
	in.sinceSnap += n
	if in.sinceSnap >= in.snapshotDue() {
		return in.snapshot(false)
	}
	return nil
}

// snapshotDue is how many records since the last snapshot make a new
// one: snapEvery, or a quarter of the store when that is more. Every
// snapshot writes the whole store, so a fixed interval would make
// loading a large store quadratic; this way the snapshots written while
// a store grows add up to a few times its size, and a restart after a
// crash replays at most about a quarter of it. While the next batch
// already waits to be applied (a bulk load), half the store: a snapshot
// competes with it for the CPU and the disk, and writing the store then
// cost a load of 20M records 13 s of CPU in 176.
func (in *ingester) snapshotDue() int {
	if len(in.applyCh) > 0 {
		return max(in.snapEvery, in.store.records()/2)
	}
	return max(in.snapEvery, in.store.records()/4)
}

// snapshot writes the store and the number of commits it covers: in the
// background (ingestion goes on; a second one waits its turn and is
// skipped if one is running), or, at shutdown, at once. Callers hold
// in.mu, so the view taken is that of a whole number of applied batches.
func (in *ingester) snapshot(wait bool) error {
	if in.applyFailed {
		return nil
	}
	if !wait && !in.snapMu.TryLock() {
		return nil // one is being written; the next commit tries again
	}
	if wait {
		in.snapMu.Lock()
	}
	v, err := in.store.view(in.applied)
	if err != nil {
		in.snapMu.Unlock()
		return fmt.Errorf("writing the store snapshot: %w", err)
	}
	records := in.sinceSnap
	in.sinceSnap = 0
	write := func() error {
		defer in.snapMu.Unlock()
		start := time.Now()
		if err := v.write(in.snapshotPath()); err != nil {
			return fmt.Errorf("writing the store snapshot: %w", err)
		}
		in.snapSeq.Store(v.seq)
		in.log.Info().Uint64("commits", v.seq).Int("records_since_last", records).Dur("took", time.Since(start)).Msg("store snapshot written")
		return nil
	}
	if wait {
		return write()
	}
	in.snapWG.Add(1)
	go func() {
		defer in.snapWG.Done()
		if err := write(); err != nil {
			in.log.Error().Err(err).Msg("background store snapshot failed; the commits still hold everything")
		}
	}()
	return nil
}

func (in *ingester) snapshotPath() string { return filepath.Join(in.dir, "store.snapshot") }

func successOutcome(n int) batchOutcome {
	return batchOutcome{Status: batchSuccess, RecordsRead: int64(n), RecordsWritten: int64(n)}
}

// fail records a batch's row errors and marks it failed.
func (in *ingester) fail(c Caller, b batch, rowErrs []rowError, good int) error {
	data, err := json.Marshal(rowErrs)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(in.batchDir(b.ID), "failed.json"), data, 0o644); err != nil {
		return err
	}
	summary := map[string][]string{}
	var codes []string
	for _, re := range rowErrs {
		if _, ok := summary[re.Code]; !ok {
			codes = append(codes, re.Code)
		}
		summary[re.Code] = append(summary[re.Code], strconv.Itoa(re.Row))
	}
	var errs []batchError
	for _, code := range codes {
		rows := summary[code]
		errs = append(errs, batchError{Code: code, Description: fmt.Sprintf("%d records failed validation; see /data/foundation/export/batches/%s/failed", len(rows), b.ID), Rows: rows})
	}
	_, err = in.catalog.completeBatch(c, b.ID, batchOutcome{
		Status:        batchFailed,
		RecordsRead:   int64(good + len(rowErrs)),
		RecordsFailed: int64(len(rowErrs)),
		Errors:        errs,
	})
	return err
}

func (in *ingester) batchDir(id string) string { return filepath.Join(in.dir, id) }

func (in *ingester) filesDir(id string) string { return filepath.Join(in.dir, id, "files") }

// validated is a batch read and checked: how many records it has, or
// its row errors.
type validated struct {
	// schema is the scope's schema with what the batch taught it; it
	// becomes the scope's only if the batch is applied.
	schema  *pql.Schema
	records int
	rowErrs []rowError
	// spill, when set, is the file holding the batch's records as the
	// apply pass wants them (see ingest_spill.go).
	spill string
}

// validate reads every record of a batch and checks it, collecting row
// errors, and keeps nothing else: a valid batch is read again to be
// applied (applyTo), which keeps memory bounded whatever the batch's
// size. An error is a batch-level problem (unreadable file).
func (in *ingester) validate(c Caller, b batch) (*validated, error) {
	ds, err := in.catalog.dataset(c, b.DatasetID)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", b.DatasetID, err)
	}
	v := &validated{schema: in.baseSchema(c).Clone()}
	event := ds.schemaClass() == schemaEvent
	if !ds.profileEnabled() {
		conv := newValidator(v.schema, event, b.DatasetID)
		err = in.readBatch(b, conv, func(r any) {
			if re, ok := r.(*rowError); ok {
				v.rowErrs = append(v.rowErrs, *re)
				return
			}
			v.records++ // valid
		})
		return v, err
	}
	// Records bound for the store are converted once, here, and spilled
	// for the apply pass. Fragments number their strings with the
	// scope's Dict already: a batch that fails leaves a few unused
	// entries there, nothing else.
	path := filepath.Join(in.batchDir(b.ID), spillName)
	sp, err := createSpill(path)
	if err != nil {
		return nil, err
	}
	conv := newApplier(v.schema, event, b.DatasetID, in.store.fragmentDict(c))
	err = in.readBatch(b, conv, func(r any) {
		if re, ok := r.(*rowError); ok {
			v.rowErrs = append(v.rowErrs, *re)
			return
		}
		v.records++ // valid
		if len(v.rowErrs) == 0 {
			sp.add(r)
		}
	})
	if err != nil || len(v.rowErrs) > 0 {
		sp.abort()
		return v, err
	}
	if err := sp.close(); err != nil {
		sp.abort()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	v.spill = path
	return v, nil
}

// applyTo puts a committed batch's records in the profile store when its
// dataset is enabled for Profile, from the spill validation wrote, or
// (spill "", as when replaying commits at start) reading its files a
// second time. A row error here means the files changed since they were
// validated. records, when known from validation, sizes the store's
// tables once.
func (in *ingester) applyTo(c Caller, b batch, schema *pql.Schema, records int, spill string, seq uint64) (int, error) {
	ds, err := in.catalog.dataset(c, b.DatasetID)
	if err != nil {
		return 0, fmt.Errorf("dataset %s: %w", b.DatasetID, err)
	}
	event := ds.schemaClass() == schemaEvent
	if !ds.profileEnabled() {
		conv := newValidator(schema, event, b.DatasetID)
		n := 0
		var rowErrs []rowError
		err := in.readBatch(b, conv, func(r any) {
			if re, ok := r.(*rowError); ok {
				rowErrs = append(rowErrs, *re)
				return
			}
			n++
		})
		return n, errors.Join(err, rowErrorsErr(rowErrs))
	}
	a := in.store.begin(c, schema, seq)
	defer a.end()
	if !event {
		a.reserveFragments(records)
	}
	n := 0
	if spill != "" {
		err := readSpill(spill, b.DatasetID,
			func(f newFragment) { a.fragment(f); n++ },
			func(e newEvent) { a.event(e); n++ })
		if rerr := os.Remove(spill); err == nil {
			err = rerr
		}
		return n, err
	}
	conv := newApplier(schema, event, b.DatasetID, a.sc.pdict)
	var rowErrs []rowError
	err = in.readBatch(b, conv, func(r any) {
		switch r := r.(type) {
		case newFragment:
			a.fragment(r)
			n++
		case newEvent:
			a.event(r)
			n++
		case *rowError:
			rowErrs = append(rowErrs, *r)
		}
	})
	return n, errors.Join(err, rowErrorsErr(rowErrs))
}

func rowErrorsErr(rowErrs []rowError) error {
	if len(rowErrs) == 0 {
		return nil
	}
	return fmt.Errorf("%d row errors, the first %s row %d: %s", len(rowErrs), rowErrs[0].File, rowErrs[0].Row, rowErrs[0].Message)
}

// readBatch reads every record of a batch's files in order and hands keep
// what conv makes of it: a newFragment, a newEvent or a *rowError (with
// its file and row).
func (in *ingester) readBatch(b batch, conv *converter, keep func(any)) error {
	names, err := batchFiles(in.filesDir(b.ID))
	if err != nil {
		return err
	}
	for _, name := range names {
		path := filepath.Join(in.filesDir(b.ID), name)
		at := func(row int, r any) {
			if re, ok := r.(*rowError); ok {
				re.File, re.Row = name, row
			}
			keep(r)
		}
		f, err := openUpload(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		var bad []records.RowError
		if strings.EqualFold(b.InputFormat.Format, "json") && !b.InputFormat.IsMultiLineJSON {
			// The fast path: lines decode straight to Values in parallel.
			bad, err = records.ConvertJSONLines(f, conv.worker, func(row int, r any) error {
				if l, ok := r.(learn); ok {
					r = conv.learn(l)
				}
				at(row, r)
				return nil
			}, 0)
		} else {
			bad, err = records.Read(f, f.Size(), b.InputFormat.Format, b.InputFormat.IsMultiLineJSON, func(r records.Record) error {
				at(r.Row, conv.fromMap(r.Data))
				return nil
			})
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		for _, e := range bad {
			keep(&rowError{File: name, Row: e.Row, Code: codeMalformed, Message: e.Message})
		}
	}
	return nil
}

// batchFiles lists a batch's uploaded files in name order.
func batchFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name()[0] != '.' {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}
