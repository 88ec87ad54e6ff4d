package pushsvc

import (
	"slices"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

func resumeFrame(t *testing.T, pos ...*clientv1.StreamPosition) []byte {
	return mustMarshal(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{Streams: pos}}})
}

// TestResumeWithHoldIsExact: pushes published between the connect and the
// Resume are delivered once, after the replay, in order.
func TestResumeWithHoldIsExact(t *testing.T) {
	svc := newTestService(t, Options{})
	old, _ := connect(t, svc, "alice")
	var epoch string
	for range 10 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "seen"})
		epoch = r.Streams[0].Epoch
	}
	svc.Disconnected(old)
	for range 5 {
		_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "missed"})
	}
	ft := &fakeTransport{}
	s, err := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft)
	if err != nil {
		t.Fatal(err)
	}
	// Live pushes race the Resume: they are held.
	for range 3 {
		res, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "live"})
		if res.Delivered != 1 {
			t.Fatalf("held push not counted as delivered: %+v", res)
		}
	}
	ft.run()
	if n := len(ft.pushes(t)); n != 0 {
		t.Fatalf("%d pushes written before the Resume", n)
	}
	if err := s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "user:alice", Offset: 10, Epoch: epoch})); err != nil {
		t.Fatal(err)
	}
	_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "after"})
	ft.run()
	ps := ft.pushes(t)
	if len(ps) != 9 {
		t.Fatalf("got %d pushes, want 5 missed + 3 live + 1 after", len(ps))
	}
	for i, p := range ps {
		if p.GetOffset() != uint64(11+i) {
			t.Fatalf("push %d has offset %d, want %d", i, p.GetOffset(), 11+i)
		}
	}
	frames := ft.decoded(t)
	if frames[0].GetWelcome() == nil || frames[1].GetResumeResult() == nil {
		t.Errorf("frames start %v, %v; want Welcome, ResumeResult", frames[0], frames[1])
	}
}

func TestHoldReleasedWithoutResume(t *testing.T) {
	svc := newTestService(t, Options{ResumeWait: 20 * time.Millisecond})
	ft := &fakeTransport{}
	if _, err := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft); err != nil {
		t.Fatal(err)
	}
	_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
	deadline := time.Now().Add(5 * time.Second)
	for len(ft.pushes(t)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("held push never released")
		}
		ft.run()
		<-time.After(5 * time.Millisecond)
	}
}

func TestHoldReleasedByOtherFirstFrame(t *testing.T) {
	svc := newTestService(t, Options{})
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft)
	_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
	_ = s.HandleFrame(ctx(t), mustMarshal(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{}}}))
	ft.run()
	if n := len(ft.pushes(t)); n != 1 {
		t.Errorf("got %d pushes after a Ping, want the held one", n)
	}
}

func TestResumeNotRecovered(t *testing.T) {
	svc := newTestService(t, Options{HistorySize: 5})
	var epoch string
	for range 20 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
		epoch = r.Streams[0].Epoch
	}
	for name, pos := range map[string]*clientv1.StreamPosition{
		"trimmed":       {Stream: "user:alice", Offset: 3, Epoch: epoch},
		"epoch changed": {Stream: "user:alice", Offset: 19, Epoch: "OTHER"},
		"from future":   {Stream: "user:alice", Offset: 99, Epoch: epoch},
		"not followed":  {Stream: "user:bob", Offset: 0},
	} {
		ft := &fakeTransport{}
		s, _ := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft)
		_ = s.HandleFrame(ctx(t), resumeFrame(t, pos))
		ft.run()
		var rr *clientv1.ResumeResult
		for _, f := range ft.decoded(t) {
			if f.GetResumeResult() != nil {
				rr = f.GetResumeResult()
			}
		}
		if rr == nil || len(rr.GetStreams()) != 1 || rr.GetStreams()[0].GetRecovered() {
			t.Errorf("%s: result %v, want not recovered", name, rr)
		}
		if n := len(ft.pushes(t)); n != 0 {
			t.Errorf("%s: replayed %d pushes", name, n)
		}
		svc.Disconnected(s)
	}
}

func TestHistoryTTLExpires(t *testing.T) {
	// The service's goroutines read the clock too (the event writer).
	clock := enginetest.NewClock()
	svc := newTestService(t, Options{HistoryTTL: time.Minute, Now: clock.Now})
	r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "old"})
	_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "short", TTL: time.Second})
	epoch := r.Streams[0].Epoch
	clock.Advance(2 * time.Minute)
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice"}, ft)
	_ = s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "user:alice", Offset: 0, Epoch: epoch}))
	ft.run()
	for _, f := range ft.decoded(t) {
		if rr := f.GetResumeResult(); rr != nil && rr.GetStreams()[0].GetRecovered() {
			t.Errorf("expired history reported recovered")
		}
	}
}

