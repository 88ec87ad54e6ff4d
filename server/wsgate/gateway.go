package wsgate

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"

	"github.com/herald-push/herald/pushsvc"
)

const registryShards = 64

// readBufferSize is each connection's read buffer.
const readBufferSize = 256

// Gateway serves GET /ws.
type Gateway struct {
	// immutable after New
	opts        Options
	upgrader    *gws.Upgrader
	readTimeout time.Duration
	metrics     *metrics
	seed        maphash.Seed
	origins     *origins   // nil: no Origin check
	handshakes  *ipLimiter // nil: no handshake rate limit
	frameRate   rate.Limit // 0: no frame rate limit
	frameBurst  int
	frameFlood  pushsvc.Disconnect // sent to a connection over frameRate
	// heartbeatLost is sent to a connection silent past readTimeout.
	// Code 1008: the contract has no code for a missed heartbeat, and
	// answering pings (or sending frames) is a rule of this server, a
	// policy; 1000 would say all went well, 1001 and 1013 would blame the
	// server, 1011 an error of ours.
	heartbeatLost pushsvc.Disconnect
	lingers       *lingerer
	writers       *writerPool

	draining atomic.Bool
	count    atomic.Int64 // connections registered

	// Connection limits; see ticket.
	slots   atomic.Int64 // connections admitted, when MaxConnections is set
	perIP   *counter[netip.Addr]
	perUser *counter[string]

	// life orders handshakes before Close: a handshake holds it for
	// reading, so Close's write lock waits for those in progress, and
	// later ones see closed. Thus no read loop starts after Close.
	life   sync.RWMutex
	closed bool // guarded by life

	shards [registryShards]struct {
		mu    sync.Mutex // guards conns
		conns map[*conn]struct{}
	}

	loops   sync.WaitGroup // one per connection's read loop
	stop    chan struct{}  // closed by Close
	stopped sync.WaitGroup // the heartbeat goroutine
	once    sync.Once
}

// New builds a Gateway and starts its heartbeat.
func New(opts Options) (*Gateway, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	g := &Gateway{
		opts:        opts,
		readTimeout: opts.HeartbeatInterval * time.Duration(opts.MissedHeartbeats),
		seed:        maphash.MakeSeed(),
		perIP:       newCounter[netip.Addr](),
		perUser:     newCounter[string](),
		stop:        make(chan struct{}),
	}
	g.origins, _ = parseOrigins(opts.AllowedOrigins) // validated above
	g.heartbeatLost = pushsvc.Disconnect{
		Code:      pushsvc.CodePolicy,
		Reason:    fmt.Sprintf("no heartbeat for %d intervals of %v: answer pings, or send Ping frames", opts.MissedHeartbeats, opts.HeartbeatInterval),
		Reconnect: true,
	}
	g.metrics = newMetrics(opts.Registerer, g)
	g.lingers = newLingerer(maxLingering, lingerTimeout, g.metrics.lingerSkipped.Inc)
	g.writers = newWriterPool(writerCount(runtime.GOMAXPROCS(0)), writerSlice, g.metrics.flushWait)
	if r := opts.MaxHandshakesPerIPPerSecond; r > 0 {
		g.handshakes = newIPLimiter(r, ipLimiterCapacity, g.metrics.ipsEvicted.Inc)
	}
	if r := opts.ClientFramesPerSecond; r > 0 {
		g.frameRate, g.frameBurst = rate.Limit(r), burstOf(r)
		g.frameFlood = pushsvc.Disconnect{
			Code:           pushsvc.CodePolicy,
			Reason:         fmt.Sprintf("too many frames: at most %g per second", r),
			Reconnect:      true,
			ReconnectAfter: floodReconnectAfter,
		}
	}
	for i := range g.shards {
		g.shards[i].conns = make(map[*conn]struct{})
	}
	g.upgrader = gws.NewUpgrader(&handler{g: g}, &gws.ServerOption{
		ReadMaxPayloadSize: opts.MaxFrameBytes,
		// Client frames are small (pings, acks, resumes); a 256-byte read
		// buffer instead of gws's 4 KiB saves 3.75 KiB per idle
		// connection. A bigger frame still reads, with a few more read
		// calls: bufio reads a large payload straight into its buffer.
		ReadBufferSize:   readBufferSize,
		HandshakeTimeout: opts.HandshakeTimeout,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled: !opts.DisableCompression,
			// No context takeover: it costs 8 KiB per connection, and
			// without it a compressed frame is the same for every
			// connection, so it is compressed once (rawwrite.go).
			ServerContextTakeover: false,
			ClientContextTakeover: false,
			Threshold:             opts.CompressThreshold,
		},
		NewSession: func() gws.SessionStorage { return &slot{} },
		Logger:     gwsLogger{opts.Logger},
		Recovery:   gws.Recovery,
	})
	g.stopped.Add(1)
	go g.heartbeat()
	return g, nil
}

func (g *Gateway) shardOf(c *conn) int {
	return int(maphash.String(g.seed, c.sess.ID()) % registryShards)
}

func (g *Gateway) register(c *conn) {
	c.shard = g.shardOf(c)
	sh := &g.shards[c.shard]
	sh.mu.Lock()
	sh.conns[c] = struct{}{}
	sh.mu.Unlock()
	g.count.Add(1)
	g.metrics.connections.Inc()
}

func (g *Gateway) unregister(c *conn) {
	sh := &g.shards[c.shard]
	sh.mu.Lock()
	_, ok := sh.conns[c]
	delete(sh.conns, c)
	sh.mu.Unlock()
	if ok {
		g.count.Add(-1)
		g.metrics.connections.Dec()
	}
}

// snapshot returns the connections of shard i.
func (g *Gateway) snapshot(i int, dst []*conn) []*conn {
	sh := &g.shards[i]
	sh.mu.Lock()
	for c := range sh.conns {
		dst = append(dst, c)
	}
	sh.mu.Unlock()
	return dst
}

// Connections reports the connections open on this gateway.
func (g *Gateway) Connections() int { return int(g.count.Load()) }

// Close force-closes every connection, lingering ones included, and waits
// for their read loops, their lingering closes, the heartbeat and the
// writers to end. Use Drain first for a graceful stop.
func (g *Gateway) Close() {
	g.draining.Store(true)
	g.life.Lock()
	g.closed = true
	g.life.Unlock()
	g.once.Do(func() { close(g.stop) })
	g.stopped.Wait()
	// First, so that no close from now on lingers.
	g.lingers.close()
	for i := range g.shards {
		for _, c := range g.snapshot(i, nil) {
			_ = c.wire.Conn.Close()
		}
	}
	g.loops.Wait()
	// Last: the sessions are gone with their read loops, so no flush is
	// scheduled from here on, and the writes being finished fail at once
	// on the closed sockets.
	g.writers.close()
}

// Ready reports whether the gateway accepts new connections.
func (g *Gateway) Ready() bool { return !g.draining.Load() }

// BeginDrain refuses new connections from now on (503).
func (g *Gateway) BeginDrain() { g.draining.Store(true) }
