package pushsvc

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/memory"
)

// countingEngine counts Since calls, and can make one wait.
type countingEngine struct {
	engine.Engine
	since atomic.Int64

	mu      sync.Mutex    // guards gate and entered
	gate    chan struct{} // when set, the next Since waits for it to close
	entered chan struct{} // closed when that Since starts waiting
}

func (e *countingEngine) Since(ctx context.Context, stream string, pos engine.Position, limit int) ([]*engine.Publication, engine.Position, bool, error) {
	e.since.Add(1)
	e.mu.Lock()
	gate, entered := e.gate, e.entered
	e.gate, e.entered = nil, nil
	e.mu.Unlock()
	if gate != nil {
		close(entered)
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, engine.Position{}, false, ctx.Err()
		}
	}
	return e.Engine.Since(ctx, stream, pos, limit)
}

// holdNextSince makes the next Since wait until release is closed;
// entered is closed when it waits.
func (e *countingEngine) holdNextSince() (entered, release chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gate, e.entered = make(chan struct{}), make(chan struct{})
	return e.entered, e.gate
}

// checkLeaks fails t if a goroutine outlives it, replay goroutines
// included: they end with the service, closed by an earlier cleanup.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// newCountingService starts a service on the in-memory engine (1,000
// pushes of history per stream, opts.HistoryTTL or an hour), wrapped in a
// countingEngine.
func newCountingService(t *testing.T, opts Options) (*Service, *countingEngine) {
	t.Helper()
	checkLeaks(t)
	ttl := opts.HistoryTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	ce := &countingEngine{}
	opts.NewEngine = func(_ string, h engine.Handler) (engine.Engine, error) {
		m, err := memory.New(memory.Options{HistorySize: 1000, HistoryTTL: ttl, Handler: h, Now: opts.Now})
		ce.Engine = m
		return ce, err
	}
	return newTestService(t, opts), ce
}

// queued returns the bytes s holds for its client: queued, held, and
// taken by a running flush.
func queued(s *Session) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.bytes + s.q.inflight
}

// drainChecked runs ft's writer until done reports true, failing as soon
// as s holds more than its send budget; it returns the most it held. A
// replay goroutine may be reading a page: then there is nothing to run
// for a moment, and it polls.
func drainChecked(t *testing.T, s *Session, ft *fakeTransport, done func() bool) int {
	t.Helper()
	budget := s.svc.opts.SendQueueBytes
	peak := 0
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not done after 30s (peak %d bytes queued)", peak)
		}
		q := queued(s)
		peak = max(peak, q)
		if q > budget {
			t.Fatalf("%d bytes queued, over the %d-byte send budget", q, budget)
		}
		ft.mu.Lock()
		idle := len(ft.tasks) == 0
		ft.mu.Unlock()
		if idle {
			<-time.After(time.Millisecond)
			continue
		}
		ft.runOne()
	}
	return peak
}

// waitResumeIdle waits until s has no Resume work left.
func waitResumeIdle(t *testing.T, s *Session) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		idle := s.rp == nil
		s.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("resume work still running")
		}
		<-time.After(time.Millisecond)
	}
}

