package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/segflow/segflow/pkg/platform"
)

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

// ingestAll ingests the targets batch by batch, uploading the next batch
// while the Platform processes the one before (it processes a dataset's
// batches one at a time, so waiting first would leave it idle). It stops
// at the first batch that fails; the report holds the batches done until
// then (and the one after it, already sent).
func ingestAll(ctx context.Context, c *platform.Client, targets []ingestTarget, opts ingestOptions) (ingestReport, error) {
	start := time.Now()
	opts.progress = &syncWriter{w: opts.progress} // uploads and waits print at once
	var rep ingestReport
	plan := planBatches(targets, opts.filesPerBatch)
	var (
		waiting      chan awaited // the batch being processed, if any
		lastFinished time.Time
	)
	collect := func() error {
		r := <-waiting
		waiting = nil
		lastFinished = r.finished
		rep.batches = append(rep.batches, r.br)
		return r.err
	}
	for i, pb := range plan {
		br, err := sendBatch(ctx, c, pb, fmt.Sprintf("%d/%d", i+1, len(plan)), opts)
		if waiting != nil {
			if werr := collect(); werr != nil {
				if err == nil {
					// Already completed: see it through, so the report
					// says what became of it.
					r := awaitBatch(ctx, c, br, lastFinished, opts)
					rep.batches = append(rep.batches, r.br)
				}
				rep.elapsed = time.Since(start)
				return rep, werr
			}
		}
		if err != nil {
			if br.id != "" {
				rep.batches = append(rep.batches, br)
			}
			rep.elapsed = time.Since(start)
			return rep, err
		}
		ch, after := make(chan awaited, 1), lastFinished
		waiting = ch
		go func() { ch <- awaitBatch(ctx, c, br, after, opts) }()
	}
	var err error
	if waiting != nil {
		err = collect()
	}
	rep.elapsed = time.Since(start)
	return rep, err
}

// awaited is a batch processed (or failed).
type awaited struct {
	br       batchReport
	finished time.Time
	err      error
}

// sendBatch creates, fills and completes one batch.
func sendBatch(ctx context.Context, c *platform.Client, pb plannedBatch, label string, opts ingestOptions) (batchReport, error) {
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
	br.completed = time.Now()
	fmt.Fprintf(out, "ingest:   uploaded %s in %s (%s/s); processing…\n", humanBytes(br.bytes), seconds(br.upload), humanBytes(perSecond(br.bytes, br.upload)))
	return br, nil
}

// awaitBatch waits for a completed batch. Its processing time counts from
// when the Platform could start it: its COMPLETE, or the end of the batch
// before (after), whichever is later.
func awaitBatch(ctx context.Context, c *platform.Client, br batchReport, after time.Time, opts ingestOptions) awaited {
	out := opts.progress
	stop := reportWhile(out, opts.progressEvery, func(d time.Duration) string {
		return fmt.Sprintf("ingest:   batch %s still processing after %s\n", br.id, seconds(d))
	})
	done, err := c.WaitBatch(ctx, br.id, opts.poll)
	stop()
	finished := time.Now()
	began := br.completed
	if after.After(began) {
		began = after
	}
	br.processing = finished.Sub(began)
	br.status, br.records = done.Status, done.Metrics.RecordsWritten
	var failed *platform.BatchFailedError
	if errors.As(err, &failed) {
		return awaited{br, finished, batchFailure(ctx, c, failed.Batch, opts)}
	}
	if err != nil {
		return awaited{br, finished, fmt.Errorf("ingest: waiting for batch %s: %w", br.id, err)}
	}
	fmt.Fprintf(out, "ingest:   %s: batch %s, %d records in %s (%s records/s)\n", done.Status, br.id, br.records, seconds(br.processing), rate(br.records, br.processing))
	return awaited{br, finished, nil}
}

// syncWriter serializes writes from the uploading and the waiting
// goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
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
