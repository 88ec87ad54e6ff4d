package redis_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// TestClusterSlotMoveMidTraffic moves the slot of one partition from its
// master to another, a step at a time as `redis-cli --cluster reshard`
// does (redistest.SlotMove), while node a keeps publishing to two streams
// of that partition and to a bystander stream of another partition on the
// same master, and nodes a, b and c receive. It proves that:
//
//   - while the slot is MIGRATING and the keys are still on the source,
//     pushes succeed as before;
//   - while a stream's two keys are split between the masters (Redis
//     answers TRYAGAIN), its pushes fail with ErrUnavailable;
//   - once its keys are on the target, before the slot is handed over,
//     pushes succeed through ASK redirects, though nobody is subscribed
//     there yet (SPUBLISH reaches no node);
//   - when the slot is handed over, the source's sunsubscribe makes every
//     node resubscribe on the target (PUBSUB SHARDNUMSUB there and on the
//     source), and every node is Healthy again;
//   - every push that succeeded, before, during and after the move, reached
//     every node exactly once and in offset order, in one epoch, without a
//     gap: what pub/sub did not carry, the catch-up after resubscribing
//     fetched from history;
//   - the bystander's pushes never failed.
func TestClusterSlotMoveMidTraffic(t *testing.T) {
	c := redistest.StartCluster(t)
	raw := rawClusterClient(t, c)
	ctx := testCtx(t, 60*time.Second)

	// Two streams of one partition, its slot, the masters it moves between,
	// and a stream of another partition on the same source master.
	const prefix = "herald:"
	moving := []string{"user:m0"}
	ch := redis.ChannelOf(prefix, moving[0])
	for i := 1; len(moving) < 2; i++ {
		if s := fmt.Sprintf("user:m%d", i); redis.ChannelOf(prefix, s) == ch {
			moving = append(moving, s)
		}
	}
	slotOf := func(key string) int {
		t.Helper()
		s, err := raw.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(s)
	}
	slot := slotOf(ch)
	from := c.MasterOf(slot)
	to := c.Masters[(slices.Index(c.Masters, from)+1)%len(c.Masters)]
	bystander := ""
	for i := 0; bystander == ""; i++ {
		s := fmt.Sprintf("user:b%d", i)
		if bch := redis.ChannelOf(prefix, s); bch != ch && c.MasterOf(slotOf(bch)) == from {
			bystander = s
		}
	}
	streams := append(slices.Clone(moving), bystander)
	t.Logf("moving slot %d (%s, %v) from %s to %s; bystander %s", slot, ch, moving, from.Addr, to.Addr, bystander)

	// History holds everything the test publishes, so that a catch-up
	// always finds what a node missed.
	logs := map[string]*logRecorder{}
	var nodes []*node
	for _, id := range []string{"a", "b", "c"} {
		logs[id] = &logRecorder{}
		nodes = append(nodes, newNode(t, c.URL, id, func(o *redis.Options) {
			o.HistorySize = 10000
			o.Logger = slog.New(logs[id])
		}))
	}
	a := nodes[0]

	pub := startPublisher(ctx, a, streams)
	t.Cleanup(pub.stop) // on a failed check; stop is idempotent
	progress := func(what string, ss []string, n int) {
		t.Helper()
		before := pub.minOK(ss)
		eventually(t, 10*time.Second, what, func() bool { return pub.minOK(ss) >= before+n })
	}
	progress("pushes before the move", streams, 10)

	move := c.StartSlotMove(slot, to)
	progress("pushes while the slot is MIGRATING, keys on the source", streams, 10)

	// Move one key of moving[0] only: its publish script finds one key and
	// not the other, which Redis refuses with TRYAGAIN.
	move.Migrate(redis.StreamStateKey(prefix, moving[0]))
	failedBefore := pub.failedOf(moving[0])
	eventually(t, 10*time.Second, "pushes to a stream whose keys are split to fail", func() bool {
		return pub.failedOf(moving[0]) >= failedBefore+3
	})
	progress("pushes to the other stream of the slot meanwhile", moving[1:], 5)

	move.MigrateAll()
	zeroBefore := pub.zeroOf(moving)
	progress("pushes after the keys moved, before the handover (ASK)", moving, 10)
	// Those reached no node live (but one that was under way when the
	// keys moved): what follows proves the catch-up.
	unheard := pub.zeroOf(moving) - zeroBefore
	if unheard < 10 {
		t.Fatalf("%d pushes through ASK reached no node live, want nearly all of at least 20", unheard)
	}
	t.Logf("%d pushes failed while the keys were split; %d succeeded through ASK, delivered live to no node",
		pub.failedOf(moving[0])-failedBefore, unheard)

	move.Finish()
	target, source := rawClient(t, to.URL), rawClient(t, from.URL)
	eventually(t, 20*time.Second, "every node to resubscribe on the target after the source's sunsubscribe", func() bool {
		for _, l := range logs {
			if !l.slotMoved(ch) {
				return false
			}
		}
		for _, n := range nodes {
			if !n.Healthy() {
				return false
			}
		}
		on, err := target.PubSubShardNumSub(ctx, ch).Result()
		if err != nil || on[ch] != int64(len(nodes)) {
			return false
		}
		left, err := source.PubSubShardNumSub(ctx, ch).Result()
		return err == nil && left[ch] == 0
	})
	progress("pushes after the move", streams, 10)
	pub.stop()

	pub.mu.Lock()
	defer pub.mu.Unlock()
	for _, err := range pub.failures {
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("a failed publish: %v; want ErrUnavailable", err)
		}
	}
	if n := pub.failed[bystander]; n != 0 {
		t.Errorf("%d pushes to the bystander stream %s failed", n, bystander)
	}
	for _, s := range streams {
		ok := pub.ok[s]
		for _, n := range nodes {
			eventually(t, 10*time.Second, "node "+n.id+" to deliver the last push to "+s, func() bool {
				return slices.Contains(positions(n.pubs(s)), ok[len(ok)-1])
			})
			checkDeliveredOnce(t, n, s, ok)
		}
		t.Logf("%s: %d pushes succeeded, %d failed", s, len(ok), pub.failed[s])
	}

	// Live fan-out through the new master: every node counts.
	if _, got := publish(t, ctx, a, moving[0], engine.Message{ID: "after"}); got != len(nodes) {
		t.Errorf("a push after the move was delivered to %d nodes, want %d", got, len(nodes))
	}
}

