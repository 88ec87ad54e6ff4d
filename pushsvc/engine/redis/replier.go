package redis

import (
	"sync"
)

// Bounds of the counts owed to other nodes.
const (
	// maxQueuedReplies caps what waits for the replier; past it counts are
	// dropped and their publishers see a lower total after ReplyTimeout,
	// which beats growing without bound while Redis is away.
	maxQueuedReplies = 1 << 16
	// repliesPerMessage caps one message to an inbox.
	repliesPerMessage = 512
)

// replyQueue holds counts this node owes other nodes. The receiver adds;
// the replier takes them all at once and sends one small SPUBLISH per
// origin, so a burst of pushes costs a few messages, and the receiver never
// waits on the network.
type replyQueue struct {
	mu       sync.Mutex // guards byOrigin and n
	byOrigin map[string][]reply
	n        int
	dropped  int
	wake     chan struct{} // one token: counts were added
}

func (q *replyQueue) init() {
	q.byOrigin = make(map[string][]reply)
	q.wake = make(chan struct{}, 1)
}

func (q *replyQueue) add(origin string, r reply) {
	q.mu.Lock()
	if q.n >= maxQueuedReplies {
		q.dropped++
		q.mu.Unlock()
		return
	}
	q.byOrigin[origin] = append(q.byOrigin[origin], r)
	q.n++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *replyQueue) take() (map[string][]reply, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dropped := q.dropped
	q.dropped = 0
	if q.n == 0 {
		return nil, dropped
	}
	m := q.byOrigin
	q.byOrigin = make(map[string][]reply, len(m))
	q.n = 0
	return m, dropped
}

// sendReplies is the replier goroutine.
func (e *Engine) sendReplies() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case <-e.replies.wake:
		}
		m, dropped := e.replies.take()
		if dropped > 0 {
			e.log.Warn("dropped counts owed to other nodes", "count", dropped)
		}
		if len(m) == 0 {
			continue
		}
		ctx, cancel := e.cmdCtx(e.ctx)
		pipe := e.client.Pipeline()
		for origin, rs := range m {
			for len(rs) > 0 {
				chunk := rs[:min(len(rs), repliesPerMessage)]
				rs = rs[len(chunk):]
				pipe.SPublish(ctx, e.keys.inboxOf(origin), encodeReplies(e.opts.NodeID, chunk))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && !e.closed() {
			e.log.Debug("sending counts failed", "err", err)
		}
		cancel()
	}
}