// resumeResults returns the ResumeResult frames written, in order.
func resumeResults(t *testing.T, ft *fakeTransport) []*clientv1.ResumeResult {
	var out []*clientv1.ResumeResult
	for _, f := range ft.decoded(t) {
		if r := f.GetResumeResult(); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// offsetsOf returns the offsets of stream's pushes, in order.
func offsetsOf(ps []*clientv1.Push, stream string) []uint64 {
	var out []uint64
	for _, p := range ps {
		if p.GetStream() == stream {
			out = append(out, p.GetOffset())
		}
	}
	return out
}

func assertRange(t *testing.T, what string, got []uint64, from, to uint64) {
	t.Helper()
	if len(got) != int(to-from+1) {
		t.Fatalf("%s: %d pushes, want %d..%d", what, len(got), from, to)
	}
	for i, o := range got {
		if o != from+uint64(i) {
			t.Fatalf("%s: push %d has offset %d, want %d (a gap, a duplicate or out of order)", what, i, o, from+uint64(i))
		}
	}
}

func heapAlloc() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestResumeAttackIsBounded is the Resume attack that once queued 2 GiB:
// after 1,000 broadcasts
// of 1 KiB, one Resume names broadcast 2,000 times (at many positions),
// plus streams the session does not follow. The node holds no more than
// the session's send budget, asks the engine once for the stream's
// position and then a page at a time, and the client still gets every
// missed push once, in order.
func TestResumeAttackIsBounded(t *testing.T) {
	svc, ce := newCountingService(t, Options{})
	var epoch string
	for range 1000 {
		r, err := svc.Broadcast(ctx(t), Message{Topic: "t", Payload: make([]byte, 1024)})
		if err != nil {
			t.Fatal(err)
		}
		epoch = r.Streams[0].Epoch
	}
	s, ft := connect(t, svc, "alice")
	ft.run() // the Welcome
	var sps []*clientv1.StreamPosition
	for i := range 2000 {
		// The whole history, and now and then another position: the
		// last one given, 0, counts.
		pos := &clientv1.StreamPosition{Stream: engine.BroadcastStream, Epoch: epoch}
		if i%100 == 50 {
			pos.Offset = uint64(i / 2)
		}
		sps = append(sps, pos)
	}
	for i := range 100 {
		sps = append(sps, &clientv1.StreamPosition{Stream: fmt.Sprint("group:g", i%10)}, &clientv1.StreamPosition{Stream: "user:bob"})
	}
	frame := resumeFrame(t, sps...)

	before := heapAlloc()
	if err := s.HandleFrame(ctx(t), frame); err != nil {
		t.Fatal(err)
	}
	q := queued(s)
	t.Logf("one %d-byte Resume naming broadcast 2,000 times after 1,000 broadcasts of 1 KiB: %d bytes queued, heap +%d KiB, %d engine calls",
		len(frame), q, (heapAlloc()-before)/1024, ce.since.Load())
	if q > svc.opts.SendQueueBytes {
		t.Fatalf("%d bytes queued, over the %d-byte send budget", q, svc.opts.SendQueueBytes)
	}
	peak := drainChecked(t, s, ft, func() bool { return len(ft.pushes(t)) >= 1000 })
	waitResumeIdle(t, s)
	calls := ce.since.Load()
	t.Logf("replayed 1,000 pushes with %d engine calls, at most %d bytes queued", calls, peak)
	// One look-up, then pages of about half the 1 MiB budget: 1.1 MiB of
	// replay takes 3 to 5 of them.
	if calls > 8 {
		t.Errorf("%d engine calls for one stream's replay", calls)
	}
	assertRange(t, "broadcast", offsetsOf(ft.pushes(t), engine.BroadcastStream), 1, 1000)
	rrs := resumeResults(t, ft)
	if len(rrs) != 1 {
		t.Fatalf("%d ResumeResults, want 1", len(rrs))
	}
	want := map[string]bool{engine.BroadcastStream: true, "user:bob": false}
	for i := range 10 {
		want[fmt.Sprint("group:g", i)] = false
	}
	got := rrs[0].GetStreams()
	if len(got) != len(want) {
		t.Errorf("%d stream results, want one per distinct stream (%d)", len(got), len(want))
	}
	for _, sr := range got {
		rec, ok := want[sr.GetStream()]
		if !ok || sr.GetRecovered() != rec {
			t.Errorf("result %v, want recovered %v", sr, rec)
		}
		delete(want, sr.GetStream())
	}
	if len(ft.closes()) != 0 {
		t.Errorf("closed: %v", ft.closes())
	}
}

// TestResumeFramesInARowDoNotMultiply: 200 Resumes sent at once, each
// asking for the whole broadcast history, cost two replays: the first,
// and the other 199 merged and answered once when it is done.
func TestResumeFramesInARowDoNotMultiply(t *testing.T) {
	svc, ce := newCountingService(t, Options{})
	var epoch string
	for range 1000 {
		r, _ := svc.Broadcast(ctx(t), Message{Topic: "t", Payload: make([]byte, 1024)})
		epoch = r.Streams[0].Epoch
	}
	s, ft := connect(t, svc, "alice")
	ft.run()
	frame := resumeFrame(t, &clientv1.StreamPosition{Stream: engine.BroadcastStream, Epoch: epoch})
	for i := range 200 {
		if err := s.HandleFrame(ctx(t), frame); err != nil {
			t.Fatal(err)
		}
		if q := queued(s); q > svc.opts.SendQueueBytes {
			t.Fatalf("after %d Resumes: %d bytes queued, over the %d-byte send budget", i+1, q, svc.opts.SendQueueBytes)
		}
	}
	drainChecked(t, s, ft, func() bool { return len(ft.pushes(t)) >= 2000 })
	waitResumeIdle(t, s)
	if n := len(resumeResults(t, ft)); n != 2 {
		t.Errorf("%d ResumeResults, want 2 (the first Resume, then the others merged)", n)
	}
	offs := offsetsOf(ft.pushes(t), engine.BroadcastStream)
	assertRange(t, "first replay", offs[:1000], 1, 1000)
	assertRange(t, "second replay", offs[1000:], 1, 1000)
	calls := ce.since.Load()
	t.Logf("200 Resumes: %d engine calls", calls)
	if calls > 16 {
		t.Errorf("%d engine calls for 200 Resumes of one stream", calls)
	}
}

// TestResumeOfUnfollowedStreamsSkipsEngine: streams the session does not
// follow, and those past maxResumeStreams, are answered recovered:false
// without an engine call, each once.
func TestResumeOfUnfollowedStreamsSkipsEngine(t *testing.T) {
	svc, ce := newCountingService(t, Options{})
	s, ft := connect(t, svc, "alice")
	var sps []*clientv1.StreamPosition
	for i := range maxResumeStreams + 100 {
		sps = append(sps, &clientv1.StreamPosition{Stream: fmt.Sprint("group:g", i)}, &clientv1.StreamPosition{Stream: "user:bob"})
	}
	if err := s.HandleFrame(ctx(t), resumeFrame(t, sps...)); err != nil {
		t.Fatal(err)
	}
	ft.run()
	waitResumeIdle(t, s)
	if n := ce.since.Load(); n != 0 {
		t.Errorf("%d engine calls for streams the session does not follow", n)
	}
	seen := map[string]int{}
	for _, rr := range resumeResults(t, ft) {
		for _, sr := range rr.GetStreams() {
			seen[sr.GetStream()]++
			if sr.GetRecovered() {
				t.Errorf("%v recovered", sr)
			}
		}
	}
	if len(seen) != maxResumeStreams+101 {
		t.Errorf("%d streams answered, want %d", len(seen), maxResumeStreams+101)
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s answered %d times", name, n)
		}
	}
}

// TestPagedReplaySwitchesToLiveExactly: a replay several budgets long, of
// two streams, paged while live pushes to both keep coming, reaches the
// client with every push of each stream once and in order, within the
// budget; for the first Resume of a resume=1 connection and for one in
// mid-connection.
func TestPagedReplaySwitchesToLiveExactly(t *testing.T) {
	for _, hold := range []bool{true, false} {
		t.Run(fmt.Sprint("hold=", hold), func(t *testing.T) {
			checkLeaks(t)
			svc := newTestService(t, Options{SendQueueBytes: 32 << 10})
			payload := make([]byte, 256)
			var ue, be string
			for range 200 {
				r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: payload})
				ue = r.Streams[0].Epoch
			}
			for range 100 {
				r, _ := svc.Broadcast(ctx(t), Message{Topic: "t", Payload: payload})
				be = r.Streams[0].Epoch
			}
			ft := &fakeTransport{}
			s, err := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: hold}, ft)
			if err != nil {
				t.Fatal(err)
			}
			users := uint64(200)
			if hold {
				// Published before the Resume arrives: held for it.
				for range 5 {
					_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "live", Payload: payload})
				}
				users += 5
			} else {
				ft.run() // the Welcome
			}
			if err := s.HandleFrame(ctx(t), resumeFrame(t,
				&clientv1.StreamPosition{Stream: "user:alice", Epoch: ue},
				&clientv1.StreamPosition{Stream: engine.BroadcastStream, Epoch: be})); err != nil {
				t.Fatal(err)
			}
			live := 0
			drainChecked(t, s, ft, func() bool {
				if live < 20 {
					// One of each between two writer tasks, while pages go.
					_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "live", Payload: payload})
					_, _ = svc.Broadcast(ctx(t), Message{Topic: "live", Payload: payload})
					live++
					return false
				}
				return len(ft.pushes(t)) >= int(users)+20+120
			})
			waitResumeIdle(t, s)
			ps := ft.pushes(t)
			assertRange(t, "user:alice", offsetsOf(ps, "user:alice"), 1, users+20)
			assertRange(t, "broadcast", offsetsOf(ps, engine.BroadcastStream), 1, 120)
			if frames := ft.decoded(t); hold && frames[1].GetResumeResult() == nil {
				t.Errorf("second frame %v, want the ResumeResult before any push", frames[1])
			}
			if len(ft.closes()) != 0 {
				t.Errorf("closed: %v", ft.closes())
			}
		})
	}
}

