package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server"
)

// eventWatch is a WatchEvents stream read by a goroutine of its own into
// a channel, until the stream ends or the test does.
type eventWatch struct {
	cancel context.CancelFunc
	events chan *pushv1.Event
	done   chan struct{} // closed when the stream ended; err is set
	err    error
	seen   []*pushv1.Event // what until has read; owned by the test
}

// watchOn opens a WatchEvents stream with api and waits until it
// watches.
func watchOn(t *testing.T, api pushv1.PushServiceClient, r *pushv1.WatchEventsRequest) *eventWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	st, err := api.WatchEvents(ctx, r)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &eventWatch{cancel: cancel, events: make(chan *pushv1.Event, 100_000), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			res, err := st.Recv()
			if err != nil {
				w.err = err
				return
			}
			for _, ev := range res.GetEvents() {
				w.events <- ev
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	// The server sends the headers once it watches.
	if _, err := st.Header(); err != nil {
		t.Fatalf("WatchEvents: %v", err)
	}
	return w
}

// until reads events until cond holds for all read so far, and returns
// them.
func (w *eventWatch) until(t *testing.T, within time.Duration, what string, cond func([]*pushv1.Event) bool) []*pushv1.Event {
	t.Helper()
	deadline := time.After(within)
	for !cond(w.seen) {
		select {
		case ev := <-w.events:
			w.seen = append(w.seen, ev)
		case <-w.done:
			// Take what was received before the end.
			for len(w.events) > 0 {
				w.seen = append(w.seen, <-w.events)
			}
			if cond(w.seen) {
				return w.seen
			}
			t.Fatalf("%s: the stream ended: %v; events: %s", what, w.err, describeEvents(w.seen))
		case <-deadline:
			t.Fatalf("%s: not within %v; events: %s", what, within, describeEvents(w.seen))
		}
	}
	return w.seen
}

// stop ends the stream, as a caller going away does.
func (w *eventWatch) stop() {
	w.cancel()
	<-w.done
}

// ended waits for the stream to end and returns its error.
func (w *eventWatch) ended(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-w.done:
		return w.err
	case <-time.After(within):
		t.Fatalf("the stream did not end within %v", within)
		return nil
	}
}

func kindOf(ev *pushv1.Event) string {
	switch {
	case ev.GetOnline() != nil:
		return "online"
	case ev.GetOffline() != nil:
		return "offline"
	case ev.GetConnected() != nil:
		return "connected"
	case ev.GetDisconnected() != nil:
		return "disconnected"
	case ev.GetUndelivered() != nil:
		return "undelivered"
	}
	return "?"
}

func userOf(ev *pushv1.Event) string {
	for _, u := range []string{ev.GetOnline().GetUserId(), ev.GetOffline().GetUserId(), ev.GetConnected().GetUserId(),
		ev.GetDisconnected().GetUserId(), ev.GetUndelivered().GetUserId()} {
		if u != "" {
			return u
		}
	}
	return ""
}

func describeEvents(evs []*pushv1.Event) string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = kindOf(ev) + ":" + userOf(ev)
		if s := ev.GetConnected().GetSessionId() + ev.GetDisconnected().GetSessionId(); s != "" {
			out[i] += ":" + s[:min(6, len(s))]
		}
		if ev.GetUndelivered() != nil {
			out[i] += ":" + ev.GetUndelivered().GetMessageId()
		}
	}
	return strings.Join(out, " ")
}

// presenceState follows each user's events and checks they make sense:
// Online and Offline alternate from Online, Online only with no session
// open, Offline only with none left, each session connected once before
// it disconnects once.
type presenceState struct {
	applied int // events applied
	online  map[string]bool
	open    map[string]map[string]bool // user -> open sessions
	seen    map[string]bool            // sessions ever connected
	closed  map[string]int             // sessions disconnected, by user
}

