package redis

import (
	"context"
	"fmt"

	"github.com/herald-push/herald/pushsvc/engine"
)

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
	w := e.pending.add(id, nil, false)
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
