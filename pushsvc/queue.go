package pushsvc

import (
	"slices"

	"github.com/herald-push/herald/pushsvc/engine"
)

// sendQueue is a session's bounded send queue: the frames waiting for the
// writer, the pushes held for a Resume, and what the running flush took.
// Guarded by the session's mu. Its budget (Options.SendQueueBytes and
// SendQueueLen) counts frames and held together; the slow-consumer policy
// is applied when a frame is queued (makeRoomLocked), never later.
type sendQueue struct {
	frames   []*Outbound // waiting for the writer, in order
	spare    []*Outbound // the array of the frames the last flush took, reused
	held     []*Outbound // pushes held for a Resume (Session.holdsLocked), in order
	bytes    int         // of frames and held
	inflight int         // of the frames the running flush took and has not written yet
}

// pending counts the frames waiting: queued and held.
func (q *sendQueue) pending() int { return len(q.frames) + len(q.held) }

// push queues o for the writer.
func (q *sendQueue) push(o *Outbound) {
	q.frames = append(q.frames, o)
	q.bytes += len(o.data)
}

// hold puts o in held.
func (q *sendQueue) hold(o *Outbound) {
	q.held = append(q.held, o)
	q.bytes += len(o.data)
}

// take hands the writer every queued frame; they count as in flight until
// written.
func (q *sendQueue) take() []*Outbound {
	items := q.frames
	q.frames, q.spare = q.spare[:0], nil
	for _, o := range items {
		q.bytes -= len(o.data)
		q.inflight += len(o.data)
	}
	return items
}

// written ends the writer's turn with items, which it wrote (or, after a
// write error, dropped with the connection).
func (q *sendQueue) written(items []*Outbound) {
	q.inflight = 0
	clear(items)
	q.spare = items[:0]
}

// dropOldestPush drops the oldest waiting push, queued before held, and
// returns it. Other frames (Welcome, ResumeResult, Pong, Error) are never
// dropped: the client could not tell they were lost. It returns nil when
// no push waits.
func (q *sendQueue) dropOldestPush() *Outbound {
	var o *Outbound
	switch i := slices.IndexFunc(q.frames, func(o *Outbound) bool { return o.push != nil }); {
	case i == 0:
		o = q.frames[0]
		q.frames[0] = nil
		q.frames = q.frames[1:]
	case i > 0:
		o = q.frames[i]
		q.frames = slices.Delete(q.frames, i, i+1)
	case len(q.held) > 0: // held holds pushes only
		o = q.held[0]
		q.held[0] = nil
		q.held = q.held[1:]
	default:
		return nil
	}
	q.bytes -= len(o.data)
	return o
}

// drop empties the queue and held, and reports how many frames it dropped.
func (q *sendQueue) drop() int {
	n := q.pending()
	clear(q.frames)
	q.frames = q.frames[:0]
	clear(q.held)
	q.held = nil
	q.bytes = 0
	return n
}

// release moves the held pushes that holds no longer holds to the queue,
// in order.
func (q *sendQueue) release(holds func(stream string) bool) {
	if len(q.held) == 0 {
		return
	}
	kept := q.held[:0]
	for _, o := range q.held {
		if holds(o.pub.Stream) {
			kept = append(kept, o)
		} else {
			q.frames = append(q.frames, o)
		}
	}
	clear(q.held[len(kept):])
	q.held = kept
	if len(kept) == 0 {
		q.held = nil
	}
}

// dropHeld drops held pushes of stream at or below upTo: a replay carried
// them.
func (q *sendQueue) dropHeld(stream string, upTo engine.Position) {
	kept := q.held[:0]
	for _, o := range q.held {
		if o.pub.Stream == stream && o.pub.Epoch == upTo.Epoch && o.pub.Offset <= upTo.Offset {
			q.bytes -= len(o.data)
			continue
		}
		kept = append(kept, o)
	}
	clear(q.held[len(kept):])
	q.held = kept
}

