package redis_test

import (
	"context"
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

// TestPartitionKeysShareASlot asks a real Redis Cluster for the slots of
// what one script touches: a stream's keys (message ids included) and its
// partition channel, a user's presence hash, online mark and event log
// (with the user stream's channel), a group's key and its group stream's
// channel, a node's keys and inbox.
// Each partition's slot also lies in its sixteenth of the slot range, so
// that an evenly split cluster spreads the partitions evenly.
func TestPartitionKeysShareASlot(t *testing.T) {
	c := redistest.StartCluster(t)
	raw := rawClusterClient(t, c)
	ctx := testCtx(t, 20*time.Second)
	slot := func(key string) int64 {
		t.Helper()
		s, err := raw.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seen := make(map[int64]string)
	for i := range 200 {
		stream := fmt.Sprintf("user:u%d", i)
		ch := redis.ChannelOf("herald:", stream)
		want := slot(ch)
		user := fmt.Sprintf("u%d", i)
		presence := append([]string{redis.UserPresenceKey("herald:", user), redis.OnlineKey("herald:", user)}, redis.EventLogKeys("herald:", stream)...)
		for _, k := range append([]string{redis.StreamStateKey("herald:", stream), redis.HistoryKey("herald:", stream), redis.MessageIDKey("herald:", stream, "id-{with}-braces")}, presence...) {
			if got := slot(k); got != want {
				t.Fatalf("%s is in slot %d, its channel %s in %d", k, got, ch, want)
			}
		}
		seen[want] = ch
		group := fmt.Sprintf("g%d", i)
		if got, want := slot(redis.GroupKey("herald:", group)), slot(redis.ChannelOf("herald:", "group:"+group)); got != want {
			t.Fatalf("group %s's key is in slot %d, its stream's channel in %d", group, got, want)
		}
	}
	if len(seen) != len(redis.PartitionTags) {
		t.Errorf("200 streams fell in %d partition slots, want %d", len(seen), len(redis.PartitionTags))
	}
	for p, tag := range redis.PartitionTags {
		s := slot("{" + tag + "}")
		if lo, hi := int64(p*1024), int64(p*1024+1024); s < lo || s >= hi {
			t.Errorf("partition %d (tag %q) is in slot %d, want [%d, %d)", p, tag, s, lo, hi)
		}
	}
	nodeKeys := redis.NodeKeys("herald:", "node-1")
	for _, k := range nodeKeys[1:] {
		if got, want := slot(k), slot(nodeKeys[0]); got != want {
			t.Errorf("%s is in slot %d, the heartbeat %s in %d", k, got, nodeKeys[0], want)
		}
	}
}

// TestResumeOnAnotherNode publishes on one node and resumes on another:
// history, offsets and epochs are shared, every push comes once and in
// order.
func TestResumeOnAnotherNode(t *testing.T) { eachBackend(t, testResumeOnAnotherNode) }

func testResumeOnAnotherNode(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", nil)
	b := newNode(t, be.url, "b", nil)
	ctx := testCtx(t, 20*time.Second)
	for _, stream := range []string{"user:r", "group:r", "broadcast"} {
		var first *engine.Publication
		for i := range 10 {
			p, _ := publish(t, ctx, a, stream, engine.Message{ID: fmt.Sprint(i)})
			if first == nil {
				first = p
			}
		}
		// A client that saw 4 pushes on a reconnects to b.
		pubs, cur, ok, err := b.Since(ctx, stream, engine.Position{Offset: 4, Epoch: first.Epoch}, -1)
		if err != nil || !ok || cur != (engine.Position{Offset: 10, Epoch: first.Epoch}) {
			t.Fatalf("%s: Since on b = %v %+v %v %v", stream, positions(pubs), cur, ok, err)
		}
		if !slices.Equal(offsets(pubs), seq(5, 10)) || pubs[0].ID != "4" {
			t.Errorf("%s: resumed with %v, want offsets 5..10", stream, offsets(pubs))
		}
		// The next push, on b, follows on.
		if p, _ := publish(t, ctx, b, stream, engine.Message{}); p.Offset != 11 || p.Epoch != first.Epoch {
			t.Errorf("%s: next push on b at %s/%d", stream, p.Epoch, p.Offset)
		}
	}
}

// TestClusterMasterRestartMidTraffic kills one master of a Redis Cluster
// while node a publishes to streams on every master and node b receives,
// then starts it again, empty, on the same port and cluster config. During
// the outage pushes to its slots fail with ErrUnavailable and the others
// go on; afterwards both nodes recover by themselves, every push that a
// answered with success was delivered on b once and in order, and the
// presence record the master lost is written again.
func TestClusterMasterRestartMidTraffic(t *testing.T) {
	c := redistest.StartCluster(t)
	victim := c.Masters[1] // not the seed of the nodes' clients
	raw := rawClusterClient(t, c)
	ctx := testCtx(t, 90*time.Second)
	onVictim := func(key string) bool {
		t.Helper()
		m, err := raw.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr == victim.Addr
	}
	var down, up []string // streams whose keys the victim holds, and not
	for i := 0; len(down) < 2 || len(up) < 2; i++ {
		s := fmt.Sprintf("user:o%d", i)
		if onVictim(redis.StreamStateKey("herald:", s)) {
			down = append(down, s)
		} else {
			up = append(up, s)
		}
	}
	streams := append(append([]string{}, down[:2]...), up[:2]...)
	user := ""
	for i := 0; user == ""; i++ {
		if u := fmt.Sprintf("p%d", i); onVictim(redis.UserPresenceKey("herald:", u)) {
			user = u
		}
	}

	a := newNode(t, c.URL, "a", nil)
	b := newNode(t, c.URL, "b", nil)
	if err := a.Register(ctx, conn("a", user, "sa", time.Now())); err != nil {
		t.Fatal(err)
	}

	pub := startPublisher(ctx, a, streams)
	eventually(t, 10*time.Second, "pushes before the outage", func() bool { return pub.minOK(streams) >= 10 })
	victim.Stop()
	eventually(t, 10*time.Second, "both nodes to report unhealthy", func() bool { return !a.Healthy() && !b.Healthy() })
	eventually(t, 10*time.Second, "pushes to the victim's streams to fail", func() bool { return pub.minFailed(down[:2]) >= 5 })
	before := pub.minOK(up[:2])
	eventually(t, 10*time.Second, "pushes to the other masters to go on", func() bool { return pub.minOK(up[:2]) >= before+10 })
	if _, _, _, err := a.Since(ctx, down[0], engine.Position{}, -1); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("Since on a stream of the stopped master: %v; want ErrUnavailable", err)
	}

	victim.Restart()
	c.WaitHealthy()
	eventually(t, 30*time.Second, "both nodes to report healthy again", func() bool { return a.Healthy() && b.Healthy() })
	before = pub.minOK(down[:2])
	eventually(t, 20*time.Second, "pushes to the victim's streams after the outage", func() bool { return pub.minOK(down[:2]) >= before+10 })
	pub.stop()

	pub.mu.Lock()
	defer pub.mu.Unlock()
	for _, err := range pub.failures {
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("a failed publish: %v; want ErrUnavailable", err)
		}
	}
	for _, s := range streams {
		want := pub.ok[s]
		eventually(t, 10*time.Second, "b to deliver every successful push to "+s, func() bool { return len(b.pubs(s)) >= len(want) })
		if got := positions(b.pubs(s)); !slices.Equal(got, want) {
			t.Errorf("%s: b delivered %d pushes, a had %d successes:\n got %v\nwant %v", s, len(got), len(want), got, want)
		}
		t.Logf("%s: %d pushes succeeded", s, len(want))
	}
	t.Logf("%d pushes failed during the outage", len(pub.failures))
	eventually(t, 10*time.Second, "a's connection to be back in presence", func() bool {
		p, err := b.Presence(ctx, []string{user})
		return err == nil && len(p[user]) == 1
	})
}

