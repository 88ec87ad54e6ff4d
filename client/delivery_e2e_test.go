package client_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
)

// waitPushes waits until r holds at least n pushes and returns them all.
func (r *recorder) waitPushes(t *testing.T, n int) []*clientv1.Push {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.pushes)
		r.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-r.pushed:
		case <-deadline:
			r.logProgress(t)
			t.Fatalf("%d pushes, want %d", got, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*clientv1.Push(nil), r.pushes...)
}

// logProgress logs the states and the offset jumps seen, to tell a lost
// connection from a lost push when a wait times out.
func (r *recorder) logProgress(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.states {
		t.Logf("state %v code %d reason %q err %v", s.State, s.Code, s.Reason, s.Err)
	}
	prev := uint64(0)
	for _, p := range r.pushes {
		if p.GetOffset() != prev+1 {
			t.Logf("offset jump %d -> %d", prev, p.GetOffset())
		}
		prev = p.GetOffset()
	}
}

// assertContiguous checks offsets 1..n, each once, in order.
func assertContiguous(t *testing.T, ps []*clientv1.Push, n int) {
	t.Helper()
	if len(ps) != n {
		t.Fatalf("%d pushes, want exactly %d", len(ps), n)
	}
	for i, p := range ps {
		if p.GetOffset() != uint64(i+1) {
			t.Fatalf("push %d has offset %d, want %d (a gap, a duplicate or out of order)", i, p.GetOffset(), i+1)
		}
	}
}

// TestResumeAfterAbsence drops a client mid-stream, pushes 1,000 while it
// is away, and lets it come back: it gets exactly those, in order, then live
// pushes. With racing, pushes keep coming while it reconnects.
func TestResumeAfterAbsence(t *testing.T) {
	for _, racing := range []bool{false, true} {
		t.Run(fmt.Sprintf("racing=%v", racing), func(t *testing.T) {
			cr := nodetest.NewCreds()
			// The history must hold everything missed: 1,000 away and up
			// to 500 racing.
			n := nodetest.Start(t, nodetest.Options{Creds: cr, Config: func(c *server.Config) { c.HistorySize = 2000 }})
			var up atomic.Bool
			up.Store(true)
			lb := startFailover(t, func() []string {
				if up.Load() {
					return []string{n.WSAddr}
				}
				return nil // refused: the client stays away
			})
			rec := newRecorder()
			var failed atomic.Int32
			opts := rec.options(lb.url(), func() string { return cr.Token(t, "alice") })
			opts.OnResumeFailed = func(*clientv1.StreamResult) { failed.Add(1) }
			startClient(t, opts)
			waitFor(t, rec.connected, "connect")
			for i := range 10 {
				push(t, n, "alice", fmt.Sprint(i))
			}
			rec.waitPushes(t, 10)

			up.Store(false)
			lb.cut()
			for i := range 1000 {
				push(t, n, "alice", fmt.Sprint("away ", i))
			}
			total := 1010
			var wg sync.WaitGroup
			if racing {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 500 {
						push(t, n, "alice", fmt.Sprint("racing ", i))
					}
				}()
				total += 500
			}
			back := time.Now()
			up.Store(true)
			waitFor(t, rec.connected, "reconnect")
			if !racing {
				rec.waitPushes(t, 1010)
				t.Logf("1,000 missed pushes resumed %v after the way back opened (reconnect backoff included)", time.Since(back).Round(time.Millisecond))
			}
			wg.Wait()
			for i := range 5 {
				push(t, n, "alice", fmt.Sprint("live ", i))
			}
			total += 5
			ps := rec.waitPushes(t, total)
			assertContiguous(t, ps, total)
			if failed.Load() != 0 {
				t.Errorf("%d streams reported not recovered", failed.Load())
			}
		})
	}
}

