package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/wstest"
	"github.com/herald-push/herald/server"
)

// stopTimeout bounds the wait for a node's Run to return once stopped: it
// only catches a hang, the drain itself takes DrainTimeout.
const stopTimeout = 30 * time.Second

// callTimeout bounds a call the kit makes for a test.
const callTimeout = 20 * time.Second

// Options change the node Start runs. The zero value is a node on the
// in-memory engine with fresh Creds.
type Options struct {
	// Creds are the node's token secret and API key; zero means
	// NewCreds().
	Creds Creds
	// RedisURL, when set, runs the node on that Redis.
	RedisURL string
	// Logger, when set, is the node's log; nil means discarded, or the
	// test's log under -v. Benchmarks pass a discarding one: a log in
	// the hot path would be measured.
	Logger *slog.Logger
	// Config, when set, changes the configuration last, after the
	// defaults, the Creds and RedisURL.
	Config func(*server.Config)
}

// Node is a running node and a gRPC client of it. Its fields are set by
// Start and never change.
type Node struct {
	Server *server.Server
	Creds  Creds
	// WSAddr is the WebSocket listener's host:port, WSURL its endpoint,
	// ws://WSAddr/ws.
	WSAddr, WSURL string
	// GRPCAddr is the gRPC listener's host:port.
	GRPCAddr string
	// AdminURL is the admin listener (/metrics, /healthz, /readyz),
	// http://127.0.0.1:port.
	AdminURL string
	// Conn is a plaintext connection to GRPCAddr sending Creds.APIKey on
	// every call; API is the PushService client on it.
	Conn *grpc.ClientConn
	API  pushv1.PushServiceClient

	stop func()
}

// Start builds a node on 127.0.0.1 port 0 for every listener and runs it
// until the test ends.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	if o.Creds == (Creds{}) {
		o.Creds = NewCreds()
	}
	cfg := server.Defaults()
	cfg.WSAddr, cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.JWTSecret, cfg.APIKeys = o.Creds.JWTSecret, []string{o.Creds.APIKey}
	cfg.RedisURL = o.RedisURL
	cfg.DrainTimeout = time.Second
	if o.Config != nil {
		o.Config(&cfg)
	}
	log := o.Logger
	if log == nil {
		log = testLogger(t)
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	a := srv.Addrs()
	n := &Node{
		Server:   srv,
		Creds:    o.Creds,
		WSAddr:   a.WS,
		WSURL:    "ws://" + a.WS + "/ws",
		GRPCAddr: a.GRPC,
		AdminURL: "http://" + a.Admin,
		Conn:     o.Creds.Dial(t, a.GRPC),
	}
	n.API = pushv1.NewPushServiceClient(n.Conn)
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server Run: %v", err)
				}
			case <-time.After(stopTimeout):
				t.Errorf("server did not stop within %v", stopTimeout)
			}
			_ = n.Conn.Close()
		})
	}
	// Registered after Dial's: runs before it.
	t.Cleanup(n.stop)
	return n
}

// StartCluster starts n nodes, node-a, node-b..., on the Redis at
// redisURL, sharing o.Creds (fresh ones when zero); o.Config changes each
// node's settings last.
func StartCluster(t testing.TB, redisURL string, n int, o Options) []*Node {
	t.Helper()
	if o.Creds == (Creds{}) {
		o.Creds = NewCreds()
	}
	nodes := make([]*Node, n)
	for i := range nodes {
		id := fmt.Sprintf("node-%c", 'a'+i)
		nodes[i] = Start(t, Options{Creds: o.Creds, RedisURL: redisURL, Logger: o.Logger, Config: func(c *server.Config) {
			c.NodeID = id
			if o.Config != nil {
				o.Config(c)
			}
		}})
	}
	return nodes
}

// Stop stops the node, draining its connections, and waits for Run to
// return; the test's end does it too.
func (n *Node) Stop() { n.stop() }

// Token mints a client token for user, member of groups.
func (n *Node) Token(t testing.TB, user string, groups ...string) string {
	t.Helper()
	return n.Creds.Token(t, user, groups...)
}

// Connect opens a WebSocket as user (offering compression) and reads its
// Welcome.
func (n *Node) Connect(t testing.TB, user string, groups ...string) *wstest.Client {
	t.Helper()
	c, _, err := wstest.Dial(t, wstest.Options{URL: n.WSURL, Token: n.Token(t, user, groups...), Compress: true})
	if err != nil {
		t.Fatalf("nodetest: connecting %s: %v", user, err)
	}
	if w := c.Next(t).GetWelcome(); w == nil || w.GetUserId() != user {
		t.Fatalf("nodetest: first frame is not a Welcome for %s", user)
	}
	return c
}

// Stats returns the totals GetStats answers (of the whole cluster on
// Redis), failing the test if the call fails.
func (n *Node) Stats(t testing.TB) *pushv1.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	res, err := n.API.GetStats(ctx, &pushv1.GetStatsRequest{})
	if err != nil {
		t.Fatalf("nodetest: GetStats: %v", err)
	}
	return res.GetStats()
}

// testLogger discards the node's log, or under -v writes it, debug included,
// to the test's.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
