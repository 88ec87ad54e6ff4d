package redis

import (
	"context"
	"testing"
	"time"
)

// TestOwnWaiterTakesThisNodesCountOnly: a publication of a node with
// LocalDelivered sums this node's count alone, even when a node of an
// earlier version, which knows nothing of it, sends its count anyway; a
// count sent twice counts once.
func TestOwnWaiterTakesThisNodesCountOnly(t *testing.T) {
	var s pendingSet
	s.init("a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	own := s.add(1, nil, true)
	s.count(1, "old", 5)
	s.count(1, "a", 2)
	s.count(1, "a", 2)
	s.expectFrom(own, 1)
	if got := s.wait(ctx, own, time.Minute, nil); got != 2 {
		t.Errorf("own waiter: %d, want 2 (this node's count alone)", got)
	}

	all := s.add(2, nil, false)
	s.count(2, "old", 5)
	s.count(2, "a", 2)
	s.count(2, "old", 5)
	s.expectFrom(all, 2)
	if got := s.wait(ctx, all, time.Minute, nil); got != 7 {
		t.Errorf("waiter of every node: %d, want 7", got)
	}
}
