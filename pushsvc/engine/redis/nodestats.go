package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Each node's stats snapshot, for GetStats across the cluster: written by
// the node (PutStats), read by any node (Stats), shown only for nodes
// whose heartbeat is alive.

// statsMinTTL keeps a node's stats readable between two of its puts even
// with a short NodeTTL; whether they are shown depends on the heartbeat.
const statsMinTTL = 10 * time.Second

// PutStats implements engine.Cluster.
func (e *Engine) PutStats(ctx context.Context, snapshot []byte) error {
	if e.closed() {
		return ErrClosed
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	if err := e.client.Set(cctx, e.keys.stats, snapshot, max(e.opts.NodeTTL, statsMinTTL)).Err(); err != nil {
		return unavailable(ctx, "put stats", err)
	}
	return nil
}

// Stats implements engine.Cluster: the snapshots of nodes whose heartbeat
// is alive.
func (e *Engine) Stats(ctx context.Context) (map[string][]byte, error) {
	if e.closed() {
		return nil, ErrClosed
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	ids, err := e.client.SMembers(cctx, e.keys.nodes).Result()
	if err != nil {
		return nil, unavailable(ctx, "stats", err)
	}
	out := make(map[string][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := e.client.Pipeline()
	alive := make([]*goredis.IntCmd, len(ids))
	snaps := make([]*goredis.StringCmd, len(ids))
	for i, id := range ids {
		alive[i] = pipe.Exists(cctx, e.keys.nodeOf(id))
		snaps[i] = pipe.Get(cctx, e.keys.statsOf(id))
	}
	if _, err := pipe.Exec(cctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, unavailable(ctx, "stats", err)
	}
	for i, id := range ids {
		if alive[i].Val() != 1 {
			continue
		}
		if b, err := snaps[i].Bytes(); err == nil {
			out[id] = b
		}
	}
	return out, nil
}
