package server_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/wstest"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/tokens"
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
	tok, err := tokens.Mint(e.secret, tokens.MintClaims{UserID: user, Groups: groups, TTL: time.Hour})
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

// wsClient is a raw WebSocket client that decodes every ServerFrame.
type wsClient = wstest.Client

type dialOpts struct {
	compress bool
	silent   bool
	header   http.Header
	tls      *tls.Config
}

// dialWS connects to url with token as a bearer header (when not empty).
func dialWS(t *testing.T, url, token string, o dialOpts) (*wsClient, *http.Response, error) {
	t.Helper()
	return wstest.Dial(t, wstest.Options{URL: url, Token: token, Header: o.header, Compress: o.compress, Silent: o.silent, TLS: o.tls})
}

// mustDial connects and reads the Welcome.
func (e *testEnv) mustDial(t *testing.T, user string, groups ...string) *wsClient {
	t.Helper()
	c, _, err := dialWS(t, e.wsURL, e.token(t, user, groups...), dialOpts{compress: true})
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	if w := c.Next(t).GetWelcome(); w == nil || w.GetUserId() != user {
		t.Fatalf("first frame is not a Welcome for %s", user)
	}
	return c
}

// noPushBeforePong asserts no push arrives at c while the server handles a
// Ping round trip: the Pong proves every earlier frame was written.
func noPushBeforePong(t *testing.T, c *wsClient) {
	t.Helper()
	c.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: 99}}})
	for {
		f := c.Next(t)
		if f.GetPong() != nil {
			return
		}
		if f.GetPush() != nil || f.GetBatch() != nil {
			t.Fatalf("unexpected push %v", f)
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
