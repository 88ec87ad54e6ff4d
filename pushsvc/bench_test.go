package pushsvc

import (
	"context"
	"fmt"
	"testing"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

// discardTransport runs scheduled work at once and writes nowhere: it
// measures the service's own cost of a fan-out.
type discardTransport struct{}

func (discardTransport) Schedule(w Writer)                { w.Flush() }
func (discardTransport) Write([]byte) error               { return nil }
func (discardTransport) WriteShared(*Outbound) error      { return nil }
func (discardTransport) WriteSharedRun([]*Outbound) error { return nil }
func (discardTransport) Close(Disconnect)                 {}

// BenchmarkBroadcast10k measures one broadcast to 10,000 sessions: the
// encode (once), the hub walk and 10,000 enqueues and flushes.
func BenchmarkBroadcast10k(b *testing.B) {
	svc, err := New(Options{HistorySize: engine.NoHistory})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	for i := range 10000 {
		if _, err := svc.Connect(SessionInfo{UserID: fmt.Sprintf("u%d", i)}, discardTransport{}); err != nil {
			b.Fatal(err)
		}
	}
	m := Message{Topic: "bench", Payload: make([]byte, 100)}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Broadcast(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/delivery")
}

// BenchmarkEncodePush measures encoding one push frame.
func BenchmarkEncodePush(b *testing.B) {
	p := &engine.Publication{Message: engine.Message{ID: "0123456789ABCDEF", Topic: "topic", Payload: make([]byte, 100)},
		Stream: "user:alice", Offset: 12345, Epoch: "EPOCH"}
	b.ReportAllocs()
	for b.Loop() {
		_ = encodePush(p)
	}
}

// TestPerRecipientPathAllocatesNothing keeps the per-recipient part of a
// fan-out (enqueue and flush of a shared frame) free of allocations.
func TestPerRecipientPathAllocatesNothing(t *testing.T) {
	if lockorder.Checked {
		t.Skip("the lockcheck build allocates to record every lock taken")
	}
	svc, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	s, err := svc.Connect(SessionInfo{UserID: "u"}, discardTransport{})
	if err != nil {
		t.Fatal(err)
	}
	o := encodePush(&engine.Publication{Message: engine.Message{ID: "x", Topic: "t"}, Stream: "broadcast", Offset: 1})
	o.shared = true
	allocs := testing.AllocsPerRun(1000, func() { s.enqueue(o) })
	if allocs != 0 {
		t.Errorf("enqueue+flush of a shared frame allocates %.1f times per recipient, want 0", allocs)
	}
}
