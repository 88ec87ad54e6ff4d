package pushsvc

import (
	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

// Receipt says whether one session acknowledged a push.
type Receipt struct {
	UserID    string
	SessionID string
	Acked     bool
}

// receipt collects the acknowledgements of one push with an ack timeout.
// It rides the publication as engine.Message.Local, so pushes without a
// timeout carry nil and cost nothing.
type receipt struct {
	mu       lockorder.Mutex[lockorder.Receipt] // guards everything below
	entries  []Receipt
	sessions []*Session            // sessions[i] owes entries[i]
	pubs     []*engine.Publication // pubs[i] is what sessions[i] was sent
	pending  int                   // entries not acked and not cancelled
	sealed   bool                  // publishing is over: no more entries
	done     chan struct{}
}

func newReceipt() *receipt { return &receipt{done: make(chan struct{})} }

// ackWait is a receipt entry a session owes.
type ackWait struct {
	stream string
	epoch  string
	offset uint64
	r      *receipt
	idx    int
}

// expect records that sess is about to be sent p and registers the wait
// with the session. It returns the entry's index.
func (r *receipt) expect(sess *Session, p *engine.Publication) int {
	r.mu.Lock()
	idx := len(r.entries)
	r.entries = append(r.entries, Receipt{UserID: sess.user, SessionID: sess.id})
	r.sessions = append(r.sessions, sess)
	r.pubs = append(r.pubs, p)
	r.pending++
	r.mu.Unlock()
	sess.waitMu.Lock()
	sess.waits = append(sess.waits, ackWait{stream: p.Stream, epoch: p.Epoch, offset: p.Offset, r: r, idx: idx})
	sess.waitMu.Unlock()
	return idx
}

// cancel forgets entry idx: the push was not queued to sess.
func (r *receipt) cancel(sess *Session, idx int) {
	sess.dropWaits(r)
	r.mu.Lock()
	r.entries[idx].SessionID = "" // marks the entry as not sent
	r.pending--
	r.mu.Unlock()
}

func (r *receipt) acked(idx int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.entries[idx].Acked {
		r.entries[idx].Acked = true
		r.pending--
		r.closeIfDoneLocked()
	}
}

// seal ends publishing: the receipt completes when every entry is acked.
func (r *receipt) seal() {
	r.mu.Lock()
	r.sealed = true
	r.closeIfDoneLocked()
	r.mu.Unlock()
}

func (r *receipt) closeIfDoneLocked() {
	if r.sealed && r.pending == 0 {
		select {
		case <-r.done:
		default:
			close(r.done)
		}
	}
}

// finish stops waiting: sessions forget their waits and the entries of
// pushes that were sent are returned.
func (r *receipt) finish() []Receipt {
	r.mu.Lock()
	sessions := r.sessions
	r.mu.Unlock()
	for _, s := range sessions {
		s.dropWaits(r)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Receipt, 0, len(r.entries))
	for _, e := range r.entries {
		if e.SessionID != "" {
			out = append(out, e)
		}
	}
	return out
}

// unacked returns an ack-timeout Undelivered event for each entry sent
// and not acknowledged. Call it after finish.
func (r *receipt) unacked(s *Service) []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []engine.Event
	for i, e := range r.entries {
		if e.SessionID != "" && !e.Acked {
			out = append(out, s.undeliveredEvent(r.pubs[i], e.UserID, e.SessionID, engine.UndeliveredAckTimeout))
		}
	}
	return out
}

// ack settles the waits an Ack covers: same stream and epoch, offset at or
// past the wait's.
func (s *Session) ack(a *clientv1.Ack) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if len(s.waits) == 0 {
		return
	}
	keep := s.waits[:0]
	for _, w := range s.waits {
		if covers(a, w) {
			w.r.acked(w.idx)
			continue
		}
		keep = append(keep, w)
	}
	clear(s.waits[len(keep):])
	s.waits = keep
}

func covers(a *clientv1.Ack, w ackWait) bool {
	for _, p := range a.GetPositions() {
		if p.GetStream() == w.stream && p.GetOffset() >= w.offset && (p.GetEpoch() == "" || p.GetEpoch() == w.epoch) {
			return true
		}
	}
	return false
}

// dropWaits forgets the session's waits for r.
func (s *Session) dropWaits(r *receipt) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	keep := s.waits[:0]
	for _, w := range s.waits {
		if w.r != r {
			keep = append(keep, w)
		}
	}
	clear(s.waits[len(keep):])
	s.waits = keep
}
