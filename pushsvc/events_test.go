package pushsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// watch starts a watcher and closes it at the end of the test.
func watch(t *testing.T, svc *Service, r WatchRequest) *Watcher {
	t.Helper()
	w, err := svc.WatchEvents(ctx(t), r)
	if err != nil {
		t.Fatalf("WatchEvents: %v", err)
	}
	t.Cleanup(w.Close)
	return w
}

// nextN reads from w until it has n events.
func nextN(t *testing.T, w *Watcher, n int) []WatchedEvent {
	t.Helper()
	var out []WatchedEvent
	for len(out) < n {
		evs, err := w.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, evs...)
	}
	if len(out) > n {
		t.Fatalf("got %d events, want %d: %v", len(out), n, names(out))
	}
	return out
}

// quiet checks that w has nothing more for a while.
func quiet(t *testing.T, w *Watcher) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if evs, err := w.Next(c); err == nil {
		t.Fatalf("unexpected events %v", names(evs))
	}
}

var kindNames = map[engine.EventKind]string{engine.EventOnline: "online", engine.EventOffline: "offline",
	engine.EventConnected: "connected", engine.EventDisconnected: "disconnected", engine.EventUndelivered: "undelivered"}

// names writes events as "kind:user[:code]".
func names(evs []WatchedEvent) string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = kindNames[ev.Kind] + ":" + ev.UserID
		if ev.Kind == engine.EventDisconnected || ev.Kind == engine.EventOffline {
			out[i] += fmt.Sprintf(":%d", ev.Code)
		}
	}
	return strings.Join(out, " ")
}

// TestLocalPresenceEvents: with the in-memory engine the hub's changes
// are the events: Online with a user's first session, Offline with its
// last (its close code, how long the user was online), Connected and
// Disconnected for each.
func TestLocalPresenceEvents(t *testing.T) {
	svc := newTestService(t, Options{NodeID: "n1"})
	w := watch(t, svc, WatchRequest{})
	s1, _ := connect(t, svc, "alice")
	s2, _ := connect(t, svc, "alice")
	svc.Disconnected(s1)
	s2.Abort(DisconnectSlowConsumer)
	evs := nextN(t, w, 6)
	if got, want := names(evs), "online:alice connected:alice connected:alice disconnected:alice:1000 disconnected:alice:4003 offline:alice:4003"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	if evs[1].SessionID != s1.ID() || evs[2].SessionID != s2.ID() || evs[4].SessionID != s2.ID() || evs[1].NodeID != "n1" {
		t.Errorf("sessions %s %s %s, want %s %s %s", evs[1].SessionID, evs[2].SessionID, evs[4].SessionID, s1.ID(), s2.ID(), s2.ID())
	}
	quiet(t, w)
}

// TestWatcherFilters: kinds and users select events; cursors still
// resume after the last event delivered.
func TestWatcherFilters(t *testing.T) {
	svc := newTestService(t, Options{})
	onlyBob := watch(t, svc, WatchRequest{Users: []string{"bob"}})
	onlyOnline := watch(t, svc, WatchRequest{Kinds: []engine.EventKind{engine.EventOnline}})
	connect(t, svc, "alice")
	connect(t, svc, "bob")
	if got := names(nextN(t, onlyBob, 2)); got != "online:bob connected:bob" {
		t.Errorf("bob's events: %s", got)
	}
	if got := names(nextN(t, onlyOnline, 2)); got != "online:alice online:bob" {
		t.Errorf("online events: %s", got)
	}
	if _, err := svc.WatchEvents(ctx(t), WatchRequest{Kinds: []engine.EventKind{9}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown kind: %v, want ErrInvalidArgument", err)
	}
}

// TestWatcherResumes: a watcher that stops after some events and resumes
// with the last cursor it processed gets everything after it once, in
// order, also while events keep coming as it catches up.
func TestWatcherResumes(t *testing.T) {
	svc := newTestService(t, Options{})
	first := watch(t, svc, WatchRequest{Kinds: []engine.EventKind{engine.EventOnline}})
	_ = watch(t, svc, WatchRequest{}) // keeps the shared reader going in between
	for i := range 10 {
		connect(t, svc, fmt.Sprintf("u%02d", i))
	}
	got := nextN(t, first, 10)
	cursor := got[4].Cursor // processed u00..u04
	first.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 10; i < 40; i++ {
			connect(t, svc, fmt.Sprintf("u%02d", i))
		}
	}()
	again := watch(t, svc, WatchRequest{Kinds: []engine.EventKind{engine.EventOnline}, Cursor: cursor})
	evs := nextN(t, again, 35)
	<-done
	for i, ev := range evs {
		if want := fmt.Sprintf("u%02d", i+5); ev.UserID != want {
			t.Fatalf("event %d is %s's, want %s's: %s", i, ev.UserID, want, names(evs))
		}
	}
	quiet(t, again)
}

