package reader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/rs/zerolog"
	"gocloud.dev/blob"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage"
)

// stepStore is the reader's intent step: it creates nothing on the
// Platform, but records when it started (for the timings of a redelivery)
// and the batch it reads.
const stepStore = "store-files"

// Handler is the reader: a stage.Handler of export.succeeded.
type Handler struct {
	client *platform.Client
	cfg    Config
	sink   *sink
}

var _ stage.Handler[events.ExportSucceeded] = (*Handler)(nil)

// New returns the reader over client, with the sink at cfg.SinkURL open.
// Close closes the sink.
func New(client *platform.Client, cfg Config) (*Handler, error) {
	if client == nil {
		return nil, errors.New("reader: a Platform client is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := openSink(context.Background(), cfg.SinkURL)
	if err != nil {
		return nil, fmt.Errorf("SEGFLOW_SINK_URL: opening the sink: %w", err)
	}
	return &Handler{client: client, cfg: cfg, sink: s}, nil
}

// Close closes the sink.
func (h *Handler) Close() error { return h.sink.Close() }

// Decode reads an export.succeeded event. (On error the runner takes the
// request id from the envelope, so that the failure is tied to it.)
func (h *Handler) Decode(body []byte, _ stage.Meta) (events.ExportSucceeded, error) {
	_, p, err := events.DecodeAs[events.ExportSucceeded](body)
	return p, err
}

// Handle stores every file of the batch and returns batch.ready.
func (h *Handler) Handle(ctx context.Context, in events.ExportSucceeded, m *stage.Msg) (events.Payload, error) {
	start := time.Now()
	if m.Intent.Started.IsZero() {
		ids := events.PlatformIDs{DatasetID: in.DatasetID, ExportJobID: in.ExportJobID, BatchID: in.BatchID}
		if err := m.SaveIntent(ctx, stepStore, ids); err != nil {
			return nil, err
		}
	} else {
		start = m.Intent.Started
	}
	log := m.Log().With().Str("batch_id", in.BatchID).Logger()
	if m.Delivery > 1 {
		// An earlier delivery may have been killed while writing.
		if n, err := h.sink.removeTemps(ctx, requestDir(in.RequestID)+"/"); err != nil {
			log.Warn().Err(err).Msg("removing an earlier delivery's temporary files")
		} else if n > 0 {
			log.Info().Int("files", n).Msg("removed an earlier delivery's temporary files")
		}
	}

	all, err := h.client.BatchFileRefs(ctx, in.BatchID)
	if err != nil {
		return nil, stage.Classify(ctx, fmt.Sprintf("listing the files of batch %s", in.BatchID), err)
	}
	var refs []platform.FileRef
	for _, r := range all {
		if base := path.Base(r.Path); strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".") {
			log.Debug().Str("file", r.Path).Msg("skipping a bookkeeping file")
			continue
		}
		refs = append(refs, r)
	}
	if len(refs) == 0 && in.ProfileCount > 0 {
		// A batch the Platform says succeeded should list its files. One
		// deleted since (a newer export into the same dataset replaces
		// the older) never will: retrying only delays the failure.
		if b, err := h.client.Batch(ctx, in.BatchID); err == nil && b.Status == platform.BatchDeleted {
			return nil, stage.Fail("batch %s of dataset %s was deleted before its files were read: a newer export into the dataset (another request for the same segment, or a replay) replaced it; send the request again, or give concurrent requests their own export.datasetName", in.BatchID, in.DatasetID)
		}
		// One that does not list them yet is retried, within the deliveries.
		return nil, fmt.Errorf("batch %s lists no data files, yet its export counted %d profiles", in.BatchID, in.ProfileCount)
	}
	names := make([]string, len(refs))
	fileIDs := make([]string, len(refs))
	for i, r := range refs {
		names[i], fileIDs[i] = r.Path, r.FileID
	}
	keys := objectKeys(in.RequestID, names, fileIDs)

	files, err := h.storeAll(ctx, refs, keys, log)
	if err != nil {
		var pe *stage.ProblemError
		if errors.As(err, &pe) {
			h.remove(keys, log)
		}
		return nil, err
	}
	var rows int64
	for _, f := range files {
		rows += f.Records
	}
	if rows != in.ProfileCount {
		h.remove(keys, log)
		return nil, stage.Fail("the %d files of batch %s hold %d rows, but export job %s counted %d profiles", len(files), in.BatchID, rows, in.ExportJobID, in.ProfileCount)
	}

	out := events.NewBatchReady(in, files)
	out.Timings.Begin(events.StageReader, start)
	out.Timings.End(events.StageReader, time.Now())
	log.Info().Int("files", len(files)).Int64("rows", rows).Msg("batch stored")
	return out, nil
}

// storeAll stores the files, ParallelFiles at a time. The first error
// stops the others.
func (h *Handler) storeAll(ctx context.Context, refs []platform.FileRef, keys []string, log zerolog.Logger) ([]events.File, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	files := make([]events.File, len(refs))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range min(h.cfg.ParallelFiles, len(refs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f, err := h.store(ctx, refs[i], keys[i], log)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel(err)
					}
					mu.Unlock()
					continue
				}
				files[i] = f
			}
		}()
	}
