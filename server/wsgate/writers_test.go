package wsgate

import (
	"context"
	"fmt"
	runtimemetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc"
)

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []runtimemetrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	runtimemetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestBroadcastStartsNoGoroutinePerConnection: a broadcast's writes run on
// the gateway's few writers. Through gws's write queue each connection's
// flush started a goroutine of its own, so a broadcast to 10,000
// connections made 10,000 goroutines runnable at once, and a gRPC call
// waited behind them.
func TestBroadcastStartsNoGoroutinePerConnection(t *testing.T) {
	// No heartbeat during the test: its pings run on goroutines.
	tg := startGate(t, func(o *Options) {
		o.HeartbeatInterval = time.Hour
		o.LimitLoopback = false
	})
	const conns, pushes = 100, 5
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = tg.mustDial(t, fmt.Sprint("u", i), dialOpts{})
	}
	before := goroutinesCreated()
	for i := range pushes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := tg.svc.Broadcast(ctx, pushsvc.Message{Topic: "t", Payload: []byte(fmt.Sprint(i))})
		cancel()
		if err != nil || res.Delivered != conns {
			t.Fatalf("broadcast %d: delivered %d, %v", i, res.Delivered, err)
		}
		for _, c := range clients {
			if p := c.NextPush(t); string(p.GetPayload()) != fmt.Sprint(i) {
				t.Fatalf("got push %q, want %d", p.GetPayload(), i)
			}
		}
	}
	if n := goroutinesCreated() - before; n >= conns {
		t.Fatalf("%d broadcasts to %d connections started %d goroutines, want fewer than one per connection", pushes, conns, n)
	}
}

// TestFlushWaitIsMeasured: every flush, the Welcome's included, tells
// herald_ws_flush_wait_seconds how long it waited for a writer.
func TestFlushWaitIsMeasured(t *testing.T) {
	tg := startGate(t, nil)
	const conns = 3
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = tg.mustDial(t, fmt.Sprint("u", i), dialOpts{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tg.svc.Broadcast(ctx, pushsvc.Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.NextPush(t)
	}
	if n := flushWaits(t, tg); n < 2*conns {
		t.Fatalf("herald_ws_flush_wait_seconds counted %d flushes, want at least %d", n, 2*conns)
	}
}

// flushWaits is how many flushes herald_ws_flush_wait_seconds counted.
func flushWaits(t *testing.T, tg *testGate) int {
	t.Helper()
	mfs, err := tg.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "herald_ws_flush_wait_seconds" {
			return int(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// TestWriterCountLeavesAProcessor: the writers take every processor but
// one, which stays free to poll the network and run calls; with one
// processor there is still one writer.
func TestWriterCountLeavesAProcessor(t *testing.T) {
	for procs, want := range map[int]int{1: 1, 2: 1, 4: 3, 16: 15} {
		if got := writerCount(procs); got != want {
			t.Errorf("writerCount(%d) = %d, want %d", procs, got, want)
		}
	}
}
