package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// readsProcessed is how many times Redis has read from a client socket
// (INFO stats total_reads_processed): a round trip of a command or of a
// whole pipeline counts one.
func readsProcessed(t *testing.T, c *goredis.Client) int {
	t.Helper()
	info, err := c.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_reads_processed:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("INFO stats has no total_reads_processed")
	return 0
}

// publishAll starts one Publish per message, each to its stream, while
// server is paused, waits until every one waits for Redis, resumes the
// server, and returns each call's error once all have returned.
func publishAll(t *testing.T, ctx context.Context, e *node, server *redistest.Server, streams []string, msgs []engine.Message) []error {
	t.Helper()
	errs := make([]error, len(msgs))
	var wg sync.WaitGroup
	server.Pause()
	resumed := false
	defer func() {
		if !resumed {
			server.Resume()
		}
	}()
	for i := range msgs {
		wg.Go(func() { _, _, errs[i] = e.Publish(ctx, streams[i], msgs[i]) })
	}
	eventually(t, 10*time.Second, "every publish to wait for Redis", func() bool { return e.Waiting() == len(msgs) })
	server.Resume()
	resumed = true
	wg.Wait()
	return errs
}

// TestConcurrentPublishesShareRoundTrips: publishes that start while
// others are on the wire leave together, in one pipeline, when those
// return: 40 publishes held up by a frozen Redis reach it in a few round
// trips, not 40. Each still gets its own publication and count.
func TestConcurrentPublishesShareRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", func(o *redis.Options) {
		o.NodeTTL = 10 * time.Second // no heartbeat misses the pause
		o.CommandTimeout = 5 * time.Second
	})
	ctx := testCtx(t, 30*time.Second)
	publish(t, ctx, a, "user:r", engine.Message{ID: "warm-up"}) // loads the script
	raw := rawClient(t, srv.URL)

	const n = 40
	streams := make([]string, n)
	msgs := make([]engine.Message, n)
	for i := range n {
		streams[i] = fmt.Sprintf("user:r%d", i%8)
		msgs[i] = engine.Message{ID: fmt.Sprint("m", i)}
	}
	before := readsProcessed(t, raw)
	errs := publishAll(t, ctx, a, srv, streams, msgs)
	reads := readsProcessed(t, raw) - before - 1 // less our INFO
	for i, err := range errs {
		if err != nil {
			t.Errorf("publish %d: %v", i, err)
		}
	}
	// Two pipelines on the wire, then one with the rest, and a few
	// reads for the keeper's heartbeat and pings.
	if reads > n/4 {
		t.Errorf("Redis read %d times for %d concurrent publishes; want at most %d: they share pipelines", reads, n, n/4)
	}
	t.Logf("%d publishes in %d reads", n, reads)
	for i := range 8 {
		s := fmt.Sprintf("user:r%d", i)
		eventually(t, 10*time.Second, "a to deliver every push to "+s, func() bool { return len(a.pubs(s)) == n/8 })
		if got, want := offsets(a.pubs(s)), seq(1, n/8); !slices.Equal(got, want) {
			t.Errorf("%s: offsets %v, want %v", s, got, want)
		}
	}
}

// TestQueuedPublishLeavesWithItsContext: a publish whose caller gives up
// while it waits for a pipeline is never sent: it fails with the caller's
// context error, and Redis never runs it.
func TestQueuedPublishLeavesWithItsContext(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", func(o *redis.Options) {
		o.NodeTTL = 10 * time.Second
		o.CommandTimeout = 5 * time.Second
	})
	ctx := testCtx(t, 30*time.Second)
	publish(t, ctx, a, "user:q", engine.Message{ID: "warm-up"})

	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	// Enough publishes to fill every pipeline slot first.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, _, errs[i] = a.Publish(ctx, "user:q", engine.Message{ID: fmt.Sprint("held-", i)}) })
	}
	eventually(t, 10*time.Second, "the publishes to wait for Redis", func() bool { return a.Waiting() == len(errs) })
	qctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := a.Publish(qctx, "user:q", engine.Message{ID: "given-up"})
		done <- err
	}()
	eventually(t, 10*time.Second, "the last publish to wait", func() bool { return a.Waiting() == len(errs)+1 })
	cancel()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("the publish whose context ended did not return while Redis was frozen")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("the publish whose context ended: %v; want context.Canceled", err)
	}
	srv.Resume()
	resumed = true
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("held publish %d: %v", i, err)
		}
	}
	settle(t, a, "user:q", a)
	pubs, _, _, err := a.Since(ctx, "user:q", engine.Position{}, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pubs {
		if p.ID == "given-up" {
			t.Errorf("the publish given up while queued was run at offset %d", p.Offset)
		}
	}
}

