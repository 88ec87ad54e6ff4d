package redis_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// TestRedisRestartMidTraffic kills Redis while node a publishes and node b
// receives, then starts it again on the same port. While it is down every
// call fails fast with ErrUnavailable and both nodes report unhealthy;
// after it is back both recover by themselves, and every push that a
// answered with success was delivered on b, once and in order.
func TestRedisRestartMidTraffic(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", nil)
	b := newNode(t, srv.URL, "b", nil)
	ctx := testCtx(t, 60*time.Second)
	if err := a.Register(ctx, conn("a", "u", "sa", time.Now())); err != nil {
		t.Fatal(err)
	}

	// The publisher: a steady stream of pushes, recording what succeeded.
	var (
		mu        sync.Mutex
		succeeded []string // epoch/offset
		failures  []error
		slowest   time.Duration
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			start := time.Now()
			p, _, err := a.Publish(ctx, "user:u", engine.Message{ID: fmt.Sprint(i)})
			took := time.Since(start)
			mu.Lock()
			slowest = max(slowest, took)
			if err != nil {
				failures = append(failures, err)
			} else {
				succeeded = append(succeeded, fmt.Sprintf("%s/%d", p.Epoch, p.Offset))
			}
			mu.Unlock()
		}
	}()
	counts := func() (ok, failed int) {
		mu.Lock()
		defer mu.Unlock()
		return len(succeeded), len(failures)
	}

	eventually(t, 10*time.Second, "pushes before the outage", func() bool { ok, _ := counts(); return ok >= 20 })
	srv.Stop()
	eventually(t, 10*time.Second, "both nodes to report unhealthy", func() bool { return !a.Healthy() && !b.Healthy() })
	eventually(t, 10*time.Second, "publishes to fail", func() bool { _, failed := counts(); return failed >= 10 })

	// Other calls fail fast too.
	for name, call := range map[string]func() error{
		"Since":    func() error { _, _, _, err := a.Since(ctx, "user:u", engine.Position{}, -1); return err },
		"Register": func() error { return a.Register(ctx, conn("a", "u", "s2", time.Now())) },
		"Presence": func() error { _, err := a.Presence(ctx, []string{"u"}); return err },
		"Members":  func() error { _, err := a.Members(ctx, "g"); return err },
		"Stats":    func() error { _, err := a.Stats(ctx); return err },
		"Disconnect": func() error {
			_, err := a.Disconnect(ctx, "u", "", false)
			return err
		},
		"AddMembers": func() error { return a.AddMembers(ctx, "g", []string{"u"}) },
	} {
		start := time.Now()
		err := call()
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("%s while Redis is down: %v; want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}

	srv.Restart()
	eventually(t, 15*time.Second, "both nodes to report healthy again", func() bool { return a.Healthy() && b.Healthy() })
	before, _ := counts()
	eventually(t, 10*time.Second, "pushes after the outage", func() bool { ok, _ := counts(); return ok >= before+20 })
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	for _, err := range failures {
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("a failed publish: %v; want ErrUnavailable", err)
		}
	}
	if slowest > 3*time.Second {
		t.Errorf("the slowest publish took %v", slowest)
	}
	t.Logf("%d pushes succeeded, %d failed; slowest call %v", len(succeeded), len(failures), slowest)

	// Every success reached b, once, in order (a new epoch began with the
	// empty Redis).
	eventually(t, 10*time.Second, "b to deliver every successful push", func() bool {
		return len(b.pubs("user:u")) >= len(succeeded)
	})
	if got := positions(b.pubs("user:u")); !slices.Equal(got, succeeded) {
		t.Errorf("b delivered %d pushes, a had %d successes:\n got %v\nwant %v", len(got), len(succeeded), got, succeeded)
	}

	// The presence records Redis lost come back from the node's memory.
	eventually(t, 10*time.Second, "a's connection to be back in presence", func() bool {
		p, err := b.Presence(ctx, []string{"u"})
		return err == nil && len(p["u"]) >= 1
	})
}

