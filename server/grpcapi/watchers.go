package grpcapi

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// watchers counts the WatchStats streams open, on the node and per caller,
// against Capacity.MaxStatsWatchers and MaxStatsWatchersPerCaller.
type watchers struct {
	mu       sync.Mutex
	total    int             // guarded by mu
	byCaller map[*caller]int // guarded by mu; an entry per caller with a stream open
}

// acquire takes a slot for a stream of c (nil: a caller without a key,
// when Insecure, counted on the node only), or returns ResourceExhausted.
// release gives it back.
func (w *watchers) acquire(c *caller, limits Capacity) (release func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if limits.MaxStatsWatchers >= 0 && w.total >= limits.MaxStatsWatchers {
		return nil, status.Errorf(codes.ResourceExhausted, "%d WatchStats streams are open on this node, the most it serves", w.total)
	}
	if c != nil && limits.MaxStatsWatchersPerCaller >= 0 && w.byCaller[c] >= limits.MaxStatsWatchersPerCaller {
		return nil, status.Errorf(codes.ResourceExhausted, "this caller has %d WatchStats streams open, the most one caller may", w.byCaller[c])
	}
	w.total++
	if c != nil {
		if w.byCaller == nil {
			w.byCaller = make(map[*caller]int)
		}
		w.byCaller[c]++
	}
	return func() { w.release(c) }, nil
}

func (w *watchers) release(c *caller) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total--
	if c == nil {
		return
	}
	if w.byCaller[c]--; w.byCaller[c] == 0 {
		delete(w.byCaller, c)
	}
}
