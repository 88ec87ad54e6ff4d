package pushsvc

import (
	"runtime"
	"sync"

	"github.com/herald-push/herald/pushsvc/engine"
)

// node is this node as its engine sees it (engine.Handler): the engine
// hands it every publication of a stream with a session here (Deliver,
// below: the fan-out), every cluster-wide Control (cluster.go), and asks
// it which streams its sessions follow (followed.go).
type node struct {
	svc *Service // immutable
}

var _ engine.Handler = (*node)(nil)

// Deliver is the fan-out, the second stage of a push: it finds this
// node's sessions of p's stream in the hub (a copy, taken under the
// shard's read lock), encodes p once for all of them, and queues it to
// each (queue.go), which never blocks. It reports how many took it.
// The sessions of a group's users that p excludes get its exclusion
// marker instead (frame.go), also encoded once, which no count includes.
// The engine calls it in offset order per stream; the in-memory engine
// holds the stream's lock meanwhile.
func (n *node) Deliver(p *engine.Publication) int {
	s := n.svc
	targets := sessionSlices.Get().(*[]*Session)
	defer recycle(targets)
	if p.Stream == engine.BroadcastStream {
		*targets = s.hub.allSessions(*targets)
	} else if user, ok := engine.StreamUser(p.Stream); ok {
		*targets = s.hub.userSessions(*targets, user)
	} else if group, ok := engine.StreamGroup(p.Stream); ok {
		if len(p.Exclude) == 0 {
			*targets, _ = s.hub.groupSessions(*targets, nil, group, nil)
		} else {
			skipped := sessionSlices.Get().(*[]*Session)
			defer recycle(skipped)
			*targets, *skipped = s.hub.groupSessions(*targets, *skipped, group, p.Exclude)
			queueMarker(p, *skipped)
		}
	}
	if len(*targets) == 0 {
		return 0
	}
	o := encodePush(p)
	o.shared = len(*targets) > 1
	r, _ := p.Local.(*receipt)
	queued := 0
	for i, sess := range *targets {
		if i%fanoutSlice == fanoutSlice-1 {
			// Let a call that came meanwhile run: see fanoutSlice.
			runtime.Gosched()
		}
		idx := 0
		if r != nil {
			// The wait goes first: the Ack may come back before enqueue
			// returns.
			idx = r.expect(sess, p)
		}
		if sess.enqueue(o) {
			queued++
		} else if r != nil {
			r.cancel(sess, idx)
		}
	}
	s.stats.deliveries.Add(uint64(queued))
	return queued
}

// queueMarker queues p's exclusion marker to the sessions of the users p
// excludes, encoded once for all of them. It counts as no delivery.
func queueMarker(p *engine.Publication, skipped []*Session) {
	if len(skipped) == 0 {
		return
	}
	m := encodeMarker(p)
	m.shared = len(skipped) > 1
	for _, sess := range skipped {
		sess.enqueue(m)
	}
}

// recycle empties l and puts it back in sessionSlices.
func recycle(l *[]*Session) {
	clear(*l)
	*l = (*l)[:0]
	sessionSlices.Put(l)
}

// fanoutSlice is how many sessions the fan-out queues a push to before it
// yields the processor. Queueing to 10,000 sessions takes a few
// milliseconds on one core, and a gRPC call (a GetStats, a push to one
// user) that became runnable meanwhile would wait for all of it.
const fanoutSlice = 512

// sessionSlices recycles the fan-out's target lists: a broadcast to
// 10,000 sessions would otherwise allocate 80 KB each time.
var sessionSlices = sync.Pool{New: func() any { s := make([]*Session, 0, 64); return &s }}
