package wstest

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// Wait bounds every wait for a frame or a close.
const Wait = 15 * time.Second

// Options say how to dial.
type Options struct {
	// URL is the ws:// or wss:// address of GET /ws, query included.
	URL string
	// Token is sent as a bearer header when not empty.
	Token string
	// Header holds more request headers.
	Header http.Header
	// From is the local IP to dial from; "" for the default.
	From string
	// Compress offers permessage-deflate (no context takeover).
	Compress bool
	// Silent ignores the server's protocol pings, like a dead peer.
	Silent bool
	// TLS is the client TLS configuration for wss://.
	TLS *tls.Config
}

// Client is one connection. Its methods are for the test's goroutine.
type Client struct {
	// Conn is the gws connection, for writing raw frames.
	Conn *gws.Conn

	frames   chan *clientv1.ServerFrame // nil for a frame that is not a ServerFrame
	closed   chan struct{}
	closeErr error            // set before closed is closed
	batch    []*clientv1.Push // pushes of a PushBatch NextPush has not returned yet
}

type handler struct {
	gws.BuiltinEventHandler
	c      *Client
	silent bool
}

func (h *handler) OnPing(socket *gws.Conn, payload []byte) {
	if !h.silent {
		_ = socket.WritePong(payload)
	}
}

func (h *handler) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	f := &clientv1.ServerFrame{}
	if err := proto.Unmarshal(msg.Bytes(), f); err != nil {
		f = nil // Next fails on it
	}
	h.c.frames <- f
}

func (h *handler) OnClose(_ *gws.Conn, err error) {
	h.c.closeErr = err
	close(h.c.closed)
}

// Dial connects. A refused handshake returns the response and an error;
// the response body is closed either way. The connection is closed, and
// its read loop awaited, at the test's cleanup.
func Dial(t testing.TB, o Options) (*Client, *http.Response, error) {
	t.Helper()
	c := &Client{frames: make(chan *clientv1.ServerFrame, 4096), closed: make(chan struct{})}
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = v
	}
	if o.Token != "" {
		h.Set("Authorization", "Bearer "+o.Token)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if o.From != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.From)}
	}
	conn, resp, err := gws.NewClient(&handler{c: c, silent: o.Silent}, &gws.ClientOption{
		Addr:              o.URL,
		RequestHeader:     h,
		PermessageDeflate: gws.PermessageDeflate{Enabled: o.Compress},
		TlsConfig:         o.TLS,
		NewDialer:         func() (gws.Dialer, error) { return dialer, nil },
	})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	c.Conn = conn
	go conn.ReadLoop()
	t.Cleanup(c.Close)
	return c, resp, nil
}

// Close closes the socket and waits for the read loop to end.
func (c *Client) Close() {
	_ = c.Conn.NetConn().Close()
	<-c.closed
}

// Closed is closed when the connection has ended.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Frames delivers the frames received, for a test that waits on more than
// one thing; nil stands for a frame that is not a ServerFrame.
func (c *Client) Frames() <-chan *clientv1.ServerFrame { return c.frames }

// Next returns the next frame, failing the test after Wait or on a frame
// that is not a ServerFrame.
func (c *Client) Next(t testing.TB) *clientv1.ServerFrame {
	t.Helper()
	select {
	case f := <-c.frames:
		if f == nil {
			t.Fatal("received a frame that is not a ServerFrame")
		}
		return f
	case <-time.After(Wait):
		t.Fatalf("no frame within %v", Wait)
	}
	return nil
}

// NextPush returns the next push, from a Push or a PushBatch, skipping
// other frames.
func (c *Client) NextPush(t testing.TB) *clientv1.Push {
	t.Helper()
	for len(c.batch) == 0 {
		f := c.Next(t)
		if p := f.GetPush(); p != nil {
			return p
		}
		c.batch = f.GetBatch().GetPushes()
	}
	p := c.batch[0]
	c.batch = c.batch[1:]
	return p
}

// Send writes f as a binary frame.
func (c *Client) Send(t testing.TB, f *clientv1.ClientFrame) {
	t.Helper()
	b, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatal(err)
	}
}

// WaitClose waits for the server to close the connection and returns the
// close code (0 when the connection ended without one) and the Disconnect
// frame that came before it, if any.
func (c *Client) WaitClose(t testing.TB) (uint16, *clientv1.Disconnect) {
	t.Helper()
	var d *clientv1.Disconnect
	timeout := time.After(Wait)
	for {
		select {
		case f := <-c.frames:
			if f.GetDisconnect() != nil {
				d = f.GetDisconnect()
			}
		case <-c.closed:
			// Frames that raced the close.
			for len(c.frames) > 0 {
				if f := <-c.frames; f.GetDisconnect() != nil {
					d = f.GetDisconnect()
				}
			}
			var ce *gws.CloseError
			if errors.As(c.closeErr, &ce) {
				return ce.Code, d
			}
			return 0, d
		case <-timeout:
			t.Fatalf("connection not closed within %v", Wait)
		}
	}
}