// TestLostPipelineRepliesAreNotRetried: Redis freezes with pipelines of
// publishes in its socket buffers and runs them after their callers timed
// out: the first two pipelines with one publish each, then one with the
// ten that queued meanwhile. Every caller got ErrUnavailable, nothing was
// sent twice, and a retry with the push's id finds it published when it
// ran: each push is in history and delivered once.
func TestLostPipelineRepliesAreNotRetried(t *testing.T) {
	srv := redistest.Start(t)
	// A pipeline on a new connection would wait for the handshake, which
	// a frozen Redis never answers, and never be written: pipelines go on
	// the main pool here, which the warm-up below fills with connections
	// ready to write.
	a := newNode(t, srv.URL+"?pipeline_pool_size=-1", "a", func(o *redis.Options) {
		o.CommandTimeout = 300 * time.Millisecond
		o.NodeTTL = 10 * time.Second // the subscription outlives the freeze
	})
	ctx := testCtx(t, 30*time.Second)
	publish(t, ctx, a, "user:l", engine.Message{ID: "warm-up"})
	raw := rawClient(t, srv.URL)
	eventually(t, 10*time.Second, "the pool to hold connections ready", func() bool {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { _, _, _, _ = a.Since(ctx, "user:l", engine.Position{}, -1) })
		}
		wg.Wait()
		list, err := raw.ClientList(ctx).Result()
		return err == nil && strings.Count(list, "name=herald-a ") >= 5 // with the subscription's
	})

	const n = 12
	msgs := make([]engine.Message, n)
	for i := range n {
		msgs[i] = engine.Message{ID: fmt.Sprint("lost-", i), Idempotent: true}
	}
	// Hold Redis until every caller has failed: each pipeline times out.
	errs := make([]error, n)
	var wg sync.WaitGroup
	srv.Pause()
	for i := range n {
		wg.Go(func() { _, _, errs[i] = a.Publish(ctx, "user:l", msgs[i]) })
	}
	wg.Wait()
	srv.Resume()
	for i, err := range errs {
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("publish %d to a frozen Redis: %v; want ErrUnavailable", i, err)
		}
	}
	// Redis runs what it had received: a retry after that finds it.
	ran := func() int {
		pubs, _, _, err := a.Since(ctx, "user:l", engine.Position{}, -1)
		if err != nil {
			return 0
		}
		return len(pubs) - 1 // less the warm-up
	}
	eventually(t, 10*time.Second, "Redis to run what it had received", func() bool { return ran() >= 3 })
	dups := 0
	for i, m := range msgs {
		_, _, err := a.Publish(ctx, "user:l", m)
		switch {
		case errors.Is(err, engine.ErrDuplicate):
			dups++
		case err != nil:
			t.Errorf("retry of publish %d: %v", i, err)
		}
	}
	// Two pipelines of one publish, then one of the others.
	if dups < 3 {
		t.Errorf("%d retries found their push published; want more than two: a pipeline of several ran after its reply was lost", dups)
	}
	settle(t, a, "user:l", a)
	if got := ran(); got != n+1 { // and the marker
		t.Errorf("history holds %d pushes, want %d, each once", got, n+1)
	}
	for _, m := range msgs {
		if got := countID(a, "user:l", m.ID); got != 1 {
			t.Errorf("%s delivered %d times, want once", m.ID, got)
		}
	}
	t.Logf("%d of %d publishes ran though their caller saw ErrUnavailable", dups, n)
}

// TestRefusedPipelineCommandsRunOnce: commands of one pipeline that Redis
// refuses without running them are sent again, alone, and run once: after
// SCRIPT FLUSH (NOSCRIPT) on a standalone Redis, and, on a Redis Cluster,
// while their slot is migrating and their keys are on the target (ASK).
func TestRefusedPipelineCommandsRunOnce(t *testing.T) {
	const n = 16
	// Not idempotent: with a third key, that of the id, which exists
	// nowhere, a script on a migrating slot gets TRYAGAIN on the target.
	check := func(t *testing.T, ctx context.Context, a *node, server *redistest.Server, stream string) {
		t.Helper()
		streams := make([]string, n)
		msgs := make([]engine.Message, n)
		for i := range n {
			streams[i] = stream
			msgs[i] = engine.Message{ID: fmt.Sprint("r-", i)}
		}
		for i, err := range publishAll(t, ctx, a, server, streams, msgs) {
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
		}
		pubs, _, _, err := a.Since(ctx, stream, engine.Position{}, -1)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, p := range pubs {
			seen[p.ID]++
		}
		for _, m := range msgs {
			if seen[m.ID] != 1 {
				t.Errorf("%s is %d times in history, want once", m.ID, seen[m.ID])
			}
		}
	}
	t.Run("NOSCRIPT", func(t *testing.T) {
		srv := redistest.Start(t)
		a := newNode(t, srv.URL, "a", func(o *redis.Options) { o.NodeTTL = 10 * time.Second })
		ctx := testCtx(t, 30*time.Second)
		publish(t, ctx, a, "user:n", engine.Message{ID: "warm-up"})
		if err := rawClient(t, srv.URL).ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		check(t, ctx, a, srv, "user:n")
	})
	t.Run("ASK", func(t *testing.T) {
		c := redistest.StartCluster(t)
		raw := rawClusterClient(t, c)
		ctx := testCtx(t, 60*time.Second)
		a := newNode(t, c.URL, "a", func(o *redis.Options) { o.NodeTTL = 10 * time.Second })
		const stream = "user:ask"
		publish(t, ctx, a, stream, engine.Message{ID: "warm-up"})
		slot, err := raw.ClusterKeySlot(ctx, redis.StreamStateKey(redis.DefaultKeyPrefix, stream)).Result()
		if err != nil {
			t.Fatal(err)
		}
		from := c.MasterOf(int(slot))
		to := c.Masters[(slices.Index(c.Masters, from)+1)%len(c.Masters)]
		move := c.StartSlotMove(int(slot), to)
		move.MigrateAll()
		check(t, ctx, a, from, stream)
		move.Finish()
	})
}
