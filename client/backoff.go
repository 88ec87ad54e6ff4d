package client

import (
	"math"
	"time"
)

// backoff is the reconnect delay policy: exponential growth with full
// jitter. The n-th consecutive delay (n from 0) is uniform in
// [0, min(max, min*2^n)], the "full jitter" of the AWS architecture blog
// post on backoff: spreading each delay over the whole range, rather than
// adding a little noise to a fixed curve, keeps a crowd of clients that lost
// the same server from coming back in synchronised waves.
//
// A backoff is owned by one goroutine (the run loop) and is not safe for
// concurrent use.
type backoff struct {
	min, max time.Duration
	// randN returns a uniform integer in [0, n); n is always > 0.
	randN func(n int64) int64

	// attempt counts delays handed out since the last reset. It stops
	// growing once the ceiling reaches max, so it cannot overflow.
	attempt int
}

func newBackoff(min, max time.Duration, randN func(n int64) int64) *backoff {
	return &backoff{min: min, max: max, randN: randN}
}

// ceiling is the upper bound of the next delay: min(max, min*2^attempt).
func (b *backoff) ceiling() time.Duration {
	d := b.min
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
		if d <= 0 { // overflowed int64: far past any cap
			return b.max
		}
	}
	return min(d, b.max)
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	c := b.ceiling()
	if c < b.max {
		b.attempt++
	}
	// +1: the range is closed, so the ceiling itself can be drawn.
	n := int64(c)
	if n < math.MaxInt64 {
		n++
	}
	return time.Duration(b.randN(n))
}

// reset starts the growth over; the run loop calls it after a connection
// stayed up for Options.StableAfter.
func (b *backoff) reset() { b.attempt = 0 }
