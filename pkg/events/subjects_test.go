package events

import (
	"errors"
	"slices"
	"testing"
)

func TestSubjects(t *testing.T) {
	s := MustSubjects("")
	want := []string{"segment.requested", "definition.created", "job.succeeded", "export.succeeded", "batch.ready",
		"request.rejected", "definition.failed", "job.failed", "export.failed", "batch.failed", "dlq.*"}
	if got := s.All(); !slices.Equal(got, want) {
		t.Fatalf("All = %v", got)
	}
	p := MustSubjects("acme.prod")
	for _, sub := range p.All() {
		if sub[:10] != "acme.prod." {
			t.Errorf("%q lacks the prefix", sub)
		}
	}
	if p.DeadLetter(StageReader) != "acme.prod.dlq.reader" || p.Requested != "acme.prod.segment.requested" {
		t.Errorf("prefixed: %+v", p)
	}
	// Each stage's output is the next one's input.
	stages := Stages()
	for i, st := range stages[:len(stages)-1] {
		if s.Output(st) != s.Input(stages[i+1]) {
			t.Errorf("%s's output %q is not %s's input %q", st, s.Output(st), stages[i+1], s.Input(stages[i+1]))
		}
	}
	if s.Input(StageDefiner) != s.Requested || s.Output(StageReader) != s.BatchReady {
		t.Error("pipeline ends")
	}
	for _, st := range stages {
		if s.Failure(st) == "" || !st.Valid() {
			t.Errorf("%s", st)
		}
	}
	if Stage("x").Valid() || s.Input("x") != "" {
		t.Error("unknown stage")
	}
	if s.For(sampleBatchReady()) != "batch.ready" || s.For(sampleDeadLetter()) != "dlq.exporter" || s.For(sampleRequest()) != "segment.requested" {
		t.Error("For")
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, ok := range []string{"", "acme", "acme.prod", "a-b_c.D9"} {
		if err := ValidatePrefix(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{".", "acme.", ".acme", "a..b", "a b", "a*", "a.>", "a/b", "é", "$JS", string(make([]byte, 65))} {
		err := ValidatePrefix(bad)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v", bad, err)
		}
		if _, err := NewSubjects(bad); err == nil {
			t.Errorf("NewSubjects(%q) passed", bad)
		}
	}
}
