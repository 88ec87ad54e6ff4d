package client

import (
	"cmp"
	"log/slog"
	"slices"
	"strings"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// Gap filling (doc.go states the rules for apps and other SDKs).
//
// A stream's offsets grow by one per push. A push whose offset jumps past
// the last one delivered is held, with the later pushes of its stream, and
// the client sends a Resume naming that stream alone, from the last
// position delivered. The server answers with a ResumeResult for the
// stream, then the replayed pushes, oldest first; live pushes of the
// stream that the replay already carried are dropped by the server, and
// later ones follow the replay. The held pushes are delivered as the
// replay passes them, in order, each once. The Resume that opens every
// connection is handled the same way, for all its streams at once.
//
// Pushes that excluded this client's user (group pushes with
// exclude_user_ids) arrive as markers (Push.excluded), live and in
// replays, which take their offsets without reaching the app, so they
// open no gap. A jump that a replay does not fill is such pushes from a
// node that sends no markers: the ResumeResult's offset says up to where
// the server has sent everything meant for this client, so the jump is
// accepted. Nothing marks the end of a replay on the wire (a frame queued
// after it could evict it from a full send queue), so a replay is over
// when a push of the stream past its end arrives, or when none of it has
// arrived for FillTimeout. A hole past the end of a replay is asked for
// again. The stream is reported through OnResumeFailed, and the held
// pushes delivered, when the server answers recovered=false, when no
// answer comes within Options.FillTimeout, when a round fills nothing, or
// when more than Options.FillBuffer pushes would be held.

// fill is a Resume in flight for one stream, and the pushes of that stream
// held until its answer and replay have come.
type fill struct {
	epoch   string           // the epoch the Resume names
	last    uint64           // the last push of epoch delivered (0: none yet)
	covered uint64           // in epoch, jumps up to it are pushes excluded for this client
	held    []*clientv1.Push // pushes of epoch after last, by offset, each once
	later   []*clientv1.Push // pushes of other epochs, in arrival order, for after the fill

	// The current round: one Resume, its answer and its replay.
	from      uint64    // last when the Resume was sent
	coveredAt uint64    // covered when the Resume was sent
	deadline  time.Time // for the answer, then for the replay's next push
	answered  bool      // a recovered ResumeResult arrived
	cur       uint64    // its offset: where the replay ends
	seen      uint64    // the highest offset of the replay seen so far
	done      bool      // the replay is over
}

// gaps fills the gaps of one connection's streams. It is owned by the
// connection's ReadLoop goroutine, apart from start, which the run loop
// calls before ReadLoop starts.
type gaps struct {
	// immutable after newSession
	pos     *positions
	timeout time.Duration
	limit   int
	log     *slog.Logger
	send    func(*clientv1.ClientFrame) error
	emit    func(*clientv1.Push)         // delivers to the app
	failed  func(*clientv1.StreamResult) // reports a stream to the app
	arm     func(at time.Time)           // has expire run soon after at
	disarm  func()                       // no deadline is pending

	fills map[string]*fill
	stale map[string]int // ResumeResults still to come for Resumes given up on
	armed bool           // arm was called since the last disarm
}

// start registers the connection's first Resume, already sent. Called by
// the run loop before ReadLoop starts.
func (g *gaps) start(sps []*clientv1.StreamPosition, now time.Time) {
	for _, sp := range sps {
		f := &fill{epoch: sp.GetEpoch(), last: sp.GetOffset()}
		if pos, ok := g.pos.get(sp.GetStream()); ok && pos.epoch == f.epoch {
			f.covered = pos.covered
		}
		f.from, f.coveredAt, f.deadline = f.last, f.covered, now.Add(g.timeout)
		g.fills[sp.GetStream()] = f
	}
	g.schedule(now.Add(g.timeout))
}

// push takes one push from the server, or the marker of a push that
// excluded this client's user (Push.excluded), which takes its place in
// the stream's offsets and is never handed to the app.
func (g *gaps) push(p *clientv1.Push, now time.Time) {
	if p.GetOffset() == 0 || p.GetStream() == "" {
		if !p.GetExcluded() {
			g.emit(p) // untracked: nothing to order it by
		}
		return
	}
	if f := g.fills[p.GetStream()]; f != nil {
		g.hold(p.GetStream(), f, p, now)
		return
	}
	g.live(p, now)
}

// live handles a push of a stream without a fill.
func (g *gaps) live(p *clientv1.Push, now time.Time) {
	stream := p.GetStream()
	pos, ok := g.pos.get(stream)
	switch {
	case !ok:
		// The first push of a stream the client has no position in (a
		// group joined after the connect): nothing to compare it with.
		g.deliver(stream, p, 0)
	case p.GetEpoch() != pos.epoch:
		// A new epoch, or the first of a stream the server had nothing
		// of when it gave the position (epoch ""): it starts at 1.
		if p.GetOffset() == 1 {
			g.deliver(stream, p, 0)
			return
		}
		// Its first pushes are missing.
		g.open(stream, &fill{epoch: p.GetEpoch()}, p, now)
	case p.GetOffset() <= pos.offset:
		g.log.Debug("dropping duplicate push", "stream", stream, "offset", p.GetOffset())
	case p.GetOffset() == pos.offset+1 || p.GetOffset()-1 <= pos.covered:
		g.deliver(stream, p, pos.covered)
	default:
		g.open(stream, &fill{epoch: pos.epoch, last: pos.offset, covered: pos.covered}, p, now)
	}
}

// deliver records p and hands it to the app, unless it is a marker.
func (g *gaps) deliver(stream string, p *clientv1.Push, covered uint64) {
	g.pos.delivered(stream, p.GetOffset(), p.GetEpoch(), covered)
	if !p.GetExcluded() {
		g.emit(p)
	}
}

// open starts a fill of stream for the jump to p.
func (g *gaps) open(stream string, f *fill, p *clientv1.Push, now time.Time) {
	g.log.Debug("gap in a stream; asking the server for it", "stream", stream, "after", f.last, "epoch", f.epoch, "offset", p.GetOffset())
	f.held = []*clientv1.Push{p}
	g.fills[stream] = f
	g.request(stream, f, now)
}

// request sends the Resume of a new round of f.
func (g *gaps) request(stream string, f *fill, now time.Time) {
	f.from, f.coveredAt, f.deadline = f.last, f.covered, now.Add(g.timeout)
	f.answered, f.cur, f.seen, f.done = false, 0, 0, false
	g.schedule(f.deadline)
	err := g.send(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{
		Streams: []*clientv1.StreamPosition{{Stream: stream, Offset: f.last, Epoch: f.epoch}},
	}}})
	if err != nil {
		// The connection is failing: the next one's Resume asks again,
		// from the same position.
		g.log.Debug("asking for a gap failed", "stream", stream, "err", err)
	}
}

