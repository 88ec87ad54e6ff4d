package wsgate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-push/herald/pushsvc"
)

// The tests in this file pin what gws v1.8.9 does with a socket, which
// wireConn (netconn.go, linger.go) relies on. Each fails the day gws
// changes the behaviour; the workaround it names must then change too.

// recConn records the Writes and the Close a gws connection makes on its
// socket.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	ops []socketOp // guarded by mu
}

// socketOp is a Write of data, or a Close.
type socketOp struct {
	close bool
	data  []byte
}

func (r *recConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.ops = append(r.ops, socketOp{data: bytes.Clone(p)})
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recConn) Close() error {
	r.mu.Lock()
	r.ops = append(r.ops, socketOp{close: true})
	r.mu.Unlock()
	return r.Conn.Close()
}

// takeOps returns the operations recorded so far and forgets them.
func (r *recConn) takeOps() []socketOp {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// closeThenClose returns the code and reason of the close frame in ops,
// failing unless ops are one Write of a whole close frame, then Close.
func closeThenClose(t *testing.T, ops []socketOp) (uint16, string) {
	t.Helper()
	if len(ops) != 2 || ops[0].close || !isCloseFrame(ops[0].data) || len(ops[0].data) < 4 || !ops[1].close {
		t.Fatalf("gws did %+v, want one Write of a close frame, then Close", ops)
	}
	return binary.BigEndian.Uint16(ops[0].data[2:4]), string(ops[0].data[4:])
}

// gwsPipe is a gws server connection over one end of a net.Pipe, with
// its socket operations recorded, and the client's end.
type gwsPipe struct {
	socket *gws.Conn
	rec    *recConn
	client net.Conn
	closed chan error // OnClose's error, once the read loop has ended
}

type recordingHandler struct {
	gws.BuiltinEventHandler
	closed chan error
}

func (h *recordingHandler) OnClose(_ *gws.Conn, err error) { h.closed <- err }

// newGwsPipe upgrades a connection with opt, offering permessage-deflate
// when deflate is set. What the server writes the client's end reads and
// throws away, until the pipe closes.
func newGwsPipe(t *testing.T, opt *gws.ServerOption, deflate bool) *gwsPipe {
	t.Helper()
	server, client := net.Pipe()
	p := &gwsPipe{rec: &recConn{Conn: server}, client: client, closed: make(chan error, 1)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = client.Close()
		_ = server.Close()
		wg.Wait()
	})
	wg.Go(func() { _, _ = io.Copy(io.Discard, client) })
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if deflate {
		r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
	}
	socket, err := gws.NewUpgrader(&recordingHandler{closed: p.closed}, opt).UpgradeFromConn(p.rec, bufio.NewReader(p.rec), r)
	if err != nil {
		t.Fatal(err)
	}
	p.socket = socket
	p.rec.takeOps() // the 101 response
	return p
}

// readLoop runs the read loop until it ends and returns OnClose's error.
func (p *gwsPipe) readLoop(t *testing.T) error {
	t.Helper()
	go p.socket.ReadLoop()
	select {
	case err := <-p.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("read loop still running after 10s")
	}
	return nil
}

// TestGwsWriteCloseIsOneWriteThenClose: gws writes a close frame in one
// Write, then closes the socket (writer.go, writeClose). wireConn relies
// on both: it recognises a close frame as one whole Write, and its Close
// after a close frame is where it lingers.
func TestGwsWriteCloseIsOneWriteThenClose(t *testing.T) {
	p := newGwsPipe(t, &gws.ServerOption{}, false)
	if err := p.socket.WriteClose(pushsvc.CodeKicked, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	if code, reason := closeThenClose(t, p.rec.takeOps()); code != pushsvc.CodeKicked || reason != "bye" {
		t.Errorf("WriteClose wrote %d %q, want 4002 \"bye\"", code, reason)
	}
}

// TestGwsClosesWith1000OnAForeignReadError: when Read fails with an error
// that is not one of gws's own (a read deadline; a header wireConn.Read
// refuses), gws writes close 1000 with the error's text and closes
// (conn.go, emitError), and gives the error to OnClose. wireConn turns
// that 1000 into its fault's Disconnect: the heartbeat's, a bad length's.
func TestGwsClosesWith1000OnAForeignReadError(t *testing.T) {
	p := newGwsPipe(t, &gws.ServerOption{}, false)
	if err := p.socket.SetReadDeadline(aLongTimeAgo); err != nil {
		t.Fatal(err)
	}
	err := p.readLoop(t)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("OnClose got %v, want the deadline error", err)
	}
	if code, reason := closeThenClose(t, p.rec.takeOps()); code != pushsvc.CodeNormal || reason != err.Error() {
		t.Errorf("after a read deadline gws closed with %d %q, want 1000 and the error", code, reason)
	}
}

