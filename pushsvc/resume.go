package pushsvc

import (
	"context"
	"sync"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
)

// A Resume costs the node what the client reads, not what it asks for:
//
//   - each stream is looked up once per Resume, however often it is named,
//     and only streams the session follows reach the engine; the others
//     are answered recovered:false at once;
//   - a session answers one Resume at a time; Resumes that arrive
//     meanwhile wait, merged into one (the last position given for a
//     stream wins), and are answered together by one ResumeResult;
//   - at most maxResumeStreams distinct streams wait to be answered; the
//     streams past that are answered recovered:false at once;
//   - the replay is read from the engine in pages, each only as large as
//     the room left in half the session's send budget (SendQueueBytes and
//     SendQueueLen, counting what is queued, held and being written), and
//     the next page is read when the writer has drained the queue to a
//     quarter of it. Replayed pushes never take a session over half its
//     budget: the other half is room for the live pushes that arrive
//     meanwhile; but when the queue is empty the next replayed push goes
//     whatever its size and whatever waits in held, since held waits for
//     this very replay. A long gap is replayed in full, as far as history
//     still holds it.
//
// While a stream is named by a Resume that is not fully replayed, its live
// pushes wait in held (within the budget, as a resume=1 hold does), and go
// out after the replay, without the ones it carried: the switch from
// replay to live is exact, for the first Resume of a resume=1 connection
// and for a Resume in mid-connection alike. Should history lose the rest
// of a gap while it is paged (trimmed by new pushes, expired, a new
// epoch), so that the replay cannot go on, the stream gets a second
// StreamResult, recovered:false, from the position after which the client
// receives every push. Live pushes that overflow the whole budget while
// they wait make the session a slow consumer, as they would without a
// replay (4003, or drop-oldest). Pushes queued before a Resume in mid-connection arrived
// (not held) may precede its answer and replay; the client drops what it
// already has by offset.

// maxResumeStreams bounds the distinct streams a session's waiting Resumes
// may name: far more than a session follows (its user stream, broadcast,
// its groups), and a bound on the engine calls and the memory one client
// can cause.
const maxResumeStreams = 1024

// maxReplayPage bounds the publications one engine call reads.
const maxReplayPage = 512

// resumeState is a session's Resume work: the Resumes waiting to be
// answered and the replay of the one answered. A session has one only
// while there is such work.
type resumeState struct {
	// immutable after newResumeState
	ctx    context.Context // the engine calls; canceled when the session closes or the service stops
	cancel context.CancelFunc
	wake   chan struct{} // the writer made room for a page; capacity 1

	// guarded by the session's mu
	busy    bool                // a goroutine answers or replays; no other may
	waiting bool                // the replay waits for wake
	asked   bool                // a Resume waits to be answered (it may name no stream)
	pending []engine.Position   // the waiting Resumes' positions, merged, by first appearance
	names   []string            // pending's streams
	index   map[string]int      // pending's index by stream
	hold    map[string]struct{} // streams whose live pushes wait in held
	streams []*replayStream     // the answered Resume's replays not fully queued, in order
	est     int                 // bytes per replayed frame, estimated for page sizes
}

// replayStream is one stream's replay, from next (exclusive) to to.
type replayStream struct {
	name string
	next engine.Position // the last publication queued or passed over
	to   engine.Position // the stream's position when the Resume was answered
}

func (s *Session) newResumeState() *resumeState {
	ctx, cancel := context.WithCancel(s.svc.replays.ctx)
	return &resumeState{
		ctx:    ctx,
		cancel: cancel,
		wake:   make(chan struct{}, 1),
		index:  make(map[string]int),
		hold:   make(map[string]struct{}),
		est:    max(s.svc.opts.SendQueueBytes/32, 1),
	}
}