func newPresenceState() *presenceState {
	return &presenceState{online: map[string]bool{}, open: map[string]map[string]bool{}, seen: map[string]bool{}, closed: map[string]int{}}
}

func (p *presenceState) apply(ev *pushv1.Event) error {
	p.applied++
	u := userOf(ev)
	if p.open[u] == nil {
		p.open[u] = map[string]bool{}
	}
	switch kindOf(ev) {
	case "online":
		if p.online[u] || len(p.open[u]) > 0 {
			return fmt.Errorf("%s online while online", u)
		}
		p.online[u] = true
	case "offline":
		if !p.online[u] || len(p.open[u]) > 0 {
			return fmt.Errorf("%s offline while offline or with %d sessions open", u, len(p.open[u]))
		}
		p.online[u] = false
	case "connected":
		s := ev.GetConnected().GetSessionId()
		if !p.online[u] || p.seen[s] {
			return fmt.Errorf("%s: session %s connected out of turn", u, s)
		}
		p.seen[s], p.open[u][s] = true, true
	case "disconnected":
		s := ev.GetDisconnected().GetSessionId()
		if !p.open[u][s] {
			return fmt.Errorf("%s: session %s disconnected while not open", u, s)
		}
		delete(p.open[u], s)
		p.closed[u]++
	}
	return nil
}

// TestEventsOnlineOfflineAcrossNodes, on a standalone Redis and on a
// Redis Cluster: the same users connect and disconnect on two nodes, in
// turns and all at once. A watcher on a third node sees, per user,
// Online and Offline alternate, each session connect then disconnect,
// and every user end offline.
func TestEventsOnlineOfflineAcrossNodes(t *testing.T) {
	redistest.EachBackend(t, testEventsOnlineOfflineAcrossNodes)
}

func testEventsOnlineOfflineAcrossNodes(t *testing.T, redisURL string) {
	nodes := nodetest.StartCluster(t, redisURL, 3, nodetest.Options{})
	a, b, w := nodes[0], nodes[1], nodes[2]
	watch := watchOn(t, w.API, &pushv1.WatchEventsRequest{})
	st := newPresenceState()
	check := func(what string, cond func() bool) {
		t.Helper()
		watch.until(t, 30*time.Second, what, func(evs []*pushv1.Event) bool {
			for _, ev := range evs[st.applied:] {
				if err := st.apply(ev); err != nil {
					t.Fatalf("%v: %s", err, describeEvents(evs))
				}
			}
			return cond()
		})
	}
	// In turns: alice on A, then B; A leaves; again on A; B leaves; A leaves.
	c1 := a.Connect(t, "alice")
	check("alice online", func() bool { return st.online["alice"] && len(st.open["alice"]) == 1 })
	c2 := b.Connect(t, "alice")
	check("alice's second session", func() bool { return len(st.open["alice"]) == 2 })
	c1.Close()
	check("alice's first session gone", func() bool { return st.closed["alice"] == 1 })
	if !st.online["alice"] {
		t.Fatal("alice offline with a session left on B")
	}
	c3 := a.Connect(t, "alice")
	check("alice back on A", func() bool { return len(st.open["alice"]) == 2 })
	c2.Close()
	c3.Close()
	check("alice offline", func() bool { return !st.online["alice"] && st.closed["alice"] == 3 })

	// All at once: three users, each connecting and leaving on both nodes
	// from goroutines of their own.
	var wg sync.WaitGroup
	users := []string{"u1", "u2", "u3"}
	for _, u := range users {
		for _, n := range []*nodetest.Node{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					c, _, err := dialWS(t, n.WSURL, n.Token(t, u), dialOpts{})
					if err != nil {
						t.Error(err)
						return
					}
					c.Next(t) // the Welcome
					c.Close()
				}
			}()
		}
	}
	wg.Wait()
	// A session that closed before its presence record was written makes
	// no event; every one that connected must disconnect.
	check("every user offline, every session closed", func() bool {
		for _, u := range users {
			if st.online[u] || len(st.open[u]) > 0 || st.closed[u] == 0 {
				return false
			}
		}
		return true
	})
}

