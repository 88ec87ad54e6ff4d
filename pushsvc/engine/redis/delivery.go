package redis

import (
	"context"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Ordinary delivery, on the dispatcher goroutine (receiver.go): a
// publication received on a partition channel goes to the node's
// Handler.Deliver once, in offset order per stream, and its count back to
// the publishing node (answer). The dispatcher remembers, per stream
// delivered to a session here, the last position it delivered (tracked):
// a publication that repeats one is dropped, and one that shows a gap is
// preceded by what history holds of the gap (repair.go). So is a
// publication of a stream the node has to catch up after a resubscribe
// (rxState.pending, catchup.go).

// onPub handles a live publication.
func (e *Engine) onPub(in *inPub) {
	p := in.pub
	if _, ok := e.rx.pending[p.Stream]; ok {
		// Its catch-up must come first. Whatever it reads, the live
		// publication moves the stream on.
		ctx, cancel := context.WithTimeout(e.ctx, 2*e.opts.CommandTimeout)
		e.catchUp(ctx, []string{p.Stream})
		cancel()
		delete(e.rx.pending, p.Stream)
	}
	t := e.rx.track[p.Stream]
	if t != nil {
		if t.covers(p) {
			return // a repair delivered it already
		}
		if t.gapBefore(p) {
			ctx, cancel := e.cmdCtx(e.ctx)
			e.repair(ctx, p.Stream, t)
			cancel()
			if t.covers(p) {
				return
			}
		}
	}
	e.record(p, e.deliver(in))
}

// deliver hands one publication to the handler and answers its origin,
// unless the origin takes its own count only.
func (e *Engine) deliver(in *inPub) int {
	mine := in.origin == e.opts.NodeID
	if mine {
		in.pub.Local = e.pending.local(in.id)
	}
	n := e.opts.Handler.Deliver(in.pub)
	if mine || !in.originOnly {
		e.answer(in.origin, in.id, n)
	}
	return n
}

// record notes that p was delivered to n sessions. A stream is tracked
// from its first delivery that reached a session; one nobody here
// followed costs no memory, and a session that joins it later resumes
// from history on its own.
func (e *Engine) record(p *engine.Publication, n int) {
	t := e.rx.track[p.Stream]
	if t == nil {
		if n == 0 {
			return
		}
		t = &tracked{}
		e.rx.track[p.Stream] = t
	}
	t.epoch, t.offset, t.audience, t.seen = p.Epoch, p.Offset, n > 0, time.Now()
	if n > 0 && p.Time.After(t.reached) {
		t.reached = p.Time
	}
}

// tracked is the last publication of a stream this node delivered.
type tracked struct {
	epoch    string
	offset   uint64
	audience bool      // the last Deliver reached a session
	seen     time.Time // when it was delivered
	// reached is the latest Publication.Time of those that reached a
	// session: until the catch-up window of its partition has passed
	// it, the stream stays tracked even without an audience, so that a
	// catch-up by time never delivers those again (prune).
	reached time.Time
}

// covers reports whether p was delivered already.
func (t *tracked) covers(p *engine.Publication) bool {
	return p.Epoch == t.epoch && p.Offset <= t.offset
}

// gapBefore reports whether publications between t and p are missing.
func (t *tracked) gapBefore(p *engine.Publication) bool {
	if p.Epoch == t.epoch {
		return p.Offset > t.offset+1
	}
	return p.Offset > 1
}

// rxState is the dispatcher's; only the dispatcher goroutine touches it.
type rxState struct {
	track     map[string]*tracked
	lastPrune time.Time
	resweep   [numPartitions]bool // partitions whose last sweep could not read everything
	// pending are followed streams not tracked when their subscription
	// came back, waiting for their catch-up: the earliest publication
	// time that may have been missed. Bounded by the streams sessions
	// here follow.
	pending map[string]time.Time
}

func (rx *rxState) init() {
	rx.track = make(map[string]*tracked)
	rx.pending = make(map[string]time.Time)
	rx.lastPrune = time.Now()
}
