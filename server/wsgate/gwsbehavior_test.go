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
