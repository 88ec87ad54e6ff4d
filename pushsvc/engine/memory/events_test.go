package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

func newEventEngine(t *testing.T, retention int, maxAge time.Duration, clock *enginetest.Clock) *Engine {
	t.Helper()
	opts := Options{HistoryTTL: time.Hour, Handler: enginetest.Handler{}, EventRetention: retention, EventMaxAge: maxAge}
	if clock != nil {
		opts.Now = clock.Now
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func appendUsers(t *testing.T, e *Engine, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := e.AppendEvents(context.Background(), []engine.Event{{Kind: engine.EventOnline, UserID: u}}); err != nil {
			t.Fatal(err)
		}
	}
}

func usersOf(evs []engine.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.UserID
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A reader that starts at the head and advances its cursor past what it
// read gets every event once, in order, in pages of its limit, and none
// past upTo.
func TestEventLogReadsInOrder(t *testing.T) {
	ctx := context.Background()
	e := newEventEngine(t, 0, 0, nil)
	head, err := e.EventsHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appendUsers(t, e, "a", "b", "c", "d", "e")
	cur := head.Clone()
	var got []string
	for {
		evs, err := e.ReadEvents(ctx, cur, engine.Cursor{}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		if len(evs) > 2 {
			t.Fatalf("read %d events with limit 2", len(evs))
		}
		for i := range evs {
			cur.Advance(&evs[i])
		}
		got = append(got, usersOf(evs)...)
	}
	if want := []string{"a", "b", "c", "d", "e"}; !equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	// upTo: the third event's position.
	third, _ := e.ReadEvents(ctx, head, engine.Cursor{}, 3)
	upTo := head.Clone()
	for i := range third {
		upTo.Advance(&third[i])
	}
	evs, err := e.ReadEvents(ctx, head, upTo, 100)
	if err != nil || !equal(usersOf(evs), []string{"a", "b", "c"}) {
		t.Fatalf("read up to the third: %v %v", usersOf(evs), err)
	}
	// A cursor survives its encoding.
	parsed, err := engine.ParseCursor(cur.String())
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := e.ReadEvents(ctx, parsed, engine.Cursor{}, 10); err != nil || len(evs) != 0 {
		t.Fatalf("read after the parsed end: %v %v", evs, err)
	}
}

// A cursor whose next event the count bound dropped, one from another
// engine (a previous process), and one ahead of the log are all
// ErrCursorExpired; the oldest cursor still covered reads on.
func TestEventLogCursorPastRetention(t *testing.T) {
	ctx := context.Background()
	e := newEventEngine(t, 3, 0, nil)
	head, _ := e.EventsHead(ctx)
	appendUsers(t, e, "a", "b", "c", "d", "e") // keeps c, d, e
	afterA := head.Clone()
	afterA.Parts[0].Seq = 1
	afterB := head.Clone()
	afterB.Parts[0].Seq = 2
	if _, err := e.ReadEvents(ctx, head, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("head before the trim: %v, want ErrCursorExpired", err)
	}
	if _, err := e.ReadEvents(ctx, afterA, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("after a (b dropped): %v, want ErrCursorExpired", err)
	}
	if evs, err := e.ReadEvents(ctx, afterB, engine.Cursor{}, 10); err != nil || !equal(usersOf(evs), []string{"c", "d", "e"}) {
		t.Errorf("after b: %v %v, want c d e", usersOf(evs), err)
	}
	other := newEventEngine(t, 0, 0, nil)
	otherHead, _ := other.EventsHead(ctx)
	if _, err := e.ReadEvents(ctx, otherHead, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("another log's cursor: %v, want ErrCursorExpired", err)
	}
	ahead := head.Clone()
	ahead.Parts[0].Seq = 99
	if _, err := e.ReadEvents(ctx, ahead, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("a cursor ahead of the log: %v, want ErrCursorExpired", err)
	}
}

// Events older than the age bound leave the log; a cursor before them
// expires, one after them does not.
func TestEventLogMaxAge(t *testing.T) {
	ctx := context.Background()
	clock := enginetest.NewClock()
	e := newEventEngine(t, 0, time.Minute, clock)
	head, _ := e.EventsHead(ctx)
	appendUsers(t, e, "old")
	afterOld, _ := e.EventsHead(ctx)
	clock.Advance(30 * time.Second)
	appendUsers(t, e, "young")
	clock.Advance(40 * time.Second) // old is 70s old, young 40s
	if _, err := e.ReadEvents(ctx, head, engine.Cursor{}, 10); !errors.Is(err, engine.ErrCursorExpired) {
		t.Errorf("before the expired event: %v, want ErrCursorExpired", err)
	}
	if evs, err := e.ReadEvents(ctx, afterOld, engine.Cursor{}, 10); err != nil || !equal(usersOf(evs), []string{"young"}) {
		t.Errorf("after the expired event: %v %v", usersOf(evs), err)
	}
}

// The tail's channel closes on the next append, not before.
func TestEventLogTail(t *testing.T) {
	e := newEventEngine(t, 0, 0, nil)
	head, _ := e.EventsHead(context.Background())
	tail := e.TailEvents(head)
	defer tail.Close()
	ch := tail.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any append")
	default:
	}
	appendUsers(t, e, "a")
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not changed after an append")
	}
}
