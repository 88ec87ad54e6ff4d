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
	var ce *gws.CloseError
	byPeer := errors.As(err, &ce)
	if byPeer {
		h.g.opts.Service.PeerClosed(c.sess, ce.Code, string(ce.Reason))
	} else {
		h.g.opts.Service.PeerClosed(c.sess, pushsvc.CodeAbnormal, "connection lost")
	}
	if !c.closing.Load() {
		code := "abnormal"
		if byPeer {
			code = "client"
		}
		h.g.metrics.closes.WithLabelValues(code).Inc()
	}
}

// gws calls OnPing, OnPong and OnMessage from the connection's read loop,
// one at a time, in the order the frames arrived.

// OnPing answers a protocol ping; the peer is alive.
func (h *handler) OnPing(socket *gws.Conn, payload []byte) {
	c := connOf(socket)
	if !h.admit(c) {
		return
	}
	c.touch()
	_ = socket.WritePong(payload)
}

// OnPong moves the read deadline: the peer answered our ping.
func (h *handler) OnPong(socket *gws.Conn, _ []byte) {
	c := connOf(socket)
	if h.admit(c) {
		c.touch()
	}
}

// OnMessage handles one client message: text frames and undecodable binary
// frames close this connection only.
func (h *handler) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(socket)
	if !h.admit(c) {
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

// admit reports whether c's frame is to be handled: not once c is
// closing, whatever follows is ignored, and not over the frame rate, which
// closes c with 1008. Control frames count too: each ping costs a pong.
func (h *handler) admit(c *conn) bool {
	if c.closing.Load() {
		return false
	}
	if !c.allowFrame() {
		h.g.metrics.frameFloods.Inc()
		h.g.opts.Logger.Debug("frame rate exceeded", "session", c.sess.ID(), "remote", c.wire.RemoteAddr())
		c.sess.Abort(h.g.frameFlood)
		return false
	}
	return true
}
