package wsgate

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herald-push/herald/pushsvc"
)

// Listener wraps l so that the gateway's connections count the bytes they
// put on the wire, count every frame a client sends against its rate,
// precede gws's own closes with a Disconnect frame, and linger after their
// close frame. The WebSocket http.Server must serve on it.
func (g *Gateway) Listener(l net.Listener) net.Listener {
	return &listener{Listener: l, g: g}
}

type listener struct {
	net.Listener
	g *Gateway
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c, g: l.g, raw: rawConnOf(c)}, nil
}

// wireConn is a server-side socket, under gws and over TCP (or TLS). It is
// where Herald works around what gws does with a socket; each such line
// names the gws v1.8.9 behaviour it depends on, and gwsbehavior_test.go
// fails the day gws changes one of them.
//
//   - Write, gws's writes, holds the socket (rawwrite.go: the sessions'
//     flushes write there too), counts the bytes on the wire and, when
//     gws closes a connection on its own for a fault it found while
//     reading, writes the Disconnect frame the contract promises before
//     gws's close frame (see writeClose).
//   - Read follows the frame headers (frameScanner) to count every frame
//     the client sends against its rate, fragments and control frames
//     included, and keeps from gws the one header that would crash it.
//   - Close, after a close frame, lingers (see linger.go) so that the close
//     frame reaches a client that is still sending.
type wireConn struct {
	net.Conn
	g *Gateway // immutable after Accept

	flags atomic.Uint32 // wire* bits, each set once and never cleared
	// fault is the Disconnect of the client's fault that ended the read
	// side (a read deadline, a bad header), for the close gws writes next;
	// nil until then.
	fault atomic.Pointer[pushsvc.Disconnect]
	// own is the Disconnect writeClose sent before a close gws wrote on
	// its own; nil until then.
	own atomic.Pointer[pushsvc.Disconnect]

	// readMu is held across each Read: the lingering close takes it to
	// take the reading over from gws's read goroutine.
	readMu sync.Mutex
	// owner is the connection over this socket: Read counts its frames,
	// release schedules its owed flush. nil before the upgrade, when Read
	// carries the HTTP request; set right after it, before the first
	// flush and the read loop, and never again.
	owner *conn
	scan  frameScanner // owned by Read

	// The write side (rawwrite.go): one writer at a time holds the socket.
	raw     syscall.RawConn // the TCP socket, for non-blocking writes; nil under TLS. Immutable after Accept.
	wmu     sync.Mutex      // guards writing, owed and released
	writing bool            // a writer holds the socket
	owed    bool            // a flush found the socket held: release schedules it
	// released is closed when the socket is next released; made by a
	// write that waits for it, nil when none does.
	released chan struct{}
}

// The bits of wireConn.flags.
const (
	wireDisconnectSent uint32 = 1 << iota // a Disconnect frame went out or was queued
	wireOwnClose                          // gws closed on its own and writeClose sent a Disconnect: counted under its code
	wireCloseSent                         // a close frame went out
	wirePeerClosed                        // the client's close frame began: it sends nothing more
	wireReadEnded                         // a read failed: end of stream, reset or deadline
	wireLingering                         // Close began lingering; Read fails from now on
)

// aLongTimeAgo is a deadline in the past: it wakes a blocked Read at once.
var aLongTimeAgo = time.Unix(1, 0)

