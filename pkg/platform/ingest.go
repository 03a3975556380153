package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Batch ingestion (aep-api.md §10): create a batch on a dataset, upload
// its files, complete it, wait for Catalog to say success or failed; and
// Data Access's failed rows of a failed batch.

const (
	importBase = "/data/foundation/import"
	exportBase = "/data/foundation/export"
)

// MaxUploadBytes is the largest file one UploadFile may send (the batch
// ingestion API's single-request limit); larger files must be split.
const MaxUploadBytes = 256 << 20

// Batch input formats.
const (
	FormatJSON    = "json"
	FormatParquet = "parquet"
	FormatCSV     = "csv"
)

// CreateBatch opens a batch on the dataset for files in format (FormatJSON
// with multiLine for JSON arrays, FormatParquet, FormatCSV). The batch is
// in status loading. It is not retried on a 5xx or a broken connection:
// a retry could open a second batch (a stray open batch is harmless, but
// costs a lookup to find).
func (c *Client) CreateBatch(ctx context.Context, datasetID, format string, multiLine bool) (Batch, error) {
	body := map[string]any{
		"datasetId":   datasetID,
		"inputFormat": InputFormat{Format: format, IsMultiLineJSON: multiLine},
	}
	var b Batch
	if err := c.do(ctx, call{op: "CreateBatch", method: http.MethodPost, path: importBase + "/batches", jsonBody: body, out: &b}); err != nil {
		return Batch{}, err
	}
	if b.ID == "" {
		return Batch{}, errors.New("platform: CreateBatch: the answer has no batch id")
	}
	return b, nil
}

// UploadFile uploads size bytes of body as the file name of the batch.
// Uploading a name again replaces the file, so the upload is retried like
// any PUT; body is read from its start at every attempt.
func (c *Client) UploadFile(ctx context.Context, batchID, datasetID, name string, body io.ReaderAt, size int64) error {
	if size > MaxUploadBytes {
		return fmt.Errorf("platform: UploadFile: %s is %d bytes, more than the %d one upload may hold: split it", name, size, int64(MaxUploadBytes))
	}
	return c.do(ctx, call{
		op:         "UploadFile",
		method:     http.MethodPut,
		path:       importBase + "/batches/" + escape(batchID) + "/datasets/" + escape(datasetID) + "/files/" + escape(name),
		upload:     body,
		uploadSize: size,
	})
}

// CompleteBatch signals that every file is uploaded: the Platform starts
// processing the batch. Repeating it changes nothing, so it is retried.
func (c *Client) CompleteBatch(ctx context.Context, batchID string) error {
	return c.batchAction(ctx, "CompleteBatch", batchID, "COMPLETE")
}

// AbortBatch abandons a batch that is still loading. Aborting an aborted
// batch succeeds.
func (c *Client) AbortBatch(ctx context.Context, batchID string) error {
	err := c.batchAction(ctx, "AbortBatch", batchID, "ABORT")
	if errors.Is(err, ErrBadRequest) {
		// A retried ABORT whose first attempt went through is refused
		// (the batch no longer loads): that is the outcome asked for.
		if b, berr := c.Batch(ctx, batchID); berr == nil && b.Status == BatchAborted {
			return nil
		}
	}
	return err
}

func (c *Client) batchAction(ctx context.Context, op, batchID, action string) error {
	return c.do(ctx, call{
		op:         op,
		method:     http.MethodPost,
		path:       importBase + "/batches/" + escape(batchID),
		query:      url.Values{"action": {action}},
		idempotent: true,
	})
}

// FailedRow is one record a failed batch rejected.
type FailedRow struct {
	File    string `json:"file"`
	Row     int    `json:"row"` // 1-based: the line, array element or Parquet row
	Code    string `json:"code"`
	Message string `json:"message"`
}

// FailedRows returns the records a failed batch rejected, from Data
// Access's GET /batches/{id}/failed. (ups answers them as JSON rows; the
// Platform's answer lists files of rejected rows, which a later reader
// will fetch.)
func (c *Client) FailedRows(ctx context.Context, batchID string) ([]FailedRow, error) {
	var ans struct {
		Data []FailedRow `json:"data"`
	}
	if err := c.do(ctx, call{op: "FailedRows", method: http.MethodGet, path: exportBase + "/batches/" + escape(batchID) + "/failed", out: &ans}); err != nil {
		return nil, err
	}
	return ans.Data, nil
}