feed:
	for i := range refs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return files, nil
}

// store stores one file.
func (h *Handler) store(ctx context.Context, ref platform.FileRef, key string, log zerolog.Logger) (events.File, error) {
	f, err := h.storeOnce(ctx, ref, key)
	if err == nil {
		log.Debug().Str("file", ref.Path).Str("key", key).Int64("bytes", f.Size).Int64("rows", f.Records).Msg("file stored")
	}
	return f, err
}

// storeOnce streams the file into the sink through a SHA-256, checks its
// length before the object is committed, then reads the stored object
// back as Parquet.
func (h *Handler) storeOnce(ctx context.Context, ref platform.FileRef, key string) (events.File, error) {
	f := events.File{URI: h.sink.uri(key), Name: ref.Path}
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	w, err := h.sink.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType(ref.Path)})
	if err != nil {
		return f, fmt.Errorf("storing %s: %w", f.URI, err)
	}
	sum := sha256.New()
	n, err := h.client.Download(ctx, ref.FileID, ref.Path, io.MultiWriter(sum, w))
	if err != nil {
		abort()
		_ = w.Close()
		if errors.Is(err, platform.ErrFileChanged) {
			// The listing may be stale too: the redelivery lists the
			// batch again and starts the file over.
			return f, fmt.Errorf("downloading %s of %s: %w", ref.Path, ref.FileID, err)
		}
		return f, stage.Classify(ctx, fmt.Sprintf("downloading %s of %s", ref.Path, ref.FileID), err)
	}
	if n != ref.Length {
		abort() // never commit it
		_ = w.Close()
		return f, stage.Fail("file %s of %s: downloaded %d bytes, but its listing says %d", ref.Path, ref.FileID, n, ref.Length)
	}
	if err := w.Close(); err != nil {
		if ctx.Err() != nil {
			return f, ctx.Err()
		}
		return f, fmt.Errorf("storing %s: %w", f.URI, err)
	}
	f.Size, f.SHA256 = n, hex.EncodeToString(sum.Sum(nil))

	attrs, err := h.sink.bucket.Attributes(ctx, key)
	if err != nil {
		return f, fmt.Errorf("reading back %s: %w", f.URI, err)
	}
	if attrs.Size != n {
		return f, fmt.Errorf("the sink holds %d bytes of %s, %d were written", attrs.Size, f.URI, n)
	}
	ra := &readerAt{ctx: ctx, bucket: h.sink.bucket, key: key}
	pf, err := parquet.OpenFile(ra, attrs.Size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		if rerr := ra.failed(); rerr != nil {
			return f, rerr // the sink failed, not the file
		}
		return f, stage.Fail("file %s of batch file %s is not Parquet: %v", ref.Path, ref.FileID, err)
	}
	f.Records = pf.NumRows()
	var groupRows int64
	for _, rg := range pf.RowGroups() {
		groupRows += rg.NumRows()
	}
	if groupRows != f.Records {
		return f, stage.Fail("file %s of batch file %s is damaged Parquet: its row groups hold %d rows, its footer says %d", ref.Path, ref.FileID, groupRows, f.Records)
	}
	return f, nil
}

// remove deletes the objects of a failed batch, so that the sink holds
// no part of a batch that was not delivered. Best effort: a missing
// object is fine, and a failure is logged.
func (h *Handler) remove(keys []string, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range keys {
		if err := h.sink.bucket.Delete(ctx, k); err != nil && !isNotFound(err) {
			log.Warn().Err(err).Str("key", k).Msg("deleting a stored file of a failed batch")
		}
	}
}

// contentType is the media type a file is stored with.
func contentType(name string) string {
	if strings.EqualFold(path.Ext(name), ".parquet") {
		return "application/vnd.apache.parquet"
	}
	return "application/octet-stream"
}
