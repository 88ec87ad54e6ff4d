package wsgate

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"golang.org/x/time/rate"

	"github.com/herald-push/herald/pushsvc"
)

// closeTimeout bounds the Disconnect and close frames of a closing
// connection, and cuts short a write that a slow consumer has blocked.
const closeTimeout = 2 * time.Second

// conn is one WebSocket connection: the pushsvc Transport over a gws socket.
type conn struct {
	// immutable after the upgrade
	g      *Gateway
	socket *gws.Conn
	wire   *wireConn
	sess   *pushsvc.Session
	user   string
	shard  int
	// corkFn and uncorkFn are the cork tasks, made once: a method value
	// allocates.
	corkFn, uncorkFn func()

	// flush is the session's Writer's Flush, set by the first Schedule
	// (in Service.Connect) and only read after: later calls happen after
	// it and pass the same Writer (pushsvc.Transport). Made once, as a
	// method value per write would allocate.
	flush func()

	// owned by the read loop
	ticket ticket        // released by OnClose
	frames *rate.Limiter // inbound frame rate; nil until the first frame (see countFrames)

	closing atomic.Bool // Close was called

	expMu  sync.Mutex // guards expiry
	expiry *time.Timer
}

var _ pushsvc.Transport = (*conn)(nil)

// Schedule implements pushsvc.Transport on gws's write queue, which runs
// one task at a time and has a goroutine only while it has tasks.
func (c *conn) Schedule(w pushsvc.Writer) {
	if c.flush == nil {
		c.flush = w.Flush
	}
	c.socket.Async(c.flush)
}

// Write implements pushsvc.Transport. It sets no deadline of its own: the
// socket always has one, armed by armWriteDeadline (see there).
func (c *conn) Write(frame []byte) error {
	return c.socket.WriteMessage(gws.OpcodeBinary, frame)
}

// WriteShared implements pushsvc.Transport with a gws Broadcaster, which
// frames and compresses the payload once for every connection it is sent
// to (once per compression setting). Its write is queued behind the running
// task, so it still precedes anything scheduled later.
func (c *conn) WriteShared(o *pushsvc.Outbound) error {
	return broadcaster(o).Broadcast(c.socket)
}

// WriteSharedRun implements pushsvc.Transport: each frame through its
// Broadcaster, as WriteShared, with the socket corked from the first of
// their writes to the last, so that the run costs one write(2) rather than
// one per frame. Cork and uncork are tasks on the write queue like the
// Broadcaster's writes, so they bracket exactly those.
func (c *conn) WriteSharedRun(os []*pushsvc.Outbound) error {
	c.socket.Async(c.corkFn)
	var err error
	for _, o := range os {
		if err = broadcaster(o).Broadcast(c.socket); err != nil {
			break
		}
	}
	c.socket.Async(c.uncorkFn)
	return err
}

// uncork writes what the cork collected; a failed write closes the socket,
// which ends the read loop and the session, as gws does on a write error.
func (c *conn) uncork() {
	if err := c.wire.uncork(); err != nil {
		_ = c.wire.Close()
	}
}

// broadcaster is o's gws Broadcaster, made on first use: it frames and
// compresses o once for every connection.
func broadcaster(o *pushsvc.Outbound) *gws.Broadcaster {
	return o.Prepared(func(data []byte) any { return gws.NewBroadcaster(gws.OpcodeBinary, data) }).(*gws.Broadcaster)
}

// Close implements pushsvc.Transport: a Disconnect frame, then the close
// frame, both behind what is already queued, within closeTimeout; then
// the socket lingers (see linger.go).
func (c *conn) Close(d pushsvc.Disconnect) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.wire.markDisconnectSent()
	frame := pushsvc.EncodeDisconnect(d)
	// The deadline also cuts short a write a slow consumer has blocked,
	// so the close below runs soon.
	_ = c.socket.SetWriteDeadline(time.Now().Add(closeTimeout))
	c.socket.Async(func() {
		_ = c.socket.WriteMessage(gws.OpcodeBinary, frame)
		_ = c.socket.WriteClose(d.Code, []byte(d.Reason))
	})
	c.g.metrics.closes.WithLabelValues(codeLabel(d.Code)).Inc()
}

// countFrames counts n frames the client sent against its rate; over it,
// the connection is closed with 1008. wireConn.Read calls it from the read
// goroutine as the frames' headers arrive. The limiter is made on the
// first frame: an idle connection pays for a pointer, not for a limiter
// (about 100 bytes).
func (c *conn) countFrames(n int) {
	if c.g.frameRate == 0 || c.closing.Load() {
		return
	}
	if c.frames == nil {
		c.frames = rate.NewLimiter(c.g.frameRate, c.g.frameBurst)
	}
	if c.frames.AllowN(time.Now(), n) {
		return
	}
	c.g.metrics.frameFloods.Inc()
	c.g.opts.Logger.Debug("frame rate exceeded", "session", c.sess.ID(), "remote", c.wire.RemoteAddr())
	c.sess.Abort(c.g.frameFlood)
}

// armWriteDeadline gives every write from now until the next heartbeat a
// deadline at least WriteTimeout away. Setting a deadline per write cost a
// tenth of the server's CPU in a 5,000-connection broadcast profile; a
// deadline re-armed once per heartbeat interval bounds a blocked write just
// the same (to WriteTimeout plus one interval), and a client that stops
// reading is cut sooner anyway, when its send queue fills (4003, whose close
// sets a short deadline of its own).
func (c *conn) armWriteDeadline() {
	_ = c.socket.SetWriteDeadline(time.Now().Add(c.g.opts.HeartbeatInterval + c.g.opts.WriteTimeout))
}

// touch pushes the read deadline forward: the peer is alive.
func (c *conn) touch() {
	_ = c.socket.SetReadDeadline(time.Now().Add(c.g.readTimeout))
}

// armExpiry closes the session with 4001 when its token expires.
func (c *conn) armExpiry(at time.Time) {
	if at.IsZero() {
		return
	}
	c.expMu.Lock()
	defer c.expMu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.expiry = time.AfterFunc(time.Until(at), func() { c.sess.Close(pushsvc.DisconnectTokenExpired) })
}

func (c *conn) stopExpiry() {
	c.expMu.Lock()
	defer c.expMu.Unlock()
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
}

// refresh checks a RefreshToken frame's token and, when it is good,
// moves the session's expiry to the new token's.
func (c *conn) refresh(token string) error {
	claims, err := c.g.opts.Verifier.Verify(token)
	if err != nil {
		return err
	}
	if claims.UserID != c.user {
		return errWrongUser
	}
	c.armExpiry(claims.ExpiresAt)
	return nil
}
