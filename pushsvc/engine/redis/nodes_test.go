package redis_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// threeNodes starts nodes a, b, c on url whose Deliver report 1, 2 and 3
// sessions.
func threeNodes(t *testing.T, url string) (a, b, c *node) {
	a = newNode(t, url, "a", nil)
	b = newNode(t, url, "b", nil)
	c = newNode(t, url, "c", nil)
	a.deliverN.Store(1)
	b.deliverN.Store(2)
	c.deliverN.Store(3)
	return a, b, c
}

func TestPublicationReachesEveryNodeInOrder(t *testing.T) {
	eachBackend(t, testPublicationReachesEveryNodeInOrder)
}

func testPublicationReachesEveryNodeInOrder(t *testing.T, be backend) {
	a, b, c := threeNodes(t, be.url)
	ctx := testCtx(t, 20*time.Second)

	for i := range 50 {
		_, n := publish(t, ctx, a, "user:u", engine.Message{ID: fmt.Sprint(i), Local: i})
		if n != 6 {
			t.Fatalf("push %d: delivered = %d, want 6 (1+2+3 across nodes)", i, n)
		}
	}
	// A count is summed only once every node answered, so by now every
	// node has delivered all of them.
	for _, n := range []*node{a, b, c} {
		got := n.pubs("user:u")
		if !slices.Equal(offsets(got), seq(1, 50)) {
			t.Errorf("node %s delivered offsets %v, want 1..50", n.id, offsets(got))
		}
		for _, p := range got {
			wantLocal := any(nil)
			if n == a {
				wantLocal = int(p.Offset - 1)
			}
			if p.Local != wantLocal {
				t.Errorf("node %s: push %d has Local %v, want %v (Local stays on the origin)", n.id, p.Offset, p.Local, wantLocal)
				break
			}
		}
	}

	// A broadcast is one publication, whatever the number of sessions.
	if _, n := publish(t, ctx, b, "broadcast", engine.Message{ID: "all"}); n != 6 {
		t.Errorf("broadcast delivered = %d, want 6", n)
	}
}

func TestConcurrentPublishersAgreeOnOrder(t *testing.T) {
	eachBackend(t, testConcurrentPublishersAgreeOnOrder)
}

