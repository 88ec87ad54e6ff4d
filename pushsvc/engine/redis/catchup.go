package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// Catching up a followed stream this node tracked no position of (see
// repair.go): its history is read from the newest end, and what was
// published since the publications it may have missed began is delivered,
// oldest first.

// catchUpProbe is how many of a stream's newest history entries the first
// read takes: a stream that got up to this many pushes while the node was
// away, and most got none, is settled in one pipelined read. A stream
// with more is read whole (at most HistorySize entries) in a second one.
const catchUpProbe = 8

// catchUp catches up the pending streams names, in pipelines of
// sweepBatch. A stream whose history could be read leaves pending; the
// partitions of the others are swept again on their next pong.
func (e *Engine) catchUp(ctx context.Context, names []string) {
	if e.opts.HistorySize == 0 {
		// No history: nothing to catch up from.
		for _, name := range names {
			delete(e.rx.pending, name)
		}
		return
	}
	for len(names) > 0 {
		batch := names[:min(sweepBatch, len(names))]
		names = names[len(batch):]
		probes, err := e.historyMany(ctx, batch, -catchUpProbe)
		e.busy()
		if err != nil {
			e.log.Warn("catching up followed streams failed; will retry", "err", err)
			e.retry(append(batch, names...))
			return
		}
		var whole []string
		for i, name := range batch {
			h := probes[i]
			switch {
			case h.err != nil:
				e.log.Warn("cannot read a followed stream's history", "stream", name, "err", h.err)
				e.retry([]string{name})
			case h.read == catchUpProbe && len(h.ins) > 0 && !h.ins[0].pub.Time.Before(e.rx.pending[name]):
				// Every entry read is recent: older ones may be too.
				whole = append(whole, name)
			default:
				e.deliverSince(name, h.ins, false)
			}
		}
		if len(whole) == 0 {
			continue
		}
		all, err := e.historyMany(ctx, whole, 0)
		e.busy()
		if err != nil {
			e.log.Warn("catching up followed streams failed; will retry", "err", err)
			e.retry(append(whole, names...))
			return
		}
		for i, name := range whole {
			if all[i].err != nil {
				e.log.Warn("cannot read a followed stream's history", "stream", name, "err", all[i].err)
				e.retry([]string{name})
				continue
			}
			e.deliverSince(name, all[i].ins, true)
		}
	}
}

// deliverSince delivers, of a pending stream's history entries (oldest
// first), the first one published since the stream's pending time and
// every one after it, and takes the stream out of pending. Publication
// times of different publishers need not follow the order Redis ran them
// in, but the missed publications are the newest ones: all that follow
// the first one that may have been missed.
func (e *Engine) deliverSince(name string, ins []*inPub, whole bool) {
	since := e.rx.pending[name]
	delete(e.rx.pending, name)
	if len(ins) == 0 {
		return
	}
	// The newest entry's epoch is the stream's. (The publish script
	// clears history when it starts an epoch.)
	epoch := ins[len(ins)-1].pub.Epoch
	first := -1
	for i, in := range ins {
		if in.pub.Epoch == epoch && !in.pub.Time.Before(since) {
			first = i
			break
		}
	}
	if first < 0 {
		return
	}
	if whole && first == 0 && ins[0].pub.Offset > 1 {
		e.log.Info("missed publications may no longer be in history", "stream", name, "oldest_offset", ins[0].pub.Offset, "epoch", epoch)
	}
	for _, in := range ins[first:] {
		if in.pub.Epoch != epoch {
			continue
		}
		if t := e.rx.track[name]; t != nil && t.covers(in.pub) {
			continue
		}
		e.record(in.pub, e.deliver(in))
	}
}

// history is one stream's history entries read by historyMany.
type history struct {
	ins  []*inPub // decoded, oldest first
	read int      // entries read, decoded or not
	err  error
}

// historyMany reads, in one pipeline, each stream's history entries from
// index start (negative: from the end) to the newest, decoded. An error
// means no stream could be read.
func (e *Engine) historyMany(ctx context.Context, streams []string, start int64) ([]history, error) {
	pipe := e.client.Pipeline()
	cmds := make([]*goredis.StringSliceCmd, len(streams))
	for i, s := range streams {
		cmds[i] = pipe.LRange(ctx, e.keys.history(s), start, -1)
	}
	if err := execSome(ctx, pipe); err != nil {
		return nil, err
	}
	out := make([]history, len(streams))
	for i, c := range cmds {
		vals, err := c.Result()
		if err != nil {
			out[i].err = err
			continue
		}
		out[i].read = len(vals)
		out[i].ins = make([]*inPub, 0, len(vals))
		for _, v := range vals {
			in, err := decodePub(v)
			if err != nil {
				e.log.Warn("skipping an undecodable history entry", "stream", streams[i], "err", err)
				continue
			}
			out[i].ins = append(out[i].ins, in)
		}
	}
	return out, nil
}
