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