func testConcurrentPublishersAgreeOnOrder(t *testing.T, be backend) {
	a, b, c := threeNodes(t, be.url)
	ctx := testCtx(t, 30*time.Second)
	nodes := []*node{a, b, c}
	const each = 40
	var wg sync.WaitGroup
	errs := make(chan error, 3*each)
	for _, n := range nodes {
		wg.Go(func() {
			for i := range each {
				if _, _, err := n.Publish(ctx, "group:g", engine.Message{ID: fmt.Sprintf("%s-%d", n.id, i)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := seq(1, 3*each)
	var ids [][]string
	for _, n := range nodes {
		eventually(t, 5*time.Second, "every node to deliver every push", func() bool { return len(n.pubs("group:g")) >= len(want) })
		got := n.pubs("group:g")
		if !slices.Equal(offsets(got), want) {
			t.Fatalf("node %s delivered offsets %v, want 1..%d", n.id, offsets(got), len(want))
		}
		var s []string
		for _, p := range got {
			s = append(s, p.ID)
		}
		ids = append(ids, s)
	}
	if !slices.Equal(ids[0], ids[1]) || !slices.Equal(ids[0], ids[2]) {
		t.Error("nodes delivered the same offsets with different messages")
	}
}

func TestMembershipControlsReachEveryNode(t *testing.T) {
	eachBackend(t, testMembershipControlsReachEveryNode)
}

func testMembershipControlsReachEveryNode(t *testing.T, be backend) {
	a, b, c := threeNodes(t, be.url)
	ctx := testCtx(t, 10*time.Second)

	if err := b.AddMembers(ctx, "team", []string{"zoe", "al"}); err != nil {
		t.Fatal(err)
	}
	// The Control travels before any later push: on every node it is
	// applied before this one is delivered.
	publish(t, ctx, b, "group:team", engine.Message{ID: "after-add"})
	for _, n := range []*node{a, b, c} {
		n.mu.Lock()
		evs := slices.Clone(n.events)
		n.mu.Unlock()
		if len(evs) != 2 || evs[0].control == nil || evs[1].pub == nil {
			t.Fatalf("node %s saw %d events, want the Control then the push", n.id, len(evs))
		}
		got := *evs[0].control
		if got.Kind != engine.MembersAdded || got.Group != "team" || !slices.Equal(got.Users, []string{"zoe", "al"}) {
			t.Errorf("node %s got %+v", n.id, got)
		}
	}
	members, err := c.Members(ctx, "team")
	if err != nil || !slices.Equal(members, []string{"al", "zoe"}) {
		t.Errorf("Members = %v %v; want sorted [al zoe]", members, err)
	}
	if err := a.AddMembers(ctx, "band", []string{"al"}); err != nil {
		t.Fatal(err)
	}
	groups, err := c.UserGroups(ctx, "al")
	if err != nil || !slices.Equal(groups, []string{"band", "team"}) {
		t.Errorf("UserGroups(al) = %v %v", groups, err)
	}

	if err := c.RemoveMembers(ctx, "team", []string{"al"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b, c} {
		// Not necessarily the last Control: on a Redis Cluster the one of
		// "band" travels on another partition's subscription, in no
		// order with this one.
		eventually(t, 5*time.Second, "node "+n.id+" to get MembersRemoved", func() bool {
			return slices.ContainsFunc(n.controls(), func(c engine.Control) bool {
				return c.Kind == engine.MembersRemoved && c.Group == "team" && slices.Equal(c.Users, []string{"al"})
			})
		})
	}
	if m, _ := a.Members(ctx, "team"); !slices.Equal(m, []string{"zoe"}) {
		t.Errorf("Members after removal = %v", m)
	}
	if g, _ := a.UserGroups(ctx, "al"); !slices.Equal(g, []string{"band"}) {
		t.Errorf("UserGroups after removal = %v", g)
	}
	if m, err := a.Members(ctx, "nobody"); err != nil || len(m) != 0 {
		t.Errorf("Members of an unknown group = %v %v", m, err)
	}
}

func TestDisconnectSumsAcrossNodes(t *testing.T) { eachBackend(t, testDisconnectSumsAcrossNodes) }

func testDisconnectSumsAcrossNodes(t *testing.T, be backend) {
	a, b, c := threeNodes(t, be.url)
	a.controlN.Store(1)
	b.controlN.Store(0)
	c.controlN.Store(2)
	ctx := testCtx(t, 10*time.Second)
	n, err := c.Disconnect(ctx, "eve", "bye", true)
	if err != nil || n != 3 {
		t.Fatalf("Disconnect = %d %v; want 3", n, err)
	}
	for _, nd := range []*node{a, b, c} {
		cs := nd.controls()
		if len(cs) != 1 || cs[0].Kind != engine.DisconnectUser || !slices.Equal(cs[0].Users, []string{"eve"}) || cs[0].Reason != "bye" || !cs[0].Reconnect {
			t.Errorf("node %s got %+v", nd.id, cs)
		}
	}
}

func conn(node, user, session string, at time.Time) engine.Conn {
	return engine.Conn{SessionID: session, UserID: user, NodeID: node, RemoteAddr: "10.0.0.1:5", UserAgent: "ua/" + session,
		ConnectedAt: at.UTC().Truncate(time.Millisecond), Groups: []string{"g1", "g2"}, Compressed: true}
}

func TestPresenceAcrossNodes(t *testing.T) { eachBackend(t, testPresenceAcrossNodes) }

func testPresenceAcrossNodes(t *testing.T, be backend) {
	a, b, c := threeNodes(t, be.url)
	ctx := testCtx(t, 10*time.Second)
	t0 := time.Now()
	s1 := conn("a", "u1", "s1", t0.Add(time.Second))
	s2 := conn("b", "u1", "s2", t0)
	s3 := conn("b", "u2", "s3", t0)
	for _, r := range []struct {
		n *node
		c engine.Conn
	}{{a, s1}, {b, s2}, {b, s3}} {
		if err := r.n.Register(ctx, r.c); err != nil {
			t.Fatal(err)
		}
	}
	p, err := c.Presence(ctx, []string{"u1", "u2", "u3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 || len(p["u3"]) != 0 {
		t.Errorf("Presence has users %v, want u1 and u2", p)
	}
	if !connsEqual(p["u1"], []engine.Conn{s2, s1}) || !connsEqual(p["u2"], []engine.Conn{s3}) {
		t.Errorf("Presence = %+v", p)
	}
	if err := b.Unregister(ctx, engine.Conn{SessionID: "s2", UserID: "u1", NodeID: "b"}, engine.Closed{Code: 1000}); err != nil {
		t.Fatal(err)
	}
	p, _ = a.Presence(ctx, []string{"u1"})
	if !connsEqual(p["u1"], []engine.Conn{s1}) {
		t.Errorf("after Unregister: %+v", p["u1"])
	}
}

func connsEqual(a, b []engine.Conn) bool {
	return slices.EqualFunc(a, b, func(x, y engine.Conn) bool {
		return x.SessionID == y.SessionID && x.UserID == y.UserID && x.NodeID == y.NodeID && x.RemoteAddr == y.RemoteAddr &&
			x.UserAgent == y.UserAgent && x.ConnectedAt.Equal(y.ConnectedAt) && slices.Equal(x.Groups, y.Groups) && x.Compressed == y.Compressed
	})
}

func TestStatsOfLiveNodes(t *testing.T) { eachBackend(t, testStatsOfLiveNodes) }

func testStatsOfLiveNodes(t *testing.T, be backend) {
	a, b, c := threeNodes(t, be.url)
	ctx := testCtx(t, 10*time.Second)
	for _, n := range []*node{a, b} {
		if err := n.PutStats(ctx, []byte("stats of "+n.id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["a"]) != "stats of a" || string(got["b"]) != "stats of b" {
		t.Errorf("Stats = %q", got)
	}
}

// TestKilledNodeLeavesPresenceAndStats kills a node (its goroutines stop,
// its records stay) and expects its connections and stats to vanish within
// about its NodeTTL, and the janitor of a live node to delete its records.
func TestKilledNodeLeavesPresenceAndStats(t *testing.T) {
	eachBackend(t, testKilledNodeLeavesPresenceAndStats)
}

func testKilledNodeLeavesPresenceAndStats(t *testing.T, be backend) {
	const nodeTTL = 300 * time.Millisecond
	fast := func(o *redis.Options) { o.NodeTTL = nodeTTL }
	a := newNode(t, be.url, "a", fast)
	d := newNode(t, be.url, "d", fast)
	ctx := testCtx(t, 10*time.Second)
	if err := d.Register(ctx, conn("d", "u", "sd", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := d.PutStats(ctx, []byte("d")); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.Presence(ctx, []string{"u"}); len(p["u"]) != 1 {
		t.Fatalf("before the kill: presence %+v", p)
	}
	if s, _ := a.Stats(ctx); len(s) != 1 {
		t.Fatalf("before the kill: stats of %d nodes, want 1 (a never put any)", len(s))
	}

	d.Kill()
	killed := time.Now()
	eventually(t, 10*nodeTTL, "the killed node's connection to leave presence", func() bool {
		p, err := a.Presence(ctx, []string{"u"})
		return err == nil && len(p["u"]) == 0
	})
	t.Logf("connection left presence %v after the kill (NodeTTL %v)", time.Since(killed).Round(time.Millisecond), nodeTTL)
	if s, err := a.Stats(ctx); err != nil || len(s) != 0 {
		t.Errorf("stats after the kill: %q %v", s, err)
	}
	raw := be.raw(t)
	nodeKeys := redis.NodeKeys("herald:", "d")
	eventually(t, 10*nodeTTL, "a's janitor to reap d's records", func() bool {
		// One key at a time: they are in different slots of a cluster.
		for _, k := range []string{nodeKeys[1], nodeKeys[2], redis.UserPresenceKey("herald:", "u")} {
			if n, err := raw.Exists(ctx, k).Result(); err != nil || n != 0 {
				return false
			}
		}
		member, err := raw.SIsMember(ctx, "herald:nodes", "d").Result()
		return err == nil && !member
	})
}

func TestClosedNodeLeavesAtOnce(t *testing.T) { eachBackend(t, testClosedNodeLeavesAtOnce) }

func testClosedNodeLeavesAtOnce(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", nil)
	d := newNode(t, be.url, "d", func(o *redis.Options) { o.NodeTTL = time.Minute })
	ctx := testCtx(t, 10*time.Second)
	if err := d.Register(ctx, conn("d", "u", "sd", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := d.PutStats(ctx, []byte("d")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Presence(ctx, []string{"u"}); err != nil || len(p) != 0 {
		t.Errorf("presence right after Close: %+v %v", p, err)
	}
	if s, err := a.Stats(ctx); err != nil || len(s) != 0 {
		t.Errorf("stats right after Close: %q %v", s, err)
	}
	if _, _, err := d.Publish(ctx, "user:u", engine.Message{}); err == nil {
		t.Error("Publish on a closed engine succeeded")
	}
}

func TestRestartedNodeForgetsItsPreviousLife(t *testing.T) {
	eachBackend(t, testRestartedNodeForgetsItsPreviousLife)
}

func testRestartedNodeForgetsItsPreviousLife(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", nil)
	d := newNode(t, be.url, "d", func(o *redis.Options) { o.NodeTTL = time.Minute })
	ctx := testCtx(t, 10*time.Second)
	if err := d.Register(ctx, conn("d", "u", "old", time.Now())); err != nil {
		t.Fatal(err)
	}
	d.Kill()
	// Its heartbeat is still alive for a minute, but the new process with
	// the same node id knows the old connections are gone.
	newNode(t, be.url, "d", nil)
	if p, err := a.Presence(ctx, []string{"u"}); err != nil || len(p) != 0 {
		t.Errorf("presence after the restart: %+v %v", p, err)
	}
}

// TestStraySubscriberDoesNotDelayPushes subscribes an outside client to
// a partition channel, as an operator debugging with redis-cli might: it
// never answers, and must not make pushes wait for ReplyTimeout.
func TestStraySubscriberDoesNotDelayPushes(t *testing.T) {
	eachBackend(t, testStraySubscriberDoesNotDelayPushes)
}

func testStraySubscriberDoesNotDelayPushes(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", func(o *redis.Options) { o.ReplyTimeout = 5 * time.Second })
	b := newNode(t, be.url, "b", nil)
	ctx := testCtx(t, 20*time.Second)
	// The partition of the user's stream carries both the push and the
	// disconnect.
	stray := be.raw(t).SSubscribe(ctx, redis.ChannelOf("herald:", "user:s"))
	defer stray.Close()
	if _, err := stray.Receive(ctx); err != nil { // the confirmation
		t.Fatal(err)
	}
	start := time.Now()
	_, n := publish(t, ctx, a, "user:s", engine.Message{})
	if d := time.Since(start); d > 2*time.Second || n != 2 {
		t.Errorf("publish with a stray subscriber: delivered %d in %v; want 2 at once", n, d)
	}
	if _, err := b.Disconnect(ctx, "s", "", false); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("disconnect with a stray subscriber took %v", d)
	}
}
