package client

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// maxRand always draws the top of the range, so delays equal their ceiling.
func maxRand(n int64) int64 { return n - 1 }

func TestBackoffGrowsToCap(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second, maxRand)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		if got := b.next(); got != w*time.Millisecond {
			t.Fatalf("delay %d = %v, want %v", i, got, w*time.Millisecond)
		}
	}
}

func TestBackoffFullJitterRange(t *testing.T) {
	// The random source is asked for [0, ceiling] inclusive: n = ceiling+1.
	var asked []int64
	b := newBackoff(100*time.Millisecond, 300*time.Millisecond, func(n int64) int64 {
		asked = append(asked, n)
		return 0
	})
	for range 4 {
		if d := b.next(); d != 0 {
			t.Fatalf("with a zero draw, delay = %v, want 0", d)
		}
	}
	want := []int64{int64(100*time.Millisecond) + 1, int64(200*time.Millisecond) + 1, int64(300*time.Millisecond) + 1, int64(300*time.Millisecond) + 1}
	for i := range want {
		if asked[i] != want[i] {
			t.Fatalf("draw %d asked n=%d, want %d", i, asked[i], want[i])
		}
	}
}

func TestBackoffJitteredAndBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const maxDelay = 2 * time.Second
	b := newBackoff(50*time.Millisecond, maxDelay, r.Int64N)
	seen := map[time.Duration]bool{}
	for i := range 200 {
		d := b.next()
		if d < 0 || d > maxDelay {
			t.Fatalf("delay %d = %v, outside [0, %v]", i, d, maxDelay)
		}
		seen[d] = true
	}
	if len(seen) < 150 {
		t.Fatalf("only %d distinct delays in 200: not jittered", len(seen))
	}
}

func TestBackoffReset(t *testing.T) {
	b := newBackoff(100*time.Millisecond, 10*time.Second, maxRand)
	for range 5 {
		b.next()
	}
	if d := b.next(); d != 3200*time.Millisecond {
		t.Fatalf("6th delay = %v, want 3.2s", d)
	}
	b.reset()
	if d := b.next(); d != 100*time.Millisecond {
		t.Fatalf("delay after reset = %v, want 100ms", d)
	}
}

func TestBackoffNoOverflow(t *testing.T) {
	b := newBackoff(time.Nanosecond, math.MaxInt64, maxRand)
	prev := time.Duration(0)
	for i := range 200 {
		d := b.next()
		if d < prev {
			t.Fatalf("delay %d = %v shrank from %v", i, d, prev)
		}
		prev = d
	}
	if prev != math.MaxInt64-1 {
		t.Fatalf("final delay = %v, want the cap", prev)
	}
}
