package wsgate

import (
	"context"
	"errors"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/pushsvc"
)

// slot is the typed per-connection storage gws carries for us: the conn.
// It replaces gws's map-backed SessionStorage, which costs a map per
// connection and is untyped.
type slot struct{ c *conn }

func (s *slot) Len() int                             { return 1 }
func (s *slot) Load(string) (any, bool)              { return s.c, s.c != nil }
func (s *slot) Delete(string)                        {}
func (s *slot) Store(string, any)                    {}
func (s *slot) Range(f func(key string, v any) bool) { f("conn", s.c) }

func connOf(socket *gws.Conn) *conn { return socket.Session().(*slot).c }

// handler receives gws's events for every connection.
type handler struct{ g *Gateway }

func (h *handler) OnOpen(*gws.Conn) {}

func (h *handler) OnClose(socket *gws.Conn, err error) {
	c := connOf(socket)
	c.stopExpiry()
	h.g.unregister(c)
	h.g.release(&c.ticket)
	// The session's events say how it ended: the close gws wrote on its
	// own (a lost heartbeat, a protocol error), the client's close frame's
	// code, or 1006 when the connection dropped without one; a close the
	// session started keeps its own.
	var ce *gws.CloseError
	byPeer := errors.As(err, &ce)
	switch d, own := c.wire.ownDisconnect(); {
	case own:
		h.g.opts.Service.PeerClosed(c.sess, d.Code, d.Reason)
	case byPeer:
		h.g.opts.Service.PeerClosed(c.sess, ce.Code, string(ce.Reason))
	default:
		h.g.opts.Service.PeerClosed(c.sess, pushsvc.CodeAbnormal, "connection lost")
	}
	// Closes the server started are counted under their code where they
	// were sent: conn.Close, or wireConn.writeClose for gws's own.
	if !c.closing.Load() && !c.wire.ownClose() {
		code := "abnormal"
		if byPeer {
			code = "client"
		}
		h.g.metrics.closes.WithLabelValues(code).Inc()
	}
}

// gws calls OnPing, OnPong and OnMessage from the connection's read loop,
// one at a time, in the order the frames arrived. Every frame has been
// counted against the frame rate already, as it was read (wireConn.Read);
// once the connection is closing, whatever follows is ignored.

// OnPing answers a protocol ping; the peer is alive.
func (h *handler) OnPing(socket *gws.Conn, payload []byte) {
	c := connOf(socket)
	if c.closing.Load() {
		return
	}
	c.touch()
	_ = socket.WritePong(payload)
}

// OnPong moves the read deadline: the peer answered our ping.
func (h *handler) OnPong(socket *gws.Conn, _ []byte) {
	c := connOf(socket)
	if !c.closing.Load() {
		c.touch()
	}
}

// OnMessage handles one client message: text frames and undecodable binary
// frames close this connection only.
func (h *handler) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(socket)
	if c.closing.Load() {
		return
	}
	c.touch()
	if msg.Opcode == gws.OpcodeText {
		c.sess.Abort(pushsvc.DisconnectTextFrame)
		return
	}
	if err := c.sess.HandleFrame(context.Background(), msg.Bytes()); err != nil {
		h.g.opts.Logger.Debug("bad client frame", "session", c.sess.ID(), "err", err)
		c.sess.Abort(pushsvc.DisconnectBadFrame)
	}
}
