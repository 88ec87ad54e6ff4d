package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// statsMinTTL keeps a node's stats readable between two of its puts even
// with a short NodeTTL; whether they are shown depends on the heartbeat.
const statsMinTTL = 10 * time.Second

// AddMembers implements engine.Cluster. The membership is stored both
// ways: first each user's groups, then, in one script, the group's members
// and a MembersAdded Control on the group stream's partition channel, so
// that every node, this one included, applies it before any push to the
// group published after AddMembers returns, and finds both sides stored
// when it does. Redis Cluster keeps each user's groups in the user's slot,
// so the two steps are not one transaction: after an error either may have
// happened, and the caller retries (both are idempotent). A Control that
// reached no node is an error too (errNoReceiver).
func (e *Engine) AddMembers(ctx context.Context, group string, users []string) error {
	return e.changeMembers(ctx, engine.MembersAdded, group, users)
}

// RemoveMembers implements engine.Cluster, like AddMembers.
func (e *Engine) RemoveMembers(ctx context.Context, group string, users []string) error {
	return e.changeMembers(ctx, engine.MembersRemoved, group, users)
}

func (e *Engine) changeMembers(ctx context.Context, kind engine.ControlKind, group string, users []string) error {
	if e.closed() {
		return ErrClosed
	}
	if group == "" {
		return errors.New("redis: members: empty group name")
	}
	if len(users) == 0 {
		return nil
	}
	op := "members of " + strconv.Quote(group)
	add := kind == engine.MembersAdded
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	// A plain pipeline: one round trip on a standalone Redis, one per
	// master on a cluster.
	pipe := e.client.Pipeline()
	for _, u := range users {
		if add {
			pipe.SAdd(cctx, e.keys.userGroups(u), group)
		} else {
			pipe.SRem(cctx, e.keys.userGroups(u), group)
		}
	}
	if _, err := pipe.Exec(cctx); err != nil {
		return unavailable(ctx, op, err)
	}
	flag := "0"
	if add {
		flag = "1"
	}
	args := make([]any, 0, 3+len(users))
	args = append(args, flag, e.keys.fanoutOf(engine.GroupStream(group)), encodeControl(e.opts.NodeID, 0, &engine.Control{Kind: kind, Group: group, Users: users}))
	for _, u := range users {
		args = append(args, u)
	}
	receivers, err := membersScript.Run(cctx, e.client, []string{e.keys.group(group)}, args...).Int64()
	if err != nil {
		return unavailable(ctx, op, err)
	}
	if receivers == 0 {
		// Stored, but applied by no node: fail, and the caller's retry
		// publishes the Control again (see errNoReceiver).
		return fmt.Errorf("redis: %s: %w: %w", op, engine.ErrUnavailable, errNoReceiver)
	}
	return nil
}

// Members implements engine.Cluster.
func (e *Engine) Members(ctx context.Context, group string) ([]string, error) {
	return e.sortedSet(ctx, "members of "+strconv.Quote(group), e.keys.group(group))
}

// UserGroups implements engine.Cluster.
func (e *Engine) UserGroups(ctx context.Context, user string) ([]string, error) {
	return e.sortedSet(ctx, "groups of "+strconv.Quote(user), e.keys.userGroups(user))
}

func (e *Engine) sortedSet(ctx context.Context, op, key string) ([]string, error) {
	if e.closed() {
		return nil, ErrClosed
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	v, err := e.client.SMembers(cctx, key).Result()
	if err != nil {
		return nil, unavailable(ctx, op, err)
	}
	slices.Sort(v)
	return v, nil
}

// Disconnect implements engine.Cluster: a DisconnectUser Control on the
// partition channel of the user's stream (ordered with the pushes to the
// user), and the sum of the counts of the nodes that received it, as
// Publish does; a Control that reached no node is an error
// (errNoReceiver), not a count of zero.
func (e *Engine) Disconnect(ctx context.Context, user, reason string, reconnect bool) (int, error) {
	if e.closed() {
		return 0, ErrClosed
	}
	id := e.seq.Add(1)
	w := e.pending.add(id, nil)
	defer e.pending.remove(id)
	msg := encodeControl(e.opts.NodeID, id, &engine.Control{Kind: engine.DisconnectUser, Users: []string{user}, Reason: reason, Reconnect: reconnect})
	cctx, cancel := e.cmdCtx(ctx)
	receivers, err := e.client.SPublish(cctx, e.keys.fanoutOf(engine.UserStream(user)), msg).Result()
	cancel()
	if err != nil {
		return 0, unavailable(ctx, "disconnect", err)
	}
	if receivers == 0 {
		// Not "no sessions": no node heard it (see errNoReceiver).
		return 0, fmt.Errorf("redis: disconnect: %w: %w", engine.ErrUnavailable, errNoReceiver)
	}
	e.pending.expectFrom(w, e.expected(ctx, receivers))
	return e.pending.wait(ctx, w, e.opts.ReplyTimeout, e.stop), nil
}

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

// cmdMap is the value of a HGETALL in a pipeline.
func cmdMap(c goredis.Cmder) map[string]string {
	if m, ok := c.(*goredis.MapStringStringCmd); ok {
		return m.Val()
	}
	return nil
}