// firstHeld returns the lowest offset of a held push of stream in epoch,
// or 0 when none is held.
func (q *sendQueue) firstHeld(stream, epoch string) uint64 {
	var first uint64
	for _, o := range q.held {
		if o.pub.Stream == stream && o.pub.Epoch == epoch && (first == 0 || o.pub.Offset < first) {
			first = o.pub.Offset
		}
	}
	return first
}

// enqueue queues o to be written. It never blocks: when the queue is over
// its budget the slow-consumer policy applies at once. It reports whether o
// was queued.
func (s *Session) enqueue(o *Outbound) bool {
	s.mu.Lock()
	if !s.acceptsLocked() {
		s.mu.Unlock()
		return false
	}
	if s.floors != nil && o.pub != nil && s.belowFloorLocked(o.pub) {
		s.mu.Unlock()
		return true // the client has it from the replay
	}
	if !s.makeRoomLocked(len(o.data)) {
		s.mu.Unlock()
		s.slowConsumer()
		return false
	}
	if o.push != nil && s.holdsLocked(o.pub.Stream) {
		s.q.hold(o)
		s.mu.Unlock()
		return true
	}
	s.q.push(o)
	start := s.wakeWriterLocked()
	s.mu.Unlock()
	if start {
		s.t.Schedule(&s.w)
	}
	return true
}

// queueControlLocked queues a frame that is not a push, as enqueue does,
// without waking the writer. It reports false when the session was aborted
// as a slow consumer: the caller unlocks and calls slowConsumer.
func (s *Session) queueControlLocked(o *Outbound) bool {
	if !s.makeRoomLocked(len(o.data)) {
		return false
	}
	s.q.push(o)
	return true
}

// makeRoomLocked applies the slow-consumer policy until a frame of size
// fits: drop-oldest drops the oldest waiting pushes; otherwise, or when no
// push is left to drop (other frames are never dropped), the session is
// aborted and makeRoomLocked reports false. A queue always takes one frame
// when empty, however big, so that a frame bigger than the budget cannot
// wedge a session.
func (s *Session) makeRoomLocked(size int) bool {
	opts := &s.svc.opts
	for s.q.pending() > 0 && (s.q.pending() >= opts.SendQueueLen || s.q.bytes+size > opts.SendQueueBytes) {
		if opts.SlowPolicy == SlowDropOldest {
			if o := s.q.dropOldestPush(); o != nil {
				s.noteDroppedLocked(o)
				s.svc.stats.drops.Add(1)
				continue
			}
		}
		s.abortLocked(DisconnectSlowConsumer)
		return false
	}
	return true
}

// slowConsumer closes a session that makeRoomLocked aborted.
func (s *Session) slowConsumer() {
	s.svc.stats.slowConsumers.Add(1)
	s.finishAbort(DisconnectSlowConsumer)
}

// dropQueueLocked drops every waiting frame, counting them as drops: the
// session was aborted or removed.
func (s *Session) dropQueueLocked() {
	if n := s.q.drop(); n > 0 {
		s.svc.stats.drops.Add(uint64(n))
	}
}

// releaseLocked moves the held pushes that nothing holds any longer to the
// queue. It reports whether the caller must, once unlocked, schedule the
// writer.
func (s *Session) releaseLocked() bool {
	s.q.release(s.holdsLocked)
	if len(s.q.frames) == 0 {
		return false
	}
	return s.wakeWriterLocked()
}

// belowFloorLocked reports whether p is covered by a replay, forgetting
// the floor once p's stream has moved past it.
func (s *Session) belowFloorLocked(p *engine.Publication) bool {
	f, ok := s.floors[p.Stream]
	if !ok {
		return false
	}
	if p.Epoch == f.Epoch && p.Offset <= f.Offset {
		return true
	}
	delete(s.floors, p.Stream)
	if len(s.floors) == 0 {
		s.floors = nil
	}
	return false
}
