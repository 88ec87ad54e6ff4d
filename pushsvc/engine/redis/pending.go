package redis

import (
	"context"
	"slices"
	"sync"
	"time"
)

// pendingSet holds the requests of this node (publications and
// Disconnects) that wait for the nodes' counts. Publish and Disconnect add
// and remove them; the receiver adds counts and reads Local.
type pendingSet struct {
	self string     // this node's id; immutable after init
	mu   sync.Mutex // guards m and every waiter's fields
	m    map[uint64]*waiter
}

// waiter is one request. Counts may arrive before the request's PUBLISH
// has returned how many nodes received it: expect is -1 until then.
type waiter struct {
	local  any  // Message.Local, for this node's own Deliver
	own    bool // takes this node's count only (Options.LocalDelivered)
	expect int
	got    int // counts received
	sum    int // their total
	// from lists the nodes that sent them: a count sent twice (in a
	// pipeline that go-redis's cluster client retried) counts once.
	from  []string
	done  chan struct{}
	fired bool // done is closed
}

func (s *pendingSet) init(self string) {
	s.self = self
	s.m = make(map[uint64]*waiter)
}

// add registers request id; with own, only this node's count counts.
func (s *pendingSet) add(id uint64, local any, own bool) *waiter {
	w := &waiter{local: local, own: own, expect: -1, done: make(chan struct{})}
	s.mu.Lock()
	s.m[id] = w
	s.mu.Unlock()
	return w
}

func (s *pendingSet) remove(id uint64) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// local returns the Local of this node's request id, if it still waits.
func (s *pendingSet) local(id uint64) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.m[id]; w != nil {
		return w.local
	}
	return nil
}

// count records node's count for request id.
func (s *pendingSet) count(id uint64, node string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.m[id]
	if w == nil {
		return // answered after its request stopped waiting
	}
	if slices.Contains(w.from, node) || (w.own && node != s.self) {
		// A count sent twice, or one that a node of a version before
		// Options.LocalDelivered sent anyway.
		return
	}
	w.from = append(w.from, node)
	w.got++
	w.sum += n
	w.fireLocked()
}

// expectFrom sets how many nodes received request w.
func (s *pendingSet) expectFrom(w *waiter, nodes int) {
	s.mu.Lock()
	w.expect = nodes
	w.fireLocked()
	s.mu.Unlock()
}

func (w *waiter) fireLocked() {
	if !w.fired && w.expect >= 0 && w.got >= w.expect {
		w.fired = true
		close(w.done)
	}
}

// wait returns the sum of the counts once every node that received the
// request answered, or what arrived by timeout, ctx's end or stop.
func (s *pendingSet) wait(ctx context.Context, w *waiter, timeout time.Duration, stop <-chan struct{}) int {
	t := time.NewTimer(timeout)
	select {
	case <-w.done:
	case <-t.C:
	case <-ctx.Done():
	case <-stop:
	}
	t.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	return w.sum
}