// resume takes a Resume frame: it is merged with any Resume still
// waiting, and answered now unless another is being answered or replayed.
func (s *Session) resume(r *clientv1.Resume) {
	s.mu.Lock()
	if !s.acceptsLocked() {
		s.mu.Unlock()
		return
	}
	rp := s.beginResumeLocked()
	rp.asked = true
	var over []*clientv1.StreamResult
	for _, sp := range r.GetStreams() {
		name, pos := sp.GetStream(), engine.Position{Offset: sp.GetOffset(), Epoch: sp.GetEpoch()}
		if i, ok := rp.index[name]; ok {
			rp.pending[i] = pos
			continue
		}
		if len(rp.names) == maxResumeStreams {
			over = append(over, &clientv1.StreamResult{Stream: name})
			continue
		}
		rp.index[name] = len(rp.names)
		rp.names = append(rp.names, name)
		rp.pending = append(rp.pending, pos)
		// Held from now: a live push must not overtake the replay.
		rp.hold[name] = struct{}{}
	}
	run := !rp.busy
	rp.busy = true
	s.mu.Unlock()
	if len(over) > 0 {
		s.enqueue(resumeResultFrame(dedupeResults(over)))
	}
	if run {
		s.runResumes(rp, false)
	}
}

// dedupeResults drops repeated streams.
func dedupeResults(rs []*clientv1.StreamResult) []*clientv1.StreamResult {
	seen := make(map[string]struct{}, len(rs))
	out := rs[:0]
	for _, r := range rs {
		if _, ok := seen[r.Stream]; !ok {
			seen[r.Stream] = struct{}{}
			out = append(out, r)
		}
	}
	return out
}

func resumeResultFrame(rs []*clientv1.StreamResult) *Outbound {
	return marshalFrame(&clientv1.ServerFrame{Kind: &clientv1.ServerFrame_ResumeResult{
		ResumeResult: &clientv1.ResumeResult{Streams: rs}}})
}

// replayStep is what runResumes does next.
type replayStep int

const (
	stepDone replayStep = iota // nothing left, or the session is closing
	stepMore                   // go on at once
	stepWait                   // wait for the writer to make room
)

// runResumes answers the session's Resumes and replays them until none is
// left. It runs on the caller's goroutine (the connection's reader) until
// a replay must wait for the writer, and goes on from there in a goroutine
// of the service's replay group (onWorker).
func (s *Session) runResumes(rp *resumeState, onWorker bool) {
	for {
		switch s.advanceResume(rp) {
		case stepDone:
			return
		case stepWait:
			if !onWorker {
				s.svc.replays.spawn(func() { s.runResumes(rp, true) })
				return
			}
			select {
			case <-rp.wake:
			case <-rp.ctx.Done():
				return
			}
		}
	}
}

// advanceResume answers the waiting Resume or queues a page of the replay.
func (s *Session) advanceResume(rp *resumeState) replayStep {
	s.mu.Lock()
	if !s.acceptsLocked() {
		s.mu.Unlock()
		return stepDone
	}
	if len(rp.streams) == 0 {
		if !rp.asked {
			rp.busy = false
			s.endResumeLocked(rp)
			s.mu.Unlock()
			rp.cancel()
			return stepDone
		}
		names, pending := rp.names, rp.pending
		rp.asked, rp.names, rp.pending = false, nil, nil
		clear(rp.index)
		s.mu.Unlock()
		s.answer(rp, names, pending)
		return stepMore
	}
	if !s.roomForPageLocked() {
		rp.waiting = true
		s.mu.Unlock()
		return stepWait
	}
	st := rp.streams[0]
	from, limit := st.next, s.pageLimitLocked(rp)
	s.mu.Unlock()
	return s.replayPage(rp, st, from, limit)
}

// answer looks up each stream of a Resume once and queues the
// ResumeResult. The replays it leaves in rp.streams.
func (s *Session) answer(rp *resumeState, names []string, positions []engine.Position) {
	res := make([]*clientv1.StreamResult, len(names))
	looked := make([]bool, len(names)) // the streams the session follows
	var followed []*replayStream
	for i, name := range names {
		sr := &clientv1.StreamResult{Stream: name}
		res[i] = sr
		if !s.follows(name) {
			continue
		}
		looked[i] = true
		pos := positions[i]
		_, cur, ok, err := s.svc.engine.Since(rp.ctx, name, pos, 0)
		sr.Offset, sr.Epoch = cur.Offset, cur.Epoch
		if err != nil || !ok {
			continue
		}
		sr.Recovered = true
		followed = append(followed, &replayStream{name: name, next: engine.Position{Offset: pos.Offset, Epoch: cur.Epoch}, to: cur})
	}

	s.mu.Lock()
	if !s.acceptsLocked() {
		s.mu.Unlock()
		return
	}
	for i, sr := range res {
		if sr.Recovered {
			continue
		}
		// Its held pushes follow the result, which points just before
		// them: only what was published while the client was away needs a
		// resync. (A stream the session does not follow has none; not
		// looking saves a scan of held per name.)
		if looked[i] {
			if first := s.q.firstHeld(sr.Stream, sr.Epoch); first > 0 {
				sr.Offset = first - 1
			}
		}
		s.unholdLocked(rp, sr.Stream)
	}
	for _, st := range followed {
		if st.next.Offset >= st.to.Offset {
			s.endReplayLocked(rp, st) // nothing missed
		} else {
			rp.streams = append(rp.streams, st)
		}
	}
	if !s.queueControlLocked(resumeResultFrame(res)) {
		s.mu.Unlock()
		s.slowConsumer()
		return
	}
	// The resume=1 hold ends here: the held pushes of streams not being
	// replayed go out after the result.
	s.endHoldLocked()
	start := s.releaseLocked()
	s.mu.Unlock()
	if start {
		s.t.Schedule(&s.w)
	}
}