// checkDeliveredOnce checks what node n delivered of stream: one epoch,
// offsets 1, 2, 3... in order (no gap, no duplicate), and among them every
// position in ok.
func checkDeliveredOnce(t *testing.T, n *node, stream string, ok []string) {
	t.Helper()
	got := n.pubs(stream)
	for i, p := range got {
		if p.Epoch != got[0].Epoch || p.Offset != uint64(i+1) {
			t.Errorf("node %s, %s: delivery %d is %s/%d, want %s/%d (a new epoch, a gap, a duplicate or out of order)",
				n.id, stream, i, p.Epoch, p.Offset, got[0].Epoch, i+1)
			return
		}
	}
	have := positions(got)
	for _, pos := range ok {
		if !slices.Contains(have, pos) {
			t.Errorf("node %s, %s: the successful push %s was never delivered", n.id, stream, pos)
		}
	}
}

// logRecorder is a slog.Handler that keeps, of every record, its message
// and the attributes given at the call.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	msg   string
	attrs map[string]slog.Value
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	l.mu.Unlock()
	return nil
}

// WithAttrs and WithGroup drop the engine's and node's names: each node
// has its own recorder.
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// slotMoved reports whether the node logged losing its subscription to
// channel because Redis unsubscribed it, the slot having moved.
func (l *logRecorder) slotMoved(channel string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		err, _ := r.attrs["err"].Any().(error)
		if r.attrs["channel"].String() == channel && errors.Is(err, redis.ErrSlotMoved) {
			return true
		}
	}
	return false
}

