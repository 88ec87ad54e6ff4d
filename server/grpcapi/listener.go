package grpcapi

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// Listener wraps l, the listener the grpc.Server serves, so that it holds
// at most Capacity.MaxConnections connections at once: one accepted past
// that is closed at once, and its caller's client retries with backoff.
// Closing it at once rather than leaving it in the kernel's accept queue
// tells the caller now, and costs the node an accept and a close. Call it
// once per API.
func (a *API) Listener(l net.Listener) net.Listener {
	ll := &connLimitListener{Listener: l, max: a.capacity.MaxConnections, m: a.metrics, conns: make(map[net.Conn]struct{})}
	a.listener.Store(ll)
	return ll
}

// connLimitListener counts the connections it accepted that are still
// open. It hands grpc-go the *net.TCPConn itself, not a wrapper that would
// see the Close: grpc-go reads a bare TCP connection without pinning a
// read buffer while it is idle, and gives any other net.Conn a 32 KiB
// one (1,000 idle connections held 41 MiB of heap through a wrapper,
// 9.4 MiB without). So it finds out which connections closed by asking their
// sockets (closed) when it needs to know: at the limit, when the set has
// doubled since it last looked, and when the gauge is scraped.
type connLimitListener struct {
	net.Listener
	// immutable after Listener
	max int // negative: no limit
	m   *metrics

	mu    sync.Mutex
	conns map[net.Conn]struct{} // accepted, not known to be closed; guarded by mu
	swept int                   // len(conns) after the last sweep; guarded by mu
}

// Accept returns the next connection within the limit, closing those over
// it on the way.
func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c, ok := l.admit(c); ok {
			return c, nil
		}
		l.m.connectionsRefused.Inc()
		_ = c.Close()
	}
}

// admit records c unless the node holds its maximum.
func (l *connLimitListener) admit(c net.Conn) (net.Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	atMax := l.max >= 0 && len(l.conns) >= l.max
	if atMax || len(l.conns) >= 2*l.swept+64 {
		l.sweepLocked()
		atMax = l.max >= 0 && len(l.conns) >= l.max
	}
	if atMax {
		return nil, false
	}
	if _, ok := c.(syscall.Conn); !ok {
		// No socket to ask: a wrapper is the only way to see the close.
		c = &closeNotifyConn{Conn: c, l: l}
	}
	l.conns[c] = struct{}{}
	return c, true
}

// sweepLocked forgets the connections that have been closed.
func (l *connLimitListener) sweepLocked() {
	for c := range l.conns {
		if closed(c) {
			delete(l.conns, c)
		}
	}
	l.swept = len(l.conns)
}

// open returns how many connections are open.
func (l *connLimitListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked()
	return len(l.conns)
}

func (l *connLimitListener) forget(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// closed reports whether c has been closed on this side. A socket that
// was closed refuses any further use of its descriptor, RawControl
// included.
func closed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false // a closeNotifyConn: its Close forgets it
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	return raw.Control(func(uintptr) {}) != nil
}

// closeNotifyConn is a connection without a socket to ask (not TCP): it
// tells the listener when it is closed.
type closeNotifyConn struct {
	net.Conn
	l    *connLimitListener
	once atomic.Bool
}

func (c *closeNotifyConn) Close() error {
	if c.once.CompareAndSwap(false, true) {
		c.l.forget(c)
	}
	return c.Conn.Close()
}
