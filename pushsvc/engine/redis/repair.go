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
// have answered success. The dispatcher repairs that, so that Deliver sees
// every stream a session here follows in offset order, without
// duplicates, and without gaps as long as history holds what was missed.
//
// What is repaired, and how:
//
//   - A stream this node delivered to a session (tracked): the dispatcher
//     remembers the last position it delivered. When a live publication
//     shows a gap, or right after resubscribing, it fetches what follows
//     that position from history (the since script) and delivers it
//     first. This is exact.
//   - A stream a session here follows (Handler.Streams) but that this node
//     delivered nothing of to a session before the gap, such as a user's
//     first push ever, published while the node was not subscribed: right
//     after resubscribing, the dispatcher reads the stream's newest
//     history entries (catchup.go) and delivers those published since the
//     subscription's anchor, less a slack (receiver.go): every
//     publication missed was published after the anchor, by a clock at
//     most clockSkew apart, at most CommandTimeout before it ran. This
//     reaches back a few seconds before the loss too. What it re-delivers
//     there reached no session here before (a stream that did is
//     tracked until the window has passed it, see prune), so no session
//     receives a push twice; a session that follows the stream since
//     then may receive a push published shortly before it connected, and
//     one that resumed meanwhile drops what its replay covered.
//
// What is not repaired: publications history no longer holds (trimmed past
// HistorySize, expired, or lost with Redis's data; logged), membership
// changes (Controls) published during the gap, and, for a stream not
// tracked, a publish that ran more than CommandTimeout after its publisher
// read its clock (its caller was told it failed). A client that still
// sees a gap asks for it with a Resume.
//
// Cost: a resubscribe reads, in pipelines of sweepBatch streams, one since
// script per tracked stream and catchUpProbe history entries per other
// followed stream (all of its history, at most HistorySize, for one that
// got more than that since the anchor), within 5 CommandTimeouts; what it
// could not read is swept again on the next pong, and a live publication
// of a stream still waiting is caught up first, alone. Measured on 2 shared
// cores with a local Redis, 10,000 followed streams not tracked take the
// dispatcher 67 ms when none missed anything, 147 ms when each missed 10
// pushes (BenchmarkCatchUpFollowed).

// clockSkew bounds how far apart the nodes' clocks may be: publication
// times come from the publishing node's clock, anchors from this one's.
// NTP keeps servers within milliseconds; a second leaves room.
const clockSkew = time.Second

// slack is how long before a subscription's anchor a publication it
// missed may say it was made: its publisher read its clock before the
// publish ran, at most CommandTimeout before (or the publish failed), on
// a clock at most clockSkew off.
func (e *Engine) slack() time.Duration { return e.opts.CommandTimeout + clockSkew }

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
			e.record(in.pub, e.deliver(in))
		}
	}
	return true
}

// sweepBatch bounds one pipeline of the sweep.
const sweepBatch = 256

// sweep runs after a subscription was confirmed again (since is then when
// the publications it may have missed began), and again on a pong while a
// sweep of its partitions could not read everything (since is zero). It
// catches up the streams of partitions that sessions here follow, and the
// tracked ones that reached a session last, for the publications that no
// later push will reveal. The partitions of streams it could not read are
// swept again on the next pong (resweep): a master just back may answer
// its subscribers before it serves commands.
func (e *Engine) sweep(partitions []int, since time.Time) {
	var in [numPartitions]bool
	for _, p := range partitions {
		in[p] = true
		e.rx.resweep[p] = false
	}
	followed := e.followed(&in)
	if !since.IsZero() {
		for name := range followed {
			if e.rx.track[name] != nil {
				continue
			}
			if old, ok := e.rx.pending[name]; !ok || since.Before(old) {
				e.rx.pending[name] = since
			}
		}
	}
	var names, untracked []string
	for name, t := range e.rx.track {
		if _, ok := followed[name]; (t.audience || ok) && in[partitionOf(name)] {
			names = append(names, name)
		}
	}
	for name := range e.rx.pending {
		if in[partitionOf(name)] {
			untracked = append(untracked, name)
		}
	}
	if len(names) == 0 && len(untracked) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*e.opts.CommandTimeout)
	defer cancel()
	if e.sweepTracked(ctx, names) {
		e.catchUp(ctx, untracked)
	} else {
		e.retry(untracked)
	}
}

// followed returns the streams of the given partitions that sessions here
// follow, from Handler.Streams.
func (e *Engine) followed(in *[numPartitions]bool) map[string]struct{} {
	all := e.opts.Handler.Streams()
	out := make(map[string]struct{}, len(all))
	for _, name := range all {
		if in[partitionOf(name)] {
			out[name] = struct{}{}
		}
	}
	return out
}

// retry has the partitions of streams swept again on their next pong.
func (e *Engine) retry(names []string) {
	for _, name := range names {
		e.rx.resweep[partitionOf(name)] = true
	}
}

// sweepTracked catches up tracked streams from their positions. It
// reports false when Redis could not be read at all.
func (e *Engine) sweepTracked(ctx context.Context, names []string) bool {
	if len(names) == 0 {
		return true
	}
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
			e.retry(append(batch, names...))
			return false
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
			e.retry(append(again, names...))
			return false
		}
		for i, r := range res {
			if !e.applyRepair(again[i], e.rx.track[again[i]], r.ins, r.ok, r.err) {
				e.rx.resweep[partitionOf(again[i])] = true
			}
		}
	}
	return true
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
	if err := execSome(ctx, pipe); err != nil {
		return nil, err
	}
	out := make([]sinceResult, len(streams))
	for i, c := range cmds {
		r := &out[i]
		r.ins, r.cur, r.ok, r.err = parseSince(c)
	}
	return out, nil
}

// execSome runs pipe and fails only when no command got an answer: a
// connection that failed on a Redis Cluster may be one master of several,
// and the caller goes on with the others' answers, each command carrying
// its own error.
func execSome(ctx context.Context, pipe goredis.Pipeliner) error {
	cmds, err := pipe.Exec(ctx)
	if err == nil || isReplyError(err) {
		return nil
	}
	for _, c := range cmds {
		if c.Err() == nil || isReplyError(c.Err()) {
			return nil
		}
	}
	return err
}

// isReplyError reports whether err is Redis's answer to one command, as
// opposed to a failure of the connection.
func isReplyError(err error) bool {
	var re goredis.Error
	return errors.As(err, &re)
}

// prune forgets streams without publications for a history TTL: their
// history is gone, there is nothing left to repair. A stream whose last
// publications reached no session is forgotten sooner, once what reached a
// session is older than any catch-up by time of its partition can reach
// back (sweep); until then it stays, so that such a catch-up never
// delivers those again. (An anchor does not move while its subscription is
// down.)
func (e *Engine) prune() {
	rx := &e.rx
	now := time.Now()
	ttl := e.opts.HistoryTTL
	if now.Sub(rx.lastPrune) < min(ttl, time.Minute) {
		return
	}
	rx.lastPrune = now
	// Publication times may run behind the order Redis ran them in by
	// up to a slack, so a window reaches back a slack more behind them.
	back := 3 * e.slack()
	var anchors [numPartitions]time.Time
	for _, s := range e.subs {
		for _, p := range s.partitions {
			anchors[p] = s.anchor
		}
	}
	for name, t := range rx.track {
		if now.Sub(t.seen) >= ttl {
			delete(rx.track, name)
			continue
		}
		anchor := anchors[partitionOf(name)]
		if !t.audience && !anchor.IsZero() && t.reached.Before(anchor.Add(-back)) {
			delete(rx.track, name)
		}
	}
}
