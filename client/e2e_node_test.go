package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server"
)

// node is an in-process server for tests that need no process boundary.
type node struct {
	srv  *server.Server
	ws   string // host:port
	api  pushv1.PushServiceClient
	stop func()
}

func startNode(t *testing.T, cr creds, mutate func(*server.Config)) *node {
	t.Helper()
	cfg := server.Defaults()
	cfg.WSAddr, cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.JWTSecret, cfg.APIKeys = cr.secret, []string{cr.apiKey}
	cfg.DrainTimeout = 500 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = srv.Run(ctx)
		close(done)
	}()
	var once sync.Once
	n := &node{srv: srv, ws: srv.Addrs().WS, api: pushClient(t, srv.Addrs().GRPC, cr)}
	n.stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(n.stop)
	return n
}

func (n *node) push(t *testing.T, user, payload string) *pushv1.PushToUsersResponse {
	t.Helper()
	res, err := n.api.PushToUsers(ctxT(t), &pushv1.PushToUsersRequest{UserIds: []string{user}, Message: &pushv1.Message{Topic: "t", Payload: []byte(payload)}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rawClient is a bare gws client for behaviour the SDK never shows (never
// acking, never reading).
type rawClient struct {
	conn   *gws.Conn
	frames chan *clientv1.ServerFrame
	closed chan struct{}
}

type rawHandler struct {
	gws.BuiltinEventHandler
	c *rawClient
}

func (h *rawHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	f := &clientv1.ServerFrame{}
	if proto.Unmarshal(m.Bytes(), f) == nil {
		h.c.frames <- f
	}
}

func (h *rawHandler) OnClose(*gws.Conn, error) { close(h.c.closed) }

// dialRaw connects; with read false the connection is never read from.
func dialRaw(t *testing.T, url, token string, read bool) *rawClient {
	t.Helper()
	c := &rawClient{frames: make(chan *clientv1.ServerFrame, 10000), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(&rawHandler{c: c}, &gws.ClientOption{Addr: url, RequestHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	started := read
	if read {
		go conn.ReadLoop()
	}
	t.Cleanup(func() {
		_ = conn.NetConn().Close()
		if !started {
			go conn.ReadLoop() // returns at once on the closed socket
		}
		<-c.closed
	})
	return c
}

func (c *rawClient) send(t *testing.T, f *clientv1.ClientFrame) {
	t.Helper()
	b, _ := proto.Marshal(f)
	if err := c.conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatal(err)
	}
}

func (c *rawClient) next(t *testing.T) *clientv1.ServerFrame {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(20 * time.Second):
		t.Fatal("no frame within 20s")
	}
	return nil
}
