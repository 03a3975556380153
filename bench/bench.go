package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/gen"
)

// Floors from issue 4, for 1M profiles.
const (
	floorAttributeJob  = time.Second
	floorAllJob        = 3 * time.Second
	floorFirstProgress = 300 * time.Millisecond
	floorEstimateReady = 2 * time.Second
	floorExport        = time.Second
	floorProfiles      = 1_000_000
	// floorSegmentRatio: each segment's evaluation no slower than 3×
	// DuckDB's count of the same segment.
	floorSegmentRatio = 3.0
)

// estimateSegment is the segment previewed; exportFields the five fields
// of the export of attributeSegment.
const (
	estimateSegment = "views_30d"
	exportFields    = "person.name.firstName,person.name.lastName,personalEmail.address,homeAddress.countryCode,loyalty.tier"
)

// bench is one run.
type bench struct {
	opts options
	log  io.Writer
}

// results is everything a run measured. Durations are milliseconds.
type results struct {
	Profiles     int64     `json:"profiles"`
	Events       int64     `json:"events"`
	DataBytes    int64     `json:"dataBytes"`
	DataFiles    int       `json:"dataFiles"`
	DataDir      string    `json:"dataDir"`
	Now          time.Time `json:"now"`
	GenerateMs   float64   `json:"generateMs,omitempty"` // 0 when reused
	UPSLoadMs    float64   `json:"upsLoadMs"`
	DuckDBLoadMs float64   `json:"duckdbLoadMs"`
	DuckDBRuns   int       `json:"duckdbRuns"`
	UPSRuns      int       `json:"upsRuns"`

	ColdJob      jobLine         `json:"coldJob"`
	Segments     []segmentResult `json:"segments"`
	AttributeJob jobLine         `json:"attributeJob"`
	AllJob       jobLine         `json:"allJob"`
	AllJobCounts []countCheck    `json:"allJobCounts"`
	Estimate     estimateLine    `json:"estimate"`
	Export       exportLine      `json:"export"`
	Mismatches   []string        `json:"mismatches"`
}

// segmentResult is one segment evaluated alone in ups (-ups-runs jobs of
// that segment alone, one after the other) and counted in DuckDB.
type segmentResult struct {
	segment
	ID string `json:"id"`
	// UPSMembers is the last job's count, DuckDBMembers DuckDB's at that
	// job's instant (ReferenceMs); Match is every job's count agreeing
	// with DuckDB's at its own instant (Runs has each).
	UPSMembers    int64 `json:"upsMembers"`
	DuckDBMembers int64 `json:"duckdbMembers"`
	Match         bool  `json:"match"`
	// UPSWallMs, UPSSegmentMs and UPSTotalMs are the best (smallest) of
	// the jobs' wall times, profileSegmentationTime and totalTime;
	// UPSFirst* are the first job's ("cold": it may build caches).
	UPSWallMs         float64 `json:"upsWallMs"`
	UPSSegmentMs      int64   `json:"upsProfileSegmentationMs"`
	UPSTotalMs        int64   `json:"upsTotalTimeMs"`
	UPSFirstWallMs    float64 `json:"upsFirstWallMs"`
	UPSFirstSegmentMs int64   `json:"upsFirstProfileSegmentationMs"`
	// DuckDBMs is the best of -duckdb-runs counts at ReferenceMs.
	DuckDBMs float64 `json:"duckdbMs"`
	// Ratio is UPSSegmentMs / DuckDBMs, what the ≤ 3× DuckDB floor is
	// judged on. profileSegmentationTime is in whole milliseconds: when
	// the best job read 0 ms, its evaluation took under 1 ms and Ratio is
	// 1 ms / DuckDBMs, an upper bound (RatioUpperBound).
	Ratio           float64  `json:"ratio"`
	RatioUpperBound bool     `json:"ratioUpperBound,omitempty"`
	RatioWall       float64  `json:"ratioWall"` // UPSWallMs / DuckDBMs
	ReferenceMs     int64    `json:"referenceMs"`
	Runs            []upsRun `json:"runs"`
	Warning         string   `json:"warning,omitempty"`
	Error           string   `json:"error,omitempty"`
}

// upsRun is one segment job of a segment alone, and DuckDB's count at
// the instant it evaluated the segment.
type upsRun struct {
	WallMs         float64 `json:"wallMs"`
	SegmentationMs int64   `json:"profileSegmentationMs"`
	TotalMs        int64   `json:"totalTimeMs"`
	ReferenceMs    int64   `json:"referenceMs"`
	UPSMembers     int64   `json:"upsMembers"`
	DuckDBMembers  int64   `json:"duckdbMembers"`
	Match          bool    `json:"match"`
	Warning        string  `json:"warning,omitempty"`
}

