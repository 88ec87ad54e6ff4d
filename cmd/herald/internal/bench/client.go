package bench

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"

	"github.com/lxzan/gws"
)

// client is one WebSocket connection of the fleet: a raw socket that a
// poller reads (poller.go), with no goroutine of its own.
type client struct {
	// immutable after dial
	f       *fleet
	p       *poller // nil until registered
	idx     int     // client index: picks its user, group, source address, histogram shard
	fd      int     // non-blocking; closed by fleet.close
	deflate bool

	// owned by dial until the client is registered with its poller, then
	// by the poller goroutine, then, once the pollers have stopped, by
	// fleet.close
	pending    []byte // the start of a frame still arriving
	msg        []byte // the fragments of a message still arriving
	compressed bool   // the message in msg is compressed
	welcomed   bool
	ended      bool

	welcome chan struct{} // closed at the Welcome frame
	done    chan struct{} // closed when the connection ends
}

// clientMask masks the few frames a client sends. RFC 6455 asks for an
// unpredictable key against cache poisoning by proxies; on loopback with
// no proxy, a fixed one does.
var clientMask = [4]byte{0x5b, 0x1d, 0xc3, 0x7e}

// send writes a control frame (a pong, a close) at once. The socket is
// non-blocking: a frame that does not fit in its buffer is dropped, which
// a receiving client's few small frames never meet.
func (c *client) send(op byte, payload []byte) {
	var b [2 + 4 + 125]byte
	_, _ = syscall.Write(c.fd, appendClientFrame(b[:0], op, payload[:min(len(payload), 125)], clientMask))
}

// end ends the connection for reason ("code 4003", "abnormal: EOF"),
// counted as the server's doing unless the fleet is closing. The socket
// stays open, shut down, until fleet.close: closed now, its number could
// go to a client being dialled, which dial may then shut down by mistake.
func (c *client) end(reason string) {
	if c.ended {
		return
	}
	c.ended = true
	if c.p != nil {
		_ = syscall.EpollCtl(c.p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	}
	_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	if !c.f.closing.Load() {
		c.f.countClose(reason)
	}
	c.f.live.Add(-1)
	close(c.done)
}

// closeReason names why a gws connection ended: its close code, or what
// broke.
func closeReason(err error) string {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return "code " + strconv.Itoa(int(ce.Code))
	}
	return "abnormal: " + errText(err)
}

// errText shortens an error to its kind: dial errors carry the addresses,
// which differ per client and would make every reason unique.
func errText(err error) string {
	if err == nil {
		return "none"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// noSession replaces gws's map-backed per-connection storage, which the
// churning clients do not use, to keep a connection small.
type noSession struct{}

func (noSession) Len() int                     { return 0 }
func (noSession) Load(string) (any, bool)      { return nil, false }
func (noSession) Delete(string)                {}
func (noSession) Store(string, any)            {}
func (noSession) Range(func(string, any) bool) {}

// dial opens one bench client's WebSocket to addr with token tok, from
// the source address local when it is set, its events going to h.
func dial(h gws.Event, addr, tok string, compress bool, local net.IP) (*gws.Conn, *http.Response, error) {
	return gws.NewClient(h, &gws.ClientOption{
		Addr:              addr,
		RequestHeader:     http.Header{"Authorization": {"Bearer " + tok}},
		PermessageDeflate: gws.PermessageDeflate{Enabled: compress},
		HandshakeTimeout:  welcomeTimeout,
		NewSession:        func() gws.SessionStorage { return noSession{} },
		NewDialer: func() (gws.Dialer, error) {
			d := &net.Dialer{Timeout: welcomeTimeout}
			if local != nil {
				d.LocalAddr = &net.TCPAddr{IP: local}
			}
			return d, nil
		},
	})
}
