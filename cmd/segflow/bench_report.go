package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// printBenchReport prints the measurements as a table.
func printBenchReport(w io.Writer, r benchResult) {
	fmt.Fprintf(w, "segflow bench ingest: %d profiles, %d events (seed %d) into %s\n", r.sum.Profiles, r.sum.Events, r.sum.Seed, r.target)
	if r.gc != "" {
		fmt.Fprintf(w, "collector: %s\n", r.gc)
	}
	fmt.Fprintln(w)
	rows := [][]string{{"phase", "records", "bytes", "seconds", "records/s", "bytes/s"}}
	row := func(name string, records, bytes int64, d time.Duration) {
		rows = append(rows, []string{name, strconv.FormatInt(records, 10), humanBytes(bytes), secs(d), rate(records, d), humanBytes(perSecond(bytes, d)) + "/s"})
	}
	row("generate (not ingestion)", r.sum.Profiles+r.sum.Events, r.genBytes, r.genTime)
	// One upload and one processing line per dataset, batches summed.
	for _, d := range r.ingest.byDataset() {
		row("upload: "+d.datasetName, d.records, d.bytes, d.upload)
		row("processing: "+d.datasetName, d.records, d.bytes, d.processing)
	}
	t := r.ingest.totals()
	row("upload: all", t.records, t.bytes, t.upload)
	row("processing: all", t.records, t.bytes, t.processing)
	row("ingest end to end", t.records, t.bytes, r.ingest.elapsed)
	writeTable(w, rows, "l")

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	who := "this process (ups included)"
	if !r.inProcess {
		who = "this process (the Platform runs elsewhere)"
	}
	fmt.Fprintf(tw, "memory after ingestion\t%s\n", who)
	fmt.Fprintf(tw, "  Go heap in use (after GC)\t%s (%s live)\n", humanBytes(int64(r.heapInuse)), humanBytes(int64(r.heapAlloc)))
	fmt.Fprintf(tw, "  RSS now / peak (VmHWM)\t%s / %s\n", optBytes(r.rss), optBytes(r.peakRSS))
	if r.inProcess {
		fmt.Fprintf(tw, "restart on the same data directory\t\n")
		fmt.Fprintf(tw, "  ups.New (store loaded)\t%s s\n", secs(r.restart))
		fmt.Fprintf(tw, "  Go heap in use after restart\t%s\n", humanBytes(int64(r.restartHeap)))
		fmt.Fprintf(tw, "  Catalog after restart\t%s\n", r.restartCheck)
	} else {
		fmt.Fprintf(tw, "restart\tnot measured (-url)\n")
	}
	tw.Flush()
}

func optBytes(n int64) string {
	if n < 0 {
		return "n/a"
	}
	return humanBytes(n)
}