// eachEngine runs f on the in-memory engine (one node) and on two nodes
// sharing a standalone Redis, then a Redis Cluster. f pushes through the
// first node and watches on the last.
func eachEngine(t *testing.T, mutate func(*server.Config), f func(t *testing.T, nodes []*nodetest.Node)) {
	t.Run("memory", func(t *testing.T) { f(t, []*nodetest.Node{nodetest.Start(t, nodetest.Options{Config: mutate})}) })
	for _, be := range redistest.Backends {
		t.Run(be.Name, func(t *testing.T) { f(t, nodetest.StartCluster(t, be.Start(t), 2, nodetest.Options{Config: mutate})) })
	}
}

// undeliveredIDs lists the message ids of the Undelivered events of evs.
func undeliveredIDs(evs []*pushv1.Event) []string {
	var out []string
	for _, ev := range evs {
		if u := ev.GetUndelivered(); u != nil {
			out = append(out, u.GetMessageId())
		}
	}
	return out
}

// TestEventsUndeliveredOffline: a push to a user with no connection
// anywhere makes exactly one Undelivered event, whichever node watches;
// a push that reached a connection, on another node, makes none.
func TestEventsUndeliveredOffline(t *testing.T) {
	eachEngine(t, nil, func(t *testing.T, nodes []*nodetest.Node) {
		pusher, watcher := nodes[0], nodes[len(nodes)-1]
		watcher.Connect(t, "here")
		w := watchOn(t, watcher.API, &pushv1.WatchEventsRequest{Kinds: []pushv1.EventKind{pushv1.EventKind_EVENT_KIND_UNDELIVERED}})
		push := func(user, id string) {
			t.Helper()
			if _, err := pusher.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{user}, Message: &pushv1.Message{Topic: "t", Id: id}}); err != nil {
				t.Fatal(err)
			}
		}
		push("gone", "m1")
		push("here", "m2")
		push("gone", "m3") // the marker: once it is in, m1's events are all in
		evs := w.until(t, 20*time.Second, "the marker", func(evs []*pushv1.Event) bool {
			ids := undeliveredIDs(evs)
			return len(ids) > 0 && ids[len(ids)-1] == "m3"
		})
		if got := strings.Join(undeliveredIDs(evs), " "); got != "m1 m3" {
			t.Fatalf("undelivered %s, want m1 m3", got)
		}
		u := evs[0].GetUndelivered()
		if u.GetUserId() != "gone" || u.GetStream() != "user:gone" || u.GetOffset() != 1 ||
			u.GetReason() != pushv1.UndeliveredReason_UNDELIVERED_REASON_OFFLINE || evs[0].GetNodeId() != nodeID(t, pusher) {
			t.Errorf("event %v", evs[0])
		}
	})
}

// nodeID asks the node its id: GetStats lists it first.
func nodeID(t *testing.T, e *nodetest.Node) string {
	t.Helper()
	st, err := e.API.GetStats(testCtx(t), &pushv1.GetStatsRequest{})
	if err != nil || len(st.GetNodes()) == 0 {
		t.Fatalf("GetStats: %v %v", st, err)
	}
	return st.GetNodes()[0].GetNodeId()
}

// pushTo pushes one message with id to each of users through e.
func pushTo(t *testing.T, e *nodetest.Node, id string, users ...string) {
	t.Helper()
	if _, err := e.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: users, Message: &pushv1.Message{Topic: "t", Id: id}}); err != nil {
		t.Fatalf("push %s: %v", id, err)
	}
}

