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
	g       *Gateway
	socket  *gws.Conn
	wire    *wireConn
	sess    *pushsvc.Session
	user    string
	shard   int
	deflate bool // permessage-deflate was negotiated

	// flush is the session's Writer's Flush, set by the first Schedule
	// (in Service.Connect) and only read after: later calls happen after
	// it and pass the same Writer (pushsvc.Transport). Made once, as a
	// method value per flush would allocate.
	flush func()

	// owned by the writers (writers.go)
	nextReady   *conn         // the next in the ready queue; guarded by writerPool.mu
	scheduledAt time.Duration // when last scheduled, since writerPool.epoch; guarded by writerPool.mu
	out         *[]byte       // the running flush's frames, owned by its writer; nil between flushes

	// owned by the read loop
	ticket ticket        // released by OnClose
	frames *rate.Limiter // inbound frame rate; nil until the first frame (see countFrames)

	closing atomic.Bool // Close was called

	expMu  sync.Mutex // guards expiry
	expiry *time.Timer
}

var _ pushsvc.Transport = (*conn)(nil)

// Schedule implements pushsvc.Transport on the gateway's writers
// (writers.go), which run the flush soon, after those scheduled before.
func (c *conn) Schedule(w pushsvc.Writer) {
	if c.flush == nil {
		c.flush = w.Flush
	}
	c.g.writers.schedule(c)
}

// runFlush runs the session's flush on writer w: its frames collect in
// w's buffer, then go to the socket in one write (rawwrite.go). When
// another write holds the socket, the flush is owed to it instead.
func (c *conn) runFlush(w *writer) {
	if !c.wire.tryAcquire() {
		return
	}
	w.frames = w.frames[:0]
	c.out = &w.frames
	c.flush()
	c.out = nil
	c.wire.writeFlush(w.raw, w.frames)
}

// Write implements pushsvc.Transport: the frame joins the flush's buffer,
// compressed for this connection alone when it negotiated deflate and the
// frame is at least CompressThreshold bytes, as gws would.
func (c *conn) Write(frame []byte) error {
	if c.wire.flags.Load()&wireCloseSent != 0 {
		return errWriteClosed
	}
	if c.deflate && len(frame) >= c.g.opts.CompressThreshold {
		*c.out = appendDeflatedFrame(*c.out, frame)
	} else {
		*c.out = appendBinaryFrame(*c.out, frame)
	}
	return nil
}

// WriteShared implements pushsvc.Transport: as Write, but a compressed
// frame is compressed once for every connection (sharedDeflatedFrame).
func (c *conn) WriteShared(o *pushsvc.Outbound) error {
	if c.wire.flags.Load()&wireCloseSent != 0 {
		return errWriteClosed
	}
	if data := o.Data(); c.deflate && len(data) >= c.g.opts.CompressThreshold {
		*c.out = append(*c.out, sharedDeflatedFrame(o)...)
	} else {
		*c.out = appendBinaryFrame(*c.out, data)
	}
	return nil
}

// WriteSharedRun implements pushsvc.Transport: each frame as WriteShared
// does, all in the flush's one write.
func (c *conn) WriteSharedRun(os []*pushsvc.Outbound) error {
	for _, o := range os {
		if err := c.WriteShared(o); err != nil {
			return err
		}
	}
	return nil
}

// Close implements pushsvc.Transport: a Disconnect frame, then the close
// frame, within closeTimeout, on gws's write queue; each holds the socket,
// so they follow the flush that holds it now, or is being finished
// (rawwrite.go). The session writes nothing after asking to close. Then
// the socket lingers (see linger.go).
func (c *conn) Close(d pushsvc.Disconnect) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.wire.markDisconnectSent()
	frame := pushsvc.EncodeDisconnect(d)
	// The deadline also cuts short the finishing of a flush that a slow
	// consumer has blocked, so the close below runs soon. Set on the
	// socket, not through gws: on an error gws writes a close frame, which
	// would wait for the socket that the flush calling Close holds.
	_ = c.wire.SetWriteDeadline(time.Now().Add(closeTimeout))
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
