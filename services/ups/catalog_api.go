package ups

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The internal Catalog API: what the HTTP handlers and the rest of ups
// (batch ingestion, export) call. Every call is made for a Caller and sees
// only the objects of the caller's org and sandbox: anything else is "not
// found". A change is acknowledged (returns) only once it is on disk.

// datasetInput is a validated-by-type dataset create request.
type datasetInput struct {
	Name            string
	Description     string
	SchemaRef       schemaRef
	Tags            map[string][]string
	FileDescription json.RawMessage // a JSON object, or empty
	// Extra are other top-level fields, kept as given.
	Extra map[string]json.RawMessage
}

// checkCaller rejects a caller whose org or sandbox cannot scope objects.
// The gateway already guarantees both; the internal API does not rely on it
// because the sandbox becomes a directory name.
func checkCaller(c Caller) error {
	if c.Org == "" {
		return badRequestf("the caller has no IMS org")
	}
	if !sandboxName.MatchString(c.Sandbox) {
		return badRequestf("sandbox %q is not a sandbox name", c.Sandbox)
	}
	return nil
}

func inScope(org, sandbox string, c Caller) bool {
	return org == c.Org && sandbox == c.Sandbox
}

// createDataset stores a new dataset in the caller's org and sandbox.
func (c *catalog) createDataset(caller Caller, in datasetInput) (dataset, error) {
	if err := checkCaller(caller); err != nil {
		return dataset{}, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return dataset{}, badRequestf("name is required")
	}
	if in.SchemaRef.ID == "" {
		return dataset{}, badRequestf("schemaRef.id is required: one of %s", knownSchemasText)
	}
	if _, ok := canonicalSchema(in.SchemaRef.ID); !ok {
		return dataset{}, badRequestf("schemaRef.id %q is not a schema ups knows: use one of %s", in.SchemaRef.ID, knownSchemasText)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	now := c.stamp()
	d := dataset{
		ID:              c.newID(),
		Org:             caller.Org,
		Sandbox:         caller.Sandbox,
		Name:            in.Name,
		Description:     in.Description,
		SchemaRef:       in.SchemaRef,
		Tags:            cloneTags(in.Tags),
		FileDescription: slices.Clone(in.FileDescription),
		Created:         now,
		Updated:         now,
		CreatedClient:   caller.ClientID,
		ViewID:          catalogID(),
		Version:         objectVersion,
		Extra:           cloneRaw(in.Extra),
	}
	e, err := newEntry(d, d.object())
	if err != nil {
		return dataset{}, fmt.Errorf("encoding dataset: %w", err)
	}
	if err := c.writeObject(datasetsDir, d.ID, d.Org, d.Sandbox, d, datasetsDir); err != nil {
		return dataset{}, err
	}
	c.mu.Lock()
	c.datasets[d.ID] = e
	c.mu.Unlock()
	return d, nil
}

// newID returns an id no dataset or batch has. Callers hold writeMu, so
// nothing else can take the id before it is indexed.
func (c *catalog) newID() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for {
		id := catalogID()
		_, d := c.datasets[id]
		_, b := c.batches[id]
		if !d && !b {
			return id
		}
	}
}

// dataset returns the caller's dataset id, or errDatasetNotFound.
func (c *catalog) dataset(caller Caller, id string) (dataset, error) {
	c.mu.RLock()
	e := c.datasets[id]
	c.mu.RUnlock()
	if e == nil || !inScope(e.val.Org, e.val.Sandbox, caller) {
		return dataset{}, errDatasetNotFound
	}
	return e.val, nil
}