// evalRatio is ups's evaluation time over DuckDB's. segMs is in whole
// milliseconds: a 0 ms reading is an evaluation under 1 ms, for which
// the ratio returned is 1 ms / duckMs, an upper bound (bound true).
func evalRatio(segMs int64, duckMs float64) (ratio float64, bound bool) {
	switch {
	case segMs < 0 || duckMs <= 0:
		return 0, false
	case segMs == 0:
		return 1 / duckMs, true
	}
	return float64(segMs) / duckMs, false
}

// jobLine is a segment job against its floor.
type jobLine struct {
	Segments       int     `json:"segments"`
	WallMs         float64 `json:"wallMs"`
	SegmentationMs int64   `json:"profileSegmentationMs"`
	TotalMs        int64   `json:"totalTimeMs"`
	TotalProfiles  int64   `json:"totalProfiles"`
	FloorMs        float64 `json:"floorMs,omitempty"`
	// For the attribute job, taken from the single-segment runs: Runs
	// jobs, WallMs and SegmentationMs the first's (judged against the
	// floor), BestWallMs and BestSegmentationMs the best.
	Runs               int     `json:"runs,omitempty"`
	BestWallMs         float64 `json:"bestWallMs,omitempty"`
	BestSegmentationMs *int64  `json:"bestProfileSegmentationMs,omitempty"`
}

// countCheck is one segment's count in the ten-segment job.
type countCheck struct {
	Name          string `json:"name"`
	UPSMembers    int64  `json:"upsMembers"`
	DuckDBMembers int64  `json:"duckdbMembers"`
	Match         bool   `json:"match"`
	Warning       string `json:"warning,omitempty"`
}

type estimateLine struct {
	estimateRun
	Segment         string  `json:"segment"`
	FirstProgressMs float64 `json:"firstProgressMs"`
	ReadyMs         float64 `json:"readyMs"`
	FloorProgressMs float64 `json:"floorFirstProgressMs"`
	FloorReadyMs    float64 `json:"floorReadyMs"`
	// DuckDBLow and DuckDBHigh are DuckDB's counts at the clock's
	// readings just before the POST and just after RESULT_READY: the
	// estimate evaluates at some instant in between. Up to
	// fullEstimateUpTo profiles it reads every profile, so its size must
	// lie between them.
	DuckDBLow  int64 `json:"duckdbLow"`
	DuckDBHigh int64 `json:"duckdbHigh"`
	Checked    bool  `json:"checked"`
}

// fullEstimateUpTo is the population up to which an estimate reads every
// profile (the Platform's sampling rule, aep-api.md §2).
const fullEstimateUpTo = 1_000_000

