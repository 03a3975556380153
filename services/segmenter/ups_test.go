package segmenter_test

import (
	"context"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/segmenter"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// The segmenter against a real ups: the job's counts, and one job per
// request however often the event comes.

const usPQL = `homeAddress.countryCode = "US"`

func jobsOf(t *testing.T, c *platform.Client, segID string) []platform.SegmentJob {
	t.Helper()
	page, err := c.ListSegmentJobs(context.Background(), platform.SegmentJobListOptions{SegmentID: segID})
	if err != nil {
		t.Fatal(err)
	}
	return page.Jobs
}

func TestUPS(t *testing.T) {
	base, _ := stagetest.StartUPS(t, 5) // three in the US, two in Canada
	h := startHarness(t, base, fastConfig())
	ctx := context.Background()
	def, err := h.client.CreateSegmentDefinition(ctx, platform.SegmentDefinition{Name: "us", Expression: platform.PQL(usPQL)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("succeeded", func(t *testing.T) {
		h.publish(t, definition("r-us", def.ID, usPQL), false)
		j := h.succeeded.Wait(t, "r-us", 1)
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
		first := h.succeeded.Wait(t, "r-us", 1)
		h.publish(t, definition("r-us", def.ID, usPQL), true)
		if again := h.succeeded.Wait(t, "r-us", 2); again.SegmentJobID != first.SegmentJobID || again.Metrics.SegmentedProfiles != 3 {
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
		h.SeedIntent(t, events.Intent{RequestID: "r-lost", Step: segmenter.StepCreateSegmentJob, Started: started, Updated: started})
		job, err := h.client.CreateSegmentJob(ctx, def2.ID)
		if err != nil {
			t.Fatal(err)
		}
		h.publish(t, definition("r-lost", def2.ID, `homeAddress.countryCode = "CA"`), false)
		if j := h.succeeded.Wait(t, "r-lost", 1); j.SegmentJobID != job.ID || j.Metrics.SegmentedProfiles != 2 {
			t.Fatalf("job.succeeded %+v, want job %s", j, job.ID)
		}
		if jobs := jobsOf(t, h.client, def2.ID); len(jobs) != 1 {
			t.Fatalf("ups holds %d jobs", len(jobs))
		}
	})

	t.Run("an unknown segment", func(t *testing.T) {
		h.publish(t, definition("r-unknown", "no-such-segment", usPQL), false)
		f := h.failed.Wait(t, "r-unknown", 1)
		if f.Retryable || f.PlatformError == nil || f.PlatformError.Status/100 != 4 || f.Attempts != 1 {
			t.Fatalf("job.failed %+v (%+v)", f, f.PlatformError)
		}
	})
	h.Settled(t)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