// TestEventsResumeMissesNothing: a watcher that goes away mid-stream and
// comes back, on another node, with the cursor of the last event it
// processed gets every event after it, none twice, while pushes to
// offline users keep making events.
func TestEventsResumeMissesNothing(t *testing.T) {
	eachEngine(t, nil, func(t *testing.T, nodes []*nodetest.Node) {
		const total = 300
		first, second := nodes[len(nodes)-1], nodes[0]
		kinds := []pushv1.EventKind{pushv1.EventKind_EVENT_KIND_UNDELIVERED}
		w1 := watchOn(t, first.API, &pushv1.WatchEventsRequest{Kinds: kinds})
		pushed := make(chan struct{})
		go func() {
			defer close(pushed)
			for i := range total {
				if _, err := nodes[0].API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{
					UserIds: []string{fmt.Sprintf("r%d", i%5)}, Message: &pushv1.Message{Topic: "t", Id: fmt.Sprintf("e%03d", i)}}); err != nil {
					t.Errorf("push %d: %v", i, err)
					return
				}
			}
		}()
		got := w1.until(t, 30*time.Second, "the first 50 events", func(evs []*pushv1.Event) bool { return len(evs) >= 50 })
		processed := got[:50]
		w1.stop()
		w2 := watchOn(t, second.API, &pushv1.WatchEventsRequest{Kinds: kinds, Cursor: processed[len(processed)-1].GetCursor()})
		<-pushed
		rest := w2.until(t, 30*time.Second, "the rest", func(evs []*pushv1.Event) bool { return len(evs) >= total-50 })
		seen := map[string]int{}
		last := map[string]string{}
		for _, ev := range append(append([]*pushv1.Event(nil), processed...), rest...) {
			u := ev.GetUndelivered()
			seen[u.GetMessageId()]++
			if prev := last[u.GetUserId()]; prev >= u.GetMessageId() {
				t.Fatalf("user %s: %s after %s", u.GetUserId(), u.GetMessageId(), prev)
			}
			last[u.GetUserId()] = u.GetMessageId()
		}
		for i := range total {
			if id := fmt.Sprintf("e%03d", i); seen[id] != 1 {
				t.Fatalf("%s seen %d times, want once", id, seen[id])
			}
		}
		if len(rest) != total-50 {
			t.Fatalf("%d events after the cursor, want %d", len(rest), total-50)
		}
	})
}

// TestEventsCursorPastRetention: with a small retention, a cursor whose
// next events the log dropped gets FailedPrecondition saying to resync;
// watching from now on works.
func TestEventsCursorPastRetention(t *testing.T) {
	eachEngine(t, func(c *server.Config) { c.EventsRetention = 16 }, func(t *testing.T, nodes []*nodetest.Node) {
		pusher, watcher := nodes[0], nodes[len(nodes)-1]
		w := watchOn(t, watcher.API, &pushv1.WatchEventsRequest{})
		pushTo(t, pusher, "m0", "x")
		old := w.until(t, 20*time.Second, "m0's event", func(evs []*pushv1.Event) bool { return len(evs) == 1 })[0].GetCursor()
		w.stop()
		for i := range 300 {
			pushTo(t, pusher, fmt.Sprintf("m%d", i+1), "x")
		}
		// The events are appended in the background: the cursor expires
		// once they are in.
		var err error
		eventually(t, "the old cursor to be refused", func() bool {
			w := watchOn(t, watcher.API, &pushv1.WatchEventsRequest{Cursor: old})
			select {
			case <-w.done:
				err = w.err
				return true
			case <-w.events:
				w.stop() // not trimmed yet
				return false
			case <-time.After(time.Second):
				w.stop()
				return false
			}
		})
		if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "GetPresence") {
			t.Fatalf("old cursor: %v, want FailedPrecondition saying to resync with GetPresence", err)
		}
		now := watchOn(t, watcher.API, &pushv1.WatchEventsRequest{})
		pushTo(t, pusher, "after", "x")
		now.until(t, 20*time.Second, "an event from now on", func(evs []*pushv1.Event) bool {
			ids := undeliveredIDs(evs)
			return len(ids) > 0 && ids[len(ids)-1] == "after"
		})
	})
}

