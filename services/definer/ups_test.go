package definer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/stage/stagetest"
)

// The definer against a real ups: the happy path, exactly-once creation,
// and what ups refuses.

const usPQL = `homeAddress.countryCode = "US"`

// usPQLJSON is usPQL in pql/json.
const usPQLJSON = `{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":"countryCode","object":{"nodeType":"fieldLookup","fieldName":"homeAddress","object":{"nodeType":"parameterReference","position":1}}},{"nodeType":"literal","literalType":"String","value":"US"}]}`

func definitionsNamed(t *testing.T, c *platform.Client, name string) []platform.SegmentDefinition {
	t.Helper()
	found, err := c.FindSegmentDefinitions(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestUPS(t *testing.T) {
	base, _ := stagetest.StartUPS(t, 5) // three in the US, two in Canada
	h := startHarness(t, base, fastConfig())

	t.Run("created with an estimate", func(t *testing.T) {
		h.publishRequest(t, withEstimate(request("r-us", "us", usPQL), 1, 10))
		d := h.created.Wait(t, "r-us", 1)
		if d.RequestID != "r-us" || d.Segment.ID == "" || d.Segment.Name != "us" || d.Segment.Expression.Value != usPQL || d.Labels["team"] != "growth" || d.Sandbox != "prod" {
			t.Fatalf("definition.created %+v", d)
		}
		if d.Estimate == nil || d.Estimate.EstimatedSize != 3 || d.Estimate.PreviewID == "" || d.Estimate.ProfilesRead != 5 {
			t.Fatalf("estimate %+v", d.Estimate)
		}
		if tm := d.Timings.Definer; tm == nil || tm.End.Before(tm.Start) || d.Timings.Requested.IsZero() {
			t.Fatalf("timings %+v", d.Timings)
		}
		found := definitionsNamed(t, h.client, "us")
		if len(found) != 1 || found[0].ID != d.Segment.ID || found[0].Expression.Value != usPQL {
			t.Fatalf("ups holds %+v", found)
		}
	})

	t.Run("the same request again reuses the definition", func(t *testing.T) {
		first := h.created.Wait(t, "r-us", 1)
		h.publishRequest(t, withEstimate(request("r-us", "us", usPQL), 1, 10))
		again := h.created.Wait(t, "r-us", 2)
		if again.Segment.ID != first.Segment.ID || again.Estimate == nil || again.Estimate.PreviewID != first.Estimate.PreviewID {
			t.Fatalf("again %+v, first %+v", again, first)
		}
		if found := definitionsNamed(t, h.client, "us"); len(found) != 1 {
			t.Fatalf("ups holds %d definitions named us", len(found))
		}
	})

	t.Run("a new request of the same name and query, in pql/json, reuses it", func(t *testing.T) {
		r := request("r-us-json", "us", usPQLJSON)
		r["definition"].(map[string]any)["expression"] = map[string]any{"format": "pql/json", "value": usPQLJSON}
		h.publishRequest(t, withEstimate(r, 1, -1))
		d := h.created.Wait(t, "r-us-json", 1)
		if d.Segment.ID != h.created.Wait(t, "r-us", 1).Segment.ID || d.Estimate == nil || d.Estimate.EstimatedSize != 3 {
			t.Fatalf("definition.created %+v", d)
		}
		if found := definitionsNamed(t, h.client, "us"); len(found) != 1 {
			t.Fatalf("ups holds %d definitions named us", len(found))
		}
	})

	t.Run("an earlier attempt's lost create is found by name", func(t *testing.T) {
		def, err := h.client.CreateSegmentDefinition(context.Background(), platform.SegmentDefinition{Name: "lost", Expression: platform.PQL(usPQL)})
		if err != nil {
			t.Fatal(err)
		}
		h.SeedIntent(t, events.Intent{RequestID: "r-lost", Step: "create-definition", Started: time.Now().Add(-time.Minute), Updated: time.Now().Add(-time.Minute)})
		h.publishRequest(t, request("r-lost", "lost", usPQL))
		d := h.created.Wait(t, "r-lost", 1)
		if d.Segment.ID != def.ID || d.Estimate != nil {
			t.Fatalf("definition.created %+v, want segment %s", d, def.ID)
		}
		if found := definitionsNamed(t, h.client, "lost"); len(found) != 1 {
			t.Fatalf("ups holds %d definitions named lost", len(found))
		}
	})

	t.Run("rejections", func(t *testing.T) {
		for _, tc := range []struct {
			id, field, reason string
			req               map[string]any
		}{
			{"r-taken", "definition.name", "already exists", request("r-taken", "us", `homeAddress.countryCode = "CA"`)},
			{"r-small", "estimate.minSize", "below estimate.minSize 100", withEstimate(request("r-small", "ca-big", `homeAddress.countryCode = "CA"`), 100, -1)},
			{"r-big", "estimate.maxSize", "above estimate.maxSize 2", withEstimate(request("r-big", "us-small", usPQL), -1, 2)},
			{"r-policy", "definition.mergePolicyId", "mergePolicyId", func() map[string]any {
				r := request("r-policy", "policy", usPQL)
				r["definition"].(map[string]any)["mergePolicyId"] = "no-such-policy"
				return r
			}()},
			{"r-policy-estimate", "definition.mergePolicyId", "mergePolicyId", func() map[string]any {
				r := withEstimate(request("r-policy-estimate", "policy", usPQL), 0, -1)
				r["definition"].(map[string]any)["mergePolicyId"] = "no-such-policy"
				return r
			}()},
		} {
			t.Run(tc.id, func(t *testing.T) {
				h.publishRequest(t, tc.req)
				f := h.rejected.Wait(t, tc.id, 1)
				if !f.Rejected || f.Field != tc.field || !strings.Contains(f.Reason, tc.reason) || f.Attempts != 1 || f.Retryable || f.Stage != events.StageDefiner {
					t.Fatalf("rejection %+v", f)
				}
			})
		}
		// Rejected for their size: nothing was created.
		for _, name := range []string{"ca-big", "us-small", "policy"} {
			if found := definitionsNamed(t, h.client, name); len(found) != 0 {
				t.Errorf("ups holds a definition named %s: %+v", name, found)
			}
		}
		if f := h.rejected.Wait(t, "r-policy", 1); f.PlatformError == nil || f.PlatformError.Status != 400 || f.PlatformError.Operation != "CreateSegmentDefinition" {
			t.Errorf("the Platform's error: %+v", f.PlatformError)
		}
	})

	h.Settled(t)
	if n := h.failed.Count(); n != 0 {
		t.Errorf("%d definition.failed events", n)
	}
}

// TestUPSConcurrentRequests sends several requests of one name and query
// at once: ups holds one definition, and each request gets it.
func TestUPSConcurrentRequests(t *testing.T) {
	base, _ := stagetest.StartUPS(t, 5) // three in the US, two in Canada
	h := startHarness(t, base, fastConfig())
	const n = 6
	for i := range n {
		h.publishRequest(t, request(fmt.Sprintf("r-%d", i), "shared", usPQL))
	}
	var id string
	for i := range n {
		d := h.created.Wait(t, fmt.Sprintf("r-%d", i), 1)
		if id == "" {
			id = d.Segment.ID
		}
		if d.Segment.ID != id {
			t.Errorf("request %d got segment %s, another %s", i, d.Segment.ID, id)
		}
	}
	if found := definitionsNamed(t, h.client, "shared"); len(found) != 1 {
		t.Fatalf("ups holds %d definitions named shared", len(found))
	}
	h.Settled(t)
}
