package pushsvc

import (
	"slices"
	"sync"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Transport is the socket under a session, provided by the WebSocket
// adapter. Write and WriteShared are called only from functions run by
// Schedule, so one writer at a time touches the socket.
type Transport interface {
	// Schedule runs fn soon on the connection's writer, after everything
	// scheduled before it. It must not block.
	Schedule(fn func())
	// Write writes one encoded ServerFrame. The transport must not keep
	// frame after Write returns.
	Write(frame []byte) error
	// WriteShared writes a frame queued to many sessions, preparing (and
	// compressing) it once for all of them through o.Prepared. The write
	// may complete after WriteShared returns, but before anything
	// scheduled later.
	WriteShared(o *Outbound) error
	// WriteSharedRun writes several frames as WriteShared does, each its
	// own message prepared once for every session, in as few socket writes
	// as the transport can. Compressed sessions use it for runs of
	// broadcast pushes: a PushBatch would be unique to the session, and
	// compressing it per session would undo compress-once.
	WriteSharedRun(os []*Outbound) error
	// Close sends d as a Disconnect frame where the socket still works,
	// then closes with d.Code. It may be called from any goroutine, more
	// than once; only the first call counts.
	Close(d Disconnect)
}

// SessionInfo describes a connection as the WebSocket adapter accepted it.
type SessionInfo struct {
	// UserID is the token's subject. Required.
	UserID string
	// Groups are the groups from the token, joined at connect.
	Groups []string
	// RemoteAddr and UserAgent are shown by presence.
	RemoteAddr string
	UserAgent  string
	// Compressed is true when permessage-deflate was negotiated.
	Compressed bool
	// TokenExpiry is when the token expires; zero when it does not.
	TokenExpiry time.Time
	// HeartbeatInterval is how often the transport checks that the client
	// is there; the Welcome frame tells the client. Zero: not told.
	HeartbeatInterval time.Duration
	// OnRefresh, when set, checks a RefreshToken frame's token; an error is
	// reported to the client in an Error frame.
	OnRefresh func(token string) error
	// AwaitResume says the client announced a Resume as its first frame:
	// live pushes are held until it arrives (or Options.ResumeWait passes),
	// so that the replay and live traffic meet with no gap, no duplicate
	// and in order.
	AwaitResume bool
}

// Session is one client connection registered with the hub.
type Session struct {
	// immutable after Connect
	svc         *Service
	id          string
	user        string
	info        SessionInfo
	t           Transport
	connectedAt time.Time
	flushFn     func() // s.flush, made once: a method value allocates

	// groups are the groups this session receives. Guarded by its user's
	// hub shard lock.
	groups map[string]struct{}

	mu         sync.Mutex // guards the queue, the close and resume state below
	queue      []*Outbound
	spare      []*Outbound  // the previous queue's array, reused
	queueBytes int          // bytes queued and held
	inflight   int          // bytes the running flush took and has not written yet
	scheduled  bool         // a flush is scheduled or running
	closing    *Disconnect  // set once a close was asked for
	aborted    bool         // queued frames are dropped, not written
	closeSent  bool         // Transport.Close was called
	removed    bool         // unregistered from the hub
	holding    bool         // every push goes to held until the first Resume is answered
	held       []*Outbound  // pushes waiting for a Resume's answer or replay (holdsLocked)
	holdTimer  *time.Timer  // releases the hold when no Resume comes
	rp         *resumeState // the Resume being answered or replayed; nil when none
	// floors are, per resumed stream, the position the replay covered: a
	// live push at or below it is a duplicate, which an engine whose
	// fan-out lags its history (Redis pub/sub) can deliver after the
	// replay. A floor goes once the stream has moved past it; nil when none.
	floors map[string]engine.Position

	waitMu sync.Mutex // guards waits
	waits  []ackWait  // receipts waiting for this session's Ack
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// enqueue queues o to be written. It never blocks: when the queue is over
// its budget the slow-consumer policy applies at once. It reports whether o
// was queued.
func (s *Session) enqueue(o *Outbound) bool {
	size := len(o.data)
	s.mu.Lock()
	if s.closing != nil {
		s.mu.Unlock()
		return false
	}
	if s.floors != nil && o.pub != nil && s.belowFloorLocked(o.pub) {
		s.mu.Unlock()
		return true // the client has it from the replay
	}
	if !s.makeRoomLocked(size) {
		s.mu.Unlock()
		s.slowConsumer()
		return false
	}
	if o.push != nil && s.holdsLocked(o.pub.Stream) {
		s.held = append(s.held, o)
		s.queueBytes += size
		s.mu.Unlock()
		return true
	}
	s.queue = append(s.queue, o)
	s.queueBytes += size
	start := !s.scheduled
	s.scheduled = true
	s.mu.Unlock()
	if start {
		s.t.Schedule(s.flushFn)
	}
	return true
}

// queueControlLocked queues a frame that is not a push, as enqueue does.
// It reports false when the session was aborted as a slow consumer: the
// caller unlocks and calls slowConsumer.
func (s *Session) queueControlLocked(o *Outbound) bool {
	if !s.makeRoomLocked(len(o.data)) {
		return false
	}
	s.queue = append(s.queue, o)
	s.queueBytes += len(o.data)
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
	for s.pendingLocked() > 0 && (s.pendingLocked() >= opts.SendQueueLen || s.queueBytes+size > opts.SendQueueBytes) {
		if opts.SlowPolicy == SlowDropOldest && s.dropOldestLocked() {
			continue
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

// holdsLocked reports whether a live push of stream waits in held: until
// the first Resume of a resume=1 connection is answered, and while a
// Resume naming stream is answered or replayed.
func (s *Session) holdsLocked(stream string) bool {
	if s.holding {
		return true
	}
	if s.rp == nil {
		return false
	}
	_, ok := s.rp.hold[stream]
	return ok
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

// pendingLocked counts the frames waiting: queued and held.
func (s *Session) pendingLocked() int { return len(s.queue) + len(s.held) }

// dropOldestLocked drops the oldest waiting push, queued before held. Other
// frames (Welcome, ResumeResult, Pong, Error) are never dropped: the client
// could not tell they were lost. It reports false when no push waits.
func (s *Session) dropOldestLocked() bool {
	switch i := slices.IndexFunc(s.queue, func(o *Outbound) bool { return o.push != nil }); {
	case i == 0:
		s.queueBytes -= len(s.queue[0].data)
		s.queue[0] = nil
		s.queue = s.queue[1:]
	case i > 0:
		s.queueBytes -= len(s.queue[i].data)
		s.queue = slices.Delete(s.queue, i, i+1)
	case len(s.held) > 0: // held holds pushes only
		s.queueBytes -= len(s.held[0].data)
		s.held[0] = nil
		s.held = s.held[1:]
	default:
		return false
	}
	s.svc.stats.drops.Add(1)
	return true
}

func (s *Session) dropQueueLocked() {
	if n := s.pendingLocked(); n > 0 {
		s.svc.stats.drops.Add(uint64(n))
	}
	clear(s.queue)
	s.queue = s.queue[:0]
	clear(s.held)
	s.held = nil
	s.queueBytes = 0
	s.stopResumeLocked()
}

// flush runs on the transport's writer: it takes everything queued, writes
// it (batching pushes), and then either schedules itself again for what
// arrived meanwhile or, when a graceful close is pending and nothing is
// left, closes the transport.
func (s *Session) flush() {
	s.mu.Lock()
	items := s.queue
	s.queue, s.spare = s.spare[:0], nil
	for _, o := range items {
		s.queueBytes -= len(o.data)
		s.inflight += len(o.data)
	}
	aborted := s.aborted
	s.mu.Unlock()

	n := len(items)
	if !aborted && n > 0 {
		n = s.write(items)
	}

	s.mu.Lock()
	s.inflight = 0
	if rest := items[n:]; len(rest) > 0 && !s.aborted {
		// What follows a shared write goes back to the head of the
		// queue, for the flush scheduled below: it runs after the shared
		// write completes, so nothing overtakes it.
		q := make([]*Outbound, 0, len(rest)+len(s.queue))
		q = append(append(q, rest...), s.queue...)
		for _, o := range rest {
			s.queueBytes += len(o.data)
		}
		s.queue = q
	}
	clear(items)
	s.spare = items[:0]
	s.wakeReplayLocked()
	if len(s.queue) > 0 && !s.aborted {
		s.mu.Unlock()
		s.t.Schedule(s.flushFn)
		return
	}
	s.scheduled = false
	var d *Disconnect
	if s.closing != nil && !s.closeSent {
		s.closeSent = true
		d = s.closing
	}
	s.mu.Unlock()
	if d != nil {
		s.t.Close(*d)
	}
}

// write writes items in order: a lone frame as it is (shared frames through
// the transport's prepared form), runs of pushes as PushBatch frames, or,
// on a compressed session, runs of shared pushes through WriteSharedRun. A
// shared write completes on a task queued behind the running one, so write
// stops after one and returns how many items it took; the caller writes
// the rest in a flush scheduled after it. On a write error it reports all
// of them taken: the transport closes itself and the rest is dropped with
// the connection.
func (s *Session) write(items []*Outbound) int {
	var frames, raw uint64
	i := 0
	for i < len(items) {
		j, size := s.runEnd(items, i)
		o := items[i]
		var err error
		async := false
		switch {
		case j-i == 1:
			raw += uint64(len(o.data))
			frames++
			if o.shared {
				err, async = s.t.WriteShared(o), true
			} else {
				err = s.t.Write(o.data)
			}
		case o.shared && s.info.Compressed:
			raw += uint64(size)
			frames += uint64(j - i)
			err, async = s.t.WriteSharedRun(items[i:j]), true
		default:
			bp := batchBufs.Get().(*[]byte)
			buf := appendBatch((*bp)[:0], items[i:j])
			raw += uint64(len(buf))
			frames++
			err = s.t.Write(buf)
			*bp = buf
			batchBufs.Put(bp)
			s.svc.stats.batches.Add(1)
		}
		i = j
		if err != nil {
			i = len(items)
		}
		if async || err != nil {
			break
		}
	}
	s.svc.stats.messagesOut.Add(frames)
	s.svc.stats.bytesOutRaw.Add(raw)
	return i
}

// runEnd finds the run starting at items[i] that one write takes: a lone
// frame, or consecutive pushes within MaxBatchBytes. On a compressed
// session shared and unshared pushes do not mix, since they are written
// differently. It returns the run's end and its bytes.
func (s *Session) runEnd(items []*Outbound, i int) (int, int) {
	first := items[i]
	size := len(first.data)
	if first.push == nil {
		return i + 1, size
	}
	j := i + 1
	for ; j < len(items); j++ {
		o := items[j]
		if o.push == nil || size+len(o.data) > s.svc.opts.MaxBatchBytes ||
			(s.info.Compressed && o.shared != first.shared) {
			break
		}
		size += len(o.data)
	}
	return j, size
}

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// releaseLocked moves the held pushes that nothing holds any longer to the
// queue, in order. It reports whether the caller must schedule a flush.
func (s *Session) releaseLocked() bool {
	if len(s.held) > 0 {
		kept := s.held[:0]
		for _, o := range s.held {
			if s.holdsLocked(o.pub.Stream) {
				kept = append(kept, o)
			} else {
				s.queue = append(s.queue, o)
			}
		}
		clear(s.held[len(kept):])
		s.held = kept
		if len(kept) == 0 {
			s.held = nil
		}
	}
	return s.scheduleLocked()
}

// scheduleLocked marks a flush as scheduled when there is something to
// write and none is; it reports whether the caller must schedule it.
func (s *Session) scheduleLocked() bool {
	if s.scheduled || len(s.queue) == 0 {
		return false
	}
	s.scheduled = true
	return true
}

// releaseHold ends a resume=1 hold that no Resume ended: ResumeWait
// passed, or the first frame was not a Resume. The pushes of streams a
// Resume names stay held for it.
func (s *Session) releaseHold() {
	s.mu.Lock()
	if !s.holding {
		s.mu.Unlock()
		return
	}
	s.holding = false
	if s.holdTimer != nil {
		s.holdTimer.Stop()
		s.holdTimer = nil
	}
	start := s.releaseLocked()
	s.mu.Unlock()
	if start {
		s.t.Schedule(s.flushFn)
	}
}

// Close asks for a graceful close: what is queued is written first, then
// the transport sends d and closes. Later pushes are not queued.
func (s *Session) Close(d Disconnect) {
	s.mu.Lock()
	if s.closing != nil {
		s.mu.Unlock()
		return
	}
	s.closing = &d
	s.stopResumeLocked()
	if s.scheduled {
		// The running flush closes when the queue is empty.
		s.mu.Unlock()
		return
	}
	s.scheduled = true
	s.mu.Unlock()
	s.t.Schedule(s.flushFn)
}

// Abort closes at once: queued frames are dropped and the transport sends
// d and closes.
func (s *Session) Abort(d Disconnect) {
	s.mu.Lock()
	ok := s.abortLocked(d)
	s.mu.Unlock()
	if ok {
		s.finishAbort(d)
	}
}

// abortLocked stops all writing and drops what is queued. It reports false
// when the transport was already told to close.
func (s *Session) abortLocked(d Disconnect) bool {
	if s.closeSent {
		return false
	}
	if s.closing == nil {
		s.closing = &d
	}
	s.aborted, s.closeSent = true, true
	s.dropQueueLocked()
	return true
}

// finishAbort closes the transport of a session abortLocked stopped. It
// will never be written to again: out of the hub (presence, stats,
// fan-out) now, not when its socket finally gives up.
func (s *Session) finishAbort(d Disconnect) {
	s.t.Close(d)
	s.svc.Disconnected(s)
}
