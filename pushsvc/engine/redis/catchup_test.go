package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// followers is what Handler.Streams reports: the streams a node's
// sessions follow, set by the test.
type followers struct {
	mu      sync.Mutex // guards streams
	streams []string
}

func (f *followers) set(streams ...string) {
	f.mu.Lock()
	f.streams = streams
	f.mu.Unlock()
}

func (f *followers) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.streams)
}

// following has a node report f's streams as followed.
func following(f *followers) func(*redis.Options) {
	return func(o *redis.Options) {
		h := o.Handler.(enginetest.Handler)
		h.OnStreams = f.list
		o.Handler = h
	}
}

// cutOff drops n's subscription and keeps it from subscribing again until
// release is called.
func cutOff(t *testing.T, n *node) (release func()) {
	t.Helper()
	release = n.HoldReconnect()
	n.DropSubscription()
	eventually(t, 5*time.Second, "node "+n.id+" to lose its subscription", func() bool { return !n.Subscribed() })
	return release
}

// TestCatchUpFirstPushOfAFollowedStream: node b has a session of user u,
// which has never received a push. b's subscription is cut, a publishes
// u's first push, b resubscribes: b delivers it, once, before the next.
func TestCatchUpFirstPushOfAFollowedStream(t *testing.T) {
	eachBackend(t, testCatchUpFirstPushOfAFollowedStream)
}

func testCatchUpFirstPushOfAFollowedStream(t *testing.T, be backend) {
	var f followers
	f.set("user:u")
	a := newNode(t, be.url, "a", nil)
	b := newNode(t, be.url, "b", following(&f))
	ctx := testCtx(t, 30*time.Second)

	release := cutOff(t, b)
	p1, n := publish(t, ctx, a, "user:u", engine.Message{ID: "first"})
	if n != 1 {
		t.Errorf("delivered %d while b is away, want 1 (a alone)", n)
	}
	release()
	eventually(t, 10*time.Second, "b to catch up u's first push", func() bool { return len(b.pubs("user:u")) >= 1 })
	publish(t, ctx, a, "user:u", engine.Message{ID: "second"})
	eventually(t, 5*time.Second, "b to deliver the next push", func() bool { return len(b.pubs("user:u")) >= 2 })
	got := b.pubs("user:u")
	if !slices.Equal(offsets(got), []uint64{1, 2}) || got[0].ID != "first" || got[0].Epoch != p1.Epoch {
		t.Errorf("b delivered %v, want the first push then the second, once each", positions(got))
	}
}

// TestCatchUpReachesBackOnlyToTheGap: b delivered a stream's earlier
// pushes to nobody; a session of it arrives; the catch-up after a cut
// delivers only what was published after b's subscription went down.
func TestCatchUpReachesBackOnlyToTheGap(t *testing.T) {
	srv := redistest.Start(t)
	clk := enginetest.NewClock()
	fake := func(o *redis.Options) { o.Now = clk.Now }
	var f followers
	a := newNode(t, srv.URL, "a", fake)
	b := newNode(t, srv.URL, "b", func(o *redis.Options) { fake(o); following(&f)(o) })
	b.deliverN.Store(0) // no session of v on b yet
	ctx := testCtx(t, 30*time.Second)

	for i := 1; i <= 3; i++ {
		publish(t, ctx, a, "user:v", engine.Message{ID: fmt.Sprint(i)})
	}
	clk.Advance(time.Hour)
	// A resubscription anchors b's subscription at the new time.
	cutOff(t, b)()
	eventually(t, 10*time.Second, "b to subscribe again", b.Subscribed)

	f.set("user:v")
	b.deliverN.Store(1)
	release := cutOff(t, b)
	publish(t, ctx, a, "user:v", engine.Message{ID: "4"})
	release()
	eventually(t, 10*time.Second, "b to catch up", func() bool { return len(b.pubs("user:v")) >= 4 })
	publish(t, ctx, a, "user:v", engine.Message{ID: "5"})
	eventually(t, 5*time.Second, "b to deliver the next push", func() bool { return len(b.pubs("user:v")) >= 5 })
	if got := offsets(b.pubs("user:v")); !slices.Equal(got, seq(1, 5)) {
		t.Errorf("b delivered offsets %v, want 1..5 once each: the pushes before the gap are not caught up", got)
	}
}

// TestCatchUpNeverRepeatsWhatReachedASession: b's session of group g got
// push 1; push 2 excluded its user, so it reached nobody on b. After a
// cut, b catches up push 3 and delivers neither 1 nor 2 again.
func TestCatchUpNeverRepeatsWhatReachedASession(t *testing.T) {
	srv := redistest.Start(t)
	var f followers
	f.set("group:g")
	a := newNode(t, srv.URL, "a", nil)
	b := newNode(t, srv.URL, "b", func(o *redis.Options) {
		following(&f)(o)
		h := o.Handler.(enginetest.Handler)
		deliver := h.OnDeliver
		h.OnDeliver = func(p *engine.Publication) int {
			n := deliver(p)
			if slices.Contains(p.Exclude, "me") {
				return 0
			}
			return n
		}
		o.Handler = h
	})
	ctx := testCtx(t, 30*time.Second)

	publish(t, ctx, a, "group:g", engine.Message{ID: "1"})
	publish(t, ctx, a, "group:g", engine.Message{ID: "2", Exclude: []string{"me"}})
	release := cutOff(t, b)
	publish(t, ctx, a, "group:g", engine.Message{ID: "3"})
	release()
	eventually(t, 10*time.Second, "b to catch up", func() bool { return len(b.pubs("group:g")) >= 3 })
	publish(t, ctx, a, "group:g", engine.Message{ID: "4"})
	eventually(t, 5*time.Second, "b to deliver the next push", func() bool { return len(b.pubs("group:g")) >= 4 })
	if got := offsets(b.pubs("group:g")); !slices.Equal(got, seq(1, 4)) {
		t.Errorf("b delivered offsets %v, want 1..4 once each", got)
	}
}

// TestCatchUpManyStreams: b follows more streams than one pipeline
// carries, half of them delivered before; one untracked stream gets more
// pushes during the cut than the first read takes. Every stream is caught
// up, in order, once.
func TestCatchUpManyStreams(t *testing.T) {
	srv := redistest.Start(t)
	const users = 600
	var f followers
	var streams []string
	for i := range users {
		streams = append(streams, fmt.Sprintf("user:m%d", i))
	}
	f.set(streams...)
	a := newNode(t, srv.URL, "a", nil)
	b := newNode(t, srv.URL, "b", following(&f))
	ctx := testCtx(t, 60*time.Second)

	for _, s := range streams[:users/2] {
		publish(t, ctx, a, s, engine.Message{})
	}
	release := cutOff(t, b)
	want := map[string]uint64{}
	for i, s := range streams {
		publish(t, ctx, a, s, engine.Message{})
		want[s] = 1
		if i < users/2 {
			want[s] = 2
		}
	}
	busy := streams[users-1]
	for range 20 {
		publish(t, ctx, a, busy, engine.Message{})
	}
	want[busy] = 21
	release()
	eventually(t, 20*time.Second, "b to catch up every stream", func() bool {
		for s, n := range want {
			if uint64(len(b.pubs(s))) < n {
				return false
			}
		}
		return true
	})
	for s, n := range want {
		if got := offsets(b.pubs(s)); !slices.Equal(got, seq(1, n)) {
			t.Errorf("%s: b delivered offsets %v, want 1..%d once each", s, got, n)
		}
	}
}
