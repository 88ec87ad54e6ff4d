package wsgate

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"

	"github.com/herald-push/herald/pushsvc"
)

// Listener wraps l so that the gateway's connections count the bytes they
// put on the wire and precede gws's own closes with a Disconnect frame. The
// WebSocket http.Server must serve on it.
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
	return &wireConn{Conn: c, svc: l.g.opts.Service}, nil
}

// wireConn is a server-side socket. It counts written bytes and, when gws
// closes a connection by itself for a fault it found while reading (a frame
// too big, an undecodable compressed frame), writes the Disconnect frame the
// contract promises before gws's close frame.
type wireConn struct {
	net.Conn
	svc *pushsvc.Service
	// disconnectSent is set once a Disconnect frame went out or was queued.
	disconnectSent atomic.Bool

	corked atomic.Bool // corkBuf is collecting: checked before taking corkMu
	corkMu sync.Mutex  // guards corkBuf; held across a flush of it and the write after
	// corkBuf collects the data frames written while corked, to go out in
	// one write; nil when not corked.
	corkBuf *[]byte
}

// corkBufs recycles cork buffers: a run is at most MaxBatchBytes of frames.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// cork makes the data frames written from now until uncork collect in a
// buffer. Only the connection's writer corks and uncorks.
func (c *wireConn) cork() {
	c.corkMu.Lock()
	if c.corkBuf == nil {
		c.corkBuf = corkBufs.Get().(*[]byte)
	}
	c.corked.Store(true)
	c.corkMu.Unlock()
}

// uncork writes the collected frames at once.
func (c *wireConn) uncork() error {
	c.corkMu.Lock()
	defer c.corkMu.Unlock()
	// Still corked while flushing: a control frame written meanwhile waits
	// for corkMu and goes out after the collected frames.
	err := c.flushCorkLocked()
	c.corked.Store(false)
	return err
}

// flushCorkLocked writes and releases the cork buffer.
func (c *wireConn) flushCorkLocked() error {
	bp := c.corkBuf
	if bp == nil {
		return nil
	}
	c.corkBuf = nil
	var err error
	if len(*bp) > 0 {
		var n int
		n, err = c.Conn.Write(*bp)
		c.svc.CountWireBytes(n)
	}
	*bp = (*bp)[:0]
	corkBufs.Put(bp)
	return err
}

// gwsCloses are the close codes gws sends on its own initiative; an echo of
// a client's close never carries them.
var gwsCloses = map[uint16]pushsvc.Disconnect{
	pushsvc.CodeTooBig:   pushsvc.DisconnectTooBig,
	pushsvc.CodeBadFrame: pushsvc.DisconnectBadFrame,
	pushsvc.CodeInternal: pushsvc.DisconnectInternal,
}

// inflatedTooBig is the reason gws gives, under code 1011, when a
// compressed frame inflates past the read limit: to the client that is a
// frame too big (1009), like an oversize uncompressed one.
const inflatedTooBig = "gws: message too large"

func (c *wireConn) Write(p []byte) (int, error) {
	if c.corked.Load() {
		c.corkMu.Lock()
		if c.corkBuf != nil {
			// Data frames (no control bit in the opcode) collect; a
			// control frame (a pong from the read loop, a close) goes out
			// after what collected, at once.
			if len(p) > 0 && p[0]&0x08 == 0 {
				*c.corkBuf = append(*c.corkBuf, p...)
				c.corkMu.Unlock()
				return len(p), nil
			}
			err := c.flushCorkLocked()
			c.corked.Store(false)
			if err != nil {
				c.corkMu.Unlock()
				return 0, err
			}
		}
		c.corkMu.Unlock()
	}
	return c.write(p)
}

// write is Write without the cork.
func (c *wireConn) write(p []byte) (int, error) {
	// An unmasked server close frame: FIN|opcode 8, short length, code.
	if len(p) >= 4 && p[0] == 0x88 && p[1] >= 2 && p[1] < 126 && int(p[1])+2 == len(p) && !c.disconnectSent.Load() {
		code := binary.BigEndian.Uint16(p[2:4])
		if code == pushsvc.CodeInternal && string(p[4:]) == inflatedTooBig {
			binary.BigEndian.PutUint16(p[2:4], pushsvc.CodeTooBig)
			code = pushsvc.CodeTooBig
		}
		if d, ok := gwsCloses[code]; ok && c.disconnectSent.CompareAndSwap(false, true) {
			frame := appendBinaryFrame(nil, pushsvc.EncodeDisconnect(d))
			if n, err := c.Conn.Write(frame); err != nil {
				c.svc.CountWireBytes(n)
				return 0, err
			}
			c.svc.CountWireBytes(len(frame))
		}
	}
	n, err := c.Conn.Write(p)
	c.svc.CountWireBytes(n)
	return n, err
}

// appendBinaryFrame appends an unmasked, uncompressed binary frame.
func appendBinaryFrame(dst, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x82, byte(n))
	case n < 1<<16:
		dst = append(dst, 0x82, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x82, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}
