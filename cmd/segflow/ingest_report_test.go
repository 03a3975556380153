package main

import (
	"bytes"
	"testing"
	"time"
)

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, [][]string{{"name", "n"}, {"ä", "100"}, {"long name", "1"}}, "l")
	want := "name         n\nä          100\nlong name    1\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestIngestReportSums(t *testing.T) {
	rep := ingestReport{batches: []batchReport{
		{id: "b1", datasetID: "p", datasetName: "profiles", files: 1, bytes: 10, records: 2, upload: time.Second, processing: 2 * time.Second},
		{id: "b2", datasetID: "e", datasetName: "events", files: 2, bytes: 20, records: 4, upload: 3 * time.Second, processing: 4 * time.Second},
		{id: "b3", datasetID: "p", datasetName: "profiles", files: 3, bytes: 30, records: 6, upload: 5 * time.Second, processing: 6 * time.Second},
	}}
	if got, want := rep.totals(), (batchReport{files: 6, bytes: 60, records: 12, upload: 9 * time.Second, processing: 12 * time.Second}); got != want {
		t.Errorf("totals %+v, want %+v", got, want)
	}
	got := rep.byDataset()
	want := []batchReport{
		{datasetID: "p", datasetName: "profiles", files: 4, bytes: 40, records: 8, upload: 6 * time.Second, processing: 8 * time.Second},
		{datasetID: "e", datasetName: "events", files: 2, bytes: 20, records: 4, upload: 3 * time.Second, processing: 4 * time.Second},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("byDataset %+v, want %+v", got, want)
	}
}
