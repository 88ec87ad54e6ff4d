package bench

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// serverFrame builds an unmasked frame as a server sends it.
func serverFrame(fin, rsv1 bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, byte(n))
	case n <= 0xffff:
		out = append(out, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, payload...)
}

// deflated compresses b as a permessage-deflate message without context
// takeover: a flushed deflate stream less its last four bytes.
func deflated(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := flate.NewWriter(&out, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
}

func TestNextFrame(t *testing.T) {
	for _, size := range []int{0, 125, 126, 65535, 65536} {
		f := serverFrame(true, false, opBinary, make([]byte, size))
		for _, cut := range []int{0, 1, 2, 3, 9, len(f) - 1} {
			if _, n, err := nextFrame(f[:min(cut, len(f)-1)]); n != 0 || err != nil {
				t.Errorf("%d-byte frame cut at %d: took %d bytes, %v; want to wait for the rest", size, cut, n, err)
			}
		}
		got, n, err := nextFrame(append(f, 0x81))
		if err != nil || n != len(f) || len(got.payload) != size || !got.fin || got.op != opBinary {
			t.Errorf("%d-byte frame: %+v, took %d of %d, %v", size, got, n, len(f), err)
		}
	}
	for name, b := range map[string][]byte{
		"masked":    {0x82, 0x81, 1, 2, 3, 4, 5},
		"RSV2":      {0xA2, 0x00},
		"too large": {0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 1},
	} {
		if _, _, err := nextFrame(b); err == nil {
			t.Errorf("%s frame accepted", name)
		}
	}
}

// A client reads whatever the socket gives it, cut anywhere: single and
// fragmented messages, compressed ones, a ping it answers with a masked
// pong, and the server's close, which ends it with its code.
func TestFrameReaderReadsAClient(t *testing.T) {
	const tag = 0xBE1
	f, err := newFleet(fleetSpec{WSURL: "ws://127.0.0.1:1/ws", Tag: tag, Steps: 1, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fds[0]); _ = syscall.Close(fds[1]) })
	c := &client{f: f, fd: fds[0], deflate: true, welcome: make(chan struct{}), done: make(chan struct{})}
	f.live.Add(1)

	push := func(id string) []byte {
		p := newPayload(100, tag, 0)
		stamp(p, time.Now())
		return marshal(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Push{Push: &clientv1.Push{Id: id, Payload: p}}})
	}
	welcome := marshal(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Welcome{Welcome: &clientv1.Welcome{UserId: "u"}}})
	frag := push("fragmented")
	var wire []byte
	wire = append(wire, serverFrame(true, false, opBinary, welcome)...)
	wire = append(wire, serverFrame(true, false, opBinary, push("single"))...)
	wire = append(wire, serverFrame(false, false, opBinary, frag[:10])...)
	wire = append(wire, serverFrame(true, false, opPing, []byte("are you there"))...)
	wire = append(wire, serverFrame(false, false, opContinuation, frag[10:20])...)
	wire = append(wire, serverFrame(true, false, opContinuation, frag[20:])...)
	wire = append(wire, serverFrame(true, true, opBinary, deflated(t, push("compressed")))...)
	wire = append(wire, serverFrame(true, false, opClose, []byte{0x0f, 0xa3, 'g', 'o'})...) // 4003
	wire = append(wire, serverFrame(true, false, opBinary, push("after the close"))...)

	rng := rand.New(rand.NewPCG(3, 4))
	var fr frameReader
	for rest := wire; len(rest) > 0 && !c.ended; {
		n := min(len(rest), 1+rng.IntN(40))
		fr.consume(c, rest[:n], time.Now().UnixNano())
		rest = rest[n:]
	}

	if !c.welcomed || f.rec.received() != 3 || f.badFrames.Load() != 0 {
		t.Errorf("welcomed %v, %d pushes recorded, %d bad frames; want the Welcome, 3 pushes, none bad",
			c.welcomed, f.rec.received(), f.badFrames.Load())
	}
	if !c.ended || f.live.Load() != 0 || f.closes["code 4003"] != 1 {
		t.Errorf("ended %v, live %d, closes %v; want the client ended by the server with 4003", c.ended, f.live.Load(), f.closes)
	}
	// The pong, masked, echoes the ping.
	buf := make([]byte, 64)
	n, err := syscall.Read(fds[1], buf)
	if err != nil {
		t.Fatal(err)
	}
	want := appendClientFrame(nil, opPong, []byte("are you there"), clientMask)
	if !bytes.Equal(buf[:n], want) || buf[0] != 0x8A || buf[1]&0x80 == 0 {
		t.Errorf("pong % x, want % x", buf[:n], want)
	}
}

// BenchmarkPollerReceive measures a delivery on the receiving side when
// the bench is saturated: each of 1,000 clients has one push waiting, as
// when the server delivers faster than the bench reads, and a poller reads
// them all. An op is one delivery: one read(2) and the frame's parsing
// and recording, with epoll_wait shared by up to 256 clients.
// `taskset -c 1 go test ./cmd/herald/internal/bench -run '^$' -bench
// PollerReceive`.
func BenchmarkPollerReceive(b *testing.B) {
	const conns, tag = 1000, 0xBE2
	f, err := newFleet(fleetSpec{WSURL: "ws://127.0.0.1:1/ws", Tag: tag, Steps: 1, Count: conns})
	if err != nil {
		b.Fatal(err)
	}
	p, err := newPoller(f)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.stop)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	servers := make([]net.Conn, conns)
	for i := range conns {
		cc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		fd, err := dupSocket(cc)
		_ = cc.Close()
		if err != nil {
			b.Fatal(err)
		}
		c := &client{f: f, p: p, idx: i, fd: fd, welcome: make(chan struct{}), done: make(chan struct{})}
		f.slots[i].Store(c)
		f.live.Add(1)
		if err := p.add(c, i); err != nil {
			b.Fatal(err)
		}
		servers[i] = sc
		b.Cleanup(func() { _ = sc.Close(); _ = syscall.Close(fd) })
	}
	payload := newPayload(100, tag, 0)
	stamp(payload, time.Now())
	frame := serverFrame(true, false, opBinary, marshal(b, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Push{Push: &clientv1.Push{Id: "x", Payload: payload}}}))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(conns, b.N-done)
		b.StopTimer()
		want := f.rec.received() + uint64(n)
		for _, sc := range servers[:n] {
			if _, err := sc.Write(frame); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		for f.rec.received() < want {
			p.poll()
		}
		done += n
	}
}
