package redis

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

// BenchmarkCatchUpFollowed measures what a resubscription costs the
// dispatcher for 10,000 followed streams it tracked nothing of, each with
// 10 pushes in history: when none was published after the subscription
// went down (one probe read each), and when all were (a whole read each,
// and 100,000 deliveries to a handler that does nothing).
//
//	go test -run '^$' -bench CatchUpFollowed ./pushsvc/engine/redis/
func BenchmarkCatchUpFollowed(b *testing.B) {
	const streams, pushes = 10_000, 10
	srv := redistest.Start(b)
	names := make([]string, streams)
	for i := range names {
		names[i] = fmt.Sprintf("user:bench%d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e, err := New(ctx, Options{
		URL: srv.URL, NodeID: "bench", HistorySize: 1000, HistoryTTL: 5 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: enginetest.Handler{
			OnDeliver: func(*engine.Publication) int { return 1 },
			OnStreams: func() []string { return names },
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < streams; i += 8 {
				for range pushes {
					if _, _, err := e.Publish(ctx, names[i], engine.Message{Payload: make([]byte, 100)}); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	release := e.HoldReconnect()
	defer release()
	e.DropSubscription()
	for e.Subscribed() {
		time.Sleep(time.Millisecond) // polling an atomic the receiver sets
	}
	// The receiver is parked at its gate: the benchmark owns rxState.
	all := make([]int, numPartitions)
	for p := range all {
		all[p] = p
	}
	for _, bc := range []struct {
		name  string
		since time.Time
	}{{"none_missed", time.Now().Add(time.Hour)}, {"all_missed", time.Now().Add(-time.Hour)}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				clear(e.rx.track)
				e.sweep(all, bc.since)
				if len(e.rx.pending) != 0 {
					b.Fatalf("%d streams not caught up", len(e.rx.pending))
				}
			}
		})
	}
}