// TestGwsOwnCloseCodes: the codes gws closes with on its own for frames it
// refuses, which wireConn.gwsDisconnect maps to Disconnects.
func TestGwsOwnCloseCodes(t *testing.T) {
	garbage := bytes.Repeat([]byte{0xff}, 64)
	var inflatesBig bytes.Buffer
	fw, _ := flate.NewWriter(&inflatesBig, flate.BestCompression)
	_, _ = fw.Write(make([]byte, 4096))
	_ = fw.Flush()
	deflated := bytes.TrimSuffix(inflatesBig.Bytes(), []byte{0, 0, 0xff, 0xff})
	cases := []struct {
		name    string
		deflate bool
		frame   []byte
		code    uint16
		reason  string // a prefix of the close reason after the code
	}{
		{"unmasked frame", false, []byte{0x82, 0x00}, pushsvc.CodeProtocolError, ""},
		{"fragmented ping", false, maskedHeader(0x9, false, false, 0), pushsvc.CodeProtocolError, ""},
		{"frame over ReadMaxPayloadSize", false, maskedHeader(0x2, true, false, 2048), pushsvc.CodeTooBig, ""},
		{"compressed frame that does not inflate", true, append(maskedHeader(0x2, true, true, len(garbage)), garbage...), pushsvc.CodeInternal, "flate: "},
		{"compressed frame that inflates past the limit", true, append(maskedHeader(0x2, true, true, len(deflated)), deflated...), pushsvc.CodeInternal, inflatedTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newGwsPipe(t, &gws.ServerOption{
				ReadMaxPayloadSize: 1024,
				PermessageDeflate:  gws.PermessageDeflate{Enabled: tc.deflate, ServerContextTakeover: false, ClientContextTakeover: false},
			}, tc.deflate)
			wrote := make(chan error, 1)
			go func() {
				_, err := p.client.Write(tc.frame)
				wrote <- err
			}()
			_ = p.readLoop(t)
			<-wrote
			code, reason := closeThenClose(t, p.rec.takeOps())
			if code != tc.code || !strings.HasPrefix(reason, tc.reason) {
				t.Errorf("gws closed with %d %q, want %d %q...", code, reason, tc.code, tc.reason)
			}
		})
	}
}

// TestGwsWritesEachFrameInOneWrite: every frame gws writes for us, a
// ping, a pong, the data frame of WriteMessage (the Disconnect of
// conn.Close), a close, is one Write of the whole frame (writer.go,
// doWrite), however big. wireConn.Write holds the socket across one
// Write, which thus keeps frames whole and out of a flush (rawwrite.go).
func TestGwsWritesEachFrameInOneWrite(t *testing.T) {
	p := newGwsPipe(t, &gws.ServerOption{}, false)
	big := bytes.Repeat([]byte("d"), 100<<10)
	writes := []struct {
		name    string
		write   func() error
		opcode  byte
		payload []byte
	}{
		{"ping", func() error { return p.socket.WritePing([]byte("p")) }, 0x9, []byte("p")},
		{"pong", func() error { return p.socket.WritePong([]byte("q")) }, 0xa, []byte("q")},
		{"binary", func() error { return p.socket.WriteMessage(gws.OpcodeBinary, big) }, 0x2, big},
		{"close", func() error { return p.socket.WriteClose(pushsvc.CodeNormal, nil) }, 0x8, []byte{0x03, 0xe8}},
	}
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		var data [][]byte
		for _, op := range p.rec.takeOps() {
			if !op.close {
				data = append(data, op.data)
			}
		}
		if len(data) != 1 {
			t.Fatalf("%s: %d Writes, want 1", w.name, len(data))
		}
		b0, payload := readFrame(t, bytes.NewReader(data[0]))
		if b0 != 0x80|w.opcode || !bytes.Equal(payload, w.payload) || len(data[0]) != len(appendFrameHeader(nil, len(payload), false))+len(payload) {
			t.Fatalf("%s: wrote %d bytes starting %#x, want one whole frame of opcode %#x", w.name, len(data[0]), b0, w.opcode)
		}
	}
}

