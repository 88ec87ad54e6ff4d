package client

import (
	"slices"
	"strings"
	"sync"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// position is the last push delivered to the app in one stream.
type position struct {
	offset uint64
	epoch  string
}

// positions tracks, per stream, the last offset and epoch delivered to the
// app. It decides which pushes are duplicates, builds the Resume sent on
// every connect, and the Acks.
//
// It is written by the ReadLoop goroutine of the live connection and read by
// the run loop (Resume) and by app goroutines (Ack, Positions), hence the
// mutex. It survives reconnects: that is its whole point.
type positions struct {
	mu      sync.Mutex
	streams map[string]position // guarded by mu
}

func newPositions(initial []*clientv1.StreamPosition) *positions {
	p := &positions{streams: make(map[string]position, len(initial))}
	for _, sp := range initial {
		p.streams[sp.GetStream()] = position{offset: sp.GetOffset(), epoch: sp.GetEpoch()}
	}
	return p
}

// advance records push p as delivered and reports whether the app should see
// it. A push is a duplicate, and dropped, when the same stream and epoch has
// already reached its offset: a replay after Resume that overlaps pushes
// already delivered never reaches the app twice. A push of another epoch is
// always new: the stream's history was lost and its offsets restarted.
//
// Offset 0 is not a stream position (offsets start at 1), so such a push is
// delivered and not tracked: it cannot be resumed or deduplicated.
func (p *positions) advance(push *clientv1.Push) bool {
	if push.GetOffset() == 0 || push.GetStream() == "" {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, ok := p.streams[push.GetStream()]
	if ok && cur.epoch == push.GetEpoch() && push.GetOffset() <= cur.offset {
		return false
	}
	p.streams[push.GetStream()] = position{offset: push.GetOffset(), epoch: push.GetEpoch()}
	return true
}

// reset moves a stream to the server's current position, after the server
// reported it could not replay what was missed: what follows is new.
func (p *positions) reset(stream string, offset uint64, epoch string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streams[stream] = position{offset: offset, epoch: epoch}
}

// snapshot returns every tracked position, sorted by stream so that frames
// and tests are deterministic.
func (p *positions) snapshot() []*clientv1.StreamPosition {
	p.mu.Lock()
	out := make([]*clientv1.StreamPosition, 0, len(p.streams))
	for s, pos := range p.streams {
		out = append(out, &clientv1.StreamPosition{Stream: s, Offset: pos.offset, Epoch: pos.epoch})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b *clientv1.StreamPosition) int { return strings.Compare(a.Stream, b.Stream) })
	return out
}

// ackPositions returns, for the given pushes, the highest position per
// stream, in the order streams first appear. Untracked pushes (offset 0) are
// left out: there is no position to acknowledge.
func ackPositions(pushes []*clientv1.Push) []*clientv1.StreamPosition {
	var out []*clientv1.StreamPosition
	for _, push := range pushes {
		if push.GetOffset() == 0 || push.GetStream() == "" {
			continue
		}
		i := slices.IndexFunc(out, func(sp *clientv1.StreamPosition) bool { return sp.Stream == push.GetStream() })
		switch {
		case i < 0:
			out = append(out, &clientv1.StreamPosition{Stream: push.GetStream(), Offset: push.GetOffset(), Epoch: push.GetEpoch()})
		case out[i].Epoch != push.GetEpoch() || push.GetOffset() > out[i].Offset:
			// A later push of a new epoch supersedes the old one.
			out[i].Offset, out[i].Epoch = push.GetOffset(), push.GetEpoch()
		}
	}
	return out
}
