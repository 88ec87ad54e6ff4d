package wsgate

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/herald-push/herald/pushsvc"
)

// Drain closes every connection gracefully: new upgrades are refused at
// once; each connection's queued pushes are written, then it gets
// Disconnect{reconnect: true, reconnect_after: a jittered delay} and close
// 1001. Closes are spread evenly, in random order, over the first 80% of
// window so that clients do not all reconnect to the remaining nodes at
// once. Drain returns when every connection is gone, its lingering close
// included, or when ctx ends, in which case the rest are cut.
func (g *Gateway) Drain(ctx context.Context, window time.Duration) {
	g.BeginDrain()
	var all []*conn
	for i := range g.shards {
		all = g.snapshot(i, all)
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	spread := window * 8 / 10
	start := time.Now()
	const step = 10 * time.Millisecond
	t := time.NewTicker(step)
	defer t.Stop()
	for next := 0; next < len(all); {
		due := len(all)
		if spread > 0 {
			due = int(int64(len(all)) * int64(time.Since(start)) / int64(spread))
		}
		for ; next < len(all) && next <= due; next++ {
			d := pushsvc.DisconnectShutdown
			// Each client waits a little more on its own, which spreads
			// reconnects within one step as well.
			d.ReconnectAfter = time.Duration(rand.Int64N(int64(step) * 10))
			all[next].sess.Close(d)
		}
		if next >= len(all) {
			break
		}
		select {
		case <-ctx.Done():
			g.Close()
			return
		case <-t.C:
		}
	}
	// Wait for the last closes to be written, the read loops to end and
	// the lingering closes to finish (see linger.go), which Close would
	// cut: a client still sending would then lose its Disconnect.
	for g.count.Load() > 0 || g.lingers.count() > 0 {
		select {
		case <-ctx.Done():
			g.Close()
			return
		case <-t.C:
		}
	}
	g.Close()
}
