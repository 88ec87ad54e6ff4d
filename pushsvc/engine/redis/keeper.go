package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// keep is the keeper goroutine. Every NodeTTL/3 it heartbeats, rewrites
// this node's presence records if Redis lost them, and checks the
// receiver's subscriptions with a PING each; every NodeTTL it reaps the records
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
	if lost || e.masterRestarted(ctx) {
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

// masterRestarted reports, on a Redis Cluster, whether a master restarted
// or a new one took over slots since the last call: its data may be gone,
// this node's presence records with it, though the heartbeat, in another
// master's slot, may not show it. A master's run id changes with each
// start. The first call, from join, only learns them. Runs on the keeper.
func (e *Engine) masterRestarted(ctx context.Context) bool {
	cc, ok := e.client.(*goredis.ClusterClient)
	if !ok {
		return false // the heartbeat lives with every other record
	}
	var mu sync.Mutex
	runs := make(map[string]string)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		runs[c.Options().Addr] = infoField(info, "run_id")
		mu.Unlock()
		return nil
	})
	if err != nil {
		return false // try again on the next beat
	}
	changed := false
	for addr, run := range runs {
		if old, ok := e.masterRuns[addr]; e.masterRuns != nil && (!ok || old != run) {
			changed = true
		}
	}
	e.masterRuns = runs
	if changed {
		e.log.Info("a Redis Cluster master restarted or took over slots; rewriting this node's presence records")
	}
	return changed
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
	case old == reapedMark:
		return true, nil
	case old != e.instance:
		e.log.Error("another process heartbeats with this node id: node ids must be unique", "node", e.opts.NodeID)
		return true, nil
	}
	return false, nil
}

// checkSubscription pings each reader's connection, so that a connection
// that died silently (no FIN, as across a network partition) is noticed:
// when nothing, not even a pong, arrived for a NodeTTL, the subscription is
// closed and its reader starts over.
func (e *Engine) checkSubscription() {
	for _, s := range e.subs {
		ps := s.ps.Load()
		if ps == nil {
			continue
		}
		if time.Since(time.Unix(0, s.lastRecv.Load())) > e.opts.NodeTTL {
			e.log.Warn("subscription silent; reconnecting", "channel", s.channels[0], "for", e.opts.NodeTTL)
			_ = ps.Close()
			continue
		}
		if !s.ok.Load() {
			continue
		}
		ctx, cancel := e.cmdCtx(e.ctx)
		// The pong carries the time back to the reader: the
		// subscription's anchor (receiver.go).
		if err := ps.Ping(ctx, pingPayload(e.now())); err != nil {
			_ = ps.Close()
		}
		cancel()
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
		if err := e.reapNode(ctx, id, false, "node "+id+" stopped heartbeating"); err != nil {
			e.log.Debug("reaping a node's records failed", "dead_node", id, "err", err)
			return
		}
	}
}

// infoField is one field of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}
