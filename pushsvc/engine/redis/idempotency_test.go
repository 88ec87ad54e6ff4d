package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// countID counts the publications of stream with id that n delivered.
func countID(n *node, stream, id string) int {
	c := 0
	for _, p := range n.pubs(stream) {
		if p.ID == id {
			c++
		}
	}
	return c
}

// settle publishes a marker to stream and waits until every node delivered
// it: whatever was published to stream before has been delivered by then.
func settle(t *testing.T, e engine.Engine, stream string, nodes ...*node) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	publish(t, ctx, e, stream, engine.Message{ID: "settle"})
	for _, n := range nodes {
		eventually(t, 10*time.Second, n.id+" to deliver the marker", func() bool { return countID(n, stream, "settle") > 0 })
	}
}

// TestIdempotentPublish: an idempotent id publishes once per stream, from
// any node, within the history TTL; a repeat reports the first position
// and reaches nobody; the key lives for the history TTL and shares the
// stream's slot.
func TestIdempotentPublish(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		a := newNode(t, be.url, "a", nil)
		b := newNode(t, be.url, "b", nil)
		ctx := testCtx(t, 20*time.Second)
		m := engine.Message{ID: "order-1", Idempotent: true}

		first, n := publish(t, ctx, a, "user:x", m)
		if n != 2 || first.Offset != 1 {
			t.Fatalf("first publish: offset %d delivered %d; want 1 and 2", first.Offset, n)
		}
		dup, n, err := b.Publish(ctx, "user:x", m)
		if !errors.Is(err, engine.ErrDuplicate) || n != 0 || dup == nil || dup.Offset != first.Offset || dup.Epoch != first.Epoch {
			t.Fatalf("repeat from another node: %+v %d %v; want ErrDuplicate at %s/%d", dup, n, err, first.Epoch, first.Offset)
		}
		if _, _, err := a.Publish(ctx, "user:y", m); err != nil {
			t.Errorf("the same id in another stream: %v", err)
		}
		if _, _, err := a.Publish(ctx, "user:x", engine.Message{ID: "order-1"}); err != nil {
			t.Errorf("the same id, not idempotent: %v", err)
		}
		settle(t, a, "user:x", a, b)
		for _, nd := range []*node{a, b} {
			if got := countID(nd, "user:x", "order-1"); got != 2 {
				t.Errorf("node %s delivered order-1 %d times to user:x, want 2 (idempotent once, then not idempotent)", nd.id, got)
			}
		}
		ttl, err := be.raw(t).PTTL(ctx, redis.MessageIDKey(redis.DefaultKeyPrefix, "user:x", "order-1")).Result()
		if err != nil || ttl <= 0 || ttl > time.Minute {
			t.Errorf("the id's key expires in %v (%v); want within the history TTL (1m)", ttl, err)
		}
	})
}

// TestIdempotentIDExpires: past the history TTL, on Redis's clock, the id
// may be published again.
func TestIdempotentIDExpires(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", func(o *redis.Options) { o.HistoryTTL = 200 * time.Millisecond })
	ctx := testCtx(t, 10*time.Second)
	m := engine.Message{ID: "short", Idempotent: true}
	publish(t, ctx, a, "user:e", m)
	raw := rawClient(t, srv.URL)
	eventually(t, 5*time.Second, "the id's key to expire", func() bool {
		n, err := raw.Exists(ctx, redis.MessageIDKey(redis.DefaultKeyPrefix, "user:e", "short")).Result()
		return err == nil && n == 0
	})
	if _, _, err := a.Publish(ctx, "user:e", m); err != nil {
		t.Errorf("after the TTL: %v, want published", err)
	}
}

// TestLostPublishReplyRetried: the publish script runs, but its reply
// never reaches the caller (Redis froze with the command in its socket
// buffer and ran it after the caller gave up). The caller saw
// ErrUnavailable and retries with the same id: the retry reports the first
// publication instead of publishing again, and the push is delivered once.
func TestLostPublishReplyRetried(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", func(o *redis.Options) {
		o.CommandTimeout = 300 * time.Millisecond
		o.NodeTTL = 5 * time.Second // the subscriptions outlive the pause
	})
	ctx := testCtx(t, 30*time.Second)
	publish(t, ctx, a, "user:l", engine.Message{ID: "warm-up"}) // loads the script

	srv.Pause()
	_, _, err := a.Publish(ctx, "user:l", engine.Message{ID: "lost", Idempotent: true})
	srv.Resume()
	if !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("publish to a paused Redis: %v, want ErrUnavailable", err)
	}
	// Redis ran the command once it resumed.
	var ran *engine.Publication
	eventually(t, 10*time.Second, "the lost publish to reach history", func() bool {
		pubs, _, _, err := a.Since(ctx, "user:l", engine.Position{}, -1)
		if err != nil {
			return false
		}
		for _, p := range pubs {
			if p.ID == "lost" {
				ran = p
			}
		}
		return ran != nil
	})
	dup, n, err := a.Publish(ctx, "user:l", engine.Message{ID: "lost", Idempotent: true})
	if !errors.Is(err, engine.ErrDuplicate) || n != 0 || dup.Offset != ran.Offset || dup.Epoch != ran.Epoch {
		t.Fatalf("retry: %+v %d %v; want ErrDuplicate at %s/%d", dup, n, err, ran.Epoch, ran.Offset)
	}
	settle(t, a, "user:l", a)
	if got := countID(a, "user:l", "lost"); got != 1 {
		t.Errorf("delivered %d times, want once", got)
	}
}