// TestEventsSlowWatcherCut: a watcher that stops reading is cut with
// ResourceExhausted once its buffer fills; pushes meanwhile all succeed
// and reach their connection, and other watchers keep being served.
func TestEventsSlowWatcherCut(t *testing.T) {
	eachEngine(t, func(c *server.Config) { c.EventsBuffer = 256 }, func(t *testing.T, nodes []*nodetest.Node) {
		pusher, watcher := nodes[0], nodes[len(nodes)-1]
		// Small HTTP/2 windows: the server's sends block soon.
		conn := watcher.Creds.Dial(t, watcher.GRPCAddr, grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		slow, err := pushv1.NewPushServiceClient(conn).WatchEvents(ctx, &pushv1.WatchEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := slow.Header(); err != nil {
			t.Fatal(err)
		}
		here := pusher.Connect(t, "here")
		offline := make([]string, 1000)
		for i := range offline {
			offline[i] = fmt.Sprintf("off%d", i)
		}
		for i := range 5 {
			pushTo(t, pusher, fmt.Sprintf("burst%d", i), offline...)
			pushTo(t, pusher, fmt.Sprintf("live%d", i), "here")
			if p := here.NextPush(t); p.GetId() != fmt.Sprintf("live%d", i) {
				t.Fatalf("push %d to a live connection: %v", i, p)
			}
		}
		for {
			_, err := slow.Recv()
			if err == nil {
				continue
			}
			if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "too slow") {
				t.Fatalf("slow watcher: %v, want ResourceExhausted, too slow", err)
			}
			break
		}
		// A new watcher gets what follows. The bursts' events may still be
		// on their way to the log (a background writer appends them), and a
		// watcher that starts among them, with its 256-event buffer, may be
		// cut too on a loaded machine: then it tries again, as a caller
		// would, until the log has settled.
		deadline := time.Now().Add(30 * time.Second)
		for attempt := 1; ; attempt++ {
			w := watchOn(t, watcher.API, &pushv1.WatchEventsRequest{Kinds: []pushv1.EventKind{pushv1.EventKind_EVENT_KIND_UNDELIVERED}})
			later := fmt.Sprintf("later%d", attempt)
			pushTo(t, pusher, later, "gone")
			if waitUndelivered(t, w, later, deadline) {
				return
			}
			w.stop()
		}
	})
}

// waitUndelivered waits for an undelivered event of message id on w. It
// reports false when w was cut as too slow, and fails the test on any
// other end or past deadline.
func waitUndelivered(t *testing.T, w *eventWatch, id string, deadline time.Time) bool {
	t.Helper()
	timeout := time.After(time.Until(deadline))
	for {
		select {
		case ev := <-w.events:
			if ev.GetUndelivered().GetMessageId() == id {
				return true
			}
		case <-w.done:
			for len(w.events) > 0 {
				if (<-w.events).GetUndelivered().GetMessageId() == id {
					return true
				}
			}
			if st := status.Convert(w.err); st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "too slow") {
				return false
			}
			t.Fatalf("a new watcher: the stream ended: %v", w.err)
		case <-timeout:
			t.Fatalf("a new watcher: no undelivered event of %s in time", id)
		}
	}
}

