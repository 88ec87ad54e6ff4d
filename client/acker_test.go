package client

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// TestAckerCoalesces: a burst of deliveries becomes few Acks that end at
// the highest offset of each stream.
func TestAckerCoalesces(t *testing.T) {
	var mu sync.Mutex
	var sent [][]*clientv1.StreamPosition
	got := make(chan struct{}, 1000)
	a := newAcker(func(sps []*clientv1.StreamPosition) {
		mu.Lock()
		sent = append(sent, sps)
		mu.Unlock()
		got <- struct{}{}
	})
	for i := 1; i <= 1000; i++ {
		a.add([]*clientv1.StreamPosition{{Stream: "user:a", Offset: uint64(i), Epoch: "E"}, {Stream: "broadcast", Offset: uint64(i / 2), Epoch: "B"}})
	}
	// Wait for the flush that carries offset 1000.
	deadline := time.After(10 * time.Second)
	for {
		mu.Lock()
		last := sent[len(sent)-1]
		mu.Unlock()
		if last[0].GetOffset() == 1000 {
			if len(last) != 2 || last[1].GetOffset() != 500 {
				t.Errorf("last ack = %v", last)
			}
			break
		}
		select {
		case <-got:
		case <-deadline:
			t.Fatal("the last positions were never acked")
		}
	}
	a.stop()
	mu.Lock()
	defer mu.Unlock()
	if len(sent) > 10 {
		t.Errorf("%d Acks for one burst, want a handful", len(sent))
	}
}

func TestAckerStopDropsPending(t *testing.T) {
	var sends atomic.Int32
	a := newAcker(func([]*clientv1.StreamPosition) { sends.Add(1) })
	a.add([]*clientv1.StreamPosition{{Stream: "s", Offset: 1}})
	a.add([]*clientv1.StreamPosition{{Stream: "s", Offset: 2}}) // within ackEvery: scheduled
	a.stop()                                                    // waits for a flush already running
	before := sends.Load()
	a.add([]*clientv1.StreamPosition{{Stream: "s", Offset: 3}})
	if n := sends.Load(); n != before || n < 1 || n > 2 {
		t.Errorf("%d sends after stop (%d before), want no more", n, before)
	}
}
