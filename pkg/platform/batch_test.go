package platform

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestWaitBatchPollsThroughTransientErrors(t *testing.T) {
	f := newFake(t)
	many503 := status(http.StatusServiceUnavailable, `{"error_code":"503000","message":"down"}`)
	f.handle(sequence(
		status(http.StatusOK, `{"b1":{"status":"processing","relatedObjects":[{"type":"dataSet","id":"d1"}]}}`),
		// More 503s than one call retries: WaitBatch keeps polling.
		many503, many503, many503, many503, many503,
		status(http.StatusOK, `{"b1":{"status":"success","metrics":{"recordsRead":3,"recordsWritten":3},"relatedObjects":[{"type":"dataSet","id":"d1"}]}}`),
	))
	c := f.client()
	b, err := c.WaitBatch(context.Background(), "b1", Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "b1" || b.Status != BatchSuccess || b.Metrics.RecordsWritten != 3 || b.DatasetID() != "d1" || !b.Done() {
		t.Fatalf("batch %+v", b)
	}
}

func TestWaitBatchFailedAndPermanentErrors(t *testing.T) {
	f := newFake(t)
	f.handle(status(http.StatusOK, `{"b1":{"status":"failed","metrics":{"recordsRead":3,"recordsFailed":1},"errors":[{"code":"MissingIdentity","description":"1 records failed validation","rows":["2"]}]}}`))
	c := f.client()
	b, err := c.WaitBatch(context.Background(), "b1", Backoff{})
	var bf *BatchFailedError
	if !errors.Is(err, ErrBatchFailed) || !errors.As(err, &bf) || bf.Batch.ID != "b1" || b.Status != BatchFailed {
		t.Fatalf("WaitBatch = %+v, %v", b, err)
	}
	if want := "platform: batch b1 is failed (3 records read, 1 failed): MissingIdentity: 1 records failed validation"; err.Error() != want {
		t.Errorf("%q, want %q", err, want)
	}

	f.handle(status(http.StatusNotFound, `{"type":"/placeholder/type/uri","status":404,"title":"NotFoundError","detail":"Batch not found."}`))
	if _, err := c.WaitBatch(context.Background(), "b1", Backoff{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown batch: %v", err)
	}

	f.handle(status(http.StatusOK, `{"b1":{"status":"processing"}}`))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.WaitBatch(ctx, "b1", Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
}
