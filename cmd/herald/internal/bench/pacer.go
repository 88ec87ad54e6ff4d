package bench

import (
	"context"
	"math"
	"time"
)

// minPacerWait is the pacer's coarsest sleep: at rates above 1,000/s it
// wakes once a millisecond and emits every event that has come due, since
// a timer per event would cost more than the events.
const minPacerWait = time.Millisecond

// pacer emits a fixed number of events at a steady rate: event i comes due
// at start + i/rate. Its count is exact whatever the timing; only a
// cancelled context ends it early.
type pacer struct {
	rate  float64 // events per second, > 0
	total int     // events to emit
}

// newPacer paces rate events per second over d: round(rate*d) events,
// at least one.
func newPacer(rate float64, d time.Duration) pacer {
	n := int(math.Round(rate * d.Seconds()))
	return pacer{rate: rate, total: max(n, 1)}
}

// run calls fn(i) for every event in order, from the calling goroutine,
// and returns how many it emitted. fn should not block for long: events
// that come due meanwhile are emitted back to back afterwards.
func (p pacer) run(ctx context.Context, fn func(i int)) int {
	if p.rate <= 0 || p.total <= 0 {
		return 0
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	n := 0
	for n < p.total {
		due := min(int(time.Since(start).Seconds()*p.rate)+1, p.total)
		for ; n < due; n++ {
			if ctx.Err() != nil {
				return n
			}
			fn(n)
		}
		if n == p.total {
			break
		}
		next := start.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
		timer.Reset(max(time.Until(next), minPacerWait))
		select {
		case <-ctx.Done():
			return n
		case <-timer.C:
		}
	}
	return n
}