// createBatch opens a batch (status "loading") on the caller's dataset
// datasetID, for files in the given format (json, parquet, csv or avro).
// It fails with errDatasetNotFound or a *badRequestError.
func (c *catalog) createBatch(caller Caller, datasetID string, format inputFormat) (batch, error) {
	if err := checkCaller(caller); err != nil {
		return batch{}, err
	}
	format.Format = strings.ToLower(format.Format)
	switch format.Format {
	case "json", "parquet", "csv", "avro":
	case "":
		return batch{}, badRequestf("inputFormat.format is required: json, parquet, csv or avro")
	default:
		return batch{}, badRequestf("inputFormat.format %q is not supported: json, parquet, csv or avro", format.Format)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, err := c.dataset(caller, datasetID); err != nil {
		return batch{}, err
	}
	now := c.stamp()
	b := batch{
		ID:            c.newID(),
		Org:           caller.Org,
		Sandbox:       caller.Sandbox,
		DatasetID:     datasetID,
		Status:        batchLoading,
		InputFormat:   format,
		Errors:        []batchError{},
		Tags:          map[string][]string{},
		Created:       now,
		Updated:       now,
		CreatedClient: caller.ClientID,
		UpdatedClient: caller.ClientID,
	}
	if err := c.putBatch(b); err != nil {
		return batch{}, err
	}
	return b, nil
}

// batch returns the caller's batch id, or errBatchNotFound.
func (c *catalog) batch(caller Caller, id string) (batch, error) {
	c.mu.RLock()
	e := c.batches[id]
	c.mu.RUnlock()
	if e == nil || !inScope(e.val.Org, e.val.Sandbox, caller) {
		return batch{}, errBatchNotFound
	}
	return e.val, nil
}

// setBatchStatus moves the caller's batch to status, any of Catalog's
// enum. Entering "processing" records metrics.startTime, entering a final
// status metrics.endTime. A batch in a final status only accepts
// "deleted"; otherwise the error wraps errBatchClosed.
func (c *catalog) setBatchStatus(caller Caller, id, status string) (batch, error) {
	if !validBatchStatus(status) {
		return batch{}, badRequestf("batch status %q is not one of Catalog's statuses", status)
	}
	return c.updateBatch(caller, id, status, func(b *batch, now int64) {
		stampTimes(b, status, now)
	})
}

// batchOutcome is how a batch ended.
type batchOutcome struct {
	// Status is final: "success" or "failed" (or another final status of
	// the enum: failure, aborted, abandoned).
	Status                                     string
	RecordsRead, RecordsWritten, RecordsFailed int64
	// Errors summarize what went wrong; past maxBatchErrors they are
	// dropped and a last entry says how many were.
	Errors []batchError
}

// completeBatch records the outcome of the caller's batch: final status,
// record counts, errors and metrics.endTime. A batch already in a final
// status is left alone and the error wraps errBatchClosed, so a repeated
// completion cannot rewrite the first one's metrics.
func (c *catalog) completeBatch(caller Caller, id string, out batchOutcome) (batch, error) {
	if !finalBatchStatus(out.Status) || out.Status == "deleted" {
		return batch{}, badRequestf("batch outcome status %q is not a final status (success, failed, failure, aborted, abandoned)", out.Status)
	}
	if out.RecordsRead < 0 || out.RecordsWritten < 0 || out.RecordsFailed < 0 {
		return batch{}, badRequestf("batch record counts must not be negative")
	}
	errs := boundErrors(out.Errors)
	return c.updateBatch(caller, id, out.Status, func(b *batch, now int64) {
		stampTimes(b, out.Status, now)
		b.Metrics.RecordsRead = out.RecordsRead
		b.Metrics.RecordsWritten = out.RecordsWritten
		b.Metrics.RecordsFailed = out.RecordsFailed
		b.Errors = errs
	})
}

// stampTimes records when processing started and ended.
func stampTimes(b *batch, status string, now int64) {
	if status == batchProcessing && b.Metrics.StartTime == 0 {
		b.Metrics.StartTime = now
	}
	if finalBatchStatus(status) && b.Metrics.EndTime == 0 {
		if b.Metrics.StartTime == 0 {
			b.Metrics.StartTime = now // failed before processing started
		}
		b.Metrics.EndTime = now
	}
}

// boundErrors copies errs, keeping at most maxBatchErrors entries.
func boundErrors(errs []batchError) []batchError {
	out := make([]batchError, 0, min(len(errs), maxBatchErrors))
	for i, e := range errs {
		if i == maxBatchErrors-1 && len(errs) > maxBatchErrors {
			out = append(out, batchError{
				Code:        "errors-truncated",
				Description: fmt.Sprintf("%d more errors not listed", len(errs)-i),
			})
			break
		}
		e.Rows = slices.Clone(e.Rows)
		out = append(out, e)
	}
	return out
}

// updateBatch applies change to the caller's batch as it moves to status,
// persists it and indexes it.
func (c *catalog) updateBatch(caller Caller, id, status string, change func(b *batch, now int64)) (batch, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	b, err := c.batch(caller, id)
	if err != nil {
		return batch{}, err
	}
	if finalBatchStatus(b.Status) && (status != "deleted" || b.Status == "deleted") {
		return batch{}, fmt.Errorf("batch %s is %s: %w", id, b.Status, errBatchClosed)
	}
	now := c.stamp()
	// b shares its slices with the indexed entry; change only assigns new
	// ones, so the entry readers hold stays as it was.
	change(&b, now)
	b.Status = status
	b.Updated = now
	b.UpdatedClient = caller.ClientID
	b.Revision++
	if err := c.putBatch(b); err != nil {
		return batch{}, err
	}
	return b, nil
}

// putBatch persists and indexes b. Callers hold writeMu.
func (c *catalog) putBatch(b batch) error {
	e, err := newEntry(b, b.object())
	if err != nil {
		return fmt.Errorf("encoding batch: %w", err)
	}
	if err := c.writeObject(batchesDir, b.ID, b.Org, b.Sandbox, b, batchesDir); err != nil {
		return err
	}
	c.mu.Lock()
	c.batches[b.ID] = e
	c.mu.Unlock()
	return nil
}

// unfinishedBatches returns the batches of every org and sandbox that are
// not in a final status, oldest first: after a restart, ingestion resumes
// or fails them (b.owner() is a Caller that can).
func (c *catalog) unfinishedBatches() []batch {
	c.mu.RLock()
	var out []batch
	for _, e := range c.batches {
		if !finalBatchStatus(e.val.Status) {
			out = append(out, e.val)
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b batch) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), strings.Compare(a.ID, b.ID))
	})
	return out
}

