package platform

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// Backoff is capped exponential backoff: the n-th wait (from 0) is drawn
// from [0, min(Max, Initial·Multiplier^n)] (full jitter), so that many
// clients failing together do not retry together.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
}

// orDefault fills the zero fields of b from def.
func (b Backoff) orDefault(def Backoff) Backoff {
	if b.Initial <= 0 {
		b.Initial = def.Initial
	}
	if b.Max <= 0 {
		b.Max = def.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = def.Multiplier
	}
	return b
}

// ceiling is the cap of the n-th wait, before jitter.
func (b Backoff) ceiling(n int) time.Duration {
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(n))
	if d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d) {
		return b.Max
	}
	return time.Duration(d)
}

// full is the n-th retry wait: full jitter.
func (b Backoff) full(n int) time.Duration {
	return time.Duration(rand.Int64N(int64(b.ceiling(n)) + 1))
}

// half is the n-th polling wait: in [ceiling/2, ceiling], so that polls
// spread out but never spin.
func (b Backoff) half(n int) time.Duration {
	c := b.ceiling(n)
	return c/2 + time.Duration(rand.Int64N(int64(c/2)+1))
}

// RetryPolicy says how a Client retries.
type RetryPolicy struct {
	// MaxAttempts is the most attempts a call makes, the first included;
	// 1 disables retries. Default 5.
	MaxAttempts int
	// Backoff spaces the attempts. Default 250 ms doubling to 10 s.
	Backoff Backoff
	// MaxRetryAfter is the longest Retry-After (or retryAfterMs) the client
	// waits out itself; a longer one ends the call with the *Error, whose
	// RetryAfter tells the caller when to come back. Default 1 minute.
	MaxRetryAfter time.Duration
}

var defaultBackoff = Backoff{Initial: 250 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2}

func (p RetryPolicy) orDefault() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	p.Backoff = p.Backoff.orDefault(defaultBackoff)
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = time.Minute
	}
	return p
}

// maxRetryAfter bounds the Retry-After values parsed, so a silly header
// cannot overflow a Duration.
const maxRetryAfter = 24 * time.Hour

// safeToRetry: repeating the request cannot do anything twice. GET, HEAD,
// PUT, DELETE and OPTIONS are idempotent by HTTP's definition; a POST only
// when its operation says so (a repeated COMPLETE changes nothing, a
// repeated create makes a second object).
func safeToRetry(method string, idempotent bool) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return idempotent
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
