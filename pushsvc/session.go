package pushsvc

import (
	"fmt"
	"slices"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

// Session is one client connection registered with the hub.
//
// Its state is three small machines, each written only in this file, by
// the transition methods below, under mu; other files ask questions
// (acceptsLocked, holdsLocked, ...):
//
//   - life: open → closing → closed, or open|closing → aborted; any of
//     these → removed once its transport is gone (Service.Disconnected,
//     Service.PeerClosed);
//   - writer: idle ⇄ scheduled, at most one flush scheduled or running;
//   - resume: none, awaiting (a resume=1 connection holds every push until
//     its first Resume is answered), active (Resumes being answered and
//     replayed hold the pushes of the streams they name).
//
// A transition that the machines do not allow panics in tests and is
// logged otherwise (illegal).
type Session struct {
	// immutable after newSession
	svc         *Service
	id          string
	user        string
	info        SessionInfo
	t           Transport
	connectedAt time.Time
	w           writer // the Writer its transport runs (writer.go)

	// groups are the groups this session receives. Guarded by its user's
	// hub shard lock; read through hub.receives.
	groups map[string]struct{}

	mu          lockorder.Mutex[lockorder.Session] // guards the state and the fields below
	life        lifecycle
	writerState writerState
	resumePhase resumePhase
	// reason says why it closes: set when it leaves lifeOpen. A pointer:
	// a value would make every open session 32 bytes bigger, past the
	// 384-byte size class it fits in.
	reason *Disconnect

	q         sendQueue    // frames waiting, held and being written (queue.go)
	holdTimer *time.Timer  // ends resumeAwaiting when no Resume comes; nil otherwise
	rp        *resumeState // the Resumes being answered or replayed; nil unless resumeActive or a Resume came while resumeAwaiting
	// floors are, per resumed stream, the position the replay covered: a
	// live push at or below it is a duplicate, which an engine whose
	// fan-out lags its history (Redis pub/sub) can deliver after the
	// replay. A floor goes once the stream has moved past it; nil when none.
	floors map[string]engine.Position

	waitMu lockorder.Mutex[lockorder.SessionWaits] // guards waits
	waits  []ackWait                               // receipts waiting for this session's Ack
}

// lifecycle is where a session is in its life.
type lifecycle uint8

const (
	// lifeOpen: it takes pushes.
	lifeOpen lifecycle = iota
	// lifeClosing: Close was asked; it takes nothing new, and the writer
	// writes what is queued, then closes the transport.
	lifeClosing
	// lifeClosed: the queue drained and the transport was told to close.
	lifeClosed
	// lifeAborted: Abort, or a slow consumer: the queue was dropped and the
	// transport told to close at once.
	lifeAborted
	// lifeRemoved: out of the hub, its transport gone; the queue dropped.
	lifeRemoved
)

// allows reports whether a session may go from l to next.
func (l lifecycle) allows(next lifecycle) bool {
	switch next {
	case lifeClosing:
		return l == lifeOpen
	case lifeClosed:
		return l == lifeClosing
	case lifeAborted:
		return l == lifeOpen || l == lifeClosing
	case lifeRemoved:
		return l != lifeRemoved
	}
	return false
}

func (l lifecycle) String() string {
	return [...]string{"open", "closing", "closed", "aborted", "removed"}[l]
}

// writerState says whether the session's writer has work on its
// transport.
type writerState uint8

const (
	// writerIdle: no flush is scheduled; the next frame queued schedules
	// one.
	writerIdle writerState = iota
	// writerScheduled: a flush is scheduled or running; it schedules
	// itself again for what arrives meanwhile.
	writerScheduled
)

func (w writerState) String() string { return [...]string{"idle", "scheduled"}[w] }

// resumePhase says which live pushes wait in the queue's held list.
type resumePhase uint8

const (
	// resumeNone: none; pushes go to the queue.
	resumeNone resumePhase = iota
	// resumeAwaiting: a resume=1 connection waits for its first Resume
	// to be answered (or for ResumeWait to pass): every push is held.
	resumeAwaiting
	// resumeActive: Resumes are answered and replayed (rp): the pushes
	// of the streams they name are held.
	resumeActive
)

func (r resumePhase) String() string { return [...]string{"none", "awaiting", "active"}[r] }

// allows reports whether a session may go from r to next.
func (r resumePhase) allows(next resumePhase) bool {
	switch next {
	case resumeNone:
		return true
	case resumeAwaiting:
		return false // only a new session starts there
	case resumeActive:
		return r != resumeActive
	}
	return false
}

// newSession makes a session of s over t in its first state: open, with
// the writer scheduled (for the Welcome, queueWelcome), and, for a
// resume=1 connection, holding every push until its Resume is answered.
// Nothing is written before the caller schedules the writer.
func newSession(s *Service, info SessionInfo, t Transport) *Session {
	sess := &Session{
		svc:         s,
		id:          newID(),
		user:        info.UserID,
		info:        info,
		t:           t,
		connectedAt: s.opts.Now(),
		writerState: writerScheduled,
	}
	sess.w.s = sess
	if info.AwaitResume {
		sess.resumePhase = resumeAwaiting
		sess.holdTimer = time.AfterFunc(s.opts.ResumeWait, sess.releaseHold)
	}
	return sess
}

// queueWelcome queues the Welcome, with the stream positions streams,
// ahead of every frame queued since newSession: the writer, scheduled
// since then, has written nothing yet.
func (s *Session) queueWelcome(streams []*clientv1.StreamPosition) {
	o := welcomeFrame(s, s.connectedAt, streams)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropsQueueLocked() {
		return // aborted while it connected; a graceful close still writes it
	}
	s.q.frames = slices.Insert(s.q.frames, 0, o)
	s.q.bytes += len(o.data)
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// Questions other files ask. The caller holds mu.

// acceptsLocked reports whether the session takes new frames.
func (s *Session) acceptsLocked() bool { return s.life == lifeOpen }

// dropsQueueLocked reports whether queued frames are dropped, not written:
// the session was aborted or removed.
func (s *Session) dropsQueueLocked() bool { return s.life == lifeAborted || s.life == lifeRemoved }

// holdsLocked reports whether a live push of stream waits in held: until
// the first Resume of a resume=1 connection is answered, and while a
// Resume naming stream is answered or replayed.
func (s *Session) holdsLocked(stream string) bool {
	switch s.resumePhase {
	case resumeAwaiting:
		return true
	case resumeActive:
		_, ok := s.rp.hold[stream]
		return ok
	}
	return false
}

// removed reports whether the session left the hub.
func (s *Session) removed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.life == lifeRemoved
}

// Lifecycle transitions.

// Close asks for a graceful close: what is queued is written first, then
// the transport sends d and closes. Later pushes are not queued.
func (s *Session) Close(d Disconnect) {
	s.mu.Lock()
	if s.life != lifeOpen {
		s.mu.Unlock()
		return
	}
	s.leaveOpenLocked(d, lifeClosing)
	// The flush closes once the queue is empty; a running one does when
	// it is done.
	start := s.wakeWriterLocked()
	s.mu.Unlock()
	if start {
		s.t.Schedule(&s.w)
	}
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

// abortLocked stops all writing and drops what is queued and held. It
// reports false when the transport was already told to close; otherwise
// the caller unlocks and calls finishAbort.
func (s *Session) abortLocked(d Disconnect) bool {
	switch s.life {
	case lifeOpen:
		s.leaveOpenLocked(d, lifeAborted)
	case lifeClosing:
		s.setLifeLocked(lifeAborted)
	default:
		return false
	}
	if d.Code == CodeSlowConsumer {
		s.noteSlowCutLocked()
	}
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

// drainedLocked ends a graceful close once the writer has written the
// queue: closing → closed. It reports the Disconnect the caller, unlocked,
// hands Transport.Close, and false when the session is not closing.
func (s *Session) drainedLocked() (Disconnect, bool) {
	if s.life != lifeClosing {
		return Disconnect{}, false
	}
	s.setLifeLocked(lifeClosed)
	return *s.reason, true
}

// remove marks the session as out of the hub, its transport gone, and
// drops what it still queues. It returns why the session closed: the
// reason it was closing with, or gone when it was open (its transport
// went first). It reports false when it was removed already.
func (s *Session) remove(gone Disconnect) (Disconnect, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.life {
	case lifeRemoved:
		return Disconnect{}, false
	case lifeOpen:
		s.leaveOpenLocked(gone, lifeRemoved)
	default:
		s.setLifeLocked(lifeRemoved)
	}
	s.dropQueueLocked()
	return *s.reason, true
}

// leaveOpenLocked records why the session closes and moves it from
// lifeOpen to next. Its Resume work ends: nothing more is held or
// replayed.
func (s *Session) leaveOpenLocked(d Disconnect, next lifecycle) {
	s.setLifeLocked(next)
	s.reason = &d
	s.stopHoldTimerLocked()
	if s.rp != nil {
		s.rp.cancel()
		s.rp = nil
	}
	s.setResumeLocked(resumeNone)
}

func (s *Session) setLifeLocked(next lifecycle) {
	if !s.life.allows(next) {
		s.illegal("life", s.life, next)
	}
	s.life = next
}

// Writer transitions.

// wakeWriterLocked schedules a flush unless one is: writer idle →
// scheduled. It reports whether the caller must, once unlocked, call
// Transport.Schedule.
func (s *Session) wakeWriterLocked() bool {
	if s.writerState == writerScheduled {
		return false
	}
	s.writerState = writerScheduled
	return true
}

// flushingLocked checks, as a flush starts, that it was scheduled.
func (s *Session) flushingLocked() {
	if s.writerState != writerScheduled {
		s.illegal("writer", s.writerState, "a flush")
	}
}

// writerDoneLocked ends a flush that has nothing left to write: writer
// scheduled → idle.
func (s *Session) writerDoneLocked() {
	if s.writerState != writerScheduled {
		s.illegal("writer", s.writerState, writerIdle)
	}
	s.writerState = writerIdle
}

// Resume transitions.

// beginResumeLocked returns the session's Resume work, making it when
// there is none: resume none → active. A resume=1 connection stays
// awaiting until this Resume is answered (endHoldLocked), which ResumeWait
// no longer bounds.
func (s *Session) beginResumeLocked() *resumeState {
	if s.rp == nil {
		s.rp = s.newResumeState()
	}
	s.stopHoldTimerLocked()
	if s.resumePhase == resumeNone {
		s.setResumeLocked(resumeActive)
	}
	return s.rp
}

// endHoldLocked ends the hold of a resume=1 connection: its first Resume
// was answered, ResumeWait passed, or its first frame was not a Resume.
// resume awaiting → active while a Resume is being answered, else → none.
// It does nothing in another phase.
func (s *Session) endHoldLocked() {
	if s.resumePhase != resumeAwaiting {
		return
	}
	s.stopHoldTimerLocked()
	if s.rp != nil {
		s.setResumeLocked(resumeActive)
	} else {
		s.setResumeLocked(resumeNone)
	}
}

// endResumeLocked ends rp, whose Resumes are all answered and replayed:
// resume active → none.
func (s *Session) endResumeLocked(rp *resumeState) {
	if s.rp != rp {
		return // the session closed meanwhile
	}
	s.rp = nil
	s.setResumeLocked(resumeNone)
}

// releaseHold ends a resume=1 hold that no Resume ended: ResumeWait
// passed, or the first frame was not a Resume. The pushes of streams a
// Resume names stay held for it.
func (s *Session) releaseHold() {
	s.mu.Lock()
	if s.resumePhase != resumeAwaiting {
		s.mu.Unlock()
		return
	}
	s.endHoldLocked()
	start := s.releaseLocked()
	s.mu.Unlock()
	if start {
		s.t.Schedule(&s.w)
	}
}

func (s *Session) stopHoldTimerLocked() {
	if s.holdTimer != nil {
		s.holdTimer.Stop()
		s.holdTimer = nil
	}
}

func (s *Session) setResumeLocked(next resumePhase) {
	if !s.resumePhase.allows(next) {
		s.illegal("resume", s.resumePhase, next)
	}
	s.resumePhase = next
}

// illegal reports a transition the session's machines do not allow: a
// bug. It panics under go test, so that every test checks the machines,
// and logs in a server, which goes on serving its other sessions.
func (s *Session) illegal(machine string, from, to any) {
	msg := fmt.Sprintf("pushsvc: session %s: illegal %s transition from %v to %v", s.id, machine, from, to)
	if testing.Testing() {
		panic(msg)
	}
	s.svc.opts.Logger.Error(msg)
}
