package client_test

import (
	"sync/atomic"
	"testing"

	"github.com/herald-push/herald/client"
	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
)

// TestGapFilledOnALiveConnection: a node with the drop-oldest policy drops
// pushes from the queue of a client that stopped reading. The client, on
// the same connection, sees the jump in offsets, asks for what is
// missing, and delivers every push once, in order, none reported lost.
func TestGapFilledOnALiveConnection(t *testing.T) {
	cr := nodetest.NewCreds()
	n := nodetest.Start(t, nodetest.Options{Creds: cr, Config: func(c *server.Config) {
		c.SlowPolicy = "drop-oldest"
		c.SendQueueBytes = 128 << 10
	}})
	rec := newRecorder()
	opts := rec.options(n.WSURL, func() string { return cr.Token(t, "alice") })
	opts.DisableCompression = true // the bytes pushed are the bytes queued
	release := make(chan struct{})
	var first atomic.Bool
	record := opts.OnPush
	opts.OnPush = func(p *clientv1.Push) {
		record(p)
		if first.CompareAndSwap(false, true) {
			<-release // the client stops reading
		}
	}
	var failed atomic.Int32
	opts.OnResumeFailed = func(*clientv1.StreamResult) { failed.Add(1) }
	startClient(t, opts)
	waitFor(t, rec.connected, "connect")

	// Push until the node drops some: the socket buffers fill, then the
	// queue. Well within the node's 10s write timeout.
	payload := make([]byte, 60<<10)
	pushed := 0
	for {
		push(t, n, "alice", string(payload))
		pushed++
		st, err := n.API.GetStats(ctxT(t), &pushv1.GetStatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetStats().GetDrops() >= 3 {
			break
		}
		if pushed == 1000 {
			close(release)
			t.Fatal("the node dropped nothing in 1000 pushes of 60 KiB")
		}
	}
	close(release)
	assertContiguous(t, rec.waitPushes(t, pushed), pushed)
	if f := failed.Load(); f != 0 {
		t.Errorf("%d streams reported lost", f)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, s := range rec.states {
		if s.State == client.StateReconnecting {
			t.Fatalf("the client reconnected (%v): the gap was not filled on the live connection", s.Err)
		}
	}
	t.Logf("%d pushes, the node dropped some from the queue; all delivered in order", pushed)
}