// TestReplayAbandonedWhenHistoryExpires: history expires while a replay
// is paged. The client learns it from a second StreamResult,
// recovered:false, pointing just before the live pushes that follow.
func TestReplayAbandonedWhenHistoryExpires(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	checkLeaks(t)
	svc := newTestService(t, Options{SendQueueBytes: 16 << 10, HistoryTTL: time.Minute, Now: clock})
	var epoch string
	for range 40 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: make([]byte, 1024)})
		epoch = r.Streams[0].Epoch
	}
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft)
	if err := s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "user:alice", Epoch: epoch})); err != nil {
		t.Fatal(err)
	}
	// 40 KiB missed, 8 KiB for the replay: a page is queued, the rest waits.
	now.Add(int64(2 * time.Minute))
	_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "live"}) // offset 41, held
	drainChecked(t, s, ft, func() bool {
		offs := offsetsOf(ft.pushes(t), "user:alice")
		return len(resumeResults(t, ft)) == 2 && len(offs) > 0 && offs[len(offs)-1] == 41
	})
	waitResumeIdle(t, s)
	rrs := resumeResults(t, ft)
	first, late := rrs[0].GetStreams()[0], rrs[1].GetStreams()[0]
	if !first.GetRecovered() || first.GetOffset() != 40 {
		t.Errorf("first result %v, want recovered up to 40", first)
	}
	if late.GetStream() != "user:alice" || late.GetRecovered() || late.GetOffset() != 40 || late.GetEpoch() != epoch {
		t.Errorf("late result %v, want user:alice not recovered at 40", late)
	}
	offs := offsetsOf(ft.pushes(t), "user:alice")
	k := len(offs) - 1
	if k == 0 || k >= 40 {
		t.Fatalf("replayed %d before history expired, want a first page only", k)
	}
	assertRange(t, "replay", offs[:k], 1, uint64(k))
	// The late result comes between the replay and the live push.
	var order []string
	for _, f := range ft.decoded(t) {
		switch {
		case f.GetResumeResult() != nil:
			order = append(order, "result")
		case f.GetPush() != nil && f.GetPush().GetOffset() == 41:
			order = append(order, "41")
		}
	}
	if fmt.Sprint(order) != "[result result 41]" {
		t.Errorf("frames in order %v, want [result result 41]", order)
	}
}

