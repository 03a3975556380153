package segmenter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/segmenter"
	"github.com/segflow/segflow/services/ups/upstest"
)

// The segmenter against a real ups: the job's counts, and one job per
// request however often the event comes.

const usPQL = `homeAddress.countryCode = "US"`

// startUPS runs ups with five profiles, three in the US, and returns its
// base URL.
func startUPS(t *testing.T) string {
	t.Helper()
	base := upstest.Start(t, upstest.Config(t), nil)
	c := newClient(t, base)
	ctx := context.Background()
	ds, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "crm", Schema: platform.SchemaProfile, Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateBatch(ctx, ds, platform.FormatJSON, false)
	if err != nil {
		t.Fatal(err)
	}
	var data strings.Builder
	for i, country := range []string{"US", "US", "CA", "US", "CA"} {
		fmt.Fprintf(&data, `{"identityMap":{"ECID":[{"id":"e%d","primary":true}]},"homeAddress":{"countryCode":%q}}`+"\n", i, country)
	}
	if err := c.UploadFile(ctx, b.ID, ds, "crm.json", strings.NewReader(data.String()), int64(data.Len())); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitBatch(ctx, b.ID, platform.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	return base
}

func jobsOf(t *testing.T, c *platform.Client, segID string) []platform.SegmentJob {
	t.Helper()
	page, err := c.ListSegmentJobs(context.Background(), platform.SegmentJobListOptions{SegmentID: segID})
	if err != nil {
		t.Fatal(err)
	}
	return page.Jobs
}

func TestUPS(t *testing.T) {
	base := startUPS(t)
	h := startHarness(t, base, fastConfig())
	ctx := context.Background()
	def, err := h.client.CreateSegmentDefinition(ctx, platform.SegmentDefinition{Name: "us", Expression: platform.PQL(usPQL)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("succeeded", func(t *testing.T) {
		h.publish(t, definition("r-us", def.ID, usPQL), false)
		j := h.succeeded.job(t, "r-us", 1)
		if j.SegmentJobID == "" || j.Segment.ID != def.ID || j.Metrics.TotalProfiles != 5 || j.Metrics.SegmentedProfiles != 3 {
			t.Fatalf("job.succeeded %+v", j)
		}
		if n := sum(j.Metrics.SegmentedProfilesByNamespace); n != 3 {
			t.Errorf("by namespace %v", j.Metrics.SegmentedProfilesByNamespace)
		}
		if n := sum(j.Metrics.SegmentedProfilesByStatus); n != 3 {
			t.Errorf("by status %v", j.Metrics.SegmentedProfilesByStatus)
		}
		if jobs := jobsOf(t, h.client, def.ID); len(jobs) != 1 || jobs[0].ID != j.SegmentJobID || jobs[0].Status != platform.JobSucceeded {
			t.Fatalf("ups holds %+v", jobs)
		}
	})

	t.Run("the same request again: the same job", func(t *testing.T) {
		first := h.succeeded.job(t, "r-us", 1)
		h.publish(t, definition("r-us", def.ID, usPQL), true)
		if again := h.succeeded.job(t, "r-us", 2); again.SegmentJobID != first.SegmentJobID || again.Metrics.SegmentedProfiles != 3 {
			t.Fatalf("again %+v", again)
		}
		if jobs := jobsOf(t, h.client, def.ID); len(jobs) != 1 {
			t.Fatalf("ups holds %d jobs", len(jobs))
		}
	})

	t.Run("an earlier attempt's lost create is found", func(t *testing.T) {
		def2, err := h.client.CreateSegmentDefinition(ctx, platform.SegmentDefinition{Name: "ca", Expression: platform.PQL(`homeAddress.countryCode = "CA"`)})
		if err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		h.seedIntent(t, events.Intent{RequestID: "r-lost", Step: segmenter.StepCreateSegmentJob, Started: started, Updated: started})
		job, err := h.client.CreateSegmentJob(ctx, def2.ID)
		if err != nil {
			t.Fatal(err)
		}
		h.publish(t, definition("r-lost", def2.ID, `homeAddress.countryCode = "CA"`), false)
		if j := h.succeeded.job(t, "r-lost", 1); j.SegmentJobID != job.ID || j.Metrics.SegmentedProfiles != 2 {
			t.Fatalf("job.succeeded %+v, want job %s", j, job.ID)
		}
		if jobs := jobsOf(t, h.client, def2.ID); len(jobs) != 1 {
			t.Fatalf("ups holds %d jobs", len(jobs))
		}
	})

	t.Run("an unknown segment", func(t *testing.T) {
		h.publish(t, definition("r-unknown", "no-such-segment", usPQL), false)
		f := h.failed.failure(t, "r-unknown")
		if f.Retryable || f.PlatformError == nil || f.PlatformError.Status/100 != 4 || f.Attempts != 1 {
			t.Fatalf("job.failed %+v (%+v)", f, f.PlatformError)
		}
	})
	h.settled(t)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