// publisher publishes to its streams in turn, recording what succeeded.
type publisher struct {
	mu       sync.Mutex
	ok       map[string][]string // stream -> epoch/offset of each success
	zero     map[string]int      // stream -> successes that no node counted
	failed   map[string]int
	failures []error

	halt     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func startPublisher(ctx context.Context, e engine.Engine, streams []string) *publisher {
	p := &publisher{ok: make(map[string][]string), zero: make(map[string]int), failed: make(map[string]int), halt: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.halt:
				return
			case <-tick.C:
			}
			s := streams[i%len(streams)]
			pub, n, err := e.Publish(ctx, s, engine.Message{ID: fmt.Sprint(i)})
			p.mu.Lock()
			switch {
			case err != nil:
				p.failed[s]++
				p.failures = append(p.failures, err)
			case n == 0:
				p.zero[s]++
				fallthrough
			default:
				p.ok[s] = append(p.ok[s], fmt.Sprintf("%s/%d", pub.Epoch, pub.Offset))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// stop stops publishing and waits for the last publish; it may be called
// more than once.
func (p *publisher) stop() {
	p.stopOnce.Do(func() { close(p.halt) })
	<-p.done
}

func (p *publisher) minOK(streams []string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := -1
	for _, s := range streams {
		if n < 0 || len(p.ok[s]) < n {
			n = len(p.ok[s])
		}
	}
	return n
}

func (p *publisher) minFailed(streams []string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := -1
	for _, s := range streams {
		if n < 0 || p.failed[s] < n {
			n = p.failed[s]
		}
	}
	return n
}

// failedOf is how many pushes to stream failed.
func (p *publisher) failedOf(stream string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed[stream]
}

// zeroOf is how many pushes to streams succeeded with no node counting
// them.
func (p *publisher) zeroOf(streams []string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range streams {
		n += p.zero[s]
	}
	return n
}
