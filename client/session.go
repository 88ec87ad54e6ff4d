package client

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// Close codes the client itself sends or acts on (the README's "Close
// codes" table).
const (
	codeNormal     uint16 = 1000
	codeTextFrame  uint16 = 1003
	codeBadFrame   uint16 = 1007
	codeKickedUser uint16 = 4002
)

// session is one WebSocket connection and the gws event handler for it. A
// new session is made for every connect, so nothing from a dead connection
// (its Disconnect frame, its heartbeat interval) leaks into the next.
type session struct {
	c *Client // immutable

	// conn is set by the run loop before ReadLoop starts; immutable after.
	// Its methods are safe for concurrent use.
	conn *gws.Conn

	// Owned by the ReadLoop goroutine once it starts (the run loop sets
	// silence first). The run loop reads them only after done is closed,
	// which orders those reads after every write.
	silence    time.Duration        // how long without a frame before giving up
	welcomed   bool                 // Welcome arrived
	welcomedAt time.Time            // by Options.Clock, for StableAfter
	disconnect *clientv1.Disconnect // the server's last word, if any
	fault      error                // why the client closed this connection itself
	closeErr   error                // what gws passed to OnClose

	// done is closed by OnClose, the last thing ReadLoop does.
	done chan struct{}
	// acks coalesces AutoAck's Acks; stopped by OnClose.
	acks *acker
	// gaps fills the gaps in this connection's streams; owned by the
	// ReadLoop goroutine (the run loop starts it before ReadLoop runs).
	gaps *gaps
	// nudge wakes gaps at its deadlines; stopped by OnClose.
	nudge *nudger
	// delivered are the pushes given to the app while handling the
	// current frame, for AutoAck; owned by the ReadLoop goroutine.
	delivered []*clientv1.Push
}

func newSession(c *Client) *session {
	s := &session{c: c, silence: c.opts.HandshakeTimeout, done: make(chan struct{})}
	s.acks = newAcker(func(sps []*clientv1.StreamPosition) {
		err := s.send(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ack{Ack: &clientv1.Ack{Positions: sps}}},
			time.Now().Add(c.opts.WriteTimeout))
		if err != nil {
			// The connection is failing; ReadLoop will notice and end.
			c.log.Debug("auto ack failed", "err", err)
		}
	})
	s.nudge = &nudger{ping: func() {
		// A protocol ping: the server answers it at once, outside its
		// send queue, and the pong runs expire (OnPong).
		if err := s.conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout)); err == nil {
			_ = s.conn.WritePing(nil)
		}
	}}
	s.gaps = &gaps{
		pos:     c.pos,
		timeout: c.opts.FillTimeout,
		limit:   c.opts.FillBuffer,
		log:     c.log,
		send:    func(f *clientv1.ClientFrame) error { return s.send(f, time.Now().Add(c.opts.WriteTimeout)) },
		emit: func(p *clientv1.Push) {
			if c.opts.OnPush != nil {
				c.opts.OnPush(p)
			}
			s.delivered = append(s.delivered, p)
		},
		failed: func(sr *clientv1.StreamResult) {
			if c.opts.OnResumeFailed != nil {
				c.opts.OnResumeFailed(sr)
			}
		},
		arm:    s.nudge.arm,
		disarm: s.nudge.disarm,
		fills:  make(map[string]*fill),
		stale:  make(map[string]int),
	}
	return s
}

// alive pushes the read deadline forward after any sign of life. The
// deadline, enforced by the runtime's network poller, detects a silent
// server without a timer goroutine: a read blocked past it fails with
// os.ErrDeadlineExceeded and ReadLoop ends. Resetting it is a timer update
// in the poller, not a system call, so doing it per frame is cheap.
func (s *session) alive() {
	_ = s.conn.SetReadDeadline(time.Now().Add(s.silence))
}

// send writes one frame with a deadline, from any goroutine: gws serialises
// writers. Every write sets its own deadline, so the deadline a write runs
// under is never zero (unbounded) once the first has been set.
func (s *session) send(f *clientv1.ClientFrame, deadline time.Time) error {
	b, err := proto.Marshal(f)
	if err != nil {
		return fmt.Errorf("client: encode frame: %w", err)
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return s.conn.WriteMessage(gws.OpcodeBinary, b)
}

// closeWith ends the connection because of the server's fault; the run loop
// reconnects. Called from the ReadLoop goroutine.
func (s *session) closeWith(code uint16, err error) {
	s.fault = err
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.c.opts.WriteTimeout))
	_ = s.conn.WriteClose(code, []byte(err.Error()))
}

// OnOpen implements gws.Event. The run loop has already prepared the
// connection (deadline, Resume) before ReadLoop starts.
func (s *session) OnOpen(*gws.Conn) {}

// OnClose implements gws.Event: the connection is gone and ReadLoop is about
// to return.
func (s *session) OnClose(_ *gws.Conn, err error) {
	s.closeErr = err
	s.acks.stop()
	s.nudge.stop()
	close(s.done)
}

// OnPing implements gws.Event. It does what gws.BuiltinEventHandler does,
// answer with a pong, but echoes the payload as RFC 6455 §5.5.3 asks, bounds
// the write, and counts the ping as a sign of life.
func (s *session) OnPing(socket *gws.Conn, payload []byte) {
	s.alive()
	_ = socket.SetWriteDeadline(time.Now().Add(s.c.opts.WriteTimeout))
	_ = socket.WritePong(payload)
	s.gaps.expire(time.Now())
	s.ackDelivered()
}

