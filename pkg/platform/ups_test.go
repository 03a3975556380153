package platform_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/upstest"
)

// The client against a real ups: the wire format as ups serves it.

const (
	devClient = "segflow-dev"
	devSecret = "segflow-dev-secret"
	devOrg    = "SEGFLOWDEV@AdobeOrg"
)

// upsClock is a settable clock shared by ups and the client.
type upsClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *upsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *upsClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// startUPS runs ups on a loopback port over a temporary data directory
// and returns its base URL.
func startUPS(t *testing.T, clients string, now func() time.Time) string {
	t.Helper()
	cfg := upstest.Config(t)
	cfg.Clients, cfg.TokenTTL = clients, time.Hour
	return upstest.Start(t, cfg, now)
}

func newUPSClient(t *testing.T, base, id, secret, org string, now func() time.Time) *platform.Client {
	t.Helper()
	c, err := platform.New(platform.Config{BaseURL: base, ClientID: id, ClientSecret: secret, OrgID: org},
		platform.Options{Now: now, Retry: platform.RetryPolicy{Backoff: platform.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var fastPoll = platform.Backoff{Initial: 2 * time.Millisecond, Max: 20 * time.Millisecond}

func TestUPSDatasetsAndBatches(t *testing.T) {
	base := startUPS(t, "segflow-dev:segflow-dev-secret@SEGFLOWDEV@AdobeOrg", nil)
	c := newUPSClient(t, base, devClient, devSecret, devOrg, nil)
	ctx := context.Background()

	pid, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "crm", Schema: platform.SchemaProfile, Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	eid, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "web", Description: "clicks", Schema: platform.SchemaExperienceEvent})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Dataset(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != pid || d.Name != "crm" || d.SchemaRef.ID != platform.SchemaProfile || !d.ProfileEnabled() || d.IMSOrg != devOrg {
		t.Fatalf("profile dataset %+v", d)
	}
	if d, err := c.Dataset(ctx, eid); err != nil || d.ProfileEnabled() || d.Description != "clicks" {
		t.Fatalf("event dataset %+v, %v", d, err)
	}
	found, err := c.FindDatasets(ctx, "web")
	if err != nil || len(found) != 1 || found[0].ID != eid {
		t.Fatalf("FindDatasets(web) = %+v, %v", found, err)
	}
	if found, err := c.FindDatasets(ctx, "nothing"); err != nil || len(found) != 0 {
		t.Fatalf("FindDatasets(nothing) = %+v, %v", found, err)
	}
	all, err := c.ListDatasets(ctx, platform.ListOptions{OrderBy: "desc:created"})
	if err != nil || len(all) != 2 || all[0].ID != eid || all[1].ID != pid {
		t.Fatalf("ListDatasets = %+v, %v", all, err)
	}

	b, err := c.CreateBatch(ctx, pid, platform.FormatJSON, false)
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != platform.BatchLoading || b.DatasetID() != pid {
		t.Fatalf("new batch %+v", b)
	}
	data := `{"identityMap":{"ECID":[{"id":"e1","primary":true}]},"person":{"name":{"firstName":"Ann"}}}` + "\n" +
		`{"identityMap":{"ECID":[{"id":"e2","primary":true}]},"person":{"name":{"firstName":"Bob"}}}` + "\n"
	if err := c.UploadFile(ctx, b.ID, pid, "crm.json", strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil { // a repeat changes nothing
		t.Fatal(err)
	}
	done, err := c.WaitBatch(ctx, b.ID, fastPoll)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != platform.BatchSuccess || done.Metrics.RecordsWritten != 2 || done.InputFormat.Format != "json" {
		t.Fatalf("done batch %+v", done)
	}
	if rows, err := c.FailedRows(ctx, b.ID); err != nil || len(rows) != 0 {
		t.Fatalf("failed rows of a successful batch: %+v, %v", rows, err)
	}
	list, err := c.ListBatches(ctx, platform.BatchListOptions{DatasetID: pid})
	if err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("ListBatches = %+v, %v", list, err)
	}

	// Abort is idempotent.
	ab, err := c.CreateBatch(ctx, eid, platform.FormatJSON, true)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.AbortBatch(ctx, ab.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Batch(ctx, ab.ID); err != nil || got.Status != platform.BatchAborted {
		t.Fatalf("aborted batch %+v, %v", got, err)
	}
}

func TestUPSFailedBatch(t *testing.T) {
	base := startUPS(t, "segflow-dev:segflow-dev-secret@SEGFLOWDEV@AdobeOrg", nil)
	c := newUPSClient(t, base, devClient, devSecret, devOrg, nil)
	ctx := context.Background()
	eid, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "web", Schema: platform.SchemaExperienceEvent, Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateBatch(ctx, eid, platform.FormatJSON, true)
	if err != nil {
		t.Fatal(err)
	}
	data := `[{"_id":"x1","timestamp":"2025-01-02T10:00:00Z","identityMap":{"ECID":[{"id":"e1"}]}},
	          {"_id":"x2","identityMap":{"ECID":[{"id":"e1"}]}}]`
	if err := c.UploadFile(ctx, b.ID, eid, "events.json", strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	got, err := c.WaitBatch(ctx, b.ID, fastPoll)
	var bf *platform.BatchFailedError
	if !errors.Is(err, platform.ErrBatchFailed) || !errors.As(err, &bf) || got.Status != platform.BatchFailed || bf.Batch.Metrics.RecordsFailed != 1 {
		t.Fatalf("WaitBatch = %+v, %v", got, err)
	}
	rows, err := c.FailedRows(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].File != "events.json" || rows[0].Row != 2 || rows[0].Code != "MissingRequiredField" || !strings.Contains(rows[0].Message, "timestamp") {
		t.Fatalf("failed rows %+v", rows)
	}
	// An unknown batch is not found.
	if _, err := c.FailedRows(ctx, "000000000000000000000000"); !errors.Is(err, platform.ErrNotFound) {
		t.Fatalf("FailedRows(unknown) err = %v", err)
	}
}

func TestUPSErrorsAreTyped(t *testing.T) {
	base := startUPS(t, "segflow-dev:segflow-dev-secret@SEGFLOWDEV@AdobeOrg,other:other-secret@OTHER@AdobeOrg", nil)
	ctx := context.Background()
	c := newUPSClient(t, base, devClient, devSecret, devOrg, nil)

	_, err := c.Dataset(ctx, "5b020a27e7040801dedba61b")
	var pe *platform.Error
	if !errors.As(err, &pe) || !errors.Is(err, platform.ErrNotFound) || pe.Code != "NotFoundError" || pe.Message != "DataSet not found." || pe.Operation != "Dataset" {
		t.Fatalf("unknown dataset: %#v", err)
	}
	_, err = c.CreateBatch(ctx, "5b020a27e7040801dedba61b", "xml", false)
	if !errors.Is(err, platform.ErrBadRequest) || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("bad format: %v", err)
	}
	_, err = c.CreateDataset(ctx, platform.DatasetSpec{Name: "x", Schema: "https://example.com/unknown"})
	if !errors.Is(err, platform.ErrBadRequest) || !errors.As(err, &pe) || pe.Code != "BadRequestError" {
		t.Fatalf("unknown schema: %v", err)
	}

	// A client of another org that claims the dev org is refused by the
	// gateway.
	wrongOrg := newUPSClient(t, base, "other", "other-secret", devOrg, nil)
	_, err = wrongOrg.ListDatasets(ctx, platform.ListOptions{})
	if !errors.As(err, &pe) || !errors.Is(err, platform.ErrForbidden) || pe.Code != "403025" {
		t.Fatalf("wrong org: %#v", err)
	}
	badSecret := newUPSClient(t, base, devClient, "not-the-secret", devOrg, nil)
	_, err = badSecret.ListDatasets(ctx, platform.ListOptions{})
	if !errors.As(err, &pe) || !errors.Is(err, platform.ErrUnauthorized) || pe.Code != "invalid_client" || strings.Contains(err.Error(), "not-the-secret") {
		t.Fatalf("bad secret: %#v", err)
	}
}

func TestUPSExpiredTokenIsRenewed(t *testing.T) {
	clock := &upsClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	base := startUPS(t, "segflow-dev:segflow-dev-secret@SEGFLOWDEV@AdobeOrg", clock.Now)
	ctx := context.Background()
	// The client's clock stands still, so it believes its token is fresh
	// when ups has seen it expire: ups's 401 makes it get a new one.
	c := newUPSClient(t, base, devClient, devSecret, devOrg, func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) })
	if _, err := c.ListDatasets(ctx, platform.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Hour)
	if _, err := c.ListDatasets(ctx, platform.ListOptions{}); err != nil {
		t.Fatalf("after ups saw the token expire: %v", err)
	}
}