type exportLine struct {
	exportRun
	Segment  string  `json:"segment"`
	WallMs   float64 `json:"wallMs"`
	Expected int64   `json:"expected"`
	FloorMs  float64 `json:"floorMs"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

func (b *bench) run(ctx context.Context) (res results, err error) {
	tmp, err := os.MkdirTemp("", "segflow-bench-")
	if err != nil {
		return res, err
	}
	defer func() {
		if b.opts.keep {
			b.logf("kept %s", tmp)
			return
		}
		if rerr := os.RemoveAll(tmp); rerr != nil {
			b.logf("removing %s: %v", tmp, rerr)
		}
	}()

	// 1. The data set.
	dir, sum, genTime, err := b.dataset(ctx, tmp)
	if err != nil {
		return res, err
	}
	res.Profiles, res.Events, res.DataDir, res.Now, res.GenerateMs = sum.Profiles, sum.Events, dir, sum.Now, ms(genTime)
	res.DataFiles, res.DuckDBRuns, res.UPSRuns = len(sum.Files), b.opts.duckRuns, b.opts.upsRuns
	for _, f := range sum.Files {
		res.DataBytes += f.Bytes
	}

	// 2. ups, in process, loaded through batch ingestion.
	clock := newBenchClock(sum.Now)
	var upsLog io.Writer
	if b.opts.verbose {
		upsLog = b.log
	}
	u, err := startUPS(ctx, filepath.Join(tmp, "ups"), clock.Now, upsLog)
	if err != nil {
		return res, err
	}
	defer func() {
		b.logf("stopping ups")
		err = errors.Join(err, u.stop())
	}()
	pc, err := newPlatformClient(u.url)
	if err != nil {
		return res, err
	}
	b.logf("loading %d profiles and %d events (%s) into ups at %s", sum.Profiles, sum.Events, sizeString(res.DataBytes), u.url)
	start := time.Now()
	if err := ingest(ctx, pc, dir, sum, b.log); err != nil {
		return res, fmt.Errorf("loading ups: %w", err)
	}
	res.UPSLoadMs = ms(time.Since(start))
	a, err := newAPI(ctx, u.url)
	if err != nil {
		return res, err
	}

	// 3. DuckDB.
	d, err := openDuck()
	if err != nil {
		return res, err
	}
	defer d.Close()
	b.logf("loading the same files into DuckDB")
	start = time.Now()
	if err := d.load(ctx, dir, sum); err != nil {
		return res, err
	}
	res.DuckDBLoadMs = ms(time.Since(start))
	if err := d.check(ctx, sum); err != nil {
		return res, err
	}

	// 4. The segments, alone.
	ids := map[string]string{}
	for _, s := range segments {
		q, err := s.pql(ids)
		if err != nil {
			return res, err
		}
		if ids[s.Name], err = a.createDefinition(ctx, "bench "+s.Name, q); err != nil {
			return res, err
		}
	}
	nowOf := map[string]int64{} // the reference of each segment's latest memberships
	if b.opts.cpuProf != "" {
		stop, err := startCPUProfile(b.opts.cpuProf)
		if err != nil {
			return res, err
		}
		defer stop()
	}
	b.logf("first segment job after the load (%s)", attributeSegment)
	cold, err := a.runJob(ctx, []string{ids[attributeSegment]})
	if err != nil {
		return res, err
	}
	res.ColdJob = line(cold, 1, 0)
	if nowOf[attributeSegment], err = cold.reference(); err != nil {
		return res, err
	}
	for _, s := range segments {
		r := b.single(ctx, a, d, s, ids, nowOf)
		if r.Error != "" {
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("segment %s: %s", s.Name, r.Error))
		} else if !r.Match {
			for i, u := range r.Runs {
				if !u.Match {
					res.Mismatches = append(res.Mismatches, fmt.Sprintf("segment %s, job %d of %d: ups %d members, DuckDB %d", s.Name, i+1, len(r.Runs), u.UPSMembers, u.DuckDBMembers))
				}
			}
		}
		res.Segments = append(res.Segments, r)
		if s.Name == attributeSegment && r.Error == "" && len(r.Runs) > 0 {
			// The floor is judged on one job, as before -ups-runs: the
			// first of the runs (the segment's second job after the
			// load, the cold job being its first).
			first := r.Runs[0]
			res.AttributeJob = jobLine{Segments: 1, WallMs: first.WallMs, SegmentationMs: first.SegmentationMs, TotalMs: first.TotalMs,
				FloorMs: ms(floorAttributeJob), Runs: len(r.Runs), BestWallMs: r.UPSWallMs, BestSegmentationMs: &r.UPSSegmentMs}
		}
	}

	// 5. All ten in one job, counts checked again.
	b.logf("one job of all %d segments", len(segments))
	all := make([]string, len(segments))
	for i, s := range segments {
		all[i] = ids[s.Name]
	}
	allRun, err := a.runJob(ctx, all)
	if err != nil {
		res.Mismatches = append(res.Mismatches, fmt.Sprintf("ten-segment job: %v", err))
	} else {
		res.AllJob = line(allRun, len(all), floorAllJob)
		ref, err := allRun.reference()
		if err != nil {
			return res, err
		}
		for _, s := range segments {
			nowOf[s.Name] = ref
		}
		for _, s := range segments {
			q, err := s.membersSQL(ref, func(n string) int64 { return nowOf[n] })
			if err != nil {
				return res, err
			}
			want, _, err := d.count(ctx, q, 1)
			if err != nil {
				return res, err
			}
			got, ok := allRun.Job.Metrics.SegmentedProfileCounter[ids[s.Name]]
			c := countCheck{Name: s.Name, UPSMembers: got, DuckDBMembers: want, Match: ok && got == want}
			if !ok {
				c.UPSMembers = -1
			} else if !c.Match {
				if c.Warning, err = d.onBoundary(ctx, s, got, want); err != nil {
					return res, err
				}
				c.Match = c.Warning != ""
			}
			if !c.Match {
				res.Mismatches = append(res.Mismatches, fmt.Sprintf("ten-segment job, segment %s: ups %d members, DuckDB %d", s.Name, c.UPSMembers, want))
			}
			res.AllJobCounts = append(res.AllJobCounts, c)
		}
	}

	// 6. Preview and estimate.
	b.logf("preview/estimate of %s", estimateSegment)
	es, _ := segmentByName(estimateSegment)
	eq, err := es.pql(ids)
	if err != nil {
		return res, err
	}
	before := clock.Now().UnixMilli()
	er, err := a.estimate(ctx, eq)
	after := clock.Now().UnixMilli()
	res.Estimate = estimateLine{estimateRun: er, Segment: estimateSegment, FirstProgressMs: ms(er.FirstProgress), ReadyMs: ms(er.Ready),
		FloorProgressMs: ms(floorFirstProgress), FloorReadyMs: ms(floorEstimateReady), DuckDBLow: -1, DuckDBHigh: -1}
	switch {
	case err != nil:
		res.Estimate.Error = err.Error()
		res.Mismatches = append(res.Mismatches, "estimate: "+err.Error())
	case er.Available:
		var counts [2]int64
		for i, at := range []int64{before, after} {
			q, err := es.membersSQL(at, func(n string) int64 { return nowOf[n] })
			if err != nil {
				return res, err
			}
			if counts[i], _, err = d.count(ctx, q, 1); err != nil {
				return res, err
			}
		}
		e := &res.Estimate
		e.DuckDBLow, e.DuckDBHigh = min(counts[0], counts[1]), max(counts[0], counts[1])
		if res.Profiles <= fullEstimateUpTo {
			e.Checked = true
			if er.EstimatedSize < e.DuckDBLow || er.EstimatedSize > e.DuckDBHigh {
				res.Mismatches = append(res.Mismatches, fmt.Sprintf("estimate of %s: estimatedSize %d, DuckDB counts %d to %d over the estimate's run (every profile is read at this size, so it should be exact)",
					estimateSegment, er.EstimatedSize, e.DuckDBLow, e.DuckDBHigh))
			}
		}
	}

	// 7. Export of the attribute segment's members.
	res.Export = exportLine{Segment: attributeSegment, FloorMs: ms(floorExport), Expected: -1, exportRun: exportRun{Exported: -1, Fields: exportFields}}
	for _, c := range res.AllJobCounts {
		if c.Name == attributeSegment {
			res.Export.Expected = c.DuckDBMembers
		}
	}
	b.logf("export job of %s (%s)", attributeSegment, exportFields)
	ds, err := pc.CreateDataset(ctx, platform.DatasetSpec{Name: "bench export", Schema: platform.SchemaProfileUnion, Description: "segflow bench export target"})
	if err != nil {
		res.Mismatches = append(res.Mismatches, "export: creating the target dataset on the profile union schema: "+err.Error())
		return res, nil
	}
	xr, err := a.export(ctx, ids[attributeSegment], ds, exportFields)
	res.Export.exportRun, res.Export.WallMs = xr, ms(xr.Wall)
	switch {
	case err != nil:
		res.Mismatches = append(res.Mismatches, "export: "+err.Error())
	case xr.Available && xr.Exported >= 0 && res.Export.Expected >= 0 && xr.Exported != res.Export.Expected:
		res.Mismatches = append(res.Mismatches, fmt.Sprintf("export of %s: %d profiles exported, the segment has %d", attributeSegment, xr.Exported, res.Export.Expected))
	}
	return res, nil
}

// single runs segment s alone in ups -ups-runs times, one job after the
// other, and counts it in DuckDB at the instant each job evaluated it.
// DuckDB is timed (best of -duckdb-runs) at the last job's instant, the
// one whose memberships later inSegment references read. The DuckDB
// queries run after all the jobs, so they do not come between two jobs.
func (b *bench) single(ctx context.Context, a *api, d *duck, s segment, ids map[string]string, nowOf map[string]int64) segmentResult {
	r := segmentResult{segment: s, ID: ids[s.Name], UPSMembers: -1, DuckDBMembers: -1, UPSSegmentMs: -1, UPSTotalMs: -1, UPSFirstSegmentMs: -1}
	n := max(b.opts.upsRuns, 1)
	b.logf("segment %s (%d jobs)", s.Name, n)
	jobs := make([]jobRun, 0, n)
	for i := range n {
		run, err := a.runJob(ctx, []string{r.ID})
		if err != nil {
			r.Error = fmt.Sprintf("job %d of %d: %v", i+1, n, err)
			return r
		}
		jobs = append(jobs, run)
	}
	for i, run := range jobs {
		u := upsRun{WallMs: ms(run.Wall), SegmentationMs: run.segmentationMs(), TotalMs: run.totalMs(), UPSMembers: -1, DuckDBMembers: -1}
		if c, ok := run.Job.Metrics.SegmentedProfileCounter[r.ID]; ok {
			u.UPSMembers = c
		}
		if i == 0 {
			r.UPSFirstWallMs, r.UPSFirstSegmentMs = u.WallMs, u.SegmentationMs
		}
		if i == 0 || u.WallMs < r.UPSWallMs {
			r.UPSWallMs = u.WallMs
		}
		if u.SegmentationMs >= 0 && (r.UPSSegmentMs < 0 || u.SegmentationMs < r.UPSSegmentMs) {
			r.UPSSegmentMs = u.SegmentationMs
		}
		if u.TotalMs >= 0 && (r.UPSTotalMs < 0 || u.TotalMs < r.UPSTotalMs) {
			r.UPSTotalMs = u.TotalMs
		}
		r.Runs = append(r.Runs, u)
	}
	r.Match = true
	for i, run := range jobs {
		u := &r.Runs[i]
		last := i == len(jobs)-1
		ref, err := run.reference()
		if err != nil {
			r.Error = fmt.Sprintf("job %d of %d: %v", i+1, n, err)
			r.Match = false
			return r
		}
		u.ReferenceMs = ref
		q, err := s.membersSQL(ref, func(n string) int64 { return nowOf[n] })
		if err != nil {
			r.Error = err.Error()
			r.Match = false
			return r
		}
		runs := 1
		if last {
			runs = b.opts.duckRuns
		}
		c, took, err := d.count(ctx, q, runs)
		if err != nil {
			r.Error = err.Error()
			r.Match = false
			return r
		}
		u.DuckDBMembers = c
		u.Match = u.UPSMembers == c
		if !u.Match {
			if u.Warning, err = d.onBoundary(ctx, s, u.UPSMembers, c); err != nil {
				r.Error = err.Error()
				r.Match = false
				return r
			}
			u.Match = u.Warning != ""
		}
		if !u.Match {
			r.Match = false
		}
		if u.Warning != "" && r.Warning == "" {
			r.Warning = u.Warning
			if n > 1 {
				r.Warning = fmt.Sprintf("job %d of %d: %s", i+1, n, u.Warning)
			}
		}
		if last {
			r.UPSMembers, r.DuckDBMembers, r.ReferenceMs, r.DuckDBMs = u.UPSMembers, c, ref, ms(took)
		}
	}
	nowOf[s.Name] = r.ReferenceMs
	r.Ratio, r.RatioUpperBound = evalRatio(r.UPSSegmentMs, r.DuckDBMs)
	if r.DuckDBMs > 0 {
		r.RatioWall = r.UPSWallMs / r.DuckDBMs
	}
	return r
}

func line(r jobRun, segs int, floor time.Duration) jobLine {
	return jobLine{Segments: segs, WallMs: ms(r.Wall), SegmentationMs: r.segmentationMs(), TotalMs: r.totalMs(),
		TotalProfiles: r.Job.Metrics.TotalProfiles, FloorMs: ms(floor)}
}

// dataset returns the data set to use: -data's when it has a manifest,
// else a new one (in -data's directory, or under tmp).
func (b *bench) dataset(ctx context.Context, tmp string) (string, gen.Summary, time.Duration, error) {
	dir := b.opts.data
	if dir != "" {
		if sum, err := readManifest(dir); err == nil {
			b.logf("reusing the data set in %s: %d profiles, %d events, now %s", dir, sum.Profiles, sum.Events, sum.Now.Format(time.RFC3339))
			return dir, sum, 0, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", gen.Summary{}, 0, err
		}
	} else {
		dir = filepath.Join(tmp, "gen")
	}
	now := time.Now().UTC().Truncate(time.Second)
	b.logf("generating %d profiles in %s (seed %d, now %s)", b.opts.profiles, dir, b.opts.seed, now.Format(time.RFC3339))
	start := time.Now()
	last := start
	sum, err := gen.WriteDataset(ctx, gen.Config{
		Profiles:         b.opts.profiles,
		EventsPerProfile: b.opts.eventsPer,
		Seed:             b.opts.seed,
		Now:              now,
		Progress: func(p gen.Progress) {
			if time.Since(last) >= 5*time.Second {
				last = time.Now()
				b.logf("generated %d/%d profiles, %d events", p.Profiles, p.TotalProfiles, p.Events)
			}
		},
	}, dir)
	if err != nil {
		return "", gen.Summary{}, 0, fmt.Errorf("generating: %w", err)
	}
	return dir, sum, time.Since(start), nil
}

func readManifest(dir string) (gen.Summary, error) {
	var sum gen.Summary
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return sum, err
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		return sum, fmt.Errorf("%s/manifest.json: %w", dir, err)
	}
	if sum.Now.IsZero() || len(sum.Files) == 0 {
		return sum, fmt.Errorf("%s/manifest.json: no now or no files: not a segflow gen data set", dir)
	}
	return sum, nil
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
