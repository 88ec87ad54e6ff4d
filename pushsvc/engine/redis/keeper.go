package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// keep is the keeper goroutine. Every NodeTTL/3 it heartbeats, rewrites
// this node's presence records if Redis lost them, and checks the
// receiver's subscription with a PING; every NodeTTL it reaps the records
// of dead nodes.
func (e *Engine) keep() {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.NodeTTL / 3)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		e.beat()
		e.checkSubscription()
		if tick%3 == 0 {
			e.reapDead()
		}
	}
}

// beat sends one heartbeat and notes the outcome.
func (e *Engine) beat() {
	ctx, cancel := e.cmdCtx(e.ctx)
	defer cancel()
	lost, err := e.heartbeat(ctx)
	if err != nil {
		if e.beating.Swap(false) {
			e.log.Warn("heartbeat failed: Redis unreachable", "err", err)
		}
		return
	}
	if !e.beating.Swap(true) {
		e.log.Info("heartbeat restored")
	}
	if lost {
		e.resync.Store(true)
	}
	if e.resync.Load() {
		if err := e.rewritePresence(ctx); err != nil {
			e.log.Warn("rewriting presence records failed; will retry", "err", err)
			return
		}
		e.resync.Store(false)
	}
}

// heartbeat refreshes this node's heartbeat key and reports whether it had
// lapsed: Redis restarted or was flushed, or a janitor took this node for
// dead, and this node's presence records are gone with it.
func (e *Engine) heartbeat(ctx context.Context) (lost bool, err error) {
	pipe := e.client.Pipeline()
	prev := pipe.SetArgs(ctx, e.keys.node, e.instance, goredis.SetArgs{TTL: e.opts.NodeTTL, Get: true})
	pipe.SAdd(ctx, e.keys.nodes, e.opts.NodeID)
	nodes := pipe.SCard(ctx, e.keys.nodes)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return false, err
	}
	e.knownNodes.Store(nodes.Val())
	switch old, err := prev.Result(); {
	case errors.Is(err, goredis.Nil):
		return true, nil
	case err != nil:
		return false, err
	case old != e.instance:
		e.log.Error("another process heartbeats with this node id: node ids must be unique", "node", e.opts.NodeID)
		return true, nil
	}
	return false, nil
}

// checkSubscription pings the receiver's connection, so that a connection
// that died silently (no FIN, as across a network partition) is noticed:
// when nothing, not even a pong, arrived for a NodeTTL, the subscription is
// closed and the receiver starts over.
func (e *Engine) checkSubscription() {
	ps := e.sub.Load()
	if ps == nil {
		return
	}
	if time.Since(time.Unix(0, e.lastRecv.Load())) > e.opts.NodeTTL {
		e.log.Warn("subscription silent; reconnecting", "for", e.opts.NodeTTL)
		_ = ps.Close()
		return
	}
	if !e.subscribed.Load() {
		return
	}
	ctx, cancel := e.cmdCtx(e.ctx)
	defer cancel()
	if err := ps.Ping(ctx); err != nil {
		_ = ps.Close()
	}
}

// reapDead deletes the records of nodes whose heartbeat expired.
func (e *Engine) reapDead() {
	ctx, cancel := e.cmdCtx(e.ctx)
	defer cancel()
	ids, err := e.client.SMembers(ctx, e.keys.nodes).Result()
	if err != nil {
		return
	}
	for _, id := range ids {
		if id == e.opts.NodeID {
			continue
		}
		if err := e.reapNode(ctx, id, false); err != nil {
			e.log.Debug("reaping a node's records failed", "dead_node", id, "err", err)
			return
		}
	}
}

// reapNode deletes node's presence records and stats if its heartbeat
// expired, or regardless with force.
func (e *Engine) reapNode(ctx context.Context, node string, force bool) error {
	f := "0"
	if force {
		f = "1"
	}
	return reapScript.Run(ctx, e.client,
		[]string{e.keys.nodeOf(node), e.keys.pnOf(node), e.keys.statsOf(node), e.keys.nodes},
		node, e.keys.puOpen, f,
	).Err()
}
