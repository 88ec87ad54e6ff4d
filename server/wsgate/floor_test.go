package wsgate

import (
	"io"
	"net"
	"testing"
)

// BenchmarkLoopbackWriteFloor is the floor under every delivery: one
// write(2) of a 100-byte frame to a loopback TCP socket, with no WebSocket,
// no Herald and nobody reading (the kernel buffers absorb it). A broadcast
// to N connections on one core cannot take less than N of these, whatever
// the server does above the socket.
func BenchmarkLoopbackWriteFloor(b *testing.B) {
	const conns = 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	servers := make([]net.Conn, 0, conns)
	clients := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range append(servers, clients...) {
			_ = c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		clients, servers = append(clients, c), append(servers, s)
	}
	frame := appendBinaryFrame(nil, make([]byte, 100))
	const perSocket = 100 // frames a socket takes before it is drained
	written := 0          // frames written since the last drain
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := servers[i%conns].Write(frame); err != nil {
			b.Fatal(err)
		}
		written++
		if written == conns*perSocket {
			// Drain what was written, so that no buffer fills: a
			// blocked write would measure the reader, not the write.
			b.StopTimer()
			drain(b, clients, perSocket*len(frame))
			written = 0
			b.StartTimer()
		}
	}
}

// drain reads n bytes from every client.
func drain(b *testing.B, clients []net.Conn, n int) {
	buf := make([]byte, n)
	for _, c := range clients {
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}
