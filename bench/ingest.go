package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/gen"
)

// newPlatformClient returns a pkg/platform client of ups's dev client.
func newPlatformClient(base string) (*platform.Client, error) {
	return platform.New(platform.Config{
		BaseURL:      base,
		ClientID:     devClientID,
		ClientSecret: devSecret,
		OrgID:        devOrg,
		Sandbox:      devSandbox,
		Scope:        "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session",
	}, platform.Options{})
}

// batchPoll polls Catalog finely, so that the poll does not dominate the
// load time of a small data set.
var batchPoll = platform.Backoff{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 1.5}

// ingest loads the data set in dir through the batch ingestion API: a
// Profile-enabled dataset per class (profile and ExperienceEvent), one
// batch per dataset holding all its files, each batch completed when its
// files are uploaded (so the profiles are processed while the events
// upload), then Catalog polled until both batches succeed.
func ingest(ctx context.Context, c *platform.Client, dir string, sum gen.Summary, progress io.Writer) error {
	type part struct {
		class, schema, name string
	}
	var batches []string
	for _, p := range []part{
		{gen.ProfileClass, platform.SchemaProfile, "bench profiles"},
		{gen.EventClass, platform.SchemaExperienceEvent, "bench events"},
	} {
		var files []gen.File
		for _, f := range sum.Files {
			if f.Class == p.class {
				files = append(files, f)
			}
		}
		if len(files) == 0 {
			continue
		}
		ds, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: p.name, Schema: p.schema, Profile: true, Description: "segflow bench"})
		if err != nil {
			return fmt.Errorf("creating dataset %q: %w", p.name, err)
		}
		b, err := c.CreateBatch(ctx, ds, platform.FormatJSON, false)
		if err != nil {
			return fmt.Errorf("creating a batch on %q: %w", p.name, err)
		}
		for _, f := range files {
			if err := upload(ctx, c, b.ID, ds, filepath.Join(dir, f.Name)); err != nil {
				return err
			}
			fmt.Fprintf(progress, "bench: uploaded %s (%s) to batch %s\n", f.Name, sizeString(f.Bytes), b.ID)
		}
		if err := c.CompleteBatch(ctx, b.ID); err != nil {
			return fmt.Errorf("completing batch %s: %w", b.ID, err)
		}
		batches = append(batches, b.ID)
	}
	for _, id := range batches {
		b, err := c.WaitBatch(ctx, id, batchPoll)
		if err != nil {
			return fmt.Errorf("batch %s: %w", id, err)
		}
		if b.Metrics.RecordsFailed > 0 {
			return fmt.Errorf("batch %s: %d records failed", id, b.Metrics.RecordsFailed)
		}
		fmt.Fprintf(progress, "bench: batch %s succeeded: %d records\n", id, b.Metrics.RecordsWritten)
	}
	return nil
}

func upload(ctx context.Context, c *platform.Client, batch, dataset, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := c.UploadFile(ctx, batch, dataset, filepath.Base(path), f, st.Size()); err != nil {
		return fmt.Errorf("uploading %s: %w", path, err)
	}
	return nil
}

// sizeString prints a byte count for people.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
