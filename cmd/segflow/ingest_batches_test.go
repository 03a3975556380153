package main

import (
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/platform"
)

func TestPlanBatches(t *testing.T) {
	ds := platform.Dataset{ID: "d"}
	f := func(name, format string, multi bool) inputFile {
		return inputFile{path: name, format: format, multiLine: multi}
	}
	plan := planBatches([]ingestTarget{{dataset: ds, files: []inputFile{
		f("1", "json", false), f("2", "parquet", false), f("3", "json", false), f("4", "json", true), f("5", "json", false),
	}}}, 2)
	var got []string
	for _, b := range plan {
		var names []string
		for _, f := range b.files {
			names = append(names, f.path)
		}
		got = append(got, strings.Join(names, "+"))
	}
	if want := "1+3 5 2 4"; strings.Join(got, " ") != want {
		t.Fatalf("batches %q, want %q", got, want)
	}
}
