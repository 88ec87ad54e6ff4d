package wsgate

import (
	"net"
	"sync/atomic"
	"testing"
)

// countingWriter is a session's Writer that counts its flushes and
// tells each on done, when not nil.
type countingWriter struct {
	n    atomic.Int64
	done chan struct{}
}

func (w *countingWriter) Flush() {
	w.n.Add(1)
	if w.done != nil {
		w.done <- struct{}{}
	}
}

// pipeConn is a conn over one end of a net.Pipe whose other end is
// closed at cleanup, served by g's writers, with no session.
func pipeConn(t *testing.T, g *Gateway) *conn {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() {
		_ = client.Close()
		_ = server.Close()
	})
	wire := &wireConn{Conn: server, g: g}
	c := &conn{g: g, wire: wire}
	wire.owner = c
	return c
}

// TestScheduleAllocatesNothing: scheduling a session's writer on the
// gateway's writers allocates nothing: the conn keeps the Writer's Flush
// from the first Schedule, where making the method value per call would
// cost an allocation per write, and the ready queue links the conns
// themselves.
func TestScheduleAllocatesNothing(t *testing.T) {
	c := pipeConn(t, newTestGateway(t))
	w := &countingWriter{done: make(chan struct{})}
	const runs = 1000
	// One flush at a time, as a session schedules them.
	allocs := testing.AllocsPerRun(runs, func() {
		c.Schedule(w)
		<-w.done
	})
	if w.n.Load() != runs+1 {
		t.Fatalf("%d flushes ran, want %d", w.n.Load(), runs+1)
	}
	if allocs != 0 {
		t.Errorf("Schedule allocates %.2f times per call, want 0", allocs)
	}
}
