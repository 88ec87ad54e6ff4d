package server_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/auth"
)

const testAPIKey = "test-api-key"

// testEnv is a running server on loopback port 0 with a gRPC client.
type testEnv struct {
	srv    *server.Server
	wsURL  string
	secret []byte
	api    pushv1.PushServiceClient
	conn   *grpc.ClientConn
	stop   func() // drains and waits for Run to return
}

// startTestServer starts a real server on 127.0.0.1:0 and stops it at
// cleanup. mutate may change the configuration first.
func startTestServer(t *testing.T, mutate func(*server.Config)) *testEnv {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cfg := server.Defaults()
	cfg.WSAddr, cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.JWTSecret = hex.EncodeToString(secret)
	cfg.APIKeys = []string{testAPIKey}
	cfg.DrainTimeout = time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	conn, err := grpc.NewClient(srv.Addrs().GRPC,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(testAPIKey)))
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{
		srv:    srv,
		wsURL:  "ws://" + srv.Addrs().WS + "/ws",
		secret: []byte(cfg.JWTSecret),
		api:    pushv1.NewPushServiceClient(conn),
		conn:   conn,
	}
	var once sync.Once
	env.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("server did not stop within 30s")
			}
			_ = conn.Close()
		})
	}
	t.Cleanup(env.stop)
	return env
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// bearer is per-RPC API-key metadata over a plaintext loopback connection.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

func (e *testEnv) token(t *testing.T, user string, groups ...string) string {
	t.Helper()
	tok, err := auth.Mint(e.secret, auth.MintClaims{UserID: user, Groups: groups, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wsClient is a raw gws client that decodes every ServerFrame.
type wsClient struct {
	conn     *gws.Conn
	resp     *http.Response
	frames   chan *clientv1.ServerFrame
	closed   chan struct{}
	closeErr error
	batch    []*clientv1.Push // pushes of a PushBatch not yet returned by nextPush
}

type wsHandler struct {
	gws.BuiltinEventHandler
	c *wsClient
	// silent makes the client ignore protocol pings (a dead peer).
	silent bool
}

func (h *wsHandler) OnPing(socket *gws.Conn, payload []byte) {
	if !h.silent {
		_ = socket.WritePong(payload)
	}
}

func (h *wsHandler) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	f := &clientv1.ServerFrame{}
	if err := proto.Unmarshal(msg.Bytes(), f); err != nil {
		f = nil // a nil frame in the channel fails the reader's test
	}
	h.c.frames <- f
}

func (h *wsHandler) OnClose(_ *gws.Conn, err error) {
	h.c.closeErr = err
	close(h.c.closed)
}

type dialOpts struct {
	compress bool
	silent   bool
	header   http.Header
	tls      *tls.Config
}

// dialWS connects to url with token as a bearer header (when not empty).
func dialWS(t *testing.T, url, token string, o dialOpts) (*wsClient, *http.Response, error) {
	t.Helper()
	c := &wsClient{frames: make(chan *clientv1.ServerFrame, 4096), closed: make(chan struct{})}
	h := http.Header{}
	for k, v := range o.header {
		h[k] = v
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := gws.NewClient(&wsHandler{c: c, silent: o.silent}, &gws.ClientOption{
		Addr:              url,
		RequestHeader:     h,
		PermessageDeflate: gws.PermessageDeflate{Enabled: o.compress},
		TlsConfig:         o.tls,
	})
	if err != nil {
		return nil, resp, err
	}
	c.conn, c.resp = conn, resp
	go conn.ReadLoop()
	t.Cleanup(func() {
		_ = conn.NetConn().Close()
		<-c.closed
	})
	return c, resp, nil
}

// mustDial connects and reads the Welcome.
func (e *testEnv) mustDial(t *testing.T, user string, groups ...string) *wsClient {
	t.Helper()
	c, _, err := dialWS(t, e.wsURL, e.token(t, user, groups...), dialOpts{compress: true})
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	if w := c.next(t).GetWelcome(); w == nil || w.GetUserId() != user {
		t.Fatalf("first frame is not a Welcome for %s", user)
	}
	return c
}

// next returns the next frame, failing after a timeout.
func (c *wsClient) next(t *testing.T) *clientv1.ServerFrame {
	t.Helper()
	select {
	case f := <-c.frames:
		if f == nil {
			t.Fatal("received a frame that is not a ServerFrame")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	return nil
}

// nextPush returns the next push, from a Push or a PushBatch, skipping
// other frames.
func (c *wsClient) nextPush(t *testing.T) *clientv1.Push {
	t.Helper()
	for len(c.batch) == 0 {
		f := c.next(t)
		if p := f.GetPush(); p != nil {
			return p
		}
		c.batch = f.GetBatch().GetPushes()
	}
	p := c.batch[0]
	c.batch = c.batch[1:]
	return p
}

// noFrame asserts nothing arrives while the server handles a Ping round
// trip: the Pong proves every earlier frame was written.
func (c *wsClient) noPushBeforePong(t *testing.T) {
	t.Helper()
	c.send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: 99}}})
	for {
		f := c.next(t)
		if f.GetPong() != nil {
			return
		}
		if f.GetPush() != nil || f.GetBatch() != nil {
			t.Fatalf("unexpected push %v", f)
		}
	}
}

func (c *wsClient) send(t *testing.T, f *clientv1.ClientFrame) {
	t.Helper()
	b, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatal(err)
	}
}

// waitClose waits for the server's Disconnect frame and close, and returns
// the close code.
func (c *wsClient) waitClose(t *testing.T) (uint16, *clientv1.Disconnect) {
	t.Helper()
	var d *clientv1.Disconnect
	timeout := time.After(15 * time.Second)
	for {
		select {
		case f := <-c.frames:
			if f != nil && f.GetDisconnect() != nil {
				d = f.GetDisconnect()
			}
		case <-c.closed:
			// Drain frames that raced the close.
			for {
				select {
				case f := <-c.frames:
					if f != nil && f.GetDisconnect() != nil {
						d = f.GetDisconnect()
					}
					continue
				default:
				}
				break
			}
			var ce *gws.CloseError
			if errors.As(c.closeErr, &ce) {
				return ce.Code, d
			}
			return 0, d
		case <-timeout:
			t.Fatal("connection not closed within 15s")
		}
	}
}

// httpGet returns the status code of a GET.
func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
