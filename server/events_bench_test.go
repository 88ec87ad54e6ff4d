package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
	"github.com/herald-push/herald/pushsvc/engine/redis"
	"github.com/herald-push/herald/server"
)

// BenchmarkWatchEvents measures how many events per second one node
// delivers to one WatchEvents watcher over gRPC. The events are
// Undelivered ones: on the in-memory engine (memory) and a standalone
// Redis (redis-push) made by pushes to 1,000 offline users at a time, on
// Redis also appended straight to the log by another engine in batches of
// 1,000 (redis-append), which takes the push path's own cost out. The
// watcher reads as fast as it can (its buffer is raised so that a faster
// producer makes a backlog, not a cut); events/s is from the first push
// or append to the last event received.
//
//	go test ./server -run '^$' -bench WatchEvents -benchtime 200000x
func BenchmarkWatchEvents(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchWatchEvents(b, "", false) })
	b.Run("redis-push", func(b *testing.B) { benchWatchEvents(b, redistest.Start(b).URL, false) })
	b.Run("redis-append", func(b *testing.B) { benchWatchEvents(b, redistest.Start(b).URL, true) })
}

// appender appends batches of Undelivered events to a Redis's event log
// as another node would.
func appender(b *testing.B, redisURL string) func(ctx context.Context, n int) error {
	e, err := redis.New(context.Background(), redis.Options{URL: redisURL, NodeID: "appender", HistoryTTL: time.Minute,
		Handler: enginetest.Handler{}, Logger: slog.New(slog.DiscardHandler), EventRetention: 1_000_000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	batch := make([]engine.Event, 1000)
	for i := range batch {
		batch[i] = engine.Event{Kind: engine.EventUndelivered, UserID: fmt.Sprintf("offline-%d", i), At: time.Now(),
			NodeID: "appender", MessageID: "m", Stream: fmt.Sprintf("user:offline-%d", i), Offset: 1, Topic: "t", Why: engine.UndeliveredOffline}
	}
	return func(ctx context.Context, n int) error { return e.AppendEvents(ctx, batch[:n]) }
}

func benchWatchEvents(b *testing.B, redisURL string, direct bool) {
	n := startBenchNode(b, func(cfg *server.Config) {
		cfg.RedisURL = redisURL
		cfg.GRPCRateLimit = 1e9
		// A producer faster than the watcher builds a backlog the watcher
		// drains: what is measured is how fast it drains, not a cut.
		cfg.EventsRetention, cfg.EventsBuffer = 1_000_000, 1_000_000
	})
	api := n.API
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	st, err := api.WatchEvents(ctx, &pushv1.WatchEventsRequest{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		b.Fatal(err)
	}
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("offline-%d", i)
	}
	produce := func(ctx context.Context, n int) error {
		_, err := api.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: users[:n], Message: &pushv1.Message{Topic: "t"}})
		return err
	}
	if direct {
		produce = appender(b, redisURL)
	}
	pushErr := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() {
		for sent := 0; sent < b.N; sent += len(users) {
			if err := produce(ctx, min(len(users), b.N-sent)); err != nil {
				pushErr <- err
				return
			}
		}
		pushErr <- nil
	}()
	got := 0
	for got < b.N {
		res, err := st.Recv()
		if err != nil {
			b.Fatalf("after %d events: %v", got, err)
		}
		got += len(res.GetEvents())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := <-pushErr; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(got)/elapsed.Seconds(), "events/s")
}