// TestWatcherCursorExpired: a cursor whose next events left the log, or
// one from another node's log, gets ErrCursorExpired; garbage is
// ErrInvalidArgument.
func TestWatcherCursorExpired(t *testing.T) {
	svc := newTestService(t, Options{EventRetention: 5})
	w := watch(t, svc, WatchRequest{})
	connect(t, svc, "a")
	old := nextN(t, w, 2)[0].Cursor
	for i := range 5 {
		connect(t, svc, fmt.Sprint(i))
	}
	late := watch(t, svc, WatchRequest{Cursor: old})
	if _, err := late.Next(ctx(t)); !errors.Is(err, ErrCursorExpired) {
		t.Errorf("a cursor past retention: %v, want ErrCursorExpired", err)
	}
	other := newTestService(t, Options{})
	foreign := watch(t, other, WatchRequest{Cursor: old})
	if _, err := foreign.Next(ctx(t)); !errors.Is(err, ErrCursorExpired) {
		t.Errorf("another node's cursor: %v, want ErrCursorExpired", err)
	}
	if _, err := svc.WatchEvents(ctx(t), WatchRequest{Cursor: "nope"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a garbled cursor: %v, want ErrInvalidArgument", err)
	}
}

// TestSlowWatcherIsCut: a watcher that does not take its events is cut
// once its buffer overflows; pushes and the other watchers go on.
func TestSlowWatcherIsCut(t *testing.T) {
	svc := newTestService(t, Options{WatcherBuffer: 16})
	slow := watch(t, svc, WatchRequest{})
	fast := watch(t, svc, WatchRequest{})
	for i := range 40 {
		// A push to an offline user: one event each.
		if _, err := svc.PushToUsers(ctx(t), []string{"nobody"}, Message{Topic: "t"}); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		nextN(t, fast, 1)
	}
	var err error
	for err == nil {
		_, err = slow.Next(ctx(t))
	}
	if !errors.Is(err, ErrWatcherTooSlow) {
		t.Errorf("slow watcher: %v, want ErrWatcherTooSlow", err)
	}
}

// TestUndeliveredOffline: a push to a user with no session makes one
// Undelivered event per user; one that reached a session makes none.
func TestUndeliveredOffline(t *testing.T) {
	svc := newTestService(t, Options{NodeID: "n1"})
	connect(t, svc, "online")
	w := watch(t, svc, WatchRequest{Kinds: []engine.EventKind{engine.EventUndelivered}})
	res, err := svc.PushToUsers(ctx(t), []string{"online", "gone", "gone"}, Message{Topic: "news", ID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	evs := nextN(t, w, 1)
	ev := evs[0]
	if ev.UserID != "gone" || ev.Why != engine.UndeliveredOffline || ev.MessageID != res.MessageID || ev.Stream != "user:gone" ||
		ev.Offset != 1 || ev.Topic != "news" || ev.SessionID != "" || ev.NodeID != "n1" {
		t.Errorf("event %+v", ev.Event)
	}
	quiet(t, w)
	// A group or broadcast push nobody got makes none.
	if _, err := svc.PushToGroups(ctx(t), []string{"empty"}, nil, Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	quiet(t, w)
}

// TestUndeliveredSlowConsumer: a session cut with 4003 makes one event
// per push of its user's stream left in its queue, at most
// maxSlowCutEvents; its group pushes make none.
func TestUndeliveredSlowConsumer(t *testing.T) {
	svc := newTestService(t, Options{SendQueueLen: 200})
	sess, _ := connect(t, svc, "alice", "room") // never flushed: the queue fills
	w := watch(t, svc, WatchRequest{Kinds: []engine.EventKind{engine.EventUndelivered}})
	for range 50 {
		if _, err := svc.PushToGroups(ctx(t), []string{"room"}, nil, Message{Topic: "g"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		res, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "u"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Delivered == 0 {
			break // cut: this one was refused
		}
	}
	evs := nextN(t, w, maxSlowCutEvents+1) // the cut's, and the refused push's (offline)
	slow := 0
	for _, ev := range evs {
		if ev.Why == engine.UndeliveredSlowConsumer {
			slow++
			if ev.SessionID != sess.ID() || ev.Stream != "user:alice" || ev.Offset != uint64(slow) {
				t.Fatalf("slow-consumer event %d: %+v", slow, ev.Event)
			}
		}
	}
	if slow != maxSlowCutEvents {
		t.Errorf("%d slow-consumer events, want %d (149 user pushes were queued)", slow, maxSlowCutEvents)
	}
}

// TestUndeliveredDropOldest: with drop-oldest, each push of the user's
// stream dropped makes one event.
func TestUndeliveredDropOldest(t *testing.T) {
	svc := newTestService(t, Options{SendQueueLen: 4, SlowPolicy: SlowDropOldest})
	connect(t, svc, "alice")
	w := watch(t, svc, WatchRequest{Kinds: []engine.EventKind{engine.EventUndelivered}})
	for range 10 {
		if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	// The Welcome and pushes 1..3 fill the queue; pushes 4..10 each drop
	// the oldest push (never the Welcome): pushes 1 to 7.
	evs := nextN(t, w, 7)
	for i, ev := range evs {
		if ev.Why != engine.UndeliveredSlowConsumer || ev.Offset != uint64(i+1) {
			t.Fatalf("event %d: %+v", i, ev.Event)
		}
	}
	quiet(t, w)
}

// TestUndeliveredAckTimeout: a session that does not acknowledge a push
// with an ack timeout makes one event; one that acknowledges, none.
func TestUndeliveredAckTimeout(t *testing.T) {
	svc := newTestService(t, Options{})
	acker, aft := connect(t, svc, "alice")
	silent, _ := connect(t, svc, "alice")
	w := watch(t, svc, WatchRequest{Kinds: []engine.EventKind{engine.EventUndelivered}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", AckTimeout: 200 * time.Millisecond}); err != nil {
			t.Error(err)
		}
	}()
	ackFirstPush(t, acker, aft)
	<-done
	evs := nextN(t, w, 1)
	if ev := evs[0]; ev.Why != engine.UndeliveredAckTimeout || ev.SessionID != silent.ID() || ev.Stream != "user:alice" || ev.Offset != 1 {
		t.Errorf("event %+v", ev.Event)
	}
	quiet(t, w)
}

// TestServiceCloseCutsWatchers: Close of the service cuts its watchers
// with ErrClosed, and refuses new ones.
func TestServiceCloseCutsWatchers(t *testing.T) {
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.WatchEvents(ctx(t), WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := svc.WatchEvents(ctx(t), WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	_ = svc.Close()
	if _, err := a.Next(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
	if _, err := svc.WatchEvents(ctx(t), WatchRequest{}); !errors.Is(err, ErrClosed) {
		t.Errorf("a watcher after Close: %v, want ErrClosed", err)
	}
}

// TestWatcherSkipsWhatItSaw: a watcher hands out only events after its
// position, which is how a cursor from another node's watcher, ahead of
// this node's shared reader, gets no event twice when the reader's
// batches catch up with it.
func TestWatcherSkipsWhatItSaw(t *testing.T) {
	svc := newTestService(t, Options{})
	head, err := svc.events.log.EventsHead(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		connect(t, svc, fmt.Sprint(i)) // online and connected: 10 events
	}
	evs, err := svc.events.log.ReadEvents(ctx(t), head, engine.Cursor{}, 100)
	if err != nil || len(evs) != 10 {
		t.Fatalf("read %d events: %v", len(evs), err)
	}
	w := &Watcher{pos: head.Clone()}
	for i := range evs[:6] {
		w.pos.Advance(&evs[i]) // the caller has seen users 0, 1 and 2
	}
	got := w.take(nil, evs)
	if len(got) != 4 || got[0].UserID != "3" || got[3].UserID != "4" {
		t.Fatalf("took %s, want users 3 and 4's events only", names(got))
	}
	if again := w.take(nil, evs); len(again) != 0 {
		t.Fatalf("the same batch again gave %s", names(again))
	}
}
