package memory

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

func newEngine(t testing.TB, size int) *Engine {
	t.Helper()
	e, err := New(Options{HistorySize: size, HistoryTTL: time.Hour, Handler: enginetest.Handler{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// TestHistoryRingGrowsAndWraps: whatever the number of pushes, Since from
// the start returns the newest min(n, size), in order, or reports the trim.
func TestHistoryRingGrowsAndWraps(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 3, 4, 5, 17, 999, 1000, 1001, 2500} {
		e := newEngine(t, 1000)
		for range n {
			if _, _, err := e.Publish(ctx, "s", engine.Message{Topic: "t"}); err != nil {
				t.Fatal(err)
			}
		}
		keep := min(n, 1000)
		from := uint64(n - keep)
		_, cur, _, _ := e.Since(ctx, "s", engine.Position{}, -1)
		pubs, _, ok, err := e.Since(ctx, "s", engine.Position{Offset: from, Epoch: cur.Epoch}, -1)
		if err != nil || !ok || len(pubs) != keep {
			t.Fatalf("n=%d: %d pubs, ok %v, err %v", n, len(pubs), ok, err)
		}
		for i, p := range pubs {
			if p.Offset != from+uint64(i)+1 {
				t.Fatalf("n=%d: pub %d has offset %d", n, i, p.Offset)
			}
		}
		if n > 1000 {
			if _, _, ok, _ := e.Since(ctx, "s", engine.Position{Offset: from - 1, Epoch: cur.Epoch}, -1); ok {
				t.Errorf("n=%d: a trimmed position reported recoverable", n)
			}
		}
	}
}

// TestSincePages: a gap read in pages of limit, each asked after the last
// offset of the one before, yields every publication once, in order, across
// the ring's wrap; limit 0 answers the position and coverage alone.
func TestSincePages(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, 10)
	for range 25 { // the ring wraps: 16..25 are kept
		if _, _, err := e.Publish(ctx, "s", engine.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	pubs, cur, ok, _ := e.Since(ctx, "s", engine.Position{}, 0)
	if ok || len(pubs) != 0 || cur.Offset != 25 {
		t.Fatalf("from the start with limit 0: %d pubs, cur %+v, ok %v; want none, 25, not ok", len(pubs), cur, ok)
	}
	pos := engine.Position{Offset: 15, Epoch: cur.Epoch}
	if pubs, _, ok, _ := e.Since(ctx, "s", pos, 0); !ok || len(pubs) != 0 {
		t.Fatalf("limit 0 from 15: %d pubs, ok %v; want none, ok", len(pubs), ok)
	}
	var got []uint64
	for pos.Offset < cur.Offset {
		pubs, _, ok, err := e.Since(ctx, "s", pos, 3)
		if err != nil || !ok || len(pubs) == 0 || len(pubs) > 3 {
			t.Fatalf("page after %d: %d pubs, ok %v, err %v", pos.Offset, len(pubs), ok, err)
		}
		for _, p := range pubs {
			got = append(got, p.Offset)
		}
		pos.Offset = pubs[len(pubs)-1].Offset
	}
	if fmt.Sprint(got) != "[16 17 18 19 20 21 22 23 24 25]" {
		t.Errorf("paged offsets %v, want 16..25", got)
	}
}

// BenchmarkHistoryMemory reports the heap a stream's history costs: per
// stream holding one push, and per push in a full stream (100-byte
// payloads).
func BenchmarkHistoryMemory(b *testing.B) {
	ctx := context.Background()
	measure := func(streams, pushes int) float64 {
		e := newEngine(b, 1000)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for s := range streams {
			name := fmt.Sprintf("user:%d", s)
			for range pushes {
				_, _, _ = e.Publish(ctx, name, engine.Message{ID: "0123456789ABCDEF", Topic: "topic", Payload: make([]byte, 100)})
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return float64(after.HeapAlloc - before.HeapAlloc)
	}
	for range b.N {
		b.ReportMetric(measure(10000, 1)/10000, "B/stream-of-1")
		b.ReportMetric(measure(10, 1000)/10/1000, "B/push-in-full-stream")
	}
}
