package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strings"
)

// How a process holding the profile store runs Go's collector, unless
// GOGC is set. The store is a large heap of mostly pointer-free bytes:
// cheap to mark, but every collection marks all of it, so how often the
// collector runs decides much of ingestion's CPU.
const (
	// upsGCPercent, without a memory limit: the default 100 would let a
	// 2 GB store grow the process to 4 GB between collections.
	upsGCPercent = 25
	// limitedGCPercent, with one: the collector then runs when the heap
	// nears the limit (or grows fivefold while it is small), several
	// times less often than at 25 for a store near half the limit.
	limitedGCPercent = 400
)

// tuneGC sets the collector for a process serving ups: against a memory
// limit of limitMB when positive (SEGFLOW_UPS_MEMORY_LIMIT_MB), else
// GOGC=25. GOGC and GOMEMLIMIT in environ win, as the runtime already
// honours them. It returns a function that restores the previous
// settings, for in-process runs (tests, benches).
func tuneGC(environ []string, limitMB int) (restore func()) {
	gogc, memlimit := false, false
	for _, kv := range environ {
		gogc = gogc || strings.HasPrefix(kv, "GOGC=")
		memlimit = memlimit || strings.HasPrefix(kv, "GOMEMLIMIT=")
	}
	percent := upsGCPercent
	prevLimit := debug.SetMemoryLimit(-1) // reads it
	if limitMB > 0 && !memlimit {
		debug.SetMemoryLimit(int64(limitMB) << 20)
		percent = limitedGCPercent
	}
	prevPercent := debug.SetGCPercent(-1) // reads it (and turns it off until the next line)
	if gogc {
		percent = prevPercent
	}
	debug.SetGCPercent(percent)
	return func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	}
}

// gcSetting describes how the collector runs, for reports.
func gcSetting() string {
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	gogc, limit := samples[0].Value.Uint64(), samples[1].Value.Uint64()
	if limit == math.MaxInt64 {
		return fmt.Sprintf("GOGC=%d, no memory limit", gogc)
	}
	return fmt.Sprintf("GOGC=%d, memory limit %d MiB", gogc, limit>>20)
}
