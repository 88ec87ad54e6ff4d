package wsgate

import (
	"sync/atomic"
	"testing"

	"github.com/lxzan/gws"
)

// countingWriter is a session's Writer that counts its flushes.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Flush() { w.n.Add(1) }

// TestScheduleAllocatesNothing: scheduling a session's writer on gws's
// write queue allocates nothing: the conn keeps the Writer's Flush from
// the first Schedule, where making the method value per call would cost
// an allocation per write.
func TestScheduleAllocatesNothing(t *testing.T) {
	p := newGwsPipe(t, &gws.ServerOption{}, false)
	c := &conn{socket: p.socket}
	w := &countingWriter{}
	const runs = 1000
	allocs := testing.AllocsPerRun(runs, func() { c.Schedule(w) })
	waitUntil(t, "every scheduled flush ran", func() bool { return w.n.Load() == runs+1 })
	if allocs != 0 {
		t.Errorf("Schedule allocates %.2f times per call, want 0", allocs)
	}
}
