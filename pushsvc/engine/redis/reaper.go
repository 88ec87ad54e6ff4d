package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// reapedMark replaces the heartbeat of a node that came back while the
// janitor was deleting its records: its next beat takes it for a lapse and
// writes its records again.
const reapedMark = "reaped"

// reapRounds bounds the passes over a node's presence hash in one reap;
// the next reap goes on.
const reapRounds = 4

// reapNode removes node's connections from presence, and its stats, if
// its heartbeat expired, or regardless with force (the node itself,
// joining or leaving). Each connection goes through the unregister
// script, which appends its Disconnected (code 0, reason) and, for a
// user's last connection, Offline: the script's removal of the user's
// record is the gate, so that janitors of several nodes reaping at once
// append each event once.
//
// The node's presence hash is read page by page and each entry deleted
// only after its user's record: a janitor that dies half-way leaves the
// rest for the next one, and nothing behind (a user's record no janitor
// can find any more would keep them online in the event log for good).
// A node that comes back in between (a long stall, not a death) rewrites
// its records as soon as its beat finds its heartbeat gone, and the
// janitor's late deletes could then remove some of them again. So the
// janitor looks at the heartbeat after each page: if the node is back, it
// marks the heartbeat reaped (keeping its TTL, so the node stays alive to
// readers) and stops, and the node's next beat writes everything again.
// A record may thus be missing from presence for one heartbeat period,
// never for good; the log then shows the connection leave and come back.
func (e *Engine) reapNode(ctx context.Context, node string, force bool, reason string) error {
	back := func() (bool, error) {
		if force {
			return false, nil
		}
		n, err := e.client.Exists(ctx, e.keys.nodeOf(node)).Result()
		return n == 1, err
	}
	if alive, err := back(); err != nil || alive {
		return err
	}
	pn := e.keys.pnOf(node)
	closed := engine.Closed{At: e.now(), Reason: reason}
	for range reapRounds {
		var cursor uint64
		for {
			page, next, err := e.client.HScan(ctx, pn, cursor, "*", rewriteBatch).Result()
			if err != nil {
				return err
			}
			if err := e.reapPage(ctx, node, pn, page, closed); err != nil {
				return err
			}
			if isBack, err := back(); err != nil || isBack {
				if isBack {
					e.log.Info("a node came back while its records were reaped; it will write them again", "other_node", node)
					err = e.client.SetArgs(ctx, e.keys.nodeOf(node), reapedMark, goredis.SetArgs{Mode: "XX", KeepTTL: true}).Err()
				}
				return err
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		left, err := e.client.HLen(ctx, pn).Result()
		if err != nil {
			return err
		}
		if left == 0 {
			break
		}
	}
	if err := e.client.Del(ctx, e.keys.statsOf(node)).Err(); err != nil {
		return err
	}
	if force {
		return nil // the node itself: joining, or leaving
	}
	return e.client.SRem(ctx, e.keys.nodes, node).Err()
}

// reapPage unregisters the connections of one page of node's presence
// hash (session, user, session, user...), then deletes them from it.
func (e *Engine) reapPage(ctx context.Context, node, pn string, page []string, closed engine.Closed) error {
	if len(page) == 0 {
		return nil
	}
	calls := make([]*scriptCall, 0, len(page)/2)
	fields := make([]string, 0, len(page)/2)
	for i := 0; i+1 < len(page); i += 2 {
		session, user := page[i], page[i+1]
		calls = append(calls, e.unregisterCall(user, session, node, closed))
		fields = append(fields, session)
	}
	if err := e.evalAll(ctx, nil, calls); err != nil {
		return fmt.Errorf("reaping %s: %w", node, err)
	}
	return e.client.HDel(ctx, pn, fields...).Err()
}