// hold takes a push of a stream being filled.
func (g *gaps) hold(stream string, f *fill, p *clientv1.Push, now time.Time) {
	switch {
	case p.GetEpoch() != f.epoch:
		if f.answered {
			f.done = true // live pushes moved on: the replay is over
		}
		f.later = append(f.later, p)
	default:
		if f.answered {
			if p.GetOffset() > f.cur {
				f.done = true // a live push: the replay is over
			} else if p.GetOffset() > f.seen {
				f.seen = p.GetOffset()
				f.deadline = now.Add(g.timeout) // the replay goes on
			}
		}
		if p.GetOffset() <= f.last {
			break // a duplicate
		}
		i, found := slices.BinarySearchFunc(f.held, p.GetOffset(), func(h *clientv1.Push, off uint64) int {
			return cmp.Compare(h.GetOffset(), off)
		})
		if !found {
			f.held = slices.Insert(f.held, i, p)
		}
	}
	if len(f.held)+len(f.later) > g.limit {
		g.log.Warn("too many pushes held for a gap; giving up on it", "stream", stream, "held", len(f.held)+len(f.later))
		g.giveUp(stream, f, nil, now)
		return
	}
	g.drain(stream, f, now)
}

// drain delivers the held pushes that nothing can come before any more,
// and ends the fill, starts its next round or gives up when the replay is
// over.
func (g *gaps) drain(stream string, f *fill, now time.Time) {
	for len(f.held) > 0 {
		h := f.held[0]
		// Below the highest replayed offset, what has not come will not:
		// the replay is in order. What it left out, up to its end, excluded
		// this client.
		final := f.done || (f.answered && h.GetOffset() <= f.seen)
		switch {
		case h.GetOffset() <= f.last:
			// The replay brought it.
		case h.GetOffset() == f.last+1 || (final && h.GetOffset()-1 <= f.covered):
			f.last = h.GetOffset()
			g.deliver(stream, h, f.covered)
		default:
			if !f.done {
				return // wait for the replay, or its end
			}
			if f.last > f.from || f.covered > f.coveredAt {
				// This round got somewhere; the hole past it opened
				// after the server read history (a push it dropped, or
				// one that excluded this client): ask again from here.
				g.request(stream, f, now)
				return
			}
			g.giveUp(stream, f, nil, now)
			return
		}
		f.held = f.held[1:]
	}
	if !f.answered {
		// A push missing from the queue arrived after all. The answer to
		// the Resume will still come: it is nobody's now.
		g.stale[stream]++
	}
	delete(g.fills, stream)
	g.replayLater(f, now)
}

