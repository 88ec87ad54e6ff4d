package wsgate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/pushsvc"
)

// tcpPair is a loopback TCP connection: the server's end and the client's.
func tcpPair(t *testing.T) (server *net.TCPConn, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		_ = s.Close()
	})
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

// tcpConn is a conn over the server's end of a loopback TCP connection,
// written through g's writers as a session's would be, and the client's
// end.
func tcpConn(t *testing.T, g *Gateway) (*conn, *net.TCPConn) {
	t.Helper()
	server, client := tcpPair(t)
	wire := &wireConn{Conn: server, g: g, raw: rawConnOf(server)}
	if wire.raw == nil {
		t.Fatal("no raw connection for a TCP socket")
	}
	c := &conn{g: g, wire: wire}
	wire.owner = c
	return c, client
}

// flushFunc is a session's Writer: each Flush calls the next function of
// flushes and counts itself.
type flushFunc struct {
	flushes []func()
	n       atomic.Int64
}

func (w *flushFunc) Flush() {
	w.flushes[w.n.Load()]()
	w.n.Add(1)
}

// state reads the socket's write state.
func (c *wireConn) state() (writing, owed, waited bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writing, c.owed, c.released != nil
}

// readFrame reads one unmasked server frame and returns its first byte
// and payload.
func readFrame(t *testing.T, r io.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	return h[0], p
}

// TestFlushRestIsWrittenBeforeAnythingElse: a flush that the socket does
// not take at once is finished by a goroutine of its own; until it is
// done, the session's next flush is owed and a gws write (a pong) waits,
// so nothing interleaves with it; then both go out whole.
func TestFlushRestIsWrittenBeforeAnythingElse(t *testing.T) {
	c, client := tcpConn(t, newTestGateway(t))
	_ = c.wire.Conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
	_ = client.SetReadBuffer(16 << 10)
	big := make([]byte, 4<<20) // far more than the socket buffers hold
	for i := range big {
		big[i] = byte(i)
	}
	w := &flushFunc{flushes: []func(){
		func() { _ = c.Write(big) },
		func() { _ = c.Write([]byte("second")) },
	}}
	c.Schedule(w)
	waitUntil(t, "the first flush to return with its rest being written", func() bool {
		writing, _, _ := c.wire.state()
		return w.n.Load() == 1 && writing
	})
	c.Schedule(w)
	waitUntil(t, "the second flush to be owed", func() bool {
		_, owed, _ := c.wire.state()
		return owed
	})
	pong := []byte{0x8a, 0x00}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.wire.Write(pong)
		wrote <- err
	}()
	waitUntil(t, "the pong to wait for the socket", func() bool {
		_, _, waited := c.wire.state()
		return waited
	})
	if w.n.Load() != 1 {
		t.Fatal("the owed flush ran while the rest of the first was being written")
	}

	r := bufio.NewReader(client)
	if b0, p := readFrame(t, r); b0 != 0x82 || !bytes.Equal(p, big) {
		t.Fatalf("first frame %#x of %d bytes, want the big binary frame whole", b0, len(p))
	}
	// The pong and the owed flush compete for the socket once it is
	// free: either order, each whole.
	got := map[string]bool{}
	for range 2 {
		b0, p := readFrame(t, r)
		got[string([]byte{b0})+string(p)] = true
	}
	if !got["\x8a"] || !got["\x82second"] {
		t.Fatalf("after the big frame got %v, want the pong and the second flush", got)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the socket to be released", func() bool {
		writing, owed, _ := c.wire.state()
		return !writing && !owed && w.n.Load() == 2
	})
}

// TestWriteFailureClosesTheSocket: a flush whose write fails closes the
// socket, which ends gws's read loop (TestGwsReadLoopEndsWhenTheSocketCloses),
// and releases it.
func TestWriteFailureClosesTheSocket(t *testing.T) {
	c, client := tcpConn(t, newTestGateway(t))
	_ = client.SetLinger(0)
	_ = client.Close() // a reset
	w := &flushFunc{}
	for range 10 {
		w.flushes = append(w.flushes, func() { _ = c.Write([]byte("x")) })
	}
	// The first writes may go out before the reset arrives.
	for i := 1; i <= len(w.flushes); i++ {
		c.Schedule(w)
		waitUntil(t, "the flush", func() bool {
			writing, _, _ := c.wire.state()
			return w.n.Load() == int64(i) && !writing
		})
		if _, err := c.wire.Conn.Read(make([]byte, 1)); errors.Is(err, net.ErrClosed) {
			return
		}
	}
	t.Fatal("writes to a reset socket did not close it")
}

