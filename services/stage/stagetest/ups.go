package stagetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/upstest"
)

// StartUPS runs ups until the test ends with n profiles ingested in the
// dev client's sandbox, and returns its base URL and the first names of
// the profiles in the US, in order. Profile i is p-<i> (three digits),
// with the ECID ecid-<i> and the first name Person<i>; it lives in Canada
// when i%3 == 1, in the US otherwise.
func StartUPS(t testing.TB, n int) (base string, us []string) {
	t.Helper()
	base = upstest.Start(t, upstest.Config(t), nil)
	c := Client(t, base, nil)
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
	for i := range n {
		country := "US"
		if i%3 == 1 {
			country = "CA"
		} else {
			us = append(us, fmt.Sprintf("Person%03d", i))
		}
		fmt.Fprintf(&data, `{"_id":"p-%03d","identityMap":{"ECID":[{"id":"ecid-%03d","primary":true}]},"person":{"name":{"firstName":"Person%03d"}},"homeAddress":{"countryCode":"%s"}}`+"\n", i, i, i, country)
	}
	if err := c.UploadFile(ctx, b.ID, ds, "crm.json", strings.NewReader(data.String()), int64(data.Len())); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitBatch(ctx, b.ID, platform.Backoff{Initial: 2 * time.Millisecond, Max: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	return base, us
}

// Wait is how tests wait for the Platform's jobs: polls 5 ms apart,
// growing to 50 ms, for a minute at most.
var Wait = platform.WaitOptions{Poll: platform.Backoff{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}, Timeout: time.Minute}

// Segment defines a segment of name and query pql through c and runs its
// segment job to its end, as the definer and the segmenter would.
func Segment(t testing.TB, c *platform.Client, name, pql string) (platform.SegmentDefinition, platform.SegmentJob) {
	t.Helper()
	ctx := context.Background()
	def, err := c.CreateSegmentDefinition(ctx, platform.SegmentDefinition{
		Name: name, Expression: platform.PQL(pql), EvaluationInfo: &platform.EvaluationInfo{Batch: platform.EvaluationMode{Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.CreateSegmentJob(ctx, def.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job, err = c.WaitSegmentJob(ctx, job.ID, Wait); err != nil {
		t.Fatal(err)
	}
	return def, job
}
