package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segflow/segflow/pkg/platform"
)

// batchReport is how one batch went.
type batchReport struct {
	id, datasetID, datasetName string
	files                      int
	bytes                      int64
	records                    int64         // written, per Catalog
	upload                     time.Duration // create, uploads and COMPLETE
	completed                  time.Time     // when COMPLETE was acknowledged
	processing                 time.Duration // from when it could start (COMPLETE, or the end of the batch before) to success seen
	status                     string
}

// ingestReport is how a run went.
type ingestReport struct {
	batches []batchReport
	elapsed time.Duration
}

// add counts x's files, bytes, records and times in b.
func (b *batchReport) add(x batchReport) {
	b.files += x.files
	b.bytes += x.bytes
	b.records += x.records
	b.upload += x.upload
	b.processing += x.processing
}

// totals sums the batches.
func (r ingestReport) totals() (b batchReport) {
	for _, x := range r.batches {
		b.add(x)
	}
	return b
}

// byDataset sums the batches of each dataset, in the order the datasets
// first appear; each sum has the dataset's id and name.
func (r ingestReport) byDataset() []batchReport {
	var out []batchReport
	at := map[string]int{}
	for _, x := range r.batches {
		i, ok := at[x.datasetID]
		if !ok {
			i = len(out)
			at[x.datasetID] = i
			out = append(out, batchReport{datasetID: x.datasetID, datasetName: x.datasetName})
		}
		out[i].add(x)
	}
	return out
}

// batchFailure prints a failed batch's rejected rows and returns the
// command's error.
func batchFailure(ctx context.Context, c *platform.Client, b platform.Batch, opts ingestOptions) error {
	out := opts.progress
	m := b.Metrics
	fmt.Fprintf(out, "ingest: batch %s %s: %d of %d records rejected; nothing of the batch was ingested\n", b.ID, strings.ToUpper(b.Status), m.RecordsFailed, m.RecordsRead)
	for _, e := range b.Errors {
		fmt.Fprintf(out, "ingest:   %s: %s\n", e.Code, e.Description)
	}
	rows, err := c.FailedRows(ctx, b.ID)
	switch {
	case err != nil:
		fmt.Fprintf(out, "ingest:   (the failed rows could not be read: %v)\n", err)
	case len(rows) > 0:
		table := [][]string{{"", "file", "row", "code", "message"}}
		for _, r := range rows[:min(len(rows), opts.maxFailedRows)] {
			table = append(table, []string{"", r.File, strconv.Itoa(r.Row), r.Code, r.Message})
		}
		writeTable(out, table, "llrll")
		if len(rows) > opts.maxFailedRows {
			fmt.Fprintf(out, "  … and %d more rows (GET /data/foundation/export/batches/%s/failed)\n", len(rows)-opts.maxFailedRows, b.ID)
		}
	}
	return fmt.Errorf("ingest: batch %s failed: %d of %d records rejected", b.ID, m.RecordsFailed, m.RecordsRead)
}

// printIngestReport prints one line a batch and the totals.
func printIngestReport(w io.Writer, rep ingestReport) {
	rows := [][]string{{"batch", "dataset", "status", "files", "bytes", "records", "upload s", "processing s", "records/s"}}
	for _, b := range rep.batches {
		rows = append(rows, []string{b.id, b.datasetName, b.status, strconv.Itoa(b.files), humanBytes(b.bytes), strconv.FormatInt(b.records, 10),
			secs(b.upload), secs(b.processing), rate(b.records, b.upload+b.processing)})
	}
	t := rep.totals()
	rows = append(rows, []string{"total", "", "", strconv.Itoa(t.files), humanBytes(t.bytes), strconv.FormatInt(t.records, 10),
		secs(t.upload), secs(t.processing), rate(t.records, rep.elapsed)})
	writeTable(w, rows, "lll")
}

// writeTable writes rows as columns, aligned per align: 'l' left (names),
// anything else or nothing right (numbers).
func writeTable(w io.Writer, rows [][]string, align string) {
	var width []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, cell := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < len(align) && align[i] == 'l' {
				b.WriteString(cell + pad)
			} else {
				b.WriteString(pad + cell)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// rate is n per second over d, for tables.
func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/d.Seconds(), 'f', 0, 64)
}

// humanBytes is n in decimal units, as gen's 250 MB limit is.
func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func perSecond(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// seconds is a duration for progress lines.
func seconds(d time.Duration) string { return secs(d) + "s" }

// secs is a duration in seconds for tables.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
