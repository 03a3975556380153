package platform

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestWithSandboxSendsTheCallToThatSandbox(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		writeTestJSON(w, http.StatusCreated, map[string]any{"id": "b1", "status": "loading"})
	})
	c := f.client() // works in dev-1
	ctx := context.Background()
	if _, err := c.CreateBatch(WithSandbox(ctx, "staging"), "ds1", FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBatch(WithSandbox(ctx, ""), "ds1", FormatJSON, false); err != nil {
		t.Fatal(err)
	}
	// A bad name fails before anything is sent, and is not retried.
	_, err := c.CreateBatch(WithSandbox(ctx, "Not A Sandbox"), "ds1", FormatJSON, false)
	if err == nil || !strings.Contains(err.Error(), "not a sandbox name") {
		t.Errorf("a bad sandbox name: %v", err)
	}
	reqs, _ := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, want := range []string{"staging", "dev-1"} {
		if got := reqs[i].Header.Get("x-sandbox-name"); got != want {
			t.Errorf("call %d went to sandbox %q, want %q", i, got, want)
		}
	}
	if c.Sandbox() != "dev-1" {
		t.Errorf("the client's own sandbox is now %q", c.Sandbox())
	}
}