// TestCloseInAFlushOnABrokenSocket: a session's flush that closes the
// transport returns even when the socket is gone: Close sets the write
// deadline on the socket itself, since gws's SetWriteDeadline answers an
// error with a close frame, which would wait for the socket the flush
// holds.
func TestCloseInAFlushOnABrokenSocket(t *testing.T) {
	g := newTestGateway(t)
	server, client := tcpPair(t)
	wire := &wireConn{Conn: server, g: g, raw: rawConnOf(server)}
	go func() { _, _ = io.Copy(io.Discard, client) }()
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	socket, err := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{}).UpgradeFromConn(wire, bufio.NewReader(wire), r)
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{g: g, socket: socket, wire: wire}
	wire.owner = c
	_ = server.Close()
	w := &flushFunc{flushes: []func(){func() { c.Close(pushsvc.DisconnectShutdown) }}}
	c.Schedule(w)
	waitUntil(t, "the flush that closes to return and release the socket", func() bool {
		writing, _, _ := c.wire.state()
		return w.n.Load() == 1 && !writing
	})
}

// TestDeflatedFrames: a compressed frame has RSV1 set, the length of its
// data, and inflates back once the 00 00 ff ff that RFC 7692 has the
// sender remove is put back (7.2.2), at the header's length boundaries
// too.
func TestDeflatedFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for _, payload := range [][]byte{
		{}, []byte("x"), bytes.Repeat([]byte("herald "), 100),
		noise(100), noise(130), noise(70000), bytes.Repeat([]byte{0}, 1<<20),
	} {
		prefix := []byte("earlier frames")
		frame := appendDeflatedFrame(bytes.Clone(prefix), payload)
		if !bytes.HasPrefix(frame, prefix) {
			t.Fatal("appendDeflatedFrame changed what was before it")
		}
		b0, data := readFrame(t, bytes.NewReader(frame[len(prefix):]))
		if b0 != 0xc2 {
			t.Fatalf("first byte %#x, want FIN, RSV1 and binary (0xc2)", b0)
		}
		if len(prefix)+2 > len(frame) || len(data) == 0 {
			t.Fatalf("frame of %d bytes for %d", len(frame), len(payload))
		}
		got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(data), bytes.NewReader(deflateTail))))
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("inflate a %d-byte payload: %v", len(payload), err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("a %d-byte payload inflates to %d bytes", len(payload), len(got))
		}
	}
	if b0, _ := readFrame(t, bytes.NewReader(appendBinaryFrame(nil, make([]byte, 70000)))); b0 != 0x82 {
		t.Fatalf("an uncompressed frame starts with %#x, want 0x82", b0)
	}
}

// TestFlushAllocatesNothing: a flush that the socket takes at once costs
// no allocation, from Schedule to the write: the frames go to the
// writer's buffer and the non-blocking write's callback is made once per
// writer.
func TestFlushAllocatesNothing(t *testing.T) {
	c, client := tcpConn(t, newTestGateway(t))
	go func() { _, _ = io.Copy(io.Discard, client) }()
	frame := make([]byte, 100)
	done := make(chan struct{})
	w := &flushFunc{}
	const runs = 100
	for range runs + 1 {
		w.flushes = append(w.flushes, func() {
			_ = c.Write(frame)
			done <- struct{}{}
		})
	}
	allocs := testing.AllocsPerRun(runs, func() {
		c.Schedule(w)
		<-done
		// The write follows the flush: wait for it without allocating.
		for writing, _, _ := c.wire.state(); writing; writing, _, _ = c.wire.state() {
			runtime.Gosched()
		}
	})
	if allocs != 0 {
		t.Errorf("a flush allocates %.2f times, want 0", allocs)
	}
}
