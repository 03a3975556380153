package main

import (
	"context"
	"fmt"

	"github.com/segflow/segflow/pkg/platform"
)

// catalogState is what Catalog says of the bench's datasets: what a
// restart must keep.
type catalogState struct {
	datasets, batches int
	records           int64 // written by successful batches
}

func (s catalogState) String() string {
	return fmt.Sprintf("%d datasets, %d successful batches, %d records", s.datasets, s.batches, s.records)
}

// catalogCounts reads the datasets of targets and their successful
// batches from Catalog.
func catalogCounts(ctx context.Context, c *platform.Client, targets []ingestTarget) (catalogState, error) {
	var s catalogState
	for _, t := range targets {
		if _, err := c.Dataset(ctx, t.dataset.ID); err != nil {
			return s, err
		}
		s.datasets++
		const page = 100
		for start := 0; ; start += page {
			bs, err := c.ListBatches(ctx, platform.BatchListOptions{DatasetID: t.dataset.ID, Status: platform.BatchSuccess, ListOptions: platform.ListOptions{Limit: page, Start: start}})
			if err != nil {
				return s, err
			}
			for _, b := range bs {
				s.batches++
				s.records += b.Metrics.RecordsWritten
			}
			if len(bs) < page {
				break
			}
		}
	}
	return s, nil
}