// TestResumeAcrossEpochChange restarts the in-memory node: its history is
// gone, and the SDK reports the stream as not recovered.
func TestResumeAcrossEpochChange(t *testing.T) {
	cr := nodetest.NewCreds()
	first := nodetest.Start(t, nodetest.Options{Creds: cr})
	rec := newRecorder()
	lost := make(chan *clientv1.StreamResult, 4)
	opts := rec.options(first.WSURL, func() string { return cr.Token(t, "alice") })
	opts.OnResumeFailed = func(r *clientv1.StreamResult) { lost <- r }
	startClient(t, opts)
	waitFor(t, rec.connected, "connect")
	push(t, first, "alice", "one")
	rec.waitPushes(t, 1)
	first.Stop()
	second := nodetest.Start(t, nodetest.Options{Creds: cr, Config: func(c *server.Config) { c.WSAddr = first.WSAddr }})
	waitFor(t, rec.connected, "reconnect")
	push(t, second, "alice", "after restart") // a new epoch, offset 1
	select {
	case r := <-lost:
		if r.GetStream() != "user:alice" || r.GetRecovered() {
			t.Errorf("result = %v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no unrecovered stream reported")
	}
	ps := rec.waitPushes(t, 2)
	if string(ps[1].GetPayload()) != "after restart" {
		t.Errorf("push in the new epoch = %v", ps[1])
	}
}

// TestBatchUnderBurst holds a burst behind a pending Resume, then releases
// it: it leaves as PushBatch frames, complete and in order.
func TestBatchUnderBurst(t *testing.T) {
	cr := nodetest.NewCreds()
	n := nodetest.Start(t, nodetest.Options{Creds: cr})
	c := dialRaw(t, n.WSURL+"?resume=1", cr.Token(t, "alice"), true)
	if c.next(t).GetWelcome() == nil {
		t.Fatal("no welcome")
	}
	const burst = 300
	for i := range burst {
		push(t, n, "alice", fmt.Sprint(i))
	}
	c.send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{}}})
	var got []*clientv1.Push
	batches := 0
	for len(got) < burst {
		f := c.next(t)
		if b := f.GetBatch(); b != nil {
			batches++
			got = append(got, b.GetPushes()...)
		}
		if p := f.GetPush(); p != nil {
			got = append(got, p)
		}
	}
	if batches == 0 {
		t.Error("no PushBatch frame under a burst")
	}
	assertContiguous(t, got, burst)
}

func TestIdempotentPushDeliveredOnce(t *testing.T) {
	cr := nodetest.NewCreds()
	n := nodetest.Start(t, nodetest.Options{Creds: cr})
	rec := newRecorder()
	startClient(t, rec.options(n.WSURL, func() string { return cr.Token(t, "alice") }))
	waitFor(t, rec.connected, "connect")
	req := &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: &pushv1.Message{Topic: "t", Id: "order-42"}}
	r1, err := n.API.PushToUsers(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := n.API.PushToUsers(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if r1.GetMessageId() != r2.GetMessageId() || r1.GetDelivered() != 1 || r2.GetDelivered() != 0 {
		t.Errorf("first %v, second %v", r1, r2)
	}
	push(t, n, "alice", "marker")
	ps := rec.waitPushes(t, 2)
	if len(ps) != 2 || ps[0].GetId() != "order-42" || string(ps[1].GetPayload()) != "marker" {
		t.Errorf("pushes = %v", ps)
	}
}

// TestReceipts: an SDK device that acks and a raw one that never does.
func TestReceipts(t *testing.T) {
	cr := nodetest.NewCreds()
	n := nodetest.Start(t, nodetest.Options{Creds: cr})
	rec := newRecorder()
	opts := rec.options(n.WSURL, func() string { return cr.Token(t, "alice") })
	opts.AutoAck = true
	startClient(t, opts)
	waitFor(t, rec.connected, "connect")
	silent := dialRaw(t, n.WSURL, cr.Token(t, "alice"), true)
	welcome := silent.next(t).GetWelcome()
	res, err := n.API.PushToUsers(ctxT(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"},
		Message: &pushv1.Message{Topic: "t"}, AckTimeout: durationpb.New(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetReceipts()) != 2 {
		t.Fatalf("receipts = %v", res.GetReceipts())
	}
	for _, r := range res.GetReceipts() {
		want := r.GetSessionId() != welcome.GetSessionId()
		if r.GetAcked() != want || r.GetUserId() != "alice" {
			t.Errorf("receipt %v: acked %v, want %v", r, r.GetAcked(), want)
		}
	}
}

// TestSlowConsumerClosed: a client that stops reading is closed with 4003
// and counted, while the others get every push.
func TestSlowConsumerClosed(t *testing.T) {
	cr := nodetest.NewCreds()
	n := nodetest.Start(t, nodetest.Options{Creds: cr, Config: func(c *server.Config) { c.SendQueueBytes = 4 << 20 }})
	dialRaw(t, n.WSURL, cr.Token(t, "stuck"), false)
	// Ten readers keep this test light under the race detector; the load
	// run with 100 readers measures their latency.
	recs := make([]*recorder, 10)
	for i := range recs {
		recs[i] = newRecorder()
		startClient(t, recs[i].options(n.WSURL, func() string { return cr.Token(t, fmt.Sprint("ok", i)) }))
		waitFor(t, recs[i].connected, "connect")
	}
	payload := make([]byte, 16<<10)
	const pushes = 1000 // 16 MiB: more than the socket buffers and the queue hold
	for range pushes {
		if _, err := n.API.Broadcast(ctxT(t), &pushv1.BroadcastRequest{Message: &pushv1.Message{Topic: "t", Payload: payload}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		assertContiguous(t, r.waitPushes(t, pushes), pushes)
	}
	st, err := n.API.GetStats(ctxT(t), &pushv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetStats().GetSlowConsumerDisconnects() != 1 || st.GetStats().GetConnections() != uint64(len(recs)) {
		t.Errorf("stats = %v, want one slow-consumer close and %d connections left", st.GetStats(), len(recs))
	}
}
