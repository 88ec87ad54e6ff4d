package wsgate

import (
	"errors"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/auth"
)

const registryShards = 64

// Gateway serves GET /ws.
type Gateway struct {
	// immutable after New
	opts        Options
	upgrader    *gws.Upgrader
	readTimeout time.Duration
	metrics     *metrics
	seed        maphash.Seed

	draining atomic.Bool
	count    atomic.Int64 // connections registered

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
		metrics:     newMetrics(opts.Registerer),
		seed:        maphash.MakeSeed(),
		stop:        make(chan struct{}),
	}
	for i := range g.shards {
		g.shards[i].conns = make(map[*conn]struct{})
	}
	g.upgrader = gws.NewUpgrader(&handler{g: g}, &gws.ServerOption{
		ReadMaxPayloadSize: opts.MaxFrameBytes,
		HandshakeTimeout:   opts.HandshakeTimeout,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled: !opts.DisableCompression,
			// No context takeover: it costs 8 KiB per connection and, in
			// gws, corrupts frames shared by a Broadcaster.
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

// ServeHTTP authenticates and upgrades a WebSocket request. Every refusal
// is a plain HTTP error before any upgrade.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.draining.Load() {
		g.refuse(w, http.StatusServiceUnavailable, "draining", "server is shutting down", 1)
		return
	}
	token, err := auth.TokenFromRequest(r)
	if err != nil {
		g.refuse(w, http.StatusUnauthorized, "unauthorized", "missing token", 0)
		return
	}
	claims, err := g.opts.Verifier.Verify(token)
	if err != nil {
		result := "unauthorized"
		if errors.Is(err, auth.ErrExpired) {
			result = "expired"
		}
		g.refuse(w, http.StatusUnauthorized, result, "invalid token", 0)
		return
	}
	if max := g.opts.MaxConnections; max > 0 && g.count.Load() >= int64(max) {
		g.refuse(w, http.StatusServiceUnavailable, "limit", "connection limit reached", 5)
		return
	}
	socket, err := g.upgrader.Upgrade(w, r)
	if err != nil {
		g.metrics.handshakes.WithLabelValues("upgrade_failed").Inc()
		g.opts.Logger.Debug("upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	wire, _ := socket.NetConn().(*wireConn)
	if wire == nil {
		// Served on a listener not wrapped by Listener: count nothing.
		wire = &wireConn{Conn: socket.NetConn(), svc: g.opts.Service}
	}
	c := &conn{g: g, socket: socket, wire: wire, user: claims.UserID}
	socket.Session().(*slot).c = c
	info := pushsvc.SessionInfo{
		UserID:      claims.UserID,
		Groups:      claims.Groups,
		RemoteAddr:  r.RemoteAddr,
		UserAgent:   r.UserAgent(),
		Compressed:  !g.opts.DisableCompression && offersDeflate(r),
		TokenExpiry: claimsExpiry(claims),
		OnRefresh:   c.refresh,
		// ?resume=1 announces a Resume as the first frame: live pushes
		// wait for it, so that replay and live traffic meet exactly.
		AwaitResume: r.URL.Query().Get("resume") == "1",
	}
	sess, err := g.opts.Service.Connect(info, c)
	if err != nil {
		g.metrics.handshakes.WithLabelValues("internal").Inc()
		_ = socket.WriteClose(pushsvc.CodeInternal, []byte("internal error"))
		return
	}
	c.sess = sess
	c.touch()
	c.armExpiry(info.TokenExpiry)
	g.register(c)
	g.metrics.handshakes.WithLabelValues("ok").Inc()
	g.loops.Add(1)
	go func() {
		defer g.loops.Done()
		socket.ReadLoop()
	}()
}

func (g *Gateway) refuse(w http.ResponseWriter, code int, result, msg string, retryAfter int) {
	g.metrics.handshakes.WithLabelValues(result).Inc()
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	http.Error(w, msg, code)
}

// offersDeflate reports whether the request offers permessage-deflate,
// which gws then accepts.
func offersDeflate(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
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

// Close force-closes every connection and waits for their read loops and
// the heartbeat to end. Use Drain first for a graceful stop.
func (g *Gateway) Close() {
	g.draining.Store(true)
	g.once.Do(func() { close(g.stop) })
	g.stopped.Wait()
	for i := range g.shards {
		for _, c := range g.snapshot(i, nil) {
			_ = c.socket.NetConn().Close()
		}
	}
	g.loops.Wait()
}

// Ready reports whether the gateway accepts new connections.
func (g *Gateway) Ready() bool { return !g.draining.Load() }

// Draining reports whether Drain has begun.
func (g *Gateway) Draining() bool { return g.draining.Load() }

// BeginDrain refuses new connections from now on (503).
func (g *Gateway) BeginDrain() { g.draining.Store(true) }
