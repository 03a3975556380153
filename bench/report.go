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
	fmt.Fprintln(tw, "segment\tmembers ups\tmembers duckdb\tups eval ms\tups wall ms\tups 1st wall ms\tduckdb ms\teval ratio\twall ratio\t\t")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, count(r.UPSMembers), count(r.DuckDBMembers),
			msInt(r.UPSSegmentMs), msWall(r.UPSWallMs), msWall(r.UPSFirstWallMs), duckMs(r.DuckDBMs),
			evalRatioString(r.Ratio, r.RatioUpperBound), ratio(r.RatioWall), check)
	}
	tw.Flush()
	fmt.Fprintf(w, ""+
		"Each segment alone: %[1]d segment jobs of that segment only, one after the other, then DuckDB.\n"+
		"  ups eval ms: the best (smallest) metrics.profileSegmentationTime of the %[1]d jobs: the job's evaluation pass over the stored\n"+
		"    profiles (not queueing, HTTP or writing the memberships); whole ms on ups's clock, so ±1 ms.\n"+
		"  ups wall ms: the best wall time of the %[1]d jobs, POST to reading SUCCEEDED (polled every 1 to 20 ms); each best is taken\n"+
		"    on its own, so eval ms and wall ms may come from different jobs.\n"+
		"  ups 1st wall ms: the first job's wall time (cold: a segment's first job may build caches; %[2]s had the cold job above before it).\n"+
		"  duckdb ms: SELECT count(*) of the equivalent SQL in DuckDB, best of %[3]d, at the last job's instant.\n"+
		"  eval ratio: ups eval ms / duckdb ms, what the ≤ 3× DuckDB floor is judged on; \"<Rx\" when the best job read 0 ms\n"+
		"    (an evaluation under 1 ms): R = 1 ms / duckdb ms, an upper bound. wall ratio: ups wall ms / duckdb ms.\n"+
		"  members: the last job's count and DuckDB's at its instant; every job's count is checked against DuckDB's at its own instant.\n",
		max(res.UPSRuns, 1), attributeSegment, res.DuckDBRuns)
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
	for _, r := range res.Segments {
		if r.Error != "" {
			fmt.Fprintf(w, "segment %s alone: ERROR (see above)\n", r.Name)
			continue
		}
		fmt.Fprintf(w, "segment %s alone: evaluation %s ms (best of %d jobs) vs DuckDB %s ms: %s   (%s)\n",
			r.Name, msInt(r.UPSSegmentMs), len(r.Runs), duckMs(r.DuckDBMs), evalRatioString(r.Ratio, r.RatioUpperBound), ratioFloorNote(res.Profiles, r))
	}
	aj := res.AttributeJob
	best := ""
	if aj.Runs > 1 && aj.BestSegmentationMs != nil {
		best = fmt.Sprintf(" (the first of its %d single-segment jobs; best %s wall, %d ms segmentation)", aj.Runs, msString(aj.BestWallMs), *aj.BestSegmentationMs)
	}
	fmt.Fprintf(w, "segment job, 1 attribute segment (%s): %s wall, %d ms segmentation%s   (%s)\n",
		attributeSegment, msString(aj.WallMs), aj.SegmentationMs, best, floorNote(aj.WallMs, aj.FloorMs))
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

// ratioFloorNote is the ≤ 3× DuckDB floor of segment r's evaluation, with
// its verdict at floorProfiles or more.
func ratioFloorNote(profiles int64, r segmentResult) string {
	f := fmt.Sprintf("floor ≤ %g× DuckDB at 1M profiles", floorSegmentRatio)
	if profiles < floorProfiles {
		return f
	}
	switch {
	case r.Ratio == 0:
		return f + ": not measured"
	case r.Ratio <= floorSegmentRatio:
		return f + ": met"
	case r.RatioUpperBound:
		return f + ": cannot tell (0 ms evaluation reading)"
	}
	return f + ": NOT MET"
}

// msWall is a wall time in ms for the table.
func msWall(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

// duckMs is DuckDB's time in ms for the table: two decimals under 1 ms.
func duckMs(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v < 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// evalRatioString is an evaluation ratio; an upper bound (from a 0 ms
// reading) prints as "<Rx".
func evalRatioString(r float64, bound bool) string {
	if bound && r > 0 {
		return "<" + ratio(r)
	}
	return ratio(r)
}

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
