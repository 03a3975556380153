package gen

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// mix64 is SplitMix64's finalizer. It is a bijection on uint64, so ids
// built from mix64(i ^ key) are unique by construction, not by luck.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// runKeys are the per-Seed keys every id and random stream is derived
// from. Separate keys keep the streams independent: changing how events
// are drawn does not change profiles.
type runKeys struct {
	profileA, profileB uint64 // profile random stream
	eventA, eventB     uint64 // event random stream
	ecid, ecidTail     uint64
	recordID, recordB  uint64 // profile _id
	eventID, eventSeq  uint64 // event _id
	order              uint64 // purchaseID
	crm                uint64
}

func newRunKeys(seed int64) runKeys {
	k := uint64(seed)
	next := func() uint64 {
		k += 0x9e3779b97f4a7c15 // the golden-ratio increment of SplitMix64
		return mix64(k)
	}
	return runKeys{
		profileA: next(), profileB: next(), eventA: next(), eventB: next(),
		ecid: next(), ecidTail: next(), recordID: next(), recordB: next(),
		eventID: next(), eventSeq: next(), order: next(), crm: next(),
	}
}

// rng wraps PCG with the draws the generator needs. Uniform integers and
// coin flips use integer arithmetic only, so they do not depend on the
// platform's floating point.
type rng struct{ pcg rand.PCG }

// seed starts the stream of one profile: (a, b) come from mix64 of the
// profile index, so neighbouring profiles get unrelated PCG states.
func (r *rng) seed(a, b uint64) { r.pcg.Seed(a, b) }

func (r *rng) u64() uint64 { return r.pcg.Uint64() }

// intn returns a uniform int in [0, n), n > 0 (Lemire's method).
func (r *rng) intn(n int) int {
	hi, lo := bits.Mul64(r.u64(), uint64(n))
	if lo < uint64(n) {
		thresh := -uint64(n) % uint64(n)
		for lo < thresh {
			hi, lo = bits.Mul64(r.u64(), uint64(n))
		}
	}
	return int(hi)
}

// between returns a uniform int in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) * 0x1p-53 }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// pick returns an index drawn with the given weights (in any unit).
func (r *rng) pick(weights []int32) int {
	total := 0
	for _, w := range weights {
		total += int(w)
	}
	x := r.intn(total)
	for i, w := range weights {
		if x < int(w) {
			return i
		}
		x -= int(w)
	}
	return len(weights) - 1
}

// geometric returns the number of failures before the first success of
// trials with success probability p, capped at limit.
func (r *rng) geometric(p float64, limit int) int {
	n := 0
	for n < limit && !r.chance(p) {
		n++
	}
	return n
}

// gamma2 returns a Gamma(shape 2, mean 1) variate: a per-profile activity
// level, so that a few heavy users do much of the traffic.
func (r *rng) gamma2() float64 {
	u := (1 - r.float()) * (1 - r.float()) // in (0, 1]
	return -0.5 * math.Log(u)
}

// poisson returns a Poisson(lambda) variate: exact (Knuth) for small
// lambda, a rounded normal above 30 where the two are indistinguishable.
func (r *rng) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda < 30 {
		limit := math.Exp(-lambda)
		n, p := 0, r.float()
		for p > limit {
			n++
			p *= r.float()
		}
		return n
	}
	u1, u2 := 1-r.float(), r.float()
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	// The conversion keeps the compiler from fusing the multiply-add
	// (it does on arm64), which could round differently than on amd64.
	return max(0, int(math.Round(lambda+float64(math.Sqrt(lambda)*z))))
}
