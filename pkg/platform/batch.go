package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Catalog batch statuses (Catalog's enum holds more; these are the ones
// batch ingestion moves through, and the final ones).
const (
	BatchLoading    = "loading"
	BatchProcessing = "processing"
	BatchSuccess    = "success"
	BatchFailed     = "failed"
	BatchFailure    = "failure"
	BatchAborted    = "aborted"
	BatchAbandoned  = "abandoned"
	BatchDeleted    = "deleted"
)

// Batch is a Catalog batch.
type Batch struct {
	ID             string              `json:"id"` // set from Catalog's key when the body lacks it
	Status         string              `json:"status"`
	IMSOrg         string              `json:"imsOrg"`
	RelatedObjects []RelatedObject     `json:"relatedObjects"`
	InputFormat    InputFormat         `json:"inputFormat"`
	Metrics        BatchMetrics        `json:"metrics"`
	Errors         []BatchError        `json:"errors"`
	Tags           map[string][]string `json:"tags"`
	Created        int64               `json:"created"` // Unix ms
	Updated        int64               `json:"updated"` // Unix ms
	CreatedClient  string              `json:"createdClient,omitempty"`
	Version        string              `json:"version,omitempty"`
}

// RelatedObject links a batch to its dataset (type "dataSet") or to other
// batches.
type RelatedObject struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// InputFormat is how a batch's files are encoded.
type InputFormat struct {
	Format          string `json:"format"` // json, parquet, csv
	IsMultiLineJSON bool   `json:"isMultiLineJson,omitempty"`
}

// BatchMetrics are a batch's record counts and processing times.
type BatchMetrics struct {
	RecordsRead    int64 `json:"recordsRead"`
	RecordsWritten int64 `json:"recordsWritten"`
	RecordsFailed  int64 `json:"recordsFailed"`
	StartTime      int64 `json:"startTime,omitempty"` // Unix ms
	EndTime        int64 `json:"endTime,omitempty"`   // Unix ms
}

// BatchError summarizes one kind of failure of a batch.
type BatchError struct {
	Code        string   `json:"code"`
	Description string   `json:"description,omitempty"`
	Rows        []string `json:"rows,omitempty"` // "3" or "3-5"
}

// DatasetID is the id of the batch's dataset.
func (b Batch) DatasetID() string {
	for _, r := range b.RelatedObjects {
		if r.Type == "dataSet" {
			return r.ID
		}
	}
	return ""
}

// Done reports whether the batch reached a final status.
func (b Batch) Done() bool {
	switch b.Status {
	case BatchSuccess, BatchFailed, BatchFailure, BatchAborted, BatchAbandoned, BatchDeleted:
		return true
	}
	return false
}

// ErrBatchFailed matches the error of WaitBatch for a batch that ended in
// a status other than success.
var ErrBatchFailed = errors.New("platform: batch failed")

// BatchFailedError is a batch that ended without success; FailedRows
// tells which records were rejected.
type BatchFailedError struct {
	Batch Batch
}

func (e *BatchFailedError) Error() string {
	m := e.Batch.Metrics
	msg := fmt.Sprintf("platform: batch %s is %s (%d records read, %d failed)", e.Batch.ID, e.Batch.Status, m.RecordsRead, m.RecordsFailed)
	if len(e.Batch.Errors) > 0 {
		msg += ": " + e.Batch.Errors[0].Code
		if d := e.Batch.Errors[0].Description; d != "" {
			msg += ": " + d
		}
	}
	return msg
}

// Is matches ErrBatchFailed.
func (e *BatchFailedError) Is(target error) bool { return target == ErrBatchFailed }

// Batch returns the batch id from Catalog.
func (c *Client) Batch(ctx context.Context, id string) (Batch, error) {
	var raw json.RawMessage
	if err := c.do(ctx, call{op: "Batch", method: http.MethodGet, path: catalogBase + "/batches/" + escape(id), out: &raw}); err != nil {
		return Batch{}, err
	}
	bs, err := decodeBatches(raw)
	if err != nil {
		return Batch{}, fmt.Errorf("platform: Batch: %w", err)
	}
	for _, b := range bs {
		if b.ID == id {
			return b, nil
		}
	}
	return Batch{}, fmt.Errorf("platform: Batch: the answer does not hold batch %s", id)
}

// BatchListOptions select batches.
type BatchListOptions struct {
	ListOptions
	// DatasetID keeps the batches of one dataset.
	DatasetID string
	// Status keeps the batches in one status.
	Status string
}

// ListBatches returns one page of batches, in Catalog's order.
func (c *Client) ListBatches(ctx context.Context, opts BatchListOptions) ([]Batch, error) {
	q := opts.values()
	if opts.DatasetID != "" {
		q.Set("dataSet", opts.DatasetID)
	}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	var raw json.RawMessage
	if err := c.do(ctx, call{op: "ListBatches", method: http.MethodGet, path: catalogBase + "/batches", query: q, out: &raw}); err != nil {
		return nil, err
	}
	bs, err := decodeBatches(raw)
	if err != nil {
		return nil, fmt.Errorf("platform: ListBatches: %w", err)
	}
	return bs, nil
}

func decodeBatches(raw []byte) ([]Batch, error) {
	var out []Batch
	err := eachObject(raw, func(id string, v json.RawMessage) error {
		var b Batch
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("batch %s: %w", id, err)
		}
		b.ID = id
		out = append(out, b)
		return nil
	})
	return out, err
}

// DefaultPoll is WaitBatch's polling backoff when given the zero Backoff:
// 100 ms growing to 2 s, so that a small batch is seen done quickly and a
// large one is not polled hard.
var DefaultPoll = Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 1.5}

// WaitBatch polls the batch until it reaches a final status, waiting
// between polls per poll (zero fields from DefaultPoll). A success returns
// the batch; another final status returns it with a *BatchFailedError
// (errors.Is(err, ErrBatchFailed)). Transient errors keep it polling;
// the context bounds the wait.
func (c *Client) WaitBatch(ctx context.Context, id string, poll Backoff) (Batch, error) {
	return waitFor(ctx, "WaitBatch", WaitOptions{Poll: poll.orDefault(DefaultPoll)},
		func(ctx context.Context) (Batch, error) { return c.Batch(ctx, id) },
		func(b Batch) (string, bool, error) {
			switch {
			case !b.Done():
				return b.Status, false, nil
			case b.Status == BatchSuccess:
				return b.Status, true, nil
			}
			return b.Status, true, &BatchFailedError{Batch: b}
		})
}