// replayPage reads up to limit publications of st after from and queues
// those that fit in the send budget.
func (s *Session) replayPage(rp *resumeState, st *replayStream, from engine.Position, limit int) replayStep {
	pubs, cur, ok, err := s.svc.engine.Since(rp.ctx, st.name, from, limit)
	// Encode outside the lock; a push this user is excluded from is
	// replayed as its marker, so that a replay has no hole either.
	frames := make([]*Outbound, len(pubs))
	bytes := 0
	for i, p := range pubs {
		if excluded(p, s.user) {
			frames[i] = encodeMarker(p)
		} else {
			frames[i] = encodePush(p)
		}
		bytes += len(frames[i].data)
	}

	s.mu.Lock()
	if !s.acceptsLocked() {
		s.mu.Unlock()
		return stepDone
	}
	if len(pubs) > 0 {
		rp.est = max(bytes/len(pubs), 1)
	}
	if err != nil || !ok {
		step := s.finishPageLocked(s.abandonLocked(rp, st, cur, err == nil))
		s.svc.opts.Logger.Debug("resume replay cut short: history lost the rest", "session", s.id, "stream", st.name, "at", st.next.Offset, "to", st.to.Offset, "err", err)
		return step
	}
	for i, p := range pubs {
		if p.Epoch != st.to.Epoch || p.Offset > st.to.Offset {
			break
		}
		o := frames[i]
		if !s.fitsLocked(len(o.data)) {
			break
		}
		s.q.push(o)
		st.next.Offset = p.Offset
	}
	switch {
	case st.next.Offset >= st.to.Offset:
		rp.streams = rp.streams[1:]
		s.endReplayLocked(rp, st)
		return s.finishPageLocked(true)
	case st.next.Offset > from.Offset:
		return s.finishPageLocked(true)
	case len(s.q.frames) > 0 || s.q.inflight > 0:
		// Not even the first one fit: try again when the writer is done.
		rp.waiting = true
		s.mu.Unlock()
		return stepWait
	default:
		// Nothing is queued and history gave nothing to queue, yet the
		// stream is not replayed to its end: a history that answers
		// recovered but holds nothing more.
		step := s.finishPageLocked(s.abandonLocked(rp, st, cur, false))
		s.svc.opts.Logger.Debug("resume replay cut short: history returned nothing", "session", s.id, "stream", st.name, "at", st.next.Offset, "to", st.to.Offset)
		return step
	}
}

// finishPageLocked releases what a page made releasable, unlocks, and
// schedules the writer. ok false means the session was aborted as a slow
// consumer.
func (s *Session) finishPageLocked(ok bool) replayStep {
	if !ok {
		s.mu.Unlock()
		s.slowConsumer()
		return stepDone
	}
	start := s.releaseLocked()
	s.mu.Unlock()
	if start {
		s.t.Schedule(&s.w)
	}
	return stepMore
}

// endReplayLocked ends st's replay, fully queued: held pushes it carried
// are dropped, and later live ones are released.
func (s *Session) endReplayLocked(rp *resumeState, st *replayStream) {
	s.q.dropHeld(st.name, st.to)
	if s.floors == nil {
		s.floors = make(map[string]engine.Position)
	}
	s.floors[st.name] = st.to
	s.unholdLocked(rp, st.name)
}

