package memory

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

func newEngine(t testing.TB, size int) *Engine {
	t.Helper()
	e, err := New(Options{HistorySize: size, HistoryTTL: time.Hour, Deliver: func(*engine.Publication) int { return 0 }})
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
		_, cur, _, _ := e.Since(ctx, "s", engine.Position{})
		pubs, _, ok, err := e.Since(ctx, "s", engine.Position{Offset: from, Epoch: cur.Epoch})
		if err != nil || !ok || len(pubs) != keep {
			t.Fatalf("n=%d: %d pubs, ok %v, err %v", n, len(pubs), ok, err)
		}
		for i, p := range pubs {
			if p.Offset != from+uint64(i)+1 {
				t.Fatalf("n=%d: pub %d has offset %d", n, i, p.Offset)
			}
		}
		if n > 1000 {
			if _, _, ok, _ := e.Since(ctx, "s", engine.Position{Offset: from - 1, Epoch: cur.Epoch}); ok {
				t.Errorf("n=%d: a trimmed position reported recoverable", n)
			}
		}
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
