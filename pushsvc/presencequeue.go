package pushsvc

import (
	"context"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

// presenceRetry is how long the presence writer waits after a failure.
const presenceRetry = time.Second

// presenceQueue carries this node's presence changes to the cluster off
// the hot paths: Disconnected can run inside a fan-out, which must never
// wait on the network.
//
// It holds at most one entry per session, not one per change: the entry
// says that the cluster has not seen the session's latest state, and the
// state is read when it is sent (the session's record, with its groups as
// they are then, or its removal). So while the cluster is unreachable the
// queue holds at most the live sessions and the closed ones whose removal
// must still be sent, however many connect and leave; a session that
// leaves before its record was ever sent costs nothing. Before, every
// connect and disconnect was queued: 50,000 connect/disconnect pairs
// during an outage left 100,000 updates.
//
// While the cluster is reachable, a session that leaves before its record
// was sent (shorter than one presence write) is still written, record
// then removal, so that its presence events are in the event log: a
// "blip". Blips wait only while writes succeed and fewer than maxBlips
// entries wait; the first failed write drops those waiting, and from
// then until a write succeeds such sessions cost nothing, as above.
type presenceQueue struct {
	mu      lockorder.Mutex[lockorder.PresenceQueue] // guards pending, failing and failures
	pending map[*Session]*presenceEntry
	failing bool          // the last write failed: no blips
	wake    chan struct{} // one token: pending changed
	stop    chan struct{}
	stopped chan struct{}

	failures uint64 // failed writes in all, for tests; guarded by mu

	// owned by the writer goroutine
	outage int // failed writes since the last success
	warn   *rateLimitedWarn
}

// maxBlips bounds the entries waiting while blips are kept.
const maxBlips = 10_000

// presenceEntry is a session whose state the cluster has not seen.
type presenceEntry struct {
	removed bool          // the session left the hub: send its removal
	closed  engine.Closed // how it left, for the presence events
	// sent: a write of the session's record was attempted, so the record
	// may be in the cluster (a failed write may still have reached it),
	// and its removal must be sent.
	sent bool
	gen  uint64 // counts changes, so that the writer sees one made while it wrote
}

func newPresenceQueue(s *Service) *presenceQueue {
	return &presenceQueue{
		pending: make(map[*Session]*presenceEntry),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		warn:    newRateLimitedWarn(s.opts.Logger, "presence updates failing: the cluster is unreachable; retrying"),
	}
}

// changed notes that sess's record must be written (it connected, or its
// groups changed). A session that has left is not registered again.
func (q *presenceQueue) changed(sess *Session) {
	q.mu.Lock()
	// Under q.mu: Disconnected removes sess before it calls q.removed,
	// so a change noted late, by a Control racing the disconnect, cannot
	// overwrite the removal.
	if sess.removed() {
		q.mu.Unlock()
		return
	}
	if e := q.pending[sess]; e != nil {
		e.gen++
	} else {
		q.pending[sess] = &presenceEntry{}
	}
	q.mu.Unlock()
	q.signal()
}

// removed notes that sess left the hub, as closed says. A session whose
// record was never written is written as a blip, or, while writes fail,
// forgotten: the cluster never sees it, nor its presence events.
func (q *presenceQueue) removed(sess *Session, closed engine.Closed) {
	q.mu.Lock()
	e := q.pending[sess]
	switch {
	case e == nil:
		// Nothing pending: its record was written.
		q.pending[sess] = &presenceEntry{removed: true, sent: true, closed: closed}
	case !e.sent && (q.failing || len(q.pending) >= maxBlips):
		// Never written: nothing to remove.
		delete(q.pending, sess)
		q.mu.Unlock()
		return
	default:
		e.removed, e.closed = true, closed
		e.gen++
	}
	q.mu.Unlock()
	q.signal()
}

func (q *presenceQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// len is the number of sessions waiting.
func (q *presenceQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// flush writes every pending session's state to c. It stops at the
// first failure and reports false: the rest waits for the retry. It
// stops too when the service closes, unless this is the final flush.
func (q *presenceQueue) flush(s *Service, c engine.Cluster, final bool) bool {
	q.mu.Lock()
	batch := make([]*Session, 0, len(q.pending))
	for sess := range q.pending {
		batch = append(batch, sess)
	}
	q.mu.Unlock()
	wrote := false
	for _, sess := range batch {
		select {
		case <-q.stop:
			if !final {
				return true // the service is closing
			}
		default:
		}
		q.mu.Lock()
		e := q.pending[sess]
		if e == nil {
			q.mu.Unlock()
			continue
		}
		removed, closed, gen, sent := e.removed, e.closed, e.gen, e.sent
		e.sent = true
		q.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
		var err error
		if !removed || !sent {
			// The record (again, after a group change), or first that of
			// a blip.
			err = c.Register(ctx, s.connOf(sess))
		}
		if removed && err == nil {
			err = c.Unregister(ctx, engine.Conn{SessionID: sess.id, UserID: sess.user, NodeID: s.opts.NodeID}, closed)
		}
		cancel()
		if err != nil {
			q.failed(s, err)
			return false
		}
		wrote = true
		q.mu.Lock()
		if e := q.pending[sess]; e != nil && e.gen == gen {
			delete(q.pending, sess)
		}
		q.mu.Unlock()
	}
	if wrote && q.outage > 0 {
		s.opts.Logger.Info("presence updates flowing again", "failed_attempts", q.outage)
		q.outage = 0
		q.warn.reset()
		q.mu.Lock()
		q.failing = false
		q.mu.Unlock()
	}
	return true
}

// failed counts a failed write and warns, once per outage and then once
// per warnEvery.
func (q *presenceQueue) failed(s *Service, err error) {
	q.outage++
	q.mu.Lock()
	q.failures++
	q.failing = true
	for sess, e := range q.pending {
		if e.removed && !e.sent {
			delete(q.pending, sess) // a blip: drop it, as if it had come now
		}
	}
	q.mu.Unlock()
	q.warn.warn(s.opts.Now(), "pending_sessions", q.len(), "err", err)
}
