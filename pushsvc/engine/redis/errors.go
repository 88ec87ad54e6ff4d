package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-push/herald/pushsvc/engine"
)

// ErrClosed is returned by calls on a closed engine. It wraps
// engine.ErrUnavailable: the caller may retry on another node.
var ErrClosed = fmt.Errorf("redis: engine closed: %w", engine.ErrUnavailable)

// errNoReceiver is why a membership change or a disconnect failed when
// its Control was published but reached no node. Every node subscribes to
// every partition channel, the publishing one included, so none means the
// Control went where no node listens, and no node will ever apply it: a
// Control, unlike a publication, is not kept in history for a catch-up.
// On a Redis Cluster this happens while a slot moves between masters:
// the source redirects (ASK) a script whose keys it no longer holds, or
// never held (a new group), to the importing master, whose SPUBLISH
// reaches nobody until the handover; and just after the handover, until
// the nodes, unsubscribed by the source, subscribe on the new master. It
// also happens while every node's subscription is reconnecting. Before
// this check AddMembers returned nil there and Disconnect 0, nil: the
// membership was stored but no connected session joined the group, and a
// user's sessions stayed open. Both calls may be retried: the change and
// the disconnect are idempotent. Publish keeps its success instead: it is
// not idempotent, and its publication is in history, where the nodes'
// catch-up after resubscribing finds it (repair.go).
var errNoReceiver = errors.New("the Control reached no node: its slot is moving between Redis Cluster masters, or the nodes are resubscribing")

// unavailable wraps a failed Redis call for callers. Every failure counts as
// engine.ErrUnavailable (unreachable, timed out, loading, read-only replica
// after a failover, out of memory: all worth a retry), except the caller's
// own cancellation, which is returned as it is.
func unavailable(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return fmt.Errorf("redis: %s: %w: %w", op, engine.ErrUnavailable, err)
}
