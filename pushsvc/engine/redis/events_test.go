package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// logReader reads a node's event log from a cursor, advancing it.
type logReader struct {
	t   *testing.T
	log engine.EventLog
	cur engine.Cursor
}

func newLogReader(t *testing.T, log engine.EventLog) *logReader {
	t.Helper()
	head, err := log.EventsHead(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &logReader{t: t, log: log, cur: head}
}

// all reads every event there is now.
func (r *logReader) all() []engine.Event {
	r.t.Helper()
	var out []engine.Event
	for {
		evs, err := r.log.ReadEvents(testCtx(r.t, 10*time.Second), r.cur, engine.Cursor{}, 100)
		if err != nil {
			r.t.Fatalf("ReadEvents: %v", err)
		}
		if len(evs) == 0 {
			return out
		}
		for i := range evs {
			r.cur.Advance(&evs[i])
		}
		out = append(out, evs...)
	}
}

// until reads until cond holds for what was read so far.
func (r *logReader) until(what string, cond func([]engine.Event) bool) []engine.Event {
	r.t.Helper()
	var got []engine.Event
	eventually(r.t, 20*time.Second, what, func() bool {
		got = append(got, r.all()...)
		return cond(got)
	})
	return got
}

// describe writes events as "kind:user[:session][:code]" for comparisons.
func describe(evs []engine.Event) []string {
	names := map[engine.EventKind]string{engine.EventOnline: "online", engine.EventOffline: "offline",
		engine.EventConnected: "connected", engine.EventDisconnected: "disconnected", engine.EventUndelivered: "undelivered"}
	out := make([]string, len(evs))
	for i, ev := range evs {
		s := names[ev.Kind] + ":" + ev.UserID
		if ev.SessionID != "" {
			s += ":" + ev.SessionID
		}
		if ev.Kind == engine.EventDisconnected || ev.Kind == engine.EventOffline {
			s += fmt.Sprintf(":%d", ev.Code)
		}
		out[i] = s
	}
	return out
}

func ofUser(evs []engine.Event, user string) []engine.Event {
	var out []engine.Event
	for _, ev := range evs {
		if ev.UserID == user {
			out = append(out, ev)
		}
	}
	return out
}

// TestPresenceEvents: a user's connections on two nodes make Online with
// the first, Connected and Disconnected each, Offline with the last
// (with its close code and how long the user was online); registering a
// connection again (a group change) makes nothing.
func TestPresenceEvents(t *testing.T) { eachBackend(t, testPresenceEvents) }

func testPresenceEvents(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", nil)
	b := newNode(t, be.url, "b", nil)
	ctx := testCtx(t, 20*time.Second)
	r := newLogReader(t, b.Engine)
	t0 := time.Now()
	steps := []func() error{
		func() error { return a.Register(ctx, conn("a", "alice", "s1", t0)) },
		func() error { return b.Register(ctx, conn("b", "alice", "s2", t0)) },
		func() error { return a.Register(ctx, conn("a", "alice", "s1", t0)) }, // again: nothing
		func() error {
			return a.Unregister(ctx, conn("a", "alice", "s1", t0), engine.Closed{At: time.Now(), Code: 1000})
		},
		func() error {
			return b.Unregister(ctx, conn("b", "alice", "s2", t0), engine.Closed{At: t0.Add(1500 * time.Millisecond), Code: 4003, Reason: "slow"})
		},
		func() error { return b.Unregister(ctx, conn("b", "alice", "s2", t0), engine.Closed{Code: 1000}) }, // gone: nothing
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	got := r.all()
	want := []string{"online:alice", "connected:alice:s1", "connected:alice:s2",
		"disconnected:alice:s1:1000", "disconnected:alice:s2:4003", "offline:alice:4003"}
	if strings.Join(describe(got), " ") != strings.Join(want, " ") {
		t.Fatalf("events\n got %v\nwant %v", describe(got), want)
	}
	off := got[5]
	if off.Duration != 1500*time.Millisecond || off.NodeID != "b" {
		t.Errorf("offline: online for %v by %q, want 1.5s by b", off.Duration, off.NodeID)
	}
	if d := got[4]; d.Reason != "slow" || d.SessionNode != "b" || d.Duration != 1500*time.Millisecond {
		t.Errorf("disconnected: %+v", d)
	}
	if c := got[1]; c.NodeID != "a" || c.SessionNode != "a" || c.At.IsZero() {
		t.Errorf("connected: %+v", c)
	}
}

// TestPresenceEventsUnderChurn: three nodes connect and disconnect
// sessions of the same users at once. Each session makes one Connected
// and one Disconnected, each user's Online and Offline alternate,
// starting online, and end offline: the presence scripts decide each
// transition in Redis, atomically with the record.
func TestPresenceEventsUnderChurn(t *testing.T) { eachBackend(t, testPresenceEventsUnderChurn) }

func testPresenceEventsUnderChurn(t *testing.T, be backend) {
	nodes := []*node{newNode(t, be.url, "a", nil), newNode(t, be.url, "b", nil), newNode(t, be.url, "c", nil)}
	ctx := testCtx(t, 60*time.Second)
	r := newLogReader(t, nodes[0].Engine)
	users := []string{"u1", "u2"}
	const perNode = 30
	var wg sync.WaitGroup
	for _, n := range nodes {
		for _, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perNode {
					c := conn(n.id, u, fmt.Sprintf("%s-%s-%d", n.id, u, i), time.Now())
					if err := n.Register(ctx, c); err != nil {
						t.Error(err)
						return
					}
					if err := n.Unregister(ctx, c, engine.Closed{Code: 1000}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	evs := r.all()
	for _, u := range users {
		checkAlternates(t, u, ofUser(evs, u), len(nodes)*perNode)
	}
}

// checkAlternates checks a user's events: sessions connected and
// disconnected once each, Online and Offline alternating from Online,
// ending Offline, Online only when no session was open and Offline only
// when none is.
func checkAlternates(t *testing.T, user string, evs []engine.Event, sessions int) {
	t.Helper()
	open := map[string]bool{}
	seen := map[string]int{}
	online := false
	for _, ev := range evs {
		switch ev.Kind {
		case engine.EventOnline:
			if online || len(open) > 0 {
				t.Fatalf("%s: Online while online (%d open): %v", user, len(open), describe(evs))
			}
			online = true
		case engine.EventOffline:
			if !online || len(open) > 0 {
				t.Fatalf("%s: Offline while offline or with %d open: %v", user, len(open), describe(evs))
			}
			online = false
		case engine.EventConnected:
			if !online || open[ev.SessionID] || seen[ev.SessionID] > 0 {
				t.Fatalf("%s: Connected %s out of turn: %v", user, ev.SessionID, describe(evs))
			}
			open[ev.SessionID] = true
			seen[ev.SessionID]++
		case engine.EventDisconnected:
			if !open[ev.SessionID] {
				t.Fatalf("%s: Disconnected %s not open: %v", user, ev.SessionID, describe(evs))
			}
			delete(open, ev.SessionID)
		}
	}
	if online || len(open) > 0 || len(seen) != sessions {
		t.Fatalf("%s: ends online=%v with %d open, %d sessions seen, want offline, 0, %d", user, online, len(open), len(seen), sessions)
	}
}

// TestKilledNodeEventsOnce: a node dies with connections of three users,
// one of whom also has a connection on a live node. Two janitors reap it
// at once, one after another that died half way: each connection is
// disconnected once (code 0, recorded by a janitor, the dead node named),
// the two users it held alone go offline once, the third stays online.
func TestKilledNodeEventsOnce(t *testing.T) { eachBackend(t, testKilledNodeEventsOnce) }

func testKilledNodeEventsOnce(t *testing.T, be backend) {
	const nodeTTL = 300 * time.Millisecond
	slowReaper := func(o *redis.Options) { o.NodeTTL = time.Minute } // reaps only when told
	a := newNode(t, be.url, "a", slowReaper)
	b := newNode(t, be.url, "b", slowReaper)
	d := newNode(t, be.url, "d", func(o *redis.Options) { o.NodeTTL = nodeTTL })
	ctx := testCtx(t, 30*time.Second)
	r := newLogReader(t, a.Engine)
	for i, u := range []string{"u1", "u2", "u3", "u1"} {
		if err := d.Register(ctx, conn("d", u, fmt.Sprintf("d%d", i), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Register(ctx, conn("a", "u3", "a0", time.Now())); err != nil {
		t.Fatal(err)
	}
	r.all()
	d.Kill()
	eventually(t, 20*nodeTTL, "d's heartbeat to expire", func() bool {
		n, err := be.raw(t).Exists(ctx, redis.NodeKeys("herald:", "d")[0]).Result()
		return err == nil && n == 0
	})
	if err := b.ReapHalfWay(ctx, "d", 2); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.ReapNow(ctx, "d"); err != nil {
				t.Errorf("reap by %s: %v", n.id, err)
			}
		}()
	}
	wg.Wait()
	evs := r.all()
	disc := map[string]int{}
	off := map[string]int{}
	for _, ev := range evs {
		switch ev.Kind {
		case engine.EventDisconnected:
			disc[ev.SessionID]++
			if ev.Code != 0 || ev.SessionNode != "d" || (ev.NodeID != "a" && ev.NodeID != "b") {
				t.Errorf("disconnected %+v: want code 0, session node d, recorded by a or b", ev)
			}
		case engine.EventOffline:
			off[ev.UserID]++
		case engine.EventOnline, engine.EventConnected:
			t.Errorf("unexpected %v", describe([]engine.Event{ev}))
		}
	}
	for i := range 4 {
		if s := fmt.Sprintf("d%d", i); disc[s] != 1 {
			t.Errorf("session %s disconnected %d times, want 1: %v", s, disc[s], describe(evs))
		}
	}
	if off["u1"] != 1 || off["u2"] != 1 || off["u3"] != 0 {
		t.Errorf("offline events %v, want u1 and u2 once, u3 never: %v", off, describe(evs))
	}
	if p, err := a.Presence(ctx, []string{"u1", "u3"}); err != nil || len(p["u1"]) != 0 || len(p["u3"]) != 1 {
		t.Errorf("presence after the reap: %+v %v", p, err)
	}
}

// TestKilledNodeOfflineByKeeper: with nothing but the keepers running, a
// killed node's users go offline within its node TTL and one janitor
// period; the test logs how long it took.
func TestKilledNodeOfflineByKeeper(t *testing.T) { eachBackend(t, testKilledNodeOfflineByKeeper) }

func testKilledNodeOfflineByKeeper(t *testing.T, be backend) {
	const nodeTTL = 300 * time.Millisecond
	fast := func(o *redis.Options) { o.NodeTTL = nodeTTL }
	a := newNode(t, be.url, "a", fast)
	d := newNode(t, be.url, "d", fast)
	ctx := testCtx(t, 20*time.Second)
	r := newLogReader(t, a.Engine)
	if err := d.Register(ctx, conn("d", "u", "sd", time.Now())); err != nil {
		t.Fatal(err)
	}
	d.Kill()
	killed := time.Now()
	evs := r.until("the killed node's user to go offline", func(evs []engine.Event) bool {
		for _, ev := range evs {
			if ev.Kind == engine.EventOffline {
				return true
			}
		}
		return false
	})
	t.Logf("offline %v after the kill (NodeTTL %v)", time.Since(killed).Round(time.Millisecond), nodeTTL)
	if want := "online:u connected:u:sd disconnected:u:sd:0 offline:u:0"; strings.Join(describe(evs), " ") != want {
		t.Errorf("events %v, want %s", describe(evs), want)
	}
}

// TestEventLogAcrossNodes: events appended on one node are read on
// another in each user's order, in pages; a cursor resumes exactly after
// what was read, on any node; a cursor whose next events were trimmed,
// or of a log Redis lost, is ErrCursorExpired.
func TestEventLogAcrossNodes(t *testing.T) { eachBackend(t, testEventLogAcrossNodes) }

func testEventLogAcrossNodes(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", nil)
	b := newNode(t, be.url, "b", nil)
	ctx := testCtx(t, 30*time.Second)
	head, err := b.EventsHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var batch []engine.Event
	for i := range 60 {
		batch = append(batch, engine.Event{Kind: engine.EventUndelivered, UserID: fmt.Sprintf("u%d", i%6),
			MessageID: fmt.Sprint(i), Stream: fmt.Sprintf("user:u%d", i%6), Offset: uint64(i + 1), Topic: "t",
			Why: engine.UndeliveredOffline, At: time.Now(), NodeID: "a"})
	}
	if err := a.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// Read a page of at most 25, then the rest from its cursor, on the
	// other node.
	first, err := b.ReadEvents(ctx, head, engine.Cursor{}, 25)
	if err != nil || len(first) == 0 || len(first) > 25 {
		t.Fatalf("first page: %d events, %v", len(first), err)
	}
	cur := head.Clone()
	for i := range first {
		cur.Advance(&first[i])
	}
	resumed, err := engine.ParseCursor(cur.String())
	if err != nil {
		t.Fatal(err)
	}
	rest, err := a.ReadEvents(ctx, resumed, engine.Cursor{}, 1000)
	if err != nil || len(first)+len(rest) != 60 {
		t.Fatalf("rest: %d events after %d, %v; want 60 in all", len(rest), len(first), err)
	}
	// Each user's events in order, none twice.
	last := map[string]int{}
	for _, ev := range append(first, rest...) {
		var i int
		fmt.Sscan(ev.MessageID, &i)
		if prev, ok := last[ev.UserID]; ok && i <= prev {
			t.Fatalf("user %s: message %d after %d", ev.UserID, i, prev)
		}
		last[ev.UserID] = i
		if ev.Why != engine.UndeliveredOffline || ev.Stream != "user:"+ev.UserID || ev.Offset != uint64(i+1) || ev.Topic != "t" {
			t.Fatalf("event %+v lost fields", ev)
		}
	}
	if len(last) != 6 {
		t.Fatalf("users %v", last)
	}

	// A cursor of another log (an engine on another prefix) is refused.
	other := newNode(t, be.url, "o", func(o *redis.Options) { o.KeyPrefix = "other:" })
	otherHead, err := other.EventsHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadEvents(ctx, otherHead, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("another log's cursor: %v, want ErrCursorExpired", err)
	}

	// Redis loses the log: the old cursor is refused, the new head reads.
	if err := flushAll(t, ctx, be); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadEvents(ctx, cur, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("a cursor of the lost log: %v, want ErrCursorExpired", err)
	}
	if _, err := a.EventsHead(ctx); err != nil {
		t.Errorf("head of the new log: %v", err)
	}
}

// flushAll empties every master of the backend, as a restart without
// persistence would.
func flushAll(t *testing.T, ctx context.Context, be backend) error {
	if be.cluster == nil {
		return rawClient(t, be.url).FlushAll(ctx).Err()
	}
	for _, m := range be.cluster.Masters {
		if err := rawClient(t, m.URL).FlushAll(ctx).Err(); err != nil {
			return err
		}
	}
	return nil
}

// TestEventLogTrimmed: a partition's log keeps about its share of the
// retention; a cursor before what it trimmed is ErrCursorExpired, the
// head reads on.
func TestEventLogTrimmed(t *testing.T) { eachBackend(t, testEventLogTrimmed) }

func testEventLogTrimmed(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", func(o *redis.Options) { o.EventRetention = 16 }) // one per partition, ~100 with ~
	ctx := testCtx(t, 30*time.Second)
	head, err := a.EventsHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		var batch []engine.Event
		for range 100 {
			batch = append(batch, engine.Event{Kind: engine.EventUndelivered, UserID: "u", At: time.Now()})
		}
		if err := a.AppendEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.ReadEvents(ctx, head, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("a cursor before 500 events with a retention of 16: %v, want ErrCursorExpired", err)
	}
	n, err := be.raw(t).XLen(ctx, redis.EventLogKeys("herald:", "user:u")[0]).Result()
	if err != nil || n > 200 {
		t.Errorf("the partition holds %d events (%v), want at most about 100", n, err)
	}
	now, err := a.EventsHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := a.ReadEvents(ctx, now, engine.Cursor{}, 10); err != nil || len(evs) != 0 {
		t.Errorf("after the head: %v %v", evs, err)
	}
}

// TestEventTailWakes: a tail started at the head wakes its owner when
// another node appends.
func TestEventTailWakes(t *testing.T) { eachBackend(t, testEventTailWakes) }

func testEventTailWakes(t *testing.T, be backend) {
	a := newNode(t, be.url, "a", nil)
	b := newNode(t, be.url, "b", nil)
	ctx := testCtx(t, 20*time.Second)
	head, err := a.EventsHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tail := a.TailEvents(head)
	defer tail.Close()
	for _, u := range []string{"x", "y"} {
		ch := tail.Changed()
		if err := b.AppendEvents(ctx, []engine.Event{{Kind: engine.EventOnline, UserID: u}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no wake after %s's event", u)
		}
	}
}