// Write writes for gws, on its goroutines: the HTTP response of the
// upgrade, control frames, the Disconnect of conn.Close. It holds the
// socket, waiting for a flush being finished, so that frames never
// interleave (rawwrite.go).
func (c *wireConn) Write(p []byte) (int, error) {
	c.acquire()
	defer c.release()
	// gws writes each frame with one Write (writer.go, doWrite), so a
	// close frame is a whole p.
	if isCloseFrame(p) {
		if err := c.writeClose(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if err := c.writeRaw(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeRaw writes p to the socket and counts what went out. Nothing goes
// after a close frame: it would break the protocol and, once the write
// side is shut, fail.
func (c *wireConn) writeRaw(p []byte) error {
	if c.flags.Load()&wireCloseSent != 0 {
		return net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	c.g.opts.Service.CountWireBytes(n)
	return err
}

// isCloseFrame reports whether p is a whole unmasked close frame, as the
// server writes them (a close payload is at most 125 bytes).
func isCloseFrame(p []byte) bool {
	return len(p) >= 2 && p[0] == 0x88 && p[1] < 126 && int(p[1])+2 == len(p)
}

// writeClose writes the close frame p. When it is gws's own close, not the
// echo of the client's, nor the close of conn.Close (which has sent its
// Disconnect already), it goes out as the Disconnect that says why and a
// close frame with the same code and reason.
func (c *wireConn) writeClose(p []byte) error {
	if old := c.flags.Or(wireDisconnectSent); old&(wireDisconnectSent|wirePeerClosed) == 0 {
		var code uint16
		if len(p) >= 4 {
			code = binary.BigEndian.Uint16(p[2:4])
		}
		if d, ok := c.gwsDisconnect(code, p[min(4, len(p)):]); ok {
			c.own.Store(&d)
			c.flags.Or(wireOwnClose)
			c.g.metrics.closes.WithLabelValues(codeLabel(d.Code)).Inc()
			frames := appendBinaryFrame(make([]byte, 0, 256), pushsvc.EncodeDisconnect(d))
			p = appendCloseFrame(frames, d.Code, d.Reason)
		}
	}
	if err := c.writeRaw(p); err != nil {
		return err
	}
	c.flags.Or(wireCloseSent)
	return nil
}

// inflatedTooBig is the reason gws gives, under code 1011, when a
// compressed frame inflates past the read limit (compress.go, Decompress;
// reader.go, emitMessage): to the client that is a frame too big (1009),
// like an oversize uncompressed one.
const inflatedTooBig = "gws: message too large"

// gwsDisconnect is the Disconnect for a close gws writes on its own, from
// the code and reason of its close frame; false for a close that needs
// none. gws v1.8.9 closes on its own (conn.go, emitError) with:
//   - 1000 after a read error not of its own making (the default branch):
//     a read deadline or a header Read refused (see fault), else the
//     client has gone and hears nothing;
//   - 1001 after a failed write: the socket is broken;
//   - 1002 for a protocol error it found reading (unmasked, fragmented
//     control frame, reserved bits, bad opcode or continuation);
//   - 1009 for a frame over ReadMaxPayloadSize;
//   - 1011 for a compressed frame that does not inflate, or inflates past
//     the limit (reason inflatedTooBig);
//   - 1007 for invalid UTF-8, only when CheckUtf8Enabled (we leave it off).
func (c *wireConn) gwsDisconnect(code uint16, reason []byte) (pushsvc.Disconnect, bool) {
	switch code {
	case pushsvc.CodeNormal:
		if d := c.fault.Load(); d != nil {
			return *d, true
		}
	case pushsvc.CodeProtocolError:
		return pushsvc.DisconnectProtocolError, true
	case pushsvc.CodeTooBig:
		return pushsvc.DisconnectTooBig, true
	case pushsvc.CodeBadFrame:
		return pushsvc.DisconnectBadFrame, true
	case pushsvc.CodeInternal:
		if string(reason) == inflatedTooBig {
			return pushsvc.DisconnectTooBig, true
		}
		// The client's data did not inflate: its fault, not ours, so
		// 1007 (not a valid frame) rather than gws's 1011.
		return pushsvc.DisconnectBadFrame, true
	}
	return pushsvc.Disconnect{}, false
}

// markDisconnectSent records that conn.Close queued its own Disconnect, so
// that the close after it goes out as it is.
func (c *wireConn) markDisconnectSent() { c.flags.Or(wireDisconnectSent) }

// ownClose reports whether gws closed the connection on its own and
// writeClose sent (and counted) a Disconnect for it.
func (c *wireConn) ownClose() bool { return c.flags.Load()&wireOwnClose != 0 }

// ownDisconnect is the Disconnect writeClose sent for a close gws wrote on
// its own (a heartbeat lost, a protocol error, a frame too big), if any.
func (c *wireConn) ownDisconnect() (pushsvc.Disconnect, bool) {
	if d := c.own.Load(); d != nil {
		return *d, true
	}
	return pushsvc.Disconnect{}, false
}

// Read reads for gws's read goroutine, the only caller after the upgrade,
// and follows the frames it passes on (see frameScanner).
func (c *wireConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.flags.Load()&wireLingering != 0 {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	if c.owner == nil {
		return n, err // the HTTP request, before the upgrade
	}
	if c.flags.Load()&wireLingering != 0 {
		// Woken by the lingering close, or what came after our close
		// frame: the lingering close discards the rest.
		return 0, net.ErrClosed
	}
	if n > 0 {
		frames, ev := c.scan.scan(p[:n])
		if ev&sawClose != 0 {
			c.flags.Or(wirePeerClosed)
		}
		if ev&sawBadLength != 0 {
			// gws then closes with 1000 (reader.go, readMessage; conn.go,
			// emitError), which writeClose turns into fault's Disconnect.
			c.fault.CompareAndSwap(nil, &pushsvc.DisconnectProtocolError)
			return 0, errBadFrameLength
		}
		if frames > 0 {
			c.owner.countFrames(frames)
		}
	}
	if err != nil {
		c.flags.Or(wireReadEnded)
		// The only read deadline after the upgrade is the heartbeat's
		// (conn.touch). gws closes with 1000 when it passes (the default
		// branch of conn.go, emitError), which writeClose turns into the
		// heartbeat's Disconnect.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.fault.CompareAndSwap(nil, &c.g.heartbeatLost)
		}
	}
	return n, err
}

// SetReadDeadline sets the read deadline, unless the socket lingers: the
// lingering close owns the reads then, and their deadline.
func (c *wireConn) SetReadDeadline(t time.Time) error {
	if c.flags.Load()&wireLingering != 0 {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// appendCloseFrame appends an unmasked close frame with code and as much
// of reason as a control frame holds.
func appendCloseFrame(dst []byte, code uint16, reason string) []byte {
	reason = reason[:min(len(reason), 123)]
	dst = append(dst, 0x88, byte(2+len(reason)))
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}
