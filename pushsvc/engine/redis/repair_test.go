package redis

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

// TestGapRevealedByALivePush checks the repair that a live publication
// triggers: with the receiver held away from Redis, the test plays the
// receiver and hands it a publication past a gap.
func TestGapRevealedByALivePush(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	var got []uint64
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := New(ctx, Options{
		URL: srv.URL, NodeID: "n", HistorySize: 10, HistoryTTL: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: enginetest.Handler{
			OnDeliver: func(p *engine.Publication) int {
				mu.Lock()
				got = append(got, p.Offset)
				mu.Unlock()
				return 1
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, n, err := e.Publish(ctx, "user:y", engine.Message{}); err != nil || n != 1 {
		t.Fatalf("first publish: %d %v", n, err)
	}

	release := e.HoldReconnect()
	e.DropSubscription()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond) // polling an atomic the receiver sets
	defer tick.Stop()
	for e.Subscribed() {
		select {
		case <-deadline:
			t.Fatal("the receiver did not let go")
		case <-tick.C:
		}
	}
	// The receiver is parked at its gate: the test owns rxState now.
	var last *engine.Publication
	for range 3 {
		p, n, err := e.Publish(ctx, "user:y", engine.Message{})
		if err != nil || n != 0 {
			t.Fatalf("publish while away: %d %v", n, err)
		}
		last = p
	}
	e.onPub(&inPub{pub: last, origin: "elsewhere"})
	release()

	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("delivered %v, want 1..4: the gap repaired before the live push", got)
	}
}
