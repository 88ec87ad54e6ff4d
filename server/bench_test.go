package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
)

// benchNode is a real server on loopback for benchmarks, with counting
// WebSocket clients.
type benchNode struct {
	*nodetest.Node

	mu     sync.Mutex // guards done and serialises expect
	got    atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

// startBenchNode starts a node without per-address, per-user and gRPC
// rate limits and with its log discarded, -v or not; mutate, when set,
// changes its settings last.
func startBenchNode(b testing.TB, mutate func(*server.Config)) *benchNode {
	b.Helper()
	n := nodetest.Start(b, nodetest.Options{Logger: slog.New(slog.DiscardHandler), Config: func(cfg *server.Config) {
		cfg.HandshakesPerIPPerSecond, cfg.MaxConnectionsPerUser = 0, 0
		cfg.GRPCRateLimit = math.Inf(1) // benchmarks push faster than the default allows
		cfg.DrainTimeout = 100 * time.Millisecond
		if mutate != nil {
			mutate(cfg)
		}
	}})
	return &benchNode{Node: n}
}

type countingHandler struct {
	gws.BuiltinEventHandler
	n      *benchNode
	closed chan struct{}
}

func (h *countingHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	m.Close()
	if h.n.got.Add(1) == h.n.target.Load() {
		h.n.mu.Lock()
		close(h.n.done)
		h.n.mu.Unlock()
	}
}

func (h *countingHandler) OnClose(*gws.Conn, error) { close(h.closed) }

// connect opens n clients (compression as asked) that count every frame.
func (n *benchNode) connect(b testing.TB, clients int, compress bool) {
	b.Helper()
	for i := range clients {
		tok := n.Token(b, fmt.Sprintf("u%d", i))
		h := &countingHandler{n: n, closed: make(chan struct{})}
		conn, _, err := gws.NewClient(h, &gws.ClientOption{Addr: n.WSURL, RequestHeader: http.Header{"Authorization": {"Bearer " + tok}},
			PermessageDeflate: gws.PermessageDeflate{Enabled: compress}})
		if err != nil {
			b.Fatal(err)
		}
		go conn.ReadLoop()
		b.Cleanup(func() { _ = conn.NetConn().Close(); <-h.closed })
	}
}

// expect arms the wait for the next want frames; call it before whatever
// sends them.
func (n *benchNode) expect(want int64) chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.done = make(chan struct{})
	n.target.Store(n.got.Load() + want)
	return n.done
}

// BenchmarkBroadcastWebSocket measures one 1 KiB broadcast to 500 real
// WebSocket clients on loopback, from the gRPC call until every client
// has the frame, with and without permessage-deflate: the ratio is what
// compression costs when it is done once per fan-out.
func BenchmarkBroadcastWebSocket(b *testing.B) {
	const clients = 500
	for _, compress := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", compress), func(b *testing.B) {
			n := startBenchNode(b, nil)
			welcome := n.expect(clients)
			n.connect(b, clients, compress)
			<-welcome
			payload := make([]byte, 1024)
			for i := range payload {
				payload[i] = byte('a' + i%7) // compressible, like JSON
			}
			req := &pushv1.BroadcastRequest{Message: &pushv1.Message{Topic: "t", Payload: payload}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got := n.expect(clients)
				if _, err := n.API.Broadcast(context.Background(), req); err != nil {
					b.Fatal(err)
				}
				<-got
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/clients, "ns/delivery")
		})
	}
}

// BenchmarkPushToUsersGRPC measures the gRPC push handler end to end over
// a loopback connection: interceptors, validation, publish and the enqueue
// to one connected session (and its delivery). Its allocs/op and B/op
// count the whole round trip in one process, the gRPC client's and the
// WebSocket client's share included; TestPushToUsersAllocations holds
// them to a budget.
func BenchmarkPushToUsersGRPC(b *testing.B) {
	n := startBenchNode(b, nil)
	welcome := n.expect(1)
	n.connect(b, 1, true)
	<-welcome
	push := n.pushToUser(b, "u0")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		push()
	}
}

// pushToUser returns a function that makes one PushToUsers call with a
// 100-byte payload to user, who has one connection, and returns once that
// connection has the push.
func (n *benchNode) pushToUser(tb testing.TB, user string) func() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	req := &pushv1.PushToUsersRequest{UserIds: []string{user}, Message: &pushv1.Message{Topic: "t", Payload: make([]byte, 100)}}
	return func() {
		got := n.expect(1)
		if _, err := n.API.PushToUsers(ctx, req); err != nil {
			tb.Fatal(err)
		}
		select {
		case <-got:
		case <-ctx.Done():
			tb.Fatal("the push did not arrive")
		}
	}
}

// await waits for a channel from expect, a minute at most.
func await(tb testing.TB, ch chan struct{}) {
	tb.Helper()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		tb.Fatal("the frames expected did not arrive")
	}
}