// abandonLocked gives up st's replay part way, when history no longer
// holds the rest (cur is the stream's position when curKnown) or when
// there is no room for it: a second StreamResult tells the client the
// stream is not recovered, from the position after which it receives
// every push. It reports false when queuing the result aborted the
// session.
func (s *Session) abandonLocked(rp *resumeState, st *replayStream, cur engine.Position, curKnown bool) bool {
	rp.streams = rp.streams[1:]
	s.q.dropHeld(st.name, st.next) // the replay carried these
	pos := st.to
	if curKnown && cur.Epoch != st.to.Epoch {
		pos = cur // history restarted
	}
	if first := s.q.firstHeld(st.name, pos.Epoch); first > 0 {
		pos.Offset = first - 1
	}
	s.unholdLocked(rp, st.name)
	return s.queueControlLocked(resumeResultFrame([]*clientv1.StreamResult{
		{Stream: st.name, Offset: pos.Offset, Epoch: pos.Epoch}}))
}

// unholdLocked stops holding name's live pushes, unless a waiting Resume
// names it again.
func (s *Session) unholdLocked(rp *resumeState, name string) {
	if _, again := rp.index[name]; !again {
		delete(rp.hold, name)
	}
}

// roomForPageLocked reports whether the writer has drained enough for the
// next page: to a quarter of the budget, or entirely.
func (s *Session) roomForPageLocked() bool {
	opts := &s.svc.opts
	if len(s.q.frames) == 0 && s.q.inflight == 0 {
		return true
	}
	return 4*(s.q.bytes+s.q.inflight) <= opts.SendQueueBytes && 4*s.q.pending() <= opts.SendQueueLen
}

// pageLimitLocked sizes the next page to the room left in the replay's
// half of the budget, by the frame size seen so far: the engine reads
// little more than will be queued.
func (s *Session) pageLimitLocked(rp *resumeState) int {
	opts := &s.svc.opts
	n := (opts.SendQueueBytes/2 - s.q.bytes - s.q.inflight) / rp.est
	return max(min(n, opts.SendQueueLen/2-s.q.pending(), maxReplayPage), 1)
}

// fitsLocked reports whether a replayed frame of size fits in the replay's
// half of the budget. Like enqueue, an idle writer takes one frame however
// big, so that a push bigger than half the budget cannot stall a replay;
// and held live pushes do not count for that, since they wait for this
// very replay: counting them gave the replay up as soon as one push bigger
// than a quarter of the budget arrived during it.
func (s *Session) fitsLocked(size int) bool {
	opts := &s.svc.opts
	if len(s.q.frames) == 0 && s.q.inflight == 0 {
		return true
	}
	return 2*(s.q.pending()+1) <= opts.SendQueueLen && 2*(s.q.bytes+s.q.inflight+size) <= opts.SendQueueBytes
}

// wakeReplayLocked tells a replay waiting for room that there is some.
func (s *Session) wakeReplayLocked() {
	if s.rp == nil || !s.rp.waiting || !s.roomForPageLocked() {
		return
	}
	s.rp.waiting = false
	select {
	case s.rp.wake <- struct{}{}:
	default:
	}
}

// follows reports whether the session receives stream name.
func (s *Session) follows(name string) bool {
	if name == engine.BroadcastStream {
		return true
	}
	if user, ok := engine.StreamUser(name); ok {
		return user == s.user
	}
	if g, ok := engine.StreamGroup(name); ok && g != "" {
		return s.svc.hub.receives(s, g)
	}
	return false
}

func excluded(p *engine.Publication, user string) bool {
	for _, u := range p.Exclude {
		if u == user {
			return true
		}
	}
	return false
}

// replayGroup owns the goroutines that go on replaying Resumes once a
// replay waits for a session's writer: at most one per session, each
// ending when its replay does, its session closes, or the group stops.
type replayGroup struct {
	ctx    context.Context // canceled by stop
	cancel context.CancelFunc

	mu      sync.Mutex // guards stopped and orders wg.Add before wg.Wait
	stopped bool
	wg      sync.WaitGroup
}

func newReplayGroup() *replayGroup {
	ctx, cancel := context.WithCancel(context.Background())
	return &replayGroup{ctx: ctx, cancel: cancel}
}

// spawn runs fn in a goroutine of the group, unless the group stopped.
func (g *replayGroup) spawn(fn func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// stop cancels every replay and waits for their goroutines.
func (g *replayGroup) stop() {
	g.mu.Lock()
	g.stopped = true
	g.cancel()
	g.mu.Unlock()
	g.wg.Wait()
}
