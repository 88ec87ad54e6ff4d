package pushsvc

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// sharedCounter is a transport that runs each flush at once and counts
// the shared frames written through every transport sharing n.
type sharedCounter struct {
	discardTransport
	n *atomic.Int64
}

func (c sharedCounter) WriteShared(*Outbound) error {
	c.n.Add(1)
	return nil
}

// TestFanoutYields: a fan-out to many sessions lets a goroutine that became
// runnable meanwhile run before it ends, as a gRPC call must (fanoutSlice).
// On one processor, the goroutine started before the broadcast runs at the
// fan-out's first yield, not after its last session.
func TestFanoutYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	svc := newTestService(t, Options{})
	var written atomic.Int64
	const sessions = 4 * fanoutSlice
	for i := range sessions {
		if _, err := svc.Connect(SessionInfo{UserID: fmt.Sprint("u", i)}, sharedCounter{n: &written}); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(chan int64, 1)
	go func() { seen <- written.Load() }()
	if _, err := svc.Broadcast(ctx(t), Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got >= sessions {
		t.Fatalf("a goroutine runnable during the fan-out ran after all %d sessions had the push", got)
	}
}
