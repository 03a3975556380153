package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"
)

func printJSON(w io.Writer, res results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func printReport(w io.Writer, res results) {
	fmt.Fprintf(w, "segflow bench: ups vs DuckDB, %d profiles, %d events (now %s), %d CPUs\n",
		res.Profiles, res.Events, res.Now.Format(time.RFC3339), runtime.NumCPU())
	gen := "reused"
	if res.GenerateMs > 0 {
		gen = fmt.Sprintf("generated in %s", msString(res.GenerateMs))
	}
	fmt.Fprintf(w, "data: %s in %d files (%s)\n", sizeString(res.DataBytes), res.DataFiles, gen)
	rate := func(v float64) string {
		if v <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0fk records/s", float64(res.Profiles+res.Events)/v)
	}
	fmt.Fprintf(w, "load: ups %s, %s (batch ingestion over HTTP, until both batches succeeded); DuckDB %s, %s (read_json into two tables)\n",
		msString(res.UPSLoadMs), rate(res.UPSLoadMs), msString(res.DuckDBLoadMs), rate(res.DuckDBLoadMs))
	fmt.Fprintf(w, "first segment job after the load (%s, cold): %s wall, %d ms profileSegmentationTime\n\n",
		attributeSegment, msString(res.ColdJob.WallMs), res.ColdJob.SegmentationMs)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "segment\tmembers ups\tmembers duckdb\tups ms\tups seg ms\tduckdb ms\tratio\t\t")
	for _, r := range res.Segments {
		check := "ok"
		switch {
		case r.Error != "":
			check = "ERROR"
		case !r.Match:
			check = "MISMATCH"
		case r.Warning != "":
			check = "ok (boundary)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%.1f\t%s\t%s\t\n", r.Name, count(r.UPSMembers), count(r.DuckDBMembers),
			r.UPSWallMs, msInt(r.UPSSegmentMs), r.DuckDBMs, ratio(r.Ratio), check)
	}
	tw.Flush()
	fmt.Fprintf(w, "ups ms: wall time of a segment job of that segment alone, POST to SUCCEEDED; ups seg ms: its metrics.profileSegmentationTime;\n"+
		"duckdb ms: SELECT count(*) of the equivalent SQL, best of %d; ratio: ups ms / duckdb ms.\n", res.DuckDBRuns)
	for _, r := range res.Segments {
		if r.Error != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Error)
		}
		if r.Warning != "" {
			fmt.Fprintf(w, "  warning, %s: %s\n", r.Name, r.Warning)
		}
	}
	for _, c := range res.AllJobCounts {
		if c.Warning != "" {
			fmt.Fprintf(w, "  warning, %s in the ten-segment job: %s\n", c.Name, c.Warning)
		}
	}
	fmt.Fprintln(w)

	floorNote := func(took, floor float64) string {
		f := fmt.Sprintf("floor ≤ %s at 1M profiles", msString(floor))
		if res.Profiles >= floorProfiles {
			if took <= floor {
				return f + ": met"
			}
			return f + ": NOT MET"
		}
		return f
	}
	fmt.Fprintf(w, "segment job, 1 attribute segment (%s): %s wall, %d ms segmentation   (%s)\n",
		attributeSegment, msString(res.AttributeJob.WallMs), res.AttributeJob.SegmentationMs, floorNote(res.AttributeJob.WallMs, res.AttributeJob.FloorMs))
	if res.AllJob.Segments > 0 {
		bad := 0
		for _, c := range res.AllJobCounts {
			if !c.Match {
				bad++
			}
		}
		counts := "all counts agree with DuckDB"
		if bad > 0 {
			counts = fmt.Sprintf("%d COUNTS DISAGREE with DuckDB", bad)
		}
		fmt.Fprintf(w, "segment job, all %d segments: %s wall, %d ms segmentation, %s   (%s)\n",
			res.AllJob.Segments, msString(res.AllJob.WallMs), res.AllJob.SegmentationMs, counts, floorNote(res.AllJob.WallMs, floorMs(floorAllJob)))
	} else {
		fmt.Fprintf(w, "segment job, all %d segments: failed\n", len(res.Segments))
	}
	e := res.Estimate
	switch {
	case !e.Available:
		fmt.Fprintf(w, "preview/estimate: not available\n")
	case e.Error != "":
		fmt.Fprintf(w, "preview/estimate: ERROR %s\n", e.Error)
	default:
		first := "no poll saw RUNNING with profilesReadSoFar > 0"
		if e.FirstProgressMs > 0 {
			first = fmt.Sprintf("%s (profilesReadSoFar %d)", msString(e.FirstProgressMs), e.FirstProgressRead)
		}
		fmt.Fprintf(w, "preview/estimate (%s): first progress %s   (%s)\n", e.Segment, first, floorNote(e.FirstProgressMs, e.FloorProgressMs))
		duck := fmt.Sprintf("DuckDB %d", e.DuckDBLow)
		if e.DuckDBHigh != e.DuckDBLow {
			duck = fmt.Sprintf("DuckDB %d to %d as now moved during the estimate", e.DuckDBLow, e.DuckDBHigh)
		}
		if !e.Checked {
			duck += ", sampled: not checked"
		}
		fmt.Fprintf(w, "preview/estimate (%s): RESULT_READY %s, estimatedSize %d (%s), %d polls   (%s)\n",
			e.Segment, msString(e.ReadyMs), e.EstimatedSize, duck, e.Polls, floorNote(e.ReadyMs, e.FloorReadyMs))
	}
	x := res.Export
	switch {
	case !x.Available && x.JobID == "":
		fmt.Fprintf(w, "export job: not available\n")
	case x.WallMs == 0:
		fmt.Fprintf(w, "export job: ERROR (see below)\n")
	default:
		exported := "exported count not reported"
		if x.Exported >= 0 {
			exported = fmt.Sprintf("%d profiles exported (segment has %d)", x.Exported, x.Expected)
		}
		fmt.Fprintf(w, "export job (%s, 5 fields): %s wall, %s   (%s)\n", x.Segment, msString(x.WallMs), exported, floorNote(x.WallMs, x.FloorMs))
	}
	if len(res.Mismatches) > 0 {
		fmt.Fprintf(w, "\n!!! %d PROBLEM(S): ups and DuckDB disagree or ups failed:\n", len(res.Mismatches))
		for _, m := range res.Mismatches {
			fmt.Fprintf(w, "!!!   %s\n", m)
		}
	} else {
		fmt.Fprintln(w, "\nall member counts agree")
	}
}

func floorMs(d time.Duration) float64 { return ms(d) }

func msString(v float64) string {
	if v >= 10_000 {
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func msInt(v int64) string {
	if v < 0 {
		return "-"
	}
	return fmt.Sprint(v)
}

func count(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func ratio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fx", r)
}
