package wsgate

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLingeringBoundedAndCutByClose: at most max sockets linger, the rest
// are refused (and counted); close ends every lingering socket at once,
// whether it is still reading or waiting out its timeout, which here is
// longer than the test may run.
func TestLingeringBoundedAndCutByClose(t *testing.T) {
	skipped := 0
	l := newLingerer(2, time.Hour, func() { skipped++ })
	var clients []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		for _, c := range clients {
			_ = c.Close()
		}
		wg.Wait()
	})
	start := func() bool {
		server, client := net.Pipe()
		clients = append(clients, client)
		if l.start(&wireConn{Conn: server}) {
			return true
		}
		_ = server.Close()
		return false
	}
	// One client sends more than lingerBytes, so that its socket stops
	// reading and waits; the other sends nothing.
	if !start() {
		t.Fatal("first linger refused")
	}
	var sent atomic.Int64
	first := clients[0]
	wg.Go(func() {
		chunk := make([]byte, 64<<10)
		for sent.Load() <= lingerBytes {
			if _, err := first.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
	})
	if !start() {
		t.Fatal("second linger refused")
	}
	if start() || skipped != 1 {
		t.Fatalf("a third socket lingers past the bound of 2 (skipped %d)", skipped)
	}
	if n := l.count(); n != 2 {
		t.Fatalf("%d sockets linger, want 2", n)
	}
	// A net.Pipe Write returns once read: the first socket has read its
	// lingerBytes and waits.
	waitUntil(t, "the first socket to read lingerBytes", func() bool { return sent.Load() >= lingerBytes })
	closed := make(chan struct{})
	go func() {
		l.close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("close did not end the lingering sockets")
	}
	if n := l.count(); n != 0 {
		t.Errorf("%d sockets linger after close", n)
	}
	if start() {
		t.Error("a socket lingers after close")
	}
	if skipped != 1 {
		t.Errorf("skipped counted %d, want 1: refusals after close are no shortage of slots", skipped)
	}
}

// TestLingeringSocketKeepsItsReadDeadline: once a socket lingers, a read
// deadline set through it (gws's, the heartbeat's) no longer moves the
// lingering close's.
func TestLingeringSocketKeepsItsReadDeadline(t *testing.T) {
	server, client := net.Pipe()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = server.Close()
		_ = client.Close()
		wg.Wait()
	})
	w := &wireConn{Conn: server}
	w.flags.Or(wireLingering)
	if err := w.SetReadDeadline(aLongTimeAgo); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _, _ = client.Write([]byte{1}) })
	if _, err := server.Read(make([]byte, 1)); err != nil {
		t.Errorf("the deadline set on a lingering socket reached it: %v", err)
	}
}