// TestReplayGoesOnWhileLivePushesWait: live pushes held for a replay in
// mid-connection take the replay's half of the budget. They wait for this
// very replay, so they must not stall it: once the writer is idle the
// next replayed push goes whatever is held, and the stream is recovered,
// with every push once and in order. (Counting the held pushes gave the
// replay up as soon as a push bigger than a quarter of the budget was
// held, which a slow consumer cut with 4003 on a small budget hit on its
// very first Resume.)
func TestReplayGoesOnWhileLivePushesWait(t *testing.T) {
	svc, ce := newCountingService(t, Options{SendQueueBytes: 16 << 10})
	payload := make([]byte, 2048) // 3 frames fit in half the budget, 4 do not
	var epoch string
	for range 10 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: payload})
		epoch = r.Streams[0].Epoch
	}
	s, ft := connect(t, svc, "alice")
	ft.run()
	if err := s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "user:alice", Epoch: epoch})); err != nil {
		t.Fatal(err)
	}
	entered, release := ce.holdNextSince()
	ft.run() // writes the first page; the replay asks for the next
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the replay never asked for its next page")
	}
	for range 3 {
		if r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "live", Payload: payload}); r.Delivered != 1 {
			t.Fatalf("held push not taken: %+v", r)
		}
	}
	close(release)
	drainChecked(t, s, ft, func() bool { return len(ft.pushes(t)) == 13 })
	waitResumeIdle(t, s)
	results := resumeResults(t, ft)
	if len(results) != 1 || !results[0].GetStreams()[0].GetRecovered() {
		t.Errorf("results %v, want one, recovered", results)
	}
	if offs := fmt.Sprint(offsetsOf(ft.pushes(t), "user:alice")); offs != "[1 2 3 4 5 6 7 8 9 10 11 12 13]" {
		t.Errorf("offsets %s, want the replay then the held pushes", offs)
	}
	if len(ft.closes()) != 0 {
		t.Errorf("closed: %v", ft.closes())
	}
}

// TestLivePushesOverflowingAReplayMakeASlowConsumer: live pushes that
// arrive faster than a replay drains, past the whole send budget, make
// the session a slow consumer (4003), as they would without a replay.
func TestLivePushesOverflowingAReplayMakeASlowConsumer(t *testing.T) {
	svc, ce := newCountingService(t, Options{SendQueueBytes: 16 << 10})
	payload := make([]byte, 2048)
	var epoch string
	for range 10 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: payload})
		epoch = r.Streams[0].Epoch
	}
	s, ft := connect(t, svc, "alice")
	ft.run()
	if err := s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "user:alice", Epoch: epoch})); err != nil {
		t.Fatal(err)
	}
	entered, release := ce.holdNextSince()
	ft.run()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the replay never asked for its next page")
	}
	for range 10 {
		_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "live", Payload: payload})
	}
	close(release)
	eventually(t, 10*time.Second, "a 4003 close", func() bool {
		for _, d := range ft.closes() {
			if d.Code == CodeSlowConsumer {
				return true
			}
		}
		return false
	})
	// The replay goroutine ends with its session: checkLeaks says so.
}