// catalogObject is a listed object: its id and served form.
type catalogObject struct {
	id   string
	view map[string]any
}

// datasetObjects returns the caller's datasets, in no particular order.
func (c *catalog) datasetObjects(caller Caller) []catalogObject {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]catalogObject, 0, 16)
	for id, e := range c.datasets {
		if inScope(e.val.Org, e.val.Sandbox, caller) {
			out = append(out, catalogObject{id: id, view: e.view})
		}
	}
	return out
}

// batchObjects returns the caller's batches, in no particular order.
func (c *catalog) batchObjects(caller Caller) []catalogObject {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]catalogObject, 0, 16)
	for id, e := range c.batches {
		if inScope(e.val.Org, e.val.Sandbox, caller) {
			out = append(out, catalogObject{id: id, view: e.view})
		}
	}
	return out
}

// datasetObject is the caller's dataset id in served form.
func (c *catalog) datasetObject(caller Caller, id string) (catalogObject, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.datasets[id]
	if e == nil || !inScope(e.val.Org, e.val.Sandbox, caller) {
		return catalogObject{}, errDatasetNotFound
	}
	return catalogObject{id: id, view: e.view}, nil
}

// batchObject is the caller's batch id in served form.
func (c *catalog) batchObject(caller Caller, id string) (catalogObject, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := c.batches[id]
	if e == nil || !inScope(e.val.Org, e.val.Sandbox, caller) {
		return catalogObject{}, errBatchNotFound
	}
	return catalogObject{id: id, view: e.view}, nil
}

func cloneTags(t map[string][]string) map[string][]string {
	out := make(map[string][]string, len(t))
	for k, v := range t {
		if v == nil {
			v = []string{}
		}
		out[k] = slices.Clone(v)
	}
	return out
}

func cloneRaw(m map[string]json.RawMessage) map[string]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}