// TestGwsNegotiatesDeflateAsOffered: with the gateway's deflate settings,
// gws accepts permessage-deflate exactly when offersDeflate says the
// request offers it, and answers without context takeover either way and
// with the default window (no server_max_window_bits, whatever the client
// asked): each message is compressed alone over a 32 KiB window, as
// appendDeflatedFrame does, so one compressed frame serves every such
// connection.
func TestGwsNegotiatesDeflateAsOffered(t *testing.T) {
	for _, offer := range []string{
		"",
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; server_max_window_bits=10",
		"x-webkit-deflate-frame",
	} {
		server, client := net.Pipe()
		rec := &recConn{Conn: server}
		go func() { _, _ = io.Copy(io.Discard, client) }()
		r := &http.Request{Method: http.MethodGet, Header: http.Header{}}
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if offer != "" {
			r.Header.Set("Sec-WebSocket-Extensions", offer)
		}
		_, err := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{
			PermessageDeflate: gws.PermessageDeflate{Enabled: true, ServerContextTakeover: false, ClientContextTakeover: false},
		}).UpgradeFromConn(rec, bufio.NewReader(rec), r)
		_ = client.Close()
		_ = server.Close()
		if err != nil {
			t.Fatalf("%q: %v", offer, err)
		}
		ops := rec.takeOps()
		if len(ops) == 0 {
			t.Fatalf("%q: no response", offer)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(ops[0].data)), nil)
		if err != nil {
			t.Fatalf("%q: %v", offer, err)
		}
		ext := resp.Header.Get("Sec-WebSocket-Extensions")
		if accepted := ext != ""; accepted != offersDeflate(r) {
			t.Errorf("%q: gws answered %q, but offersDeflate says %v", offer, ext, offersDeflate(r))
			continue
		}
		if ext != "" && (!strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover") || strings.Contains(ext, "max_window_bits")) {
			t.Errorf("%q: gws answered %q, want no context takeover and the default windows", offer, ext)
		}
	}
}

// TestGwsCompressesAsWeDo: a frame compressed by appendDeflatedFrame is
// byte for byte the frame gws writes for a connection that negotiated
// permessage-deflate with the gateway's settings (its Broadcaster, which
// compresses without the connection's context): the same compressor,
// level, window and trailer.
func TestGwsCompressesAsWeDo(t *testing.T) {
	p := newGwsPipe(t, &gws.ServerOption{
		PermessageDeflate: gws.PermessageDeflate{Enabled: true, ServerContextTakeover: false, ClientContextTakeover: false},
	}, true)
	for _, payload := range [][]byte{
		bytes.Repeat([]byte("herald push "), 100),
		[]byte(strings.Repeat("a", 600) + strings.Repeat("b", 70000)),
	} {
		b := gws.NewBroadcaster(gws.OpcodeBinary, payload)
		if err := b.Broadcast(p.socket); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		var ops []socketOp
		waitUntil(t, "gws's write", func() bool {
			ops = append(ops, p.rec.takeOps()...)
			return len(ops) > 0
		})
		if want := appendDeflatedFrame(nil, payload); len(ops) != 1 || !bytes.Equal(ops[0].data, want) {
			t.Fatalf("gws wrote %d bytes, appendDeflatedFrame %d: they differ", len(ops[0].data), len(want))
		}
	}
}

// TestGwsReadLoopEndsWhenTheSocketCloses: a socket closed under gws ends
// its read loop, which calls OnClose. A flush whose write fails closes the
// socket (wireConn.fail), and the session ends there.
func TestGwsReadLoopEndsWhenTheSocketCloses(t *testing.T) {
	p := newGwsPipe(t, &gws.ServerOption{}, false)
	_ = p.rec.Conn.Close()
	if err := p.readLoop(t); !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, net.ErrClosed) {
		t.Errorf("OnClose got %v, want the closed socket's error", err)
	}
}
