package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Pub/sub is fire-and-forget: while a node's subscription is down (Redis
// restarting, a network blip, a slow node cut off by Redis's output buffer
// limit) it misses what others publish, and those publishers may already
// have answered success. So the dispatcher remembers, for each stream this
// node has sessions for, the last position it delivered; when a later
// publication shows a gap, or right after resubscribing, it fetches the
// missed publications from history and delivers them first. Deliver thus
// sees every stream in offset order, without duplicates, and without gaps
// as long as history holds what was missed.
//
// A stream is remembered once a Deliver for it reached a session, and
// forgotten after a history TTL without publications. What is not
// repaired: a stream this node had delivered nothing of before the gap,
// and membership changes (Controls) published during the gap.

// rxState is the dispatcher's; only the dispatcher goroutine touches it.
type rxState struct {
	track     map[string]*tracked
	lastPrune time.Time
	resweep   [numPartitions]bool // partitions whose last sweep could not read everything
}

// tracked is the last publication of a stream this node delivered.
type tracked struct {
	epoch    string
	offset   uint64
	audience bool      // the last Deliver reached a session
	seen     time.Time // when it was delivered
}

func (rx *rxState) init() {
	rx.track = make(map[string]*tracked)
	rx.lastPrune = time.Now()
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

// onPub handles a live publication.
func (e *Engine) onPub(in *inPub) {
	p := in.pub
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
	n := e.deliver(in)
	switch {
	case n == 0:
		// Nobody here follows it: nothing to repair later. A session
		// that joins meanwhile resumes from history on its own.
		delete(e.rx.track, p.Stream)
	case t == nil:
		t = &tracked{}
		e.rx.track[p.Stream] = t
		fallthrough
	default:
		t.advance(p, n)
	}
}

func (t *tracked) advance(p *engine.Publication, n int) {
	t.epoch, t.offset, t.audience, t.seen = p.Epoch, p.Offset, n > 0, time.Now()
}

// deliver hands one publication to the handler and answers its origin.
func (e *Engine) deliver(in *inPub) int {
	if in.origin == e.opts.NodeID {
		in.pub.Local = e.pending.local(in.id)
	}
	n := e.opts.Handler.Deliver(in.pub)
	e.answer(in.origin, in.id, n)
	return n
}

// repair delivers what history holds after t, when it holds all of it. It
// reports false when Redis could not be read.
func (e *Engine) repair(ctx context.Context, stream string, t *tracked) bool {
	ins, cur, ok, err := parseSince(e.sinceCmd(ctx, e.client, stream, engine.Position{Offset: t.offset, Epoch: t.epoch}))
	if err == nil && !ok && cur.Epoch != t.epoch && cur.Offset > 0 {
		// A new epoch began while we were away: all of it is missed.
		ins, _, ok, err = parseSince(e.sinceCmd(ctx, e.client, stream, engine.Position{}))
	}
	return e.applyRepair(stream, t, ins, ok, err)
}

// applyRepair delivers what a since script returned; false means Redis
// could not be read.
func (e *Engine) applyRepair(stream string, t *tracked, ins []*inPub, ok bool, err error) bool {
	switch {
	case err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT"):
		// A pipeline cannot fall back to EVAL: a master that restarted
		// since the sweep loaded the script. Ask again, one by one.
		ctx, cancel := e.cmdCtx(e.ctx)
		defer cancel()
		return e.repair(ctx, stream, t)
	case err != nil:
		e.log.Warn("cannot fetch missed publications", "stream", stream, "err", err)
		return false
	case !ok:
		e.log.Info("missed publications are no longer in history", "stream", stream, "after_offset", t.offset, "after_epoch", t.epoch)
		return true
	}
	for _, in := range ins {
		if !t.covers(in.pub) {
			t.advance(in.pub, e.deliver(in))
		}
	}
	return true
}

// sweepBatch bounds one pipeline of the sweep.
const sweepBatch = 256

// sweep runs after a subscription was confirmed again: it catches up every
// stream of its partitions this node has sessions for, for the
// publications that no later push will reveal. The partitions of streams
// it could not read are swept again on the next pong (resweep): a master
// just back may answer its subscribers before it serves commands.
func (e *Engine) sweep(partitions []int) {
	var in [numPartitions]bool
	for _, p := range partitions {
		in[p] = true
		e.rx.resweep[p] = false
	}
	var names []string
	for name, t := range e.rx.track {
		if t.audience && in[partitionOf(name)] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*e.opts.CommandTimeout)
	defer cancel()
	// On a cluster this loads the script on every master; if one is
	// down, the streams of the others can still be read, and a master
	// without the script makes applyRepair ask again one by one.
	if err := sinceScript.Load(ctx, e.client).Err(); err != nil {
		e.log.Debug("loading the since script failed", "err", err)
	}
	for len(names) > 0 {
		batch := names[:min(sweepBatch, len(names))]
		names = names[len(batch):]
		pos := make([]engine.Position, len(batch))
		for i, name := range batch {
			t := e.rx.track[name]
			pos[i] = engine.Position{Offset: t.offset, Epoch: t.epoch}
		}
		res, err := e.sinceMany(ctx, batch, pos)
		e.busy()
		if err != nil {
			e.log.Warn("catching up after resubscribing failed; will retry", "err", err)
			for _, name := range append(batch, names...) {
				e.rx.resweep[partitionOf(name)] = true
			}
			return
		}
		// Streams that began a new epoch meanwhile: all of it is missed.
		var again []string
		for i, r := range res {
			t := e.rx.track[batch[i]]
			if !r.ok && r.err == nil && r.cur.Epoch != t.epoch && r.cur.Offset > 0 {
				again = append(again, batch[i])
				continue
			}
			if !e.applyRepair(batch[i], t, r.ins, r.ok, r.err) {
				e.rx.resweep[partitionOf(batch[i])] = true
			}
		}
		if len(again) == 0 {
			continue
		}
		res, err = e.sinceMany(ctx, again, make([]engine.Position, len(again)))
		if err != nil {
			e.log.Warn("catching up after resubscribing failed; will retry", "err", err)
			for _, name := range append(again, names...) {
				e.rx.resweep[partitionOf(name)] = true
			}
			return
		}
		for i, r := range res {
			if !e.applyRepair(again[i], e.rx.track[again[i]], r.ins, r.ok, r.err) {
				e.rx.resweep[partitionOf(again[i])] = true
			}
		}
	}
}

// busy tells the keeper that the readers are not silent but waiting for
// the dispatcher, so that their pongs waiting behind a sweep do not get
// their subscriptions taken for dead.
func (e *Engine) busy() {
	now := time.Now().UnixNano()
	for _, s := range e.subs {
		s.lastRecv.Store(now)
	}
}

type sinceResult struct {
	ins []*inPub
	cur engine.Position
	ok  bool
	err error
}

// sinceMany runs the since script for many streams in one pipeline. The
// caller has loaded the script.
func (e *Engine) sinceMany(ctx context.Context, streams []string, pos []engine.Position) ([]sinceResult, error) {
	pipe := e.client.Pipeline()
	cmds := make([]*goredis.Cmd, len(streams))
	for i, s := range streams {
		cmds[i] = e.sinceCmd(ctx, pipe, s, pos[i])
	}
	if _, err := pipe.Exec(ctx); err != nil && !isReplyError(err) {
		// A connection failed. On a cluster that may be one master of
		// several: go on with the others' answers, unless none came.
		failed := 0
		for _, c := range cmds {
			if c.Err() != nil && !isReplyError(c.Err()) {
				failed++
			}
		}
		if failed == len(cmds) {
			return nil, err
		}
	}
	out := make([]sinceResult, len(streams))
	for i, c := range cmds {
		r := &out[i]
		r.ins, r.cur, r.ok, r.err = parseSince(c)
	}
	return out, nil
}

// isReplyError reports whether err is Redis's answer to one command, as
// opposed to a failure of the connection.
func isReplyError(err error) bool {
	var re goredis.Error
	return errors.As(err, &re)
}

// prune forgets streams without publications for a history TTL: their
// history is gone, there is nothing left to repair.
func (rx *rxState) prune(ttl time.Duration) {
	now := time.Now()
	if now.Sub(rx.lastPrune) < min(ttl, time.Minute) {
		return
	}
	rx.lastPrune = now
	for name, t := range rx.track {
		if now.Sub(t.seen) >= ttl {
			delete(rx.track, name)
		}
	}
}
