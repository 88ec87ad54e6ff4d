package wsgate

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"syscall"

	"github.com/klauspost/compress/flate"

	"github.com/herald-push/herald/pushsvc"
)

// Herald writes its data frames itself; gws still does the handshake,
// the reading, the control frames (pings, pongs, closes) and the
// permessage-deflate negotiation.
//
// A session's flush runs on one of the gateway's few writers
// (writers.go). Its frames, framed and, where the connection negotiated
// permessage-deflate, compressed (a frame shared by many sessions once for
// all of them), collect in one buffer, which goes to the socket in one
// non-blocking write(2). When the socket's buffer is full, what it did not
// take is written by a goroutine of its own under the socket's write
// deadline, and the session's next flush waits for it. Through gws, each
// connection's writes ran on a goroutine of their own (its Async queue),
// and one push to 10,000 connections took about twice the 10,000 write(2)
// calls it needs (README, Performance).
//
// Every write to a socket holds it (acquire, release): frames never
// interleave, and a flush's rest goes out before anything else. A writer
// never waits for a socket: it takes one only when free (tryAcquire), or
// the flush is owed and the goroutine that releases the socket schedules
// it. gws's own writes (wireConn.Write) may wait: they run on gws's
// goroutines.
//
// What this relies on in gws v1.8.9; a test in gwsbehavior_test.go fails
// the day one of them changes:
//
//  1. Every frame gws writes (pings from the heartbeat, pongs and close
//     frames from the read loop, the Disconnect and close of conn.Close)
//     is one Write of the whole frame (writer.go, doWrite), so holding the
//     socket across each Write (wireConn.Write) keeps frames whole:
//     TestGwsWritesEachFrameInOneWrite.
//  2. gws accepts permessage-deflate exactly when the request offers it
//     (offersDeflate, which sets conn.deflate), and answers, with the
//     gateway's settings, without context takeover and with the default
//     window whatever the client asked: so each message is compressed
//     alone over a 32 KiB window, and one compressed frame serves every
//     such connection: TestGwsNegotiatesDeflateAsOffered.
//  3. Compressed as gws would (klauspost/compress/flate at gws's default
//     level, BestSpeed, with the sync flush's trailing 00 00 ff ff
//     removed: RFC 7692, 7.2.1), a frame is byte for byte what gws writes:
//     TestGwsCompressesAsWeDo.
//  4. When its socket is closed under it, gws's read loop ends and calls
//     OnClose: so a flush whose write fails closes the socket (fail) and
//     the session ends as it did when gws's own write failed:
//     TestGwsReadLoopEndsWhenTheSocketCloses.
//
// And one rule for Herald's code: a writer, which holds the socket while
// it runs a flush, calls no gws method that may write (gws answers an
// error of SetWriteDeadline with a close frame, for one), or it would
// wait for itself: TestCloseInAFlushOnABrokenSocket.

// maxFrameHeader is the longest header of an unmasked frame.
const maxFrameHeader = 10

// tryAcquire takes the socket for a flush if nobody holds it. Otherwise
// the flush is owed: whoever holds the socket schedules it when it
// releases it.
func (c *wireConn) tryAcquire() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writing {
		c.owed = true
		return false
	}
	c.writing = true
	return true
}

// acquire takes the socket, waiting while someone else writes: for gws's
// writes, on gws's goroutines.
func (c *wireConn) acquire() {
	c.wmu.Lock()
	for c.writing {
		if c.released == nil {
			c.released = make(chan struct{})
		}
		ch := c.released
		c.wmu.Unlock()
		<-ch
		c.wmu.Lock()
	}
	c.writing = true
	c.wmu.Unlock()
}

// release lets the socket go, wakes the writes waiting for it and
// schedules the flush that found it held.
func (c *wireConn) release() {
	c.wmu.Lock()
	c.writing = false
	owed := c.owed
	c.owed = false
	if c.released != nil {
		close(c.released)
		c.released = nil
	}
	c.wmu.Unlock()
	if owed {
		c.g.writers.schedule(c.owner)
	}
}

// writeFlush writes the frames of a flush, which holds the socket, and
// releases it: with one non-blocking write; what the socket does not take
// at once (its buffer is full, or the socket is TLS) is copied and
// written by a goroutine of its own, which releases the socket when done.
// The session's next flush waits for it, and meanwhile its pushes wait in
// its bounded queue, where the slow-consumer policy applies.
func (c *wireConn) writeFlush(w *rawWrite, p []byte) {
	if len(p) == 0 || c.flags.Load()&wireCloseSent != 0 {
		c.release()
		return
	}
	n := 0
	if c.raw != nil {
		var err error
		n, err = c.tryWrite(w, p)
		if n > 0 {
			c.g.opts.Service.CountWireBytes(n)
		}
		if err != nil {
			c.fail()
			c.release()
			return
		}
		if n == len(p) {
			c.release()
			return
		}
	}
	rest := restBufs.Get().(*[]byte)
	*rest = append((*rest)[:0], p[n:]...)
	c.g.writers.wg.Add(1)
	go c.finishWrite(rest)
}

