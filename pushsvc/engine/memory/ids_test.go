package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

// TestIdempotentPublish: an idempotent id publishes once per stream within
// the history TTL, a repeat reports the first position, and the ids leave
// with the TTL, at the next publish or at the janitor's sweep.
func TestIdempotentPublish(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	delivered := 0
	e, err := New(Options{HistorySize: 10, HistoryTTL: time.Minute, Now: clock, Handler: enginetest.Handler{OnDeliver: func(*engine.Publication) int { delivered++; return 1 }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	ctx := context.Background()
	m := engine.Message{ID: "x", Idempotent: true}

	first, n, err := e.Publish(ctx, "user:a", m)
	if err != nil || n != 1 || first.Offset != 1 {
		t.Fatalf("first publish: %+v %d %v", first, n, err)
	}
	dup, n, err := e.Publish(ctx, "user:a", m)
	if !errors.Is(err, engine.ErrDuplicate) || n != 0 || dup.Offset != 1 || dup.Epoch != first.Epoch || dup.Stream != "user:a" {
		t.Fatalf("repeat: %+v %d %v; want ErrDuplicate at offset 1 of %s", dup, n, err, first.Epoch)
	}
	if _, _, err := e.Publish(ctx, "user:b", m); err != nil {
		t.Errorf("the same id in another stream: %v", err)
	}
	if _, _, err := e.Publish(ctx, "user:a", engine.Message{ID: "x"}); err != nil {
		t.Errorf("the same id, not idempotent: %v", err)
	}
	if delivered != 3 {
		t.Errorf("delivered %d publications, want 3", delivered)
	}

	advance(time.Minute - time.Second)
	if _, _, err := e.Publish(ctx, "user:a", m); !errors.Is(err, engine.ErrDuplicate) {
		t.Errorf("within the TTL: %v, want ErrDuplicate", err)
	}
	advance(time.Second)
	again, _, err := e.Publish(ctx, "user:a", m)
	if err != nil || again.Offset != 3 {
		t.Errorf("after the TTL: %+v %v; want published at offset 3", again, err)
	}

	// The janitor forgets the ids of a stream nobody publishes to.
	advance(time.Minute)
	e.sweep(clock())
	sh := e.shard("user:b")
	sh.mu.Lock()
	s := sh.streams["user:b"]
	sh.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		ids := len(s.ids.offsets)
		s.mu.Unlock()
		if ids != 0 {
			t.Errorf("after the sweep user:b holds %d ids, want 0", ids)
		}
	}
}

// TestIdempotentIDsStayBounded: a stream holds the ids of one TTL, and
// its arrays do not grow with every id it ever published.
func TestIdempotentIDsStayBounded(t *testing.T) {
	// The janitor reads the clock too, once a second.
	clock := enginetest.NewClock()
	e, err := New(Options{HistoryTTL: time.Second, Now: clock.Now, Handler: enginetest.Handler{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	for i := range 10_000 {
		clock.Advance(10 * time.Millisecond) // 100 ids per TTL
		if _, _, err := e.Publish(context.Background(), "s", engine.Message{ID: fmt.Sprint(i), Idempotent: true}); err != nil {
			t.Fatal(err)
		}
	}
	s := e.shard("s").streams["s"]
	if n, c := len(s.ids.offsets), cap(s.ids.order); n > 100 || c > 400 {
		t.Errorf("after 10,000 ids, 100 per TTL: %d kept, order array of %d; want at most 100 and a few hundred", n, c)
	}
}
