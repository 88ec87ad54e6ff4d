package wsgate

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"
)

// A lingering close. A socket closed while the client's data is still
// arriving (the rest of an oversize frame, a flood) answers that data with
// a reset, and a client that takes the reset before it has read the
// Disconnect and close frames loses them: it sees 1006, not why. Of 10
// clients cut at once while still writing (cut_e2e_test.go, 5 runs), with
// the socket closed at once, 2 to 5 read their Disconnect and code in a
// flood, 0 to 2 streaming a 4 MiB frame (1 to 3 over TLS), 1 to 2 sending
// bad compressed frames, 2 to 7 in a drain; with the lingering close, 10
// of 10 in every case and run (and 20 of 20). So after its close frame a
// socket shuts its write side (the client reads the frames, then the end
// of the stream), reads and discards what still comes, and closes when the
// client closes too, or after lingerTimeout. A client that sends more than
// lingerBytes meanwhile is no longer read: its data waits in the socket
// buffers, its writes block, and it still has the rest of lingerTimeout to
// read the close frame and go before the reset.
const (
	// lingerTimeout gives the client time to read the close frame and
	// close: a round trip and its reaction, on any network a client of
	// ours works over. A client that keeps the socket open longer (it
	// does not read) holds a lingering slot that long, no longer.
	lingerTimeout = 2 * time.Second
	// lingerBytes bounds the reads spent on one lingering socket: 1 MiB
	// covers what a client has in flight when it reads the close (socket
	// buffers of a few hundred KiB on a long path), and the rest of a
	// larger stream need not be read, only not refused (see above).
	lingerBytes = 1 << 20
	// maxLingering bounds the sockets lingering at once; past it a socket
	// closes at once, as before. A lingering socket costs a goroutine and,
	// while it reads, an 8 KiB buffer from io.Discard's pool. Draining
	// 100,000 connections over 80% of the default 30s window closes about
	// 4,200 a second; if each lingers a round trip of up to 0.2s, about
	// 840 linger at once.
	maxLingering = 1024
)

// lingerer runs a Gateway's lingering closes, each on a goroutine of its
// own, at most max at once; close cuts them all and waits.
type lingerer struct {
	// immutable after newLingerer
	max     int           // sockets lingering at once: maxLingering
	timeout time.Duration // lingerTimeout
	skipped func()        // counts a socket closed at once for want of a slot

	stop chan struct{} // closed by close

	mu     sync.Mutex
	closed bool                   // guarded by mu: no linger starts after close
	conns  map[*wireConn]struct{} // guarded by mu: the sockets lingering
	wg     sync.WaitGroup         // one per lingering goroutine
}

func newLingerer(max int, timeout time.Duration, skipped func()) *lingerer {
	return &lingerer{max: max, timeout: timeout, skipped: skipped, stop: make(chan struct{}), conns: make(map[*wireConn]struct{})}
}

// start runs c's lingering close, unless max sockets linger already or
// the gateway is closed.
func (l *lingerer) start(c *wireConn) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	if len(l.conns) >= l.max {
		l.mu.Unlock()
		l.skipped()
		return false
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go c.linger(l)
	return true
}

func (l *lingerer) done(c *wireConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.wg.Done()
}

// count returns how many sockets linger now.
func (l *lingerer) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// close closes every lingering socket at once, refuses new lingers, and
// waits for the lingering goroutines to end.
func (l *lingerer) close() {
	l.mu.Lock()
	if !l.closed {
		close(l.stop)
	}
	l.closed = true
	for c := range l.conns {
		_ = c.Conn.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// Close closes the socket. After a close frame, while the client may still
// be sending, it lingers instead: gws calls Close right after writing a
// close frame (writer.go, writeClose), from its read goroutine or its
// writer, so the close frame is already out. A second Close while the
// socket lingers does nothing: the lingering goroutine closes it.
func (c *wireConn) Close() error {
	f := c.flags.Load()
	if f&wireCloseSent == 0 || f&(wirePeerClosed|wireReadEnded) != 0 {
		// Nothing to wait for: no close frame to deliver, or a client
		// that has said (close frame) or shown (end of stream, reset,
		// silence past the heartbeat) that it sends nothing more.
		return c.Conn.Close()
	}
	if c.flags.Or(wireLingering)&wireLingering != 0 {
		return nil
	}
	// From now on Read fails, and the deadline wakes a Read blocked in
	// gws's read goroutine, so that it ends and hands over (see linger).
	_ = c.Conn.SetReadDeadline(aLongTimeAgo)
	// Shut the write side of the TCP connection: the client reads our
	// frames, then the end of the stream. Under TLS too, without a
	// close_notify: tls.Conn.CloseWrite writes one, which can block on a
	// client that does not read, and the close frame has said all.
	if cw, ok := tcpOf(c.Conn).(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if !c.g.lingers.start(c) {
		return c.Conn.Close()
	}
	return nil
}

// linger reads and discards what the client still sends, until it closes
// or lingerBytes have come, then waits out the linger timeout and closes
// the socket.
func (c *wireConn) linger(l *lingerer) {
	defer l.done(c)
	// Wait for the Read of gws's read goroutine, which Close's deadline
	// cuts short; its later Reads fail.
	c.readMu.Lock()
	defer c.readMu.Unlock()
	// Under TLS, read the TCP connection: the bytes are thrown away, so
	// decrypting them would only cost.
	raw := tcpOf(c.Conn)
	deadline := time.Now().Add(l.timeout)
	_ = raw.SetReadDeadline(deadline)
	if n, _ := io.CopyN(io.Discard, raw, lingerBytes); n == lingerBytes {
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-t.C:
		case <-l.stop:
			t.Stop()
		}
	}
	_ = c.Conn.Close()
}

// tcpOf is the connection under c's TLS, or c.
func tcpOf(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}
