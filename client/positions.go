package client

import (
	"slices"
	"strings"
	"sync"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// position is where the app is in one stream.
type position struct {
	// offset and epoch are the last push delivered to the app.
	offset uint64
	epoch  string
	// covered is, in epoch, the offset up to which the server said (in a
	// recovered ResumeResult) that it has sent, or is sending, every push
	// meant for this client. A jump in offsets within it is not a loss:
	// the pushes skipped excluded this client's user.
	covered uint64
}

// positions tracks, per stream, where the app is. The gap filler (gaps.go)
// decides from it which pushes are duplicates and which follow a gap; it
// builds the Resume sent on every connect, and the Acks.
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

// get returns stream's position and whether the stream is tracked.
func (p *positions) get(stream string) (position, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pos, ok := p.streams[stream]
	return pos, ok
}

// delivered records push offset of epoch as delivered to the app. The
// coverage of the epoch is kept, raised to covered.
func (p *positions) delivered(stream string, offset uint64, epoch string, covered uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.streams[stream]
	if old.epoch == epoch {
		covered = max(covered, old.covered)
	}
	p.streams[stream] = position{offset: offset, epoch: epoch, covered: covered}
}

// welcome takes the positions a Welcome carries for the streams without
// one: the stream's position when the connection started, before which
// nothing was the client's. A position the client has stays as it is, in
// whichever direction the Welcome's differs: the client's is where its
// app is.
func (p *positions) welcome(sps []*clientv1.StreamPosition) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sp := range sps {
		if sp.GetStream() == "" {
			continue
		}
		if _, ok := p.streams[sp.GetStream()]; !ok {
			p.streams[sp.GetStream()] = position{offset: sp.GetOffset(), epoch: sp.GetEpoch()}
		}
	}
}

// cover raises the coverage of stream in epoch to offset.
func (p *positions) cover(stream, epoch string, offset uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pos, ok := p.streams[stream]; ok && pos.epoch == epoch && offset > pos.covered {
		pos.covered = offset
		p.streams[stream] = pos
	}
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
