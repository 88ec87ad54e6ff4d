package memory

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

// A retention that is not a multiple of a chunk, over many chunks: the
// log keeps exactly the last events, in order, whatever chunk they sit in.
func TestEventLogKeepsTheLastAcrossChunks(t *testing.T) {
	ctx := context.Background()
	const keep, total = 3*eventChunk + 7, 10*eventChunk + 3
	e := newEventEngine(t, keep, 0, nil)
	head, _ := e.EventsHead(ctx)
	for i := range total {
		appendUsers(t, e, fmt.Sprint("u", i))
	}
	after := head.Clone()
	after.Parts[0].Seq = total - keep
	evs, err := e.ReadEvents(ctx, after, engine.Cursor{}, total)
	if err != nil || len(evs) != keep {
		t.Fatalf("read %d events, %v; want the last %d", len(evs), err, keep)
	}
	for i, ev := range evs {
		if want := fmt.Sprint("u", total-keep+i); ev.UserID != want {
			t.Fatalf("event %d is %s, want %s", i, ev.UserID, want)
		}
	}
	if n := len(e.events.chunks); n > keep/eventChunk+2 {
		t.Errorf("%d chunks held for %d events", n, keep)
	}
}

// The log holds about what it keeps: 20,000 events (the connect events of
// 10,000 clients) take at most a quarter more than 20,000 engine.Events
// once the collector has run. The ring it replaced, grown by doubling,
// held 32,768.
func TestEventLogHoldsWhatItKeeps(t *testing.T) {
	const events = 20_000
	e := newEventEngine(t, 100_000, 0, nil)
	before := liveHeap()
	batch := make([]engine.Event, 1)
	for range events {
		batch[0] = engine.Event{Kind: engine.EventConnected}
		e.events.append(batch)
	}
	held := liveHeap() - before
	kept := int64(events) * int64(unsafe.Sizeof(engine.Event{}))
	t.Logf("%d events: %d KiB held, %d KiB of events", events, held>>10, kept>>10)
	if held > kept*5/4 {
		t.Errorf("%d events hold %d KiB, over 1.25 times their %d KiB", events, held>>10, kept>>10)
	}
	runtime.KeepAlive(e)
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// A quiet node lets go of its expired events: the janitor's sweep drops
// them with no append or read to do it, and so their memory (the soak
// found a node's heap 26 MiB over its baseline a minute after its clients
// had gone, all of it events past their age).
func TestEventLogSweptWhenQuiet(t *testing.T) {
	clock := enginetest.NewClock()
	e := newEventEngine(t, 100_000, time.Minute, clock)
	for i := range 3 * eventChunk {
		appendUsers(t, e, fmt.Sprint("u", i))
	}
	clock.Advance(2 * time.Minute)
	e.sweep(clock.Now())
	e.events.mu.Lock()
	n, chunks := e.events.n, len(e.events.chunks)
	e.events.mu.Unlock()
	if n != 0 || chunks != 0 {
		t.Errorf("after the sweep the log holds %d events in %d chunks, want none", n, chunks)
	}
}
