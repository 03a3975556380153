package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestTuneGC(t *testing.T) {
	before := gcSetting()
	for _, c := range []struct {
		environ []string
		limitMB int
		want    string
	}{
		{nil, 0, "GOGC=25, no memory limit"},
		{nil, 512, "GOGC=400, memory limit 512 MiB"},
		{[]string{"GOGC=100"}, 512, "GOGC=100, memory limit 512 MiB"},  // the runtime read GOGC; here it is what was set
		{[]string{"GOMEMLIMIT=1GiB"}, 512, "GOGC=25, no memory limit"}, // the runtime honours GOMEMLIMIT itself
	} {
		prev := debug.SetGCPercent(100)
		restore := tuneGC(c.environ, c.limitMB)
		got := gcSetting()
		restore()
		debug.SetGCPercent(prev)
		if got != c.want {
			t.Errorf("tuneGC(%v, %d): %s, want %s", c.environ, c.limitMB, got, c.want)
		}
		if after := gcSetting(); !strings.HasPrefix(after, "GOGC=") || after != before {
			t.Errorf("after restore: %s, want %s", after, before)
		}
	}
}
