package redis_test

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// spublishCalls is how many SPUBLISH commands Redis has run, those of
// scripts included.
func spublishCalls(t *testing.T, c *goredis.Client) int {
	t.Helper()
	info, err := c.Info(testCtx(t, 5*time.Second), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_spublish:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestLocalDeliveredCountsThisNodeOnly: a node with LocalDelivered answers
// its own sessions' count, and the other nodes, which deliver its
// publications, send it no count (no message through Redis); it still
// answers the other nodes' exact publishes with its count, and its
// own publications keep Local.
func TestLocalDeliveredCountsThisNodeOnly(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", func(o *redis.Options) { o.LocalDelivered = true })
	b := newNode(t, srv.URL, "b", nil)
	c := newNode(t, srv.URL, "c", nil)
	a.deliverN.Store(1)
	b.deliverN.Store(5)
	c.deliverN.Store(7)
	ctx := testCtx(t, 20*time.Second)
	raw := rawClient(t, srv.URL)

	before := spublishCalls(t, raw)
	const n = 5
	for i := range n {
		if _, got := publish(t, ctx, a, "user:lc", engine.Message{ID: fmt.Sprint(i), Local: i}); got != 1 {
			t.Errorf("push %d from a: delivered %d, want 1 (a's own sessions)", i, got)
		}
	}
	for _, nd := range []*node{a, b, c} {
		eventually(t, 10*time.Second, nd.id+" to deliver a's pushes", func() bool { return len(nd.pubs("user:lc")) == n })
	}
	for _, p := range a.pubs("user:lc") {
		if p.Local != int(p.Offset-1) {
			t.Errorf("a's push %d has Local %v, want %d", p.Offset, p.Local, p.Offset-1)
		}
	}
	// c's publish waits for b's and a's counts, which leave after
	// whatever b owed before them: had b owed a anything, it is sent.
	if _, got := publish(t, ctx, c, "user:lc", engine.Message{ID: "exact"}); got != 13 {
		t.Errorf("push from c: delivered %d, want 13 (1+5+7 across nodes)", got)
	}
	// a's five publications, c's, and a's and b's counts to c.
	if got := spublishCalls(t, raw) - before; got != n+3 {
		t.Errorf("Redis ran %d SPUBLISH, want %d: no count went back to a", got, n+3)
	}
}
