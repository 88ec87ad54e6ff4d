package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/herald-push/herald/pushsvc/engine"
)

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
