package pushsvc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

// discardTransport runs scheduled work at once and writes nowhere: it
// measures the service's own cost of a fan-out.
type discardTransport struct{}

func (discardTransport) Schedule(w Writer)                { w.Flush() }
func (discardTransport) Write([]byte) error               { return nil }
func (discardTransport) WriteShared(*Outbound) error      { return nil }
func (discardTransport) WriteSharedRun([]*Outbound) error { return nil }
func (discardTransport) Close(Disconnect)                 {}

// BenchmarkBroadcast10k measures one broadcast to 10,000 sessions: the
// encode (once), the hub walk and 10,000 enqueues and flushes.
func BenchmarkBroadcast10k(b *testing.B) {
	svc, err := New(Options{HistorySize: engine.NoHistory})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	for i := range 10000 {
		if _, err := svc.Connect(SessionInfo{UserID: fmt.Sprintf("u%d", i)}, discardTransport{}); err != nil {
			b.Fatal(err)
		}
	}
	m := Message{Topic: "bench", Payload: make([]byte, 100)}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Broadcast(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/delivery")
}

// BenchmarkEncodePush measures encoding one push frame.
func BenchmarkEncodePush(b *testing.B) {
	p := &engine.Publication{Message: engine.Message{ID: "0123456789ABCDEF", Topic: "topic", Payload: make([]byte, 100)},
		Stream: "user:alice", Offset: 12345, Epoch: "EPOCH"}
	b.ReportAllocs()
	for b.Loop() {
		_ = encodePush(p)
	}
}

// TestPerRecipientPathAllocatesNothing keeps the per-recipient part of a
// fan-out (enqueue and flush of a shared frame) free of allocations.
func TestPerRecipientPathAllocatesNothing(t *testing.T) {
	if lockorder.Checked {
		t.Skip("the lockcheck build allocates to record every lock taken")
	}
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	s, err := svc.Connect(SessionInfo{UserID: "u"}, discardTransport{})
	if err != nil {
		t.Fatal(err)
	}
	o := encodePush(&engine.Publication{Message: engine.Message{ID: "x", Topic: "t"}, Stream: "broadcast", Offset: 1})
	o.shared = true
	allocs := testing.AllocsPerRun(1000, func() { s.enqueue(o) })
	if allocs != 0 {
		t.Errorf("enqueue+flush of a shared frame allocates %.1f times per recipient, want 0", allocs)
	}
}

// zeroPositions is an engine whose Positions answers at once, reading
// nothing: a connect as it was before the Welcome carried positions.
type zeroPositions struct{ *redis.Engine }

func (zeroPositions) Positions(_ context.Context, streams []string) ([]engine.Position, error) {
	return make([]engine.Position, len(streams)), nil
}

// BenchmarkConnectRedis measures Connect and Disconnected of a user with
// one token group and one stored group, over a real Redis on loopback:
// "positions" reads the Welcome's positions (two pipelined reads: the
// streams known before the session joins, then its stored group),
// "without" skips the reads; the difference is what positions add to a
// connect.
//
//	go test -run '^$' -bench ConnectRedis ./pushsvc
func BenchmarkConnectRedis(b *testing.B) {
	srv := redistest.Start(b)
	for _, c := range []struct {
		name string
		wrap func(*redis.Engine) engine.Engine
	}{
		{"positions", func(e *redis.Engine) engine.Engine { return e }},
		{"without", func(e *redis.Engine) engine.Engine { return zeroPositions{e} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			svc, err := New(Options{NodeID: "bench-" + c.name, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				NewEngine: func(nodeID string, h engine.Handler) (engine.Engine, error) {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					e, err := redis.New(ctx, redis.Options{URL: srv.URL, NodeID: nodeID, Handler: h,
						Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
					if err != nil {
						return nil, err
					}
					return c.wrap(e), nil
				}})
			if err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			ctx := context.Background()
			if err := svc.AddToGroup(ctx, "stored", []string{"alice"}); err != nil {
				b.Fatal(err)
			}
			for _, g := range []string{"stored", "token"} {
				if _, err := svc.PushToGroups(ctx, []string{g}, nil, Message{Topic: "t"}); err != nil {
					b.Fatal(err)
				}
			}
			info := SessionInfo{UserID: "alice", Groups: []string{"token"}}
			for b.Loop() {
				s, err := svc.Connect(info, discardTransport{})
				if err != nil {
					b.Fatal(err)
				}
				svc.Disconnected(s)
			}
		})
	}
}
