package exporter

import (
	"strings"
	"testing"

	"github.com/segflow/segflow/pkg/events"
)

func TestDatasetName(t *testing.T) {
	h := &Handler{cfg: DefaultConfig()}
	seg := func(name, id string, x *events.ExportRequest) events.JobSucceeded {
		return events.JobSucceeded{Segment: events.Segment{ID: id, Name: name}, Request: events.Request{Export: x}}
	}
	for _, tc := range []struct {
		in   events.JobSucceeded
		want string
	}{
		{seg("US cart abandoners", "id", nil), "segflow-us-cart-abandoners"},
		{seg("  --Spring 2026: VIPs (EU/UK) --", "id", nil), "segflow-spring-2026-vips-eu-uk"},
		{seg("snake_case_name", "id", nil), "segflow-snake_case_name"},
		{seg("Ünïcödé ☃", "id", nil), "segflow-n-c-d"},
		{seg("☃☃", "4afe34ae-8c98", nil), "segflow-4afe34ae-8c98"},
		{seg("x", "id", &events.ExportRequest{DatasetName: "  Exact Name  "}), "Exact Name"},
		{seg("x", "id", &events.ExportRequest{DatasetName: "   "}), "segflow-x"},
		{seg(strings.Repeat("ab ", 100), "id", nil), ("segflow-" + strings.Repeat("ab-", 50))[:127]},
	} {
		if got := h.datasetName(tc.in); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in.Segment.Name, got, tc.want)
		}
	}
}

func TestUnixMilli(t *testing.T) {
	if unixMilli(1_700_000_000) != 1_700_000_000_000 || unixMilli(1_700_000_000_123) != 1_700_000_000_123 || unixMilli(0) != 0 {
		t.Error("unixMilli")
	}
}
