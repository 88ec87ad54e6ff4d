package wsgate

import (
	"time"

	"github.com/lxzan/gws"
)

// heartbeatSlices is how many parts each heartbeat interval is cut into:
// every tick pings the connections of 1/heartbeatSlices of the registry
// shards, so pings are spread over the interval instead of bursting.
const heartbeatSlices = 16

// heartbeat pings every connection once per interval. A connection that
// answers nothing is closed by its read deadline, not by this loop.
func (g *Gateway) heartbeat() {
	defer g.stopped.Done()
	t := time.NewTicker(g.opts.HeartbeatInterval / heartbeatSlices)
	defer t.Stop()
	var buf []*conn
	for tick := 0; ; tick++ {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		buf = buf[:0]
		for i := tick % heartbeatSlices; i < registryShards; i += heartbeatSlices {
			buf = g.snapshot(i, buf)
		}
		for _, c := range buf {
			c.ping()
		}
		clear(buf)
		if g.handshakes != nil {
			// The same spread forgets the idle IPs of the handshake
			// limiter, so that its map shrinks after a flood.
			now := time.Now()
			for i := tick % heartbeatSlices; i < ipLimiterShards; i += heartbeatSlices {
				g.handshakes.sweep(i, now)
			}
		}
	}
}

// ping queues a protocol ping behind the connection's pending writes.
func (c *conn) ping() {
	c.socket.Async(func() {
		c.armWriteDeadline()
		_ = c.socket.WriteMessage(gws.OpcodePing, nil)
	})
}
