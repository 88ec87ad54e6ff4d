package grpcapi

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// watchers counts the streams of one watching method open, on the node and
// per caller, against that method's two limits: WatchStats' are
// Capacity.MaxStatsWatchers and MaxStatsWatchersPerCaller, WatchEvents'
// MaxEventWatchers and MaxEventWatchersPerCaller.
type watchers struct {
	// immutable after newWatchers
	method    string // names the streams in errors
	max       int    // streams on the node; negative: no limit
	perCaller int    // streams of one caller; negative: no limit

	mu       sync.Mutex
	total    int             // guarded by mu
	byCaller map[*caller]int // guarded by mu; an entry per caller with a stream open
}

func newWatchers(method string, max, perCaller int) *watchers {
	return &watchers{method: method, max: max, perCaller: perCaller}
}

// acquire takes a slot for a stream of c (nil: a caller without a key,
// when Insecure, counted on the node only), or returns ResourceExhausted.
// release gives it back.
func (w *watchers) acquire(c *caller) (release func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.max >= 0 && w.total >= w.max {
		return nil, status.Errorf(codes.ResourceExhausted, "%d %s streams are open on this node, the most it serves", w.total, w.method)
	}
	if c != nil && w.perCaller >= 0 && w.byCaller[c] >= w.perCaller {
		return nil, status.Errorf(codes.ResourceExhausted, "this caller has %d %s streams open, the most one caller may", w.byCaller[c], w.method)
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
