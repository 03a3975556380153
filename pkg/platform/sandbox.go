package platform

import (
	"context"
	"fmt"
)

type sandboxKey struct{}

// WithSandbox makes the calls made with ctx work in the named sandbox
// instead of the client's (Config.Sandbox): one client serves requests
// for any sandbox of its org. The name is checked when a call is made.
func WithSandbox(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, sandboxKey{}, name)
}

// sandbox is the sandbox a call with ctx works in, checked once per call
// (before any token is fetched).
func (c *Client) sandbox(ctx context.Context) (string, error) {
	name, ok := ctx.Value(sandboxKey{}).(string)
	if !ok || name == "" {
		return c.cfg.Sandbox, nil
	}
	if !sandboxName.MatchString(name) {
		return "", fmt.Errorf("%q is not a sandbox name: lowercase letters, digits and dashes", name)
	}
	return name, nil
}
