package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Publish implements engine.Engine. One script checks an idempotent id,
// assigns the offset, records history and the id, and publishes on the
// stream's partition channel, to every node, at once; then Publish waits
// for the count of every node that received it (this node's own included,
// with m's Local re-attached for its Deliver), up to ReplyTimeout or ctx's
// end; with Options.LocalDelivered, for this node's own only. An error
// means the script may not have run; a nil error with a low count means
// some node did not answer in time.
func (e *Engine) Publish(ctx context.Context, stream string, m engine.Message) (*engine.Publication, int, error) {
	if e.closed() {
		return nil, 0, ErrClosed
	}
	id := e.seq.Add(1)
	now := e.now()
	own := e.opts.LocalDelivered
	body := appendPubBody(make([]byte, 0, 64+len(stream)+len(m.ID)+len(m.Topic)+len(m.Payload)), e.opts.NodeID, id, own, stream, now, &m)
	// The count of this node's Deliver, and Local, go through the
	// waiter: register it before the script can publish.
	w := e.pending.add(id, m.Local, own)
	defer e.pending.remove(id)

	keys := []string{e.keys.streamState(stream), e.keys.history(stream)}
	if m.Idempotent {
		keys = append(keys, e.keys.messageID(stream, m.ID))
	}
	res, err := e.batch.publish(ctx, keys, []any{
		randomID(), ttlMillis(e.opts.HistoryTTL), e.opts.HistorySize, e.keys.fanoutOf(stream),
		expiry(now, m.TTL, e.opts.HistoryTTL), body,
	}, len(body))
	if err != nil {
		return nil, 0, unavailable(ctx, "publish to "+strconv.Quote(stream), err)
	}
	if len(res) != 4 {
		return nil, 0, fmt.Errorf("redis: publish to %q: %w: unexpected reply %v", stream, engine.ErrUnavailable, res)
	}
	off, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	receivers, _ := res[2].(int64)
	dup, _ := res[3].(int64)
	if dup == 1 {
		return &engine.Publication{Message: m, Stream: stream, Offset: uint64(off), Epoch: epoch}, 0, engine.ErrDuplicate
	}
	p := &engine.Publication{Message: m, Stream: stream, Offset: uint64(off), Epoch: epoch, Time: now}
	if own {
		// This node's own subscription is among the receivers, but
		// while it resubscribes: then the wait ends with ReplyTimeout.
		e.pending.expectFrom(w, min(int(receivers), 1))
	} else {
		e.pending.expectFrom(w, e.expected(ctx, receivers))
	}
	return p, e.pending.wait(ctx, w, e.opts.ReplyTimeout, e.stop), nil
}

// Since implements engine.Engine with the in-memory engine's answers,
// read atomically by one script.
func (e *Engine) Since(ctx context.Context, stream string, pos engine.Position, limit int) ([]*engine.Publication, engine.Position, bool, error) {
	if e.closed() {
		return nil, engine.Position{}, false, ErrClosed
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	ins, cur, ok, err := parseSince(e.sinceLimitCmd(cctx, e.client, stream, pos, limit))
	if err != nil {
		return nil, engine.Position{}, false, unavailable(ctx, "since on "+strconv.Quote(stream), err)
	}
	var pubs []*engine.Publication
	if len(ins) > 0 {
		pubs = make([]*engine.Publication, len(ins))
		for i, in := range ins {
			pubs[i] = in.pub
		}
	}
	return pubs, cur, ok, nil
}

// Positions implements engine.Engine: one HMGET of each stream's state
// hash, all in one pipeline (on a Redis Cluster, one per master holding
// some of them, sent in parallel), so a connect pays one round trip
// however many streams its session follows. The publish script assigns
// an offset and writes it to the hash in one atomic step, so a position
// read covers exactly the publications placed before it. A missing hash
// (never published, or idle past the history TTL) is the zero position:
// the next publication starts a new epoch at offset 1.
func (e *Engine) Positions(ctx context.Context, streams []string) ([]engine.Position, error) {
	if e.closed() {
		return nil, ErrClosed
	}
	out := make([]engine.Position, len(streams))
	if len(streams) == 0 {
		return out, nil
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	pipe := e.client.Pipeline()
	cmds := make([]*goredis.SliceCmd, len(streams))
	for i, s := range streams {
		cmds[i] = pipe.HMGet(cctx, e.keys.streamState(s), "e", "o")
	}
	if _, err := pipe.Exec(cctx); err != nil {
		return nil, unavailable(ctx, "positions", err)
	}
	for i, c := range cmds {
		vals := c.Val()
		if len(vals) != 2 {
			return nil, fmt.Errorf("redis: positions of %q: %w: unexpected reply %v", streams[i], engine.ErrUnavailable, vals)
		}
		epoch, _ := vals[0].(string)
		off, _ := vals[1].(string)
		if epoch == "" {
			continue
		}
		n, err := strconv.ParseUint(off, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("redis: positions of %q: %w: offset %q", streams[i], engine.ErrUnavailable, off)
		}
		out[i] = engine.Position{Offset: n, Epoch: epoch}
	}
	return out, nil
}

// sinceCmd runs the since script on c (the client, or a pipeline) for
// every publication after pos.
func (e *Engine) sinceCmd(ctx context.Context, c goredis.Scripter, stream string, pos engine.Position) *goredis.Cmd {
	return e.sinceLimitCmd(ctx, c, stream, pos, -1)
}

// sinceLimitCmd runs the since script on c for at most limit publications
// after pos (all when negative).
func (e *Engine) sinceLimitCmd(ctx context.Context, c goredis.Scripter, stream string, pos engine.Position, limit int) *goredis.Cmd {
	keys := []string{e.keys.streamState(stream), e.keys.history(stream)}
	args := []any{pos.Offset, pos.Epoch, e.now().UnixMicro(), limit}
	if _, ok := c.(goredis.Pipeliner); ok {
		// A pipeline cannot fall back from EVALSHA on NOSCRIPT; the
		// caller loads the script first.
		return sinceScript.EvalSha(ctx, c, keys, args...)
	}
	return sinceScript.Run(ctx, c, keys, args...)
}

// parseSince decodes the since script's reply.
func parseSince(cmd *goredis.Cmd) ([]*inPub, engine.Position, bool, error) {
	res, err := cmd.Slice()
	if err != nil {
		return nil, engine.Position{}, false, err
	}
	if len(res) != 4 {
		return nil, engine.Position{}, false, fmt.Errorf("unexpected reply %v", res)
	}
	okN, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	off, _ := res[2].(int64)
	cur := engine.Position{Offset: uint64(off), Epoch: epoch}
	entries, _ := res[3].([]any)
	ins := make([]*inPub, 0, len(entries))
	for _, en := range entries {
		s, _ := en.(string)
		in, err := decodePub(s)
		if err != nil {
			return nil, engine.Position{}, false, err
		}
		ins = append(ins, in)
	}
	return ins, cur, okN == 1, nil
}

// ttlMillis is d in whole milliseconds, at least 1 (PEXPIRE 0 deletes).
func ttlMillis(d time.Duration) int64 {
	return max(d.Milliseconds(), 1)
}