// finishWrite writes the rest of a flush, waiting for the socket under its
// write deadline (armWriteDeadline; conn.Close shortens it), then releases
// the socket.
func (c *wireConn) finishWrite(rest *[]byte) {
	defer c.g.writers.wg.Done()
	n, err := c.Conn.Write(*rest)
	c.g.opts.Service.CountWireBytes(n)
	if cap(*rest) <= maxKeptBuffer {
		*rest = (*rest)[:0]
		restBufs.Put(rest)
	}
	if err != nil {
		c.fail()
	}
	c.release()
}

// restBufs recycles the buffers of the writes finished by goroutines.
var restBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// fail closes a socket whose write failed (a reset, a deadline passed):
// a frame may have gone out in part, so nothing more can follow. gws's
// read loop then ends and OnClose ends the session, as gws does after a
// write of its own fails. Under TLS it closes the TCP connection: a TLS
// close would try to write once more.
func (c *wireConn) fail() { _ = tcpOf(c.Conn).Close() }

// rawWrite is one non-blocking write(2) on a socket's fd, through
// syscall.RawConn, whose callback is made once per writer: a closure per
// write would cost three allocations.
type rawWrite struct {
	p   []byte
	n   int
	err error
	do  func(fd uintptr) bool // write, bound once by newRawWrite
}

func newRawWrite() *rawWrite {
	w := &rawWrite{}
	w.do = w.write
	return w
}

// write is the callback: one write(2), retried only when interrupted. It
// reports true always: RawConn.Write would otherwise wait for the socket,
// which is finishWrite's job.
func (w *rawWrite) write(fd uintptr) bool {
	for {
		w.n, w.err = syscall.Write(int(fd), w.p)
		if w.err != syscall.EINTR {
			return true
		}
	}
}

// tryWrite writes what the socket takes of p now, without waiting, with
// w's callback: a short count and no error when its buffer is full.
func (c *wireConn) tryWrite(w *rawWrite, p []byte) (int, error) {
	w.p = p
	err := c.raw.Write(w.do)
	n, werr := max(w.n, 0), w.err
	w.p, w.n, w.err = nil, 0, nil
	switch {
	case err != nil:
		return 0, err // closed
	case werr == syscall.EAGAIN:
		return n, nil
	}
	return n, werr
}

// rawConnOf is the socket of c for non-blocking writes, or nil: a TLS
// connection (its records are written by tls.Conn) or anything but TCP.
func rawConnOf(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// Framing and compression.

// appendFrameHeader appends the header of an unmasked, final binary frame
// of n payload bytes, with RSV1 set when the payload is compressed.
func appendFrameHeader(dst []byte, n int, compressed bool) []byte {
	b0 := byte(0x82)
	if compressed {
		b0 |= 0x40
	}
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n < 1<<16:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// appendBinaryFrame appends an unmasked, uncompressed binary frame.
func appendBinaryFrame(dst, payload []byte) []byte {
	return append(appendFrameHeader(dst, len(payload), false), payload...)
}

// deflateTail is what a sync flush ends the compressed data with, and
// what RFC 7692 (7.2.1) has the sender remove.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// deflateLevel is gws's default level, which it uses with the 32 KiB
// window of a server without context takeover: the gateway sets neither.
const deflateLevel = flate.BestSpeed

// deflater is a compressor and the buffer it appends to.
type deflater struct {
	fw  *flate.Writer
	dst []byte // owned by the caller of appendDeflatedFrame while it runs
}

func (d *deflater) Write(p []byte) (int, error) {
	d.dst = append(d.dst, p...)
	return len(p), nil
}

// deflaters recycles compressors: one costs about 0.5 MiB, and the few
// writers need one each at most.
var deflaters = sync.Pool{New: func() any {
	fw, _ := flate.NewWriter(nil, deflateLevel) // the level is valid
	return &deflater{fw: fw}
}}

// appendDeflatedFrame appends payload as a compressed binary frame
// (permessage-deflate without context takeover: RFC 7692, 7.2.1).
func appendDeflatedFrame(dst, payload []byte) []byte {
	start := len(dst)
	// Compress after room for the longest header, then move the data
	// up to the header it turns out to need.
	dst = append(dst, make([]byte, maxFrameHeader)...)
	d := deflaters.Get().(*deflater)
	d.dst = dst
	d.fw.Reset(d)
	_, _ = d.fw.Write(payload) // d.Write cannot fail
	_ = d.fw.Flush()
	dst, d.dst = d.dst, nil
	deflaters.Put(d)
	if bytes.HasSuffix(dst[start+maxFrameHeader:], deflateTail) {
		dst = dst[:len(dst)-len(deflateTail)]
	}
	n := len(dst) - start - maxFrameHeader
	var h [maxFrameHeader]byte
	header := appendFrameHeader(h[:0], n, true)
	copy(dst[start:], header)
	copy(dst[start+len(header):], dst[start+maxFrameHeader:])
	return dst[:start+len(header)+n]
}

// sharedDeflatedFrame is o as a compressed frame, made once for every
// connection that negotiated permessage-deflate: without context takeover
// a message is compressed alone, so the frame is the same for all of them.
func sharedDeflatedFrame(o *pushsvc.Outbound) []byte {
	return o.Prepared(prepareDeflated).([]byte)
}

func prepareDeflated(data []byte) any {
	return appendDeflatedFrame(make([]byte, 0, maxFrameHeader+len(data)), data)
}
