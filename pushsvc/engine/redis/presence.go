package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Presence records: each connection is a field of its user's hash (the
// Conn as JSON, with its start in unix ms for the events' durations) and
// of its node's hash (its user id, for the janitor). The user's record is
// written and removed by the presence scripts, which append the presence
// events to the log of the user's partition at the same time
// (eventscripts.go). The node keeps its own connections in memory too, so
// that it can write them again when Redis lost them (a restart without
// persistence, a flush, or a janitor that took the node for dead during a
// long stall).

// rewriteBatch bounds one pipeline of rewritten presence records.
const rewriteBatch = 256

// record is a connection's value in its user's presence hash.
type record struct {
	engine.Conn
	Ms int64 `json:"ms"` // ConnectedAt in unix ms, for the presence scripts
}

// Register implements engine.Cluster. c.NodeID is set to this node's.
// Registering a session again replaces its record (to update its groups)
// and appends no event.
func (e *Engine) Register(ctx context.Context, c engine.Conn) error {
	if e.closed() {
		return ErrClosed
	}
	if c.SessionID == "" || c.UserID == "" {
		return fmt.Errorf("redis: register: session and user ids are required")
	}
	c.NodeID = e.opts.NodeID
	e.presMu.Lock()
	defer e.presMu.Unlock()
	// Kept even if the write fails: the next rewrite carries it.
	e.conns[c.SessionID] = c
	call, err := e.registerCall(c)
	if err != nil {
		return fmt.Errorf("redis: register: %w", err)
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	// The two records live in different slots of a Redis Cluster: not one
	// transaction. After a failure either may be missing; the keeper's
	// next beat writes them again.
	err = e.evalAll(cctx, func(pipe goredis.Pipeliner) {
		pipe.HSet(cctx, e.keys.pn, c.SessionID, c.UserID)
	}, []*scriptCall{call})
	if err != nil {
		e.resync.Store(true)
		return unavailable(ctx, "register", err)
	}
	return nil
}

// registerCall is the register script's call for c.
func (e *Engine) registerCall(c engine.Conn) (*scriptCall, error) {
	b, err := json.Marshal(record{Conn: c, Ms: c.ConnectedAt.UnixMilli()})
	if err != nil {
		return nil, err
	}
	at := c.ConnectedAt // when the events happened, however late they are written
	if at.IsZero() {
		at = e.now()
	}
	return &scriptCall{
		script: registerScript,
		keys:   e.presenceKeys(c.UserID),
		args: []any{c.SessionID, b, randomID(), e.evMaxLen(), e.evMaxAgeMillis(),
			at.UnixMilli(), e.opts.NodeID, c.UserID, at.UnixMilli()},
	}, nil
}

// presenceKeys are the presence scripts' keys for user: all in the slot
// of the user's partition.
func (e *Engine) presenceKeys(user string) []string {
	p := partitionOf(engine.UserStream(user))
	return []string{e.keys.userPresence(user), e.keys.onlineSince(user), e.keys.ev[p], e.keys.evm[p]}
}

// Unregister implements engine.Cluster: it removes the records and
// appends Disconnected, with closed's code and reason, and Offline when
// it was the user's last connection.
func (e *Engine) Unregister(ctx context.Context, c engine.Conn, closed engine.Closed) error {
	if e.closed() {
		return ErrClosed
	}
	e.presMu.Lock()
	defer e.presMu.Unlock()
	if old, ok := e.conns[c.SessionID]; ok && c.UserID == "" {
		c.UserID = old.UserID
	}
	delete(e.conns, c.SessionID)
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	// The user's record first, then the node's, one after the other: the
	// node's record is how the janitor finds the user's, so it must not
	// go first (the two are in different slots of a Redis Cluster, and a
	// cluster pipeline runs its slots' commands concurrently).
	if closed.At.IsZero() {
		closed.At = e.now()
	}
	if err := e.evalAll(cctx, nil, []*scriptCall{e.unregisterCall(c.UserID, c.SessionID, e.opts.NodeID, closed)}); err != nil {
		return unavailable(ctx, "unregister", err)
	}
	if err := e.client.HDel(cctx, e.keys.pn, c.SessionID).Err(); err != nil {
		return unavailable(ctx, "unregister", err)
	}
	return nil
}

// unregisterCall is the unregister script's call that removes session's
// record from user's hash and, when it was there, appends the events,
// recorded by this node. node is the node that held the session.
func (e *Engine) unregisterCall(user, session, node string, closed engine.Closed) *scriptCall {
	return &scriptCall{
		script: unregisterScript,
		keys:   e.presenceKeys(user),
		args: []any{session, randomID(), e.evMaxLen(), e.evMaxAgeMillis(), closed.At.UnixMilli(),
			e.opts.NodeID, node, user, int(closed.Code), closed.Reason},
	}
}

// rewritePresence writes every registered connection of this node again,
// through the register script: a record Redis still had appends nothing,
// one it lost appends its Connected (and Online) again, so that the event
// log, started over with a new epoch after Redis lost it, tells who is
// online from its start.
func (e *Engine) rewritePresence(ctx context.Context) error {
	e.presMu.Lock()
	defer e.presMu.Unlock()
	if len(e.conns) == 0 {
		return nil
	}
	e.log.Info("rewriting this node's presence records", "connections", len(e.conns))
	var calls []*scriptCall
	var pn []any
	flush := func() error {
		err := e.evalAll(ctx, func(pipe goredis.Pipeliner) { pipe.HSet(ctx, e.keys.pn, pn...) }, calls)
		calls, pn = calls[:0], pn[:0]
		return err
	}
	for _, c := range e.conns {
		call, err := e.registerCall(c)
		if err != nil {
			continue
		}
		calls = append(calls, call)
		pn = append(pn, c.SessionID, c.UserID)
		if len(calls) >= rewriteBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(calls) == 0 {
		return nil
	}
	return flush()
}

// Presence implements engine.Cluster: the connections of users on nodes
// whose heartbeat is alive, oldest first. Users without any are absent.
func (e *Engine) Presence(ctx context.Context, users []string) (map[string][]engine.Conn, error) {
	if e.closed() {
		return nil, ErrClosed
	}
	out := make(map[string][]engine.Conn)
	if len(users) == 0 {
		return out, nil
	}
	cctx, cancel := e.cmdCtx(ctx)
	defer cancel()
	pipe := e.client.Pipeline()
	for _, u := range users {
		pipe.HGetAll(cctx, e.keys.userPresence(u))
	}
	cmds, err := pipe.Exec(cctx)
	if err != nil {
		return nil, unavailable(ctx, "presence", err)
	}
	alive := make(map[string]bool)
	for i, cmd := range cmds {
		for _, v := range cmdMap(cmd) {
			var c engine.Conn
			if json.Unmarshal([]byte(v), &c) != nil {
				continue
			}
			out[users[i]] = append(out[users[i]], c)
			alive[c.NodeID] = false
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	if err := e.aliveNodes(cctx, alive); err != nil {
		return nil, unavailable(ctx, "presence", err)
	}
	for u, conns := range out {
		conns = slices.DeleteFunc(conns, func(c engine.Conn) bool { return !alive[c.NodeID] })
		if len(conns) == 0 {
			delete(out, u)
			continue
		}
		slices.SortFunc(conns, func(a, b engine.Conn) int {
			return cmp.Or(a.ConnectedAt.Compare(b.ConnectedAt), cmp.Compare(a.SessionID, b.SessionID))
		})
		out[u] = conns
	}
	return out, nil
}

// aliveNodes sets alive[id] for each id in alive whose heartbeat exists.
func (e *Engine) aliveNodes(ctx context.Context, alive map[string]bool) error {
	ids := make([]string, 0, len(alive))
	pipe := e.client.Pipeline()
	for id := range alive {
		ids = append(ids, id)
		pipe.Exists(ctx, e.keys.nodeOf(id))
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		return err
	}
	for i, cmd := range cmds {
		if c, ok := cmd.(*goredis.IntCmd); ok && c.Val() == 1 {
			alive[ids[i]] = true
		}
	}
	return nil
}

// cmdMap is the value of a HGETALL in a pipeline.
func cmdMap(c goredis.Cmder) map[string]string {
	if m, ok := c.(*goredis.MapStringStringCmd); ok {
		return m.Val()
	}
	return nil
}