// TestPausedRedisFailsFast freezes Redis: connections stay open but
// nothing answers. Calls must still fail within about CommandTimeout, and
// the nodes recover after it resumes.
func TestPausedRedisFailsFast(t *testing.T) {
	srv := redistest.Start(t)
	short := func(o *redis.Options) { o.CommandTimeout = 300 * time.Millisecond }
	a := newNode(t, srv.URL, "a", short)
	b := newNode(t, srv.URL, "b", short)
	ctx := testCtx(t, 30*time.Second)
	publish(t, ctx, a, "user:p", engine.Message{})

	srv.Pause()
	start := time.Now()
	_, _, err := a.Publish(ctx, "user:p", engine.Message{})
	if !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("Publish to a paused Redis: %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish took %v to fail (CommandTimeout 300ms)", d)
	}
	eventually(t, 10*time.Second, "the nodes to notice", func() bool { return !a.Healthy() && !b.Healthy() })
	srv.Resume()
	eventually(t, 15*time.Second, "the nodes to recover", func() bool { return a.Healthy() && b.Healthy() })
	eventually(t, 10*time.Second, "a push to reach b", func() bool {
		_, n, err := a.Publish(ctx, "user:p", engine.Message{})
		return err == nil && n == 2
	})
}

// TestGapRepair cuts one node off while the other publishes, and expects
// it to deliver what it missed, in order and once, as soon as it is back:
// from the same epoch, and after the stream began a new one.
func TestGapRepair(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", nil)
	b := newNode(t, srv.URL, "b", nil)
	ctx := testCtx(t, 30*time.Second)
	raw := rawClient(t, srv.URL)

	cut := func() (release func()) {
		release = b.HoldReconnect()
		b.DropSubscription()
		eventually(t, 5*time.Second, "b to lose its subscription", func() bool { return !b.Subscribed() })
		return release
	}

	p1, _ := publish(t, ctx, a, "user:x", engine.Message{ID: "1"})
	publish(t, ctx, a, "user:x", engine.Message{ID: "2"})

	t.Run("same epoch, caught up on resubscribing", func(t *testing.T) {
		release := cut()
		for i := 3; i <= 5; i++ {
			if _, n := publish(t, ctx, a, "user:x", engine.Message{ID: fmt.Sprint(i)}); n != 1 {
				t.Errorf("delivered %d while b is away, want 1 (a alone)", n)
			}
		}
		release()
		eventually(t, 5*time.Second, "b to catch up", func() bool { return len(b.pubs("user:x")) >= 5 })
		publish(t, ctx, a, "user:x", engine.Message{ID: "6"})
		eventually(t, 5*time.Second, "b to deliver the next push", func() bool { return len(b.pubs("user:x")) >= 6 })
		got := b.pubs("user:x")
		if !slices.Equal(offsets(got), seq(1, 6)) {
			t.Errorf("b delivered %v, want 1..6 once each", offsets(got))
		}
		for i, p := range got {
			if p.ID != fmt.Sprint(i+1) || p.Epoch != p1.Epoch {
				t.Errorf("b's push %d: %+v", i, p)
			}
		}
	})

	t.Run("new epoch, caught up on resubscribing", func(t *testing.T) {
		release := cut()
		// Redis lost everything (a flush; a restart without persistence
		// does the same) and the stream starts over.
		if err := raw.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		q1, _ := publish(t, ctx, a, "user:x", engine.Message{ID: "e2-1"})
		publish(t, ctx, a, "user:x", engine.Message{ID: "e2-2"})
		if q1.Epoch == p1.Epoch || q1.Offset != 1 {
			t.Fatalf("after the flush: %s/%d, want a new epoch at 1", q1.Epoch, q1.Offset)
		}
		release()
		eventually(t, 5*time.Second, "b to catch up", func() bool { return len(b.pubs("user:x")) >= 8 })
		got := positions(b.pubs("user:x"))[6:]
		want := []string{q1.Epoch + "/1", q1.Epoch + "/2"}
		if !slices.Equal(got, want) {
			t.Errorf("b delivered %v after the flush, want %v", got, want)
		}
	})
}
