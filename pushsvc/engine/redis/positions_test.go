package redis_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// TestPositions reads, in one call, the positions of streams spread over
// every partition (on a Redis Cluster, over every master): each stream's
// last offset and epoch as its publications left them, the zero position
// for a stream never published or whose state expired, in the order
// asked, and the same from another node.
func TestPositions(t *testing.T) { eachBackend(t, testPositions) }

func testPositions(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", nil)
	b := newNode(t, be.url, "b", nil)
	ctx := testCtx(t, 20*time.Second)
	var streams []string
	want := make(map[string]engine.Position)
	for i := range 40 {
		s := fmt.Sprintf("group:g%d", i)
		streams = append(streams, s)
		for range i % 4 { // every fourth stream is never published
			p, _ := publish(t, ctx, a, s, engine.Message{})
			want[s] = engine.Position{Offset: p.Offset, Epoch: p.Epoch}
		}
	}
	streams = append(streams, "broadcast", "user:nobody")
	for _, n := range []*node{a, b} {
		got, err := n.Positions(ctx, streams)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(streams) {
			t.Fatalf("%d positions for %d streams", len(got), len(streams))
		}
		for i, s := range streams {
			if got[i] != want[s] {
				t.Errorf("node %s: %s at %+v, want %+v", n.id, s, got[i], want[s])
			}
		}
	}
	// A stream whose state expired reads as never published, as its next
	// publication starts a new epoch at 1.
	if err := be.raw(t).Del(ctx, redis.StreamStateKey("herald:", "group:g1")).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := a.Positions(ctx, []string{"group:g1", "group:g2"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (engine.Position{}) || got[1] != want["group:g2"] {
		t.Errorf("after g1's state expired: %+v, want zero and %+v", got, want["group:g2"])
	}
	p, _ := publish(t, ctx, a, "group:g1", engine.Message{})
	if p.Offset != 1 || p.Epoch == want["group:g1"].Epoch {
		t.Errorf("g1's next publication %d %s, want 1 in a new epoch", p.Offset, p.Epoch)
	}
	if got, err := a.Positions(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no streams: %v, %v", got, err)
	}
}

// TestPositionsAfterClose: a closed engine refuses the read.
func TestPositionsAfterClose(t *testing.T) {
	a := newNode(t, redistest.Start(t).URL, "a", nil)
	_ = a.Close()
	if _, err := a.Positions(testCtx(t, 5*time.Second), []string{"broadcast"}); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("Positions on a closed engine: %v, want ErrClosed", err)
	}
}