// ackFirstPush acks, from s, the first push its transport ft writes,
// once it is written.
func ackFirstPush(t *testing.T, s *Session, ft *fakeTransport) {
	t.Helper()
	for {
		ft.run()
		if ps := ft.pushes(t); len(ps) == 1 {
			ack := &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ack{Ack: &clientv1.Ack{Positions: []*clientv1.StreamPosition{
				{Stream: ps[0].GetStream(), Offset: ps[0].GetOffset(), Epoch: ps[0].GetEpoch()}}}}}
			if err := s.HandleFrame(ctx(t), mustMarshal(t, ack)); err != nil {
				t.Fatal(err)
			}
			return
		}
		<-time.After(time.Millisecond)
	}
}

func TestReceipts(t *testing.T) {
	svc := newTestService(t, Options{})
	acker, aft := connect(t, svc, "alice")
	_, _ = connect(t, svc, "alice") // never acks
	done := make(chan Result)
	go func() {
		r, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", AckTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	ackFirstPush(t, acker, aft)
	r := <-done
	if len(r.Receipts) != 2 {
		t.Fatalf("receipts = %+v", r.Receipts)
	}
	acked := map[string]bool{}
	for _, rc := range r.Receipts {
		acked[rc.SessionID] = rc.Acked
	}
	if !acked[acker.ID()] || len(acked) != 2 {
		t.Errorf("receipts = %+v, want the acker acked and the other not", r.Receipts)
	}
	for _, rc := range r.Receipts {
		if rc.SessionID != acker.ID() && rc.Acked {
			t.Errorf("silent device reported acked")
		}
	}
	acker.waitMu.Lock()
	n := len(acker.waits)
	acker.waitMu.Unlock()
	if n != 0 {
		t.Errorf("%d waits left behind", n)
	}
}

func TestAllAckedAnswersEarly(t *testing.T) {
	svc := newTestService(t, Options{})
	s, ft := connect(t, svc, "bob")
	go func() {
		for i := 0; ; i++ {
			ft.run()
			if ps := ft.pushes(t); len(ps) > 0 {
				ack := &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ack{Ack: &clientv1.Ack{Positions: []*clientv1.StreamPosition{{Stream: "user:bob", Offset: ps[0].GetOffset()}}}}}
				_ = s.HandleFrame(ctx(t), mustMarshal(t, ack))
				return
			}
			<-time.After(time.Millisecond)
		}
	}()
	r, _ := svc.PushToUsers(ctx(t), []string{"bob"}, Message{Topic: "t", AckTimeout: time.Hour})
	if len(r.Receipts) != 1 || !r.Receipts[0].Acked {
		t.Errorf("receipts = %+v", r.Receipts)
	}
}

// TestNotRecoveredKeepsHeldPushes: across an epoch change, pushes that
// arrived while the session held for its Resume are still delivered, and
// the result points just before them.
func TestNotRecoveredKeepsHeldPushes(t *testing.T) {
	svc := newTestService(t, Options{})
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft)
	for range 2 {
		_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "held"})
	}
	_ = s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "user:alice", Offset: 7, Epoch: "GONE"}))
	ft.run()
	var rr *clientv1.StreamResult
	for _, f := range ft.decoded(t) {
		if r := f.GetResumeResult(); r != nil {
			rr = r.GetStreams()[0]
		}
	}
	if rr == nil || rr.GetRecovered() || rr.GetOffset() != 0 {
		t.Fatalf("result = %v, want not recovered at offset 0", rr)
	}
	if ps := ft.pushes(t); len(ps) != 2 || ps[0].GetOffset() != 1 {
		t.Fatalf("pushes = %v, want the two held ones", ps)
	}
}

// TestLateLiveDeliveryAfterReplay: an engine whose fan-out lags its
// history (Redis pub/sub) can hand the session a publication the replay
// already carried; it is not written twice.
func TestLateLiveDeliveryAfterReplay(t *testing.T) {
	svc := newTestService(t, Options{})
	var pubs []*engine.Publication
	for range 5 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
		pubs = append(pubs, &engine.Publication{Message: engine.Message{ID: r.MessageID, Topic: "t"},
			Stream: "user:alice", Offset: r.Streams[0].Offset, Epoch: r.Streams[0].Epoch})
	}
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft)
	_ = s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "user:alice", Offset: 3, Epoch: pubs[0].Epoch}))
	(&node{svc: svc}).Deliver(pubs[4]) // offset 5 arrives live, after its replay
	_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
	ft.run()
	var offsets []uint64
	for _, p := range ft.pushes(t) {
		offsets = append(offsets, p.GetOffset())
	}
	if !slices.Equal(offsets, []uint64{4, 5, 6}) {
		t.Fatalf("offsets %v, want [4 5 6]", offsets)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.floors != nil {
		t.Errorf("floor kept after the stream moved past it: %v", s.floors)
	}
}