// replayLater handles the pushes of other epochs held by a fill that ended.
func (g *gaps) replayLater(f *fill, now time.Time) {
	for _, p := range f.later {
		g.push(p, now)
	}
}

// result takes one stream's entry of a ResumeResult. The frame has no
// request id: answers come in the order the Resumes were sent, so the
// first answer for a stream is for the oldest Resume still unanswered.
func (g *gaps) result(sr *clientv1.StreamResult, now time.Time) {
	stream := sr.GetStream()
	if g.stale[stream] > 0 {
		if g.stale[stream]--; g.stale[stream] == 0 {
			delete(g.stale, stream)
		}
		return
	}
	f := g.fills[stream]
	if f != nil && !f.answered && f.epoch == "" && f.last == 0 && sr.GetRecovered() {
		// A Resume from a stream the server had nothing of: the answer
		// names the epoch the replay is of.
		f.epoch = sr.GetEpoch()
	}
	switch {
	case f != nil && f.answered:
		g.log.Debug("ignoring a second answer to a Resume", "stream", stream)
	case f == nil:
		// An answer to no Resume of this client's.
		if !sr.GetRecovered() {
			g.pos.reset(stream, sr.GetOffset(), sr.GetEpoch())
			g.failed(sr)
			return
		}
		g.pos.cover(stream, sr.GetEpoch(), sr.GetOffset())
	case !sr.GetRecovered() || sr.GetEpoch() != f.epoch:
		g.giveUp(stream, f, sr, now)
	default:
		f.answered, f.cur = true, sr.GetOffset()
		f.covered = max(f.covered, f.cur)
		f.deadline = now.Add(g.timeout) // for the replay's first push
		f.done = f.cur <= f.last        // nothing to replay
		g.pos.cover(stream, f.epoch, f.covered)
		g.schedule(f.deadline)
		g.drain(stream, f, now)
	}
}

// expire ends the rounds past their deadline: the replay of an answered
// one is over; an unanswered one gives up.
func (g *gaps) expire(now time.Time) {
	if len(g.fills) == 0 {
		if g.armed {
			g.armed = false
			g.disarm()
		}
		return
	}
	var next time.Time
	for _, stream := range g.streams() {
		f := g.fills[stream]
		if f == nil {
			continue
		}
		if now.Before(f.deadline) {
			if next.IsZero() || f.deadline.Before(next) {
				next = f.deadline
			}
			continue
		}
		g.log.Debug("no answer in time for a gap", "stream", stream, "answered", f.answered)
		if f.answered {
			f.done = true
			g.drain(stream, f, now)
		} else {
			g.giveUp(stream, f, nil, now)
		}
		if f := g.fills[stream]; f != nil && (next.IsZero() || f.deadline.Before(next)) {
			next = f.deadline // a new round
		}
	}
	switch {
	case len(g.fills) == 0:
		g.armed = false
		g.disarm()
	case !next.IsZero():
		g.schedule(next)
	}
}

// schedule has expire run soon after at.
func (g *gaps) schedule(at time.Time) {
	g.armed = true
	g.arm(at)
}

// giveUp reports a stream whose gap could not be filled, then delivers
// the held pushes in order. sr is the server's answer, when it said
// recovered=false.
func (g *gaps) giveUp(stream string, f *fill, sr *clientv1.StreamResult, now time.Time) {
	delete(g.fills, stream)
	if sr == nil && !f.answered {
		g.stale[stream]++ // its answer may still come
	}
	var report *clientv1.StreamResult
	switch {
	case len(f.held) > 0:
		// The client goes on from just before the first held push: the
		// next push it delivers is that one.
		report = &clientv1.StreamResult{Stream: stream, Offset: f.held[0].GetOffset() - 1, Epoch: f.epoch}
	case sr != nil:
		// Nothing held: the server's position is where the stream goes on.
		g.pos.reset(stream, sr.GetOffset(), sr.GetEpoch())
		report = sr
	default:
		report = &clientv1.StreamResult{Stream: stream, Offset: f.last, Epoch: f.epoch}
	}
	g.log.Info("stream not recovered", "stream", stream, "offset", report.GetOffset(), "epoch", report.GetEpoch())
	g.failed(report)
	for _, h := range f.held {
		if h.GetOffset() > f.last {
			f.last = h.GetOffset()
			g.deliver(stream, h, f.covered)
		}
	}
	g.replayLater(f, now)
}

// streams lists the streams being filled, sorted, so that what happens
// at once happens in a fixed order.
func (g *gaps) streams() []string {
	out := make([]string, 0, len(g.fills))
	for s := range g.fills {
		out = append(out, s)
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
