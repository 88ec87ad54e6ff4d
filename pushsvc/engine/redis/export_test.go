package redis

import (
	"context"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Test hooks, compiled only into this package's tests.

// Kill stops the engine as a killed process would: its goroutines end and
// its connections close, but its records stay in Redis.
func (e *Engine) Kill() { _ = e.shutdown(false) }

// HoldReconnect keeps the readers from subscribing again until release
// is called.
func (e *Engine) HoldReconnect() (release func()) {
	g := make(chan struct{})
	e.gate.Store(&g)
	return func() {
		e.gate.Store(nil)
		close(g)
	}
}

// DropSubscription closes the readers' connections, as a network failure
// between this node and Redis would.
func (e *Engine) DropSubscription() {
	for _, s := range e.subs {
		if ps := s.ps.Load(); ps != nil {
			_ = ps.Close()
		}
	}
}

// Subscribed reports whether the receiver is subscribed. Once it is false
// after DropSubscription with the readers held, the dispatcher has handled
// everything the readers received and waits.
func (e *Engine) Subscribed() bool { return e.subscribed() }

// ChannelOf is the partition channel of a stream.
func ChannelOf(prefix, stream string) string {
	k := newKeys(prefix, "")
	return k.fanoutOf(stream)
}

// StreamStateKey is a stream's state key.
func StreamStateKey(prefix, stream string) string {
	k := newKeys(prefix, "")
	return k.streamState(stream)
}

// HistoryKey is a stream's history key.
func HistoryKey(prefix, stream string) string {
	k := newKeys(prefix, "")
	return k.history(stream)
}

// GroupKey is a group's member set.
func GroupKey(prefix, group string) string {
	k := newKeys(prefix, "")
	return k.group(group)
}

// UserPresenceKey is a user's presence hash.
func UserPresenceKey(prefix, user string) string {
	k := newKeys(prefix, "")
	return k.userPresence(user)
}

// NodeKeys are a node's heartbeat key, presence hash, stats key and inbox
// channel.
func NodeKeys(prefix, node string) []string {
	k := newKeys(prefix, node)
	return []string{k.node, k.pn, k.stats, k.inbox}
}

// PartitionTags are the partitions' hash tags.
var PartitionTags = partitionTags

// ErrSlotMoved ends a subscription whose slot Redis moved away.
var ErrSlotMoved = errSlotMoved

// MessageIDKey is the key of an idempotent message id in a stream.
func MessageIDKey(prefix, stream, id string) string {
	k := newKeys(prefix, "")
	return k.messageID(stream, id)
}

// OnlineKey is a user's online mark.
func OnlineKey(prefix, user string) string {
	k := newKeys(prefix, "")
	return k.onlineSince(user)
}

// EventLogKeys are the event log stream and meta hash of a stream's
// partition.
func EventLogKeys(prefix, stream string) []string {
	k := newKeys(prefix, "")
	p := partitionOf(stream)
	return []string{k.ev[p], k.evm[p]}
}

// ReapHalfWay does what a janitor reaping node does before it dies half
// way: it removes the user records of node's first n connections, with
// their events, but not the node's own records of them.
func (e *Engine) ReapHalfWay(ctx context.Context, node string, n int) error {
	page, _, err := e.client.HScan(ctx, e.keys.pnOf(node), 0, "*", int64(n)).Result()
	if err != nil {
		return err
	}
	var calls []*scriptCall
	for i := 0; i+1 < len(page) && len(calls) < n; i += 2 {
		calls = append(calls, e.unregisterCall(page[i+1], page[i], node, engine.Closed{At: e.now(), Reason: "half way"}))
	}
	return e.evalAll(ctx, nil, calls)
}

// ReapNow reaps node's records if its heartbeat expired, as the keeper's
// janitor does every NodeTTL.
func (e *Engine) ReapNow(ctx context.Context, node string) error {
	return e.reapNode(ctx, node, false, "node "+node+" stopped heartbeating")
}

// Waiting is how many requests of this node wait for Redis or for the
// nodes' counts: a Publish counts from before its script is sent.
func (e *Engine) Waiting() int {
	e.pending.mu.Lock()
	defer e.pending.mu.Unlock()
	return len(e.pending.m)
}