// OnPong implements gws.Event. A pong may answer the nudger's ping.
func (s *session) OnPong(*gws.Conn, []byte) {
	s.alive()
	s.gaps.expire(time.Now())
	s.ackDelivered()
}

// OnMessage implements gws.Event: decode one ServerFrame and act on it.
func (s *session) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	// After handling, not before: a slow OnPush must not eat into the time
	// the server has to send its next frame.
	defer s.alive()

	if msg.Opcode != gws.OpcodeBinary {
		s.closeWith(codeTextFrame, fmt.Errorf("%w: text message", ErrBadFrame))
		return
	}
	// proto.Unmarshal copies bytes fields, so the frame outlives msg.Close.
	var f clientv1.ServerFrame
	if err := proto.Unmarshal(msg.Bytes(), &f); err != nil {
		s.closeWith(codeBadFrame, fmt.Errorf("%w: %w", ErrBadFrame, err))
		return
	}
	s.handle(&f)
}

func (s *session) handle(f *clientv1.ServerFrame) {
	c := s.c
	switch k := f.Kind.(type) {
	case *clientv1.ServerFrame_Welcome:
		interval := k.Welcome.GetHeartbeatInterval().AsDuration()
		if interval <= 0 {
			interval = c.opts.HeartbeatInterval
		}
		s.silence = heartbeatMisses * interval
		s.welcomed = true
		s.welcomedAt = c.opts.Clock.Now()
		// Before any push of this connection: the first Welcome gives
		// the client a position in every stream it follows, so that its
		// next Resume names each (doc.go, Gaps).
		c.pos.welcome(k.Welcome.GetStreams())
		c.connected(k.Welcome)
	case *clientv1.ServerFrame_Push:
		s.gaps.push(k.Push, time.Now())
	case *clientv1.ServerFrame_Batch:
		now := time.Now()
		for _, p := range k.Batch.GetPushes() {
			s.gaps.push(p, now)
		}
	case *clientv1.ServerFrame_Pong:
		// Only a sign of life, counted by OnMessage.
	case *clientv1.ServerFrame_ResumeResult:
		now := time.Now()
		for _, sr := range k.ResumeResult.GetStreams() {
			s.gaps.result(sr, now)
		}
	case *clientv1.ServerFrame_Error:
		c.log.Warn("server reported an error", "code", k.Error.GetCode(), "message", k.Error.GetMessage())
		if c.opts.OnError != nil {
			c.opts.OnError(k.Error)
		}
	case *clientv1.ServerFrame_Disconnect:
		s.disconnect = k.Disconnect
	default:
		// A frame kind newer than this client: ignore it, so that the server
		// can add frames without breaking old clients.
		c.log.Debug("ignoring unknown server frame")
	}
	s.gaps.expire(time.Now())
	s.ackDelivered()
}

// ackDelivered acks, with AutoAck, the pushes the app was given while
// handling one frame, after OnPush returned for each.
func (s *session) ackDelivered() {
	if len(s.delivered) == 0 {
		return
	}
	if s.c.opts.AutoAck {
		if sps := ackPositions(s.delivered); len(sps) > 0 {
			s.acks.add(sps)
		}
	}
	clear(s.delivered)
	s.delivered = s.delivered[:0]
}

// outcome is how a connection, or an attempt at one, ended: what the run
// loop needs to decide whether and when to reconnect.
type outcome struct {
	err    error
	code   uint16
	reason string

	welcomed bool
	uptime   time.Duration // from Welcome to the end

	// reconnect is false when the server said not to come back.
	reconnect bool
	// reconnectAfter is the server's Disconnect.reconnect_after.
	reconnectAfter time.Duration
	// retryAfter is the HTTP Retry-After of a 503 handshake answer.
	retryAfter time.Duration
}

// outcome summarises the ended connection. Call only after done is closed.
func (s *session) outcome(now time.Time) outcome {
	o := outcome{welcomed: s.welcomed, reconnect: true}
	if s.welcomed {
		o.uptime = now.Sub(s.welcomedAt)
	}
	var ce *gws.CloseError
	switch {
	case s.fault != nil:
		o.err = s.fault
	case errors.As(s.closeErr, &ce):
		o.code, o.reason = ce.Code, string(ce.Reason)
		o.err = fmt.Errorf("client: closed by server: %w", ce)
	case errors.Is(s.closeErr, os.ErrDeadlineExceeded):
		o.err = fmt.Errorf("%w (%v)", ErrSilentServer, s.silence)
	default:
		o.err = fmt.Errorf("client: connection lost: %w", s.closeErr)
	}
	if d := s.disconnect; d != nil {
		if o.code == 0 {
			o.code = uint16(d.GetCode())
		}
		if d.GetReason() != "" {
			o.reason = d.GetReason()
		}
		o.reconnect = d.GetReconnect()
		o.reconnectAfter = max(0, d.GetReconnectAfter().AsDuration())
	} else if o.code == codeKickedUser {
		// Every close the server starts is meant to follow a Disconnect
		// frame; without one, 4002 (DisconnectUser) is the one code that
		// means "do not come back" by default.
		o.reconnect = false
	}
	return o
}
