package bench

import (
	"context"
	"testing"
	"time"
)

func TestPacerEmitsExactCount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []struct {
		rate float64
		d    time.Duration
		want int
	}{
		{2000, 100 * time.Millisecond, 200}, // batched on the 1 ms floor
		{50, 100 * time.Millisecond, 5},
		{0.5, 2 * time.Second, 1},
		{0.1, time.Second, 1}, // at least one
	} {
		p := newPacer(c.rate, c.d)
		if p.total != c.want {
			t.Fatalf("newPacer(%v, %v).total = %d, want %d", c.rate, c.d, p.total, c.want)
		}
		var got []int
		n := p.run(ctx, func(i int) { got = append(got, i) })
		if n != c.want || len(got) != c.want {
			t.Fatalf("rate %v over %v: emitted %d (%d calls), want %d", c.rate, c.d, n, len(got), c.want)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("event %d has index %d: out of order", i, v)
			}
		}
	}
}

func TestPacerStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := pacer{rate: 1000, total: 1_000_000} // 1,000 s if not stopped
	n := p.run(ctx, func(i int) {
		if i == 99 {
			cancel()
		}
	})
	if n != 100 {
		t.Fatalf("emitted %d after cancelling at the 100th, want 100", n)
	}
}