// TestEventsCloseCodes: Disconnected and Offline carry the close code of
// the connection: the client's close frame's, 1006 for a connection that
// dropped without one, the server's own (4002 for DisconnectUser).
func TestEventsCloseCodes(t *testing.T) {
	eachEngine(t, nil, func(t *testing.T, nodes []*nodetest.Node) {
		n := nodes[0]
		w := watchOn(t, nodes[len(nodes)-1].API, &pushv1.WatchEventsRequest{Kinds: []pushv1.EventKind{
			pushv1.EventKind_EVENT_KIND_DISCONNECTED, pushv1.EventKind_EVENT_KIND_OFFLINE}})
		bye := n.Connect(t, "bye")
		if err := bye.Conn.WriteClose(4000, []byte("see you")); err != nil {
			t.Fatal(err)
		}
		n.Connect(t, "dropped").Close()
		kicked := n.Connect(t, "kicked")
		if _, err := n.API.DisconnectUser(testCtx(t), &pushv1.DisconnectUserRequest{UserId: "kicked", Reason: "go"}); err != nil {
			t.Fatal(err)
		}
		kicked.WaitClose(t)
		// A close gws makes on its own says its own code: a fragmented
		// ping (FIN clear, masked, empty) is a protocol error, 1002.
		broken := n.Connect(t, "broken")
		if _, err := broken.Conn.NetConn().Write([]byte{0x09, 0x80, 1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		broken.WaitClose(t)
		evs := w.until(t, 20*time.Second, "four users offline", func(evs []*pushv1.Event) bool {
			n := 0
			for _, ev := range evs {
				if ev.GetOffline() != nil {
					n++
				}
			}
			return n == 4
		})
		want := map[string]struct {
			code   uint32
			reason string
		}{"bye": {4000, "see you"}, "dropped": {1006, "connection lost"}, "kicked": {4002, "go"},
			"broken": {pushsvc.CodeProtocolError, pushsvc.DisconnectProtocolError.Reason}}
		for _, ev := range evs {
			w := want[userOf(ev)]
			if d := ev.GetDisconnected(); d != nil && (d.GetCode() != w.code || d.GetReason() != w.reason) {
				t.Errorf("%s disconnected with %d %q, want %d %q", d.GetUserId(), d.GetCode(), d.GetReason(), w.code, w.reason)
			}
			if o := ev.GetOffline(); o != nil && o.GetCode() != w.code {
				t.Errorf("%s offline with %d, want %d", o.GetUserId(), o.GetCode(), w.code)
			}
		}
	})
}

// TestEventsRedisRestart: Redis restarts empty. A watcher of the old log
// is cut with FailedPrecondition, and so is a resume from its cursor; the
// nodes write their presence again, which starts the new log with the
// Online of those still connected, so that when alice leaves, her Offline
// is in it.
func TestEventsRedisRestart(t *testing.T) {
	rs := redistest.Start(t)
	nodes := nodetest.StartCluster(t, rs.URL, 2, nodetest.Options{})
	a, b := nodes[0], nodes[1]
	old := watchOn(t, b.API, &pushv1.WatchEventsRequest{})
	alice := a.Connect(t, "alice")
	cursor := old.until(t, 20*time.Second, "alice online", func(evs []*pushv1.Event) bool { return len(evs) == 2 })[1].GetCursor()

	rs.Stop()
	rs.Restart()
	wantExpired := func(what string, err error) {
		t.Helper()
		if st := status.Convert(err); st.Code() != codes.FailedPrecondition {
			t.Fatalf("%s: %v, want FailedPrecondition", what, err)
		}
	}
	wantExpired("the old log's watcher", old.ended(t, 30*time.Second))
	resumed := watchOn(t, b.API, &pushv1.WatchEventsRequest{Cursor: cursor})
	wantExpired("a resume from the old log", resumed.ended(t, 30*time.Second))

	eventually(t, "alice back in presence", func() bool {
		p, err := b.API.GetPresence(testCtx(t), &pushv1.GetPresenceRequest{UserIds: []string{"alice"}})
		return err == nil && p.GetUsers()[0].GetOnline()
	})
	w := watchOn(t, b.API, &pushv1.WatchEventsRequest{Kinds: []pushv1.EventKind{pushv1.EventKind_EVENT_KIND_OFFLINE}})
	alice.Close()
	w.until(t, 20*time.Second, "alice offline in the new log", func(evs []*pushv1.Event) bool { return len(evs) == 1 })
}