// TestClusterSlotMoveControls changes a group's members and disconnects a
// user while the slot of their partition moves between masters, on nodes
// a and b. A Control is not kept in history: a node that does not receive
// it never applies it. It proves that each call either reached every node
// or failed with ErrUnavailable, never succeeded unheard:
//
//   - while the slot is MIGRATING, AddMembers for a new group (its key is
//     on neither master: the source redirects the script with ASK) and
//     after the keys moved (likewise) fails: the script ran on the
//     importing master, where no node subscribes;
//   - a Disconnect, a plain SPUBLISH, is served by the source until the
//     handover and reaches both nodes;
//   - after the handover, while the nodes have not resubscribed (held),
//     both fail;
//   - once the nodes resubscribed, the callers' retries reach both nodes.
func TestClusterSlotMoveControls(t *testing.T) {
	c := redistest.StartCluster(t)
	raw := rawClusterClient(t, c)
	ctx := testCtx(t, 30*time.Second)

	const prefix = "herald:"
	group := "team"
	ch := redis.ChannelOf(prefix, "group:"+group)
	user := ""
	for i := 0; user == ""; i++ {
		if u := fmt.Sprintf("u%d", i); redis.ChannelOf(prefix, "user:"+u) == ch {
			user = u
		}
	}
	s, err := raw.ClusterKeySlot(ctx, ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	slot := int(s)
	from := c.MasterOf(slot)
	to := c.Masters[(slices.Index(c.Masters, from)+1)%len(c.Masters)]

	a := newNode(t, c.URL, "a", nil)
	b := newNode(t, c.URL, "b", nil)
	a.controlN.Store(1)
	b.controlN.Store(1)
	addMembers := func(what string) error {
		t.Helper()
		err := a.AddMembers(ctx, group, []string{"zoe"})
		if err != nil && !errors.Is(err, engine.ErrUnavailable) {
			t.Fatalf("AddMembers %s: %v; want nil or ErrUnavailable", what, err)
		}
		return err
	}
	wantUnavailable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("%s: %v; want ErrUnavailable (the Control reached no node)", what, err)
		}
	}

	move := c.StartSlotMove(slot, to)
	wantUnavailable("AddMembers for a new group while the slot is MIGRATING", addMembers("while MIGRATING"))
	if n, err := a.Disconnect(ctx, user, "bye", true); err != nil || n != 2 {
		t.Errorf("Disconnect while the slot is MIGRATING = %d %v; want 2 (the source serves the channel)", n, err)
	}
	move.MigrateAll()
	wantUnavailable("AddMembers after the keys moved", addMembers("after the keys moved"))

	releaseA, releaseB := a.HoldReconnect(), b.HoldReconnect()
	move.Finish()
	eventually(t, 10*time.Second, "both nodes to lose the moved subscription", func() bool { return !a.Healthy() && !b.Healthy() })
	wantUnavailable("AddMembers before the nodes resubscribed", addMembers("before the nodes resubscribed"))
	_, err = a.Disconnect(ctx, user, "bye", true)
	wantUnavailable("Disconnect before the nodes resubscribed", err)
	for _, n := range []*node{a, b} {
		for _, ctl := range n.controls() {
			if ctl.Kind == engine.MembersAdded {
				t.Fatalf("node %s applied %+v, which AddMembers reported failed to publish", n.id, ctl)
			}
		}
	}
	releaseA()
	releaseB()

	eventually(t, 10*time.Second, "both nodes healthy again", func() bool { return a.Healthy() && b.Healthy() })
	eventually(t, 10*time.Second, "AddMembers to succeed", func() bool { return addMembers("after the move") == nil })
	if n, err := a.Disconnect(ctx, user, "bye", true); err != nil || n != 2 {
		t.Errorf("Disconnect after the move = %d %v; want 2", n, err)
	}
	for _, n := range []*node{a, b} {
		var added, disconnects int
		for _, ctl := range n.controls() {
			switch {
			case ctl.Kind == engine.MembersAdded && ctl.Group == group && slices.Equal(ctl.Users, []string{"zoe"}):
				added++
			case ctl.Kind == engine.DisconnectUser && slices.Equal(ctl.Users, []string{user}):
				disconnects++
			}
		}
		if added == 0 || disconnects != 2 {
			t.Errorf("node %s applied %d MembersAdded and %d disconnects; want at least 1 and 2", n.id, added, disconnects)
		}
	}
	if m, err := b.Members(ctx, group); err != nil || !slices.Equal(m, []string{"zoe"}) {
		t.Errorf("Members = %v %v", m, err)
	}
}
