package redis

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Receiver backoff between subscription attempts.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// rxQueue bounds the events the subscription readers hand the dispatcher.
// A full queue stops the readers, and then Redis buffers for them; a node
// that falls too far behind is cut off by Redis and repairs the gap.
const rxQueue = 1024

// errSlotMoved ends a subscription whose slot moved to another master:
// Redis unsubscribes the channels of a slot it no longer serves.
var errSlotMoved = errors.New("redis: subscription: the slot moved to another master")

// subscription is one sharded pub/sub connection and its channels. On a
// standalone Redis one holds every partition channel and the inbox; on a
// Redis Cluster, where a connection reaches one master, each partition
// channel and the inbox have their own (partition.go).
type subscription struct {
	// immutable after New
	channels   []string
	partitions []int // partitions whose channels it holds, for the sweep

	ps       atomic.Pointer[goredis.PubSub] // its reader's, for the keeper's pings and Close
	lastRecv atomic.Int64                   // unix ns of its last message or session start; written by its reader
	ok       atomic.Bool                    // confirmed; written by the dispatcher
	ready    bool                           // was confirmed once; owned by the dispatcher
	// anchor is, by the engine's clock, the latest moment this node is
	// known to have received every message Redis sent on the
	// subscription's channels before it: when the SSUBSCRIBE that Redis
	// confirmed was sent, or when the PING whose pong it read was sent
	// (a pong comes after everything Redis published before it). What a
	// node misses while unsubscribed was published after its anchor.
	// Owned by the dispatcher.
	anchor time.Time
}

// rxEvent is what a reader hands the dispatcher.
type rxEvent struct {
	kind rxKind
	sub  *subscription
	msg  *goredis.Message // rxMessage
	gap  bool             // rxSubscribed: an earlier session of this subscription ended
	// at is, for rxSubscribed, when the SSUBSCRIBE was sent, and for
	// rxPong, when the keeper sent the PING (zero for a pong without
	// our payload): the subscription's new anchor.
	at time.Time
}

type rxKind uint8

const (
	rxMessage rxKind = iota
	rxSubscribed
	rxLost
	rxPong
)

// newSubscriptions lays out the receiver's subscriptions.
func (e *Engine) newSubscriptions(cluster bool) []*subscription {
	all := &subscription{}
	var subs []*subscription
	for p := range numPartitions {
		if cluster {
			subs = append(subs, &subscription{channels: []string{e.keys.fanout[p]}, partitions: []int{p}})
			continue
		}
		all.channels = append(all.channels, e.keys.fanout[p])
		all.partitions = append(all.partitions, p)
	}
	if cluster {
		return append(subs, &subscription{channels: []string{e.keys.inbox}})
	}
	all.channels = append(all.channels, e.keys.inbox)
	return []*subscription{all}
}

// read is the reader goroutine of one subscription: it subscribes, hands
// every message to the dispatcher in the order received, and after any
// failure resubscribes with backoff. It never uses go-redis's
// PubSub.Channel, which drops messages when its buffer stays full.
func (e *Engine) read(s *subscription) {
	defer e.wg.Done()
	backoff := minBackoff
	gap := false // a session of this subscription was confirmed before
	for {
		if !e.passGate() {
			return
		}
		subscribed, err := e.session(s, gap)
		if e.closed() {
			return
		}
		if subscribed {
			gap = true
			backoff = minBackoff
			if !e.hand(rxEvent{kind: rxLost, sub: s}) {
				return
			}
			e.log.Warn("subscription lost; resubscribing", "channel", s.channels[0], "err", err)
		} else {
			e.log.Debug("subscribing failed; retrying", "channel", s.channels[0], "err", err, "in", backoff)
		}
		if c, ok := e.client.(*goredis.ClusterClient); ok {
			// The slot may have a new master (a failover, a resharding):
			// let the next attempt find it.
			c.ReloadState(e.ctx)
		}
		// Jitter spreads the nodes' reconnects after a Redis restart.
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-e.stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session subscribes once and reads until the connection fails. It reports
// whether the subscription was confirmed.
func (e *Engine) session(s *subscription, gap bool) (bool, error) {
	// SSubscribe without channels makes a PubSub without connecting, which
	// Close and the keeper can reach before the first (blocking) dial.
	ps := e.client.SSubscribe(e.ctx)
	s.lastRecv.Store(time.Now().UnixNano())
	s.ps.Store(ps)
	defer func() {
		s.ps.Store(nil)
		_ = ps.Close()
	}()
	if e.closed() {
		// Close may have looked for a subscription before we stored it.
		return false, nil
	}
	subscribedAt := e.now()
	ctx, cancel := e.cmdCtx(e.ctx)
	err := ps.SSubscribe(ctx, s.channels...)
	cancel()
	if err != nil {
		return false, err
	}
	confirmed, subscribed := 0, false
	for {
		// Until every channel is confirmed a read has a deadline: a server
		// that accepts connections but does not answer (paused,
		// overloaded) must not hold the reader. Once subscribed, reads
		// wait as long as the channels are quiet; the keeper's pings catch
		// a dead connection.
		var msg any
		var err error
		if subscribed {
			msg, err = ps.Receive(e.ctx)
		} else {
			msg, err = ps.ReceiveTimeout(e.ctx, e.opts.CommandTimeout)
		}
		if err != nil {
			return subscribed, err
		}
		s.lastRecv.Store(time.Now().UnixNano())
		ev := rxEvent{kind: rxMessage, sub: s}
		switch m := msg.(type) {
		case *goredis.Message:
			ev.msg = m
		case *goredis.Subscription:
			if m.Kind == "sunsubscribe" {
				// Only Redis unsubscribes us: the slot moved.
				return subscribed, errSlotMoved
			}
			confirmed++
			if confirmed < len(s.channels) || subscribed {
				continue
			}
			subscribed = true
			ev = rxEvent{kind: rxSubscribed, sub: s, gap: gap, at: subscribedAt}
		case *goredis.Pong:
			ev.kind = rxPong
			ev.at = pingTime(m.Payload)
		default:
			continue
		}
		if !e.hand(ev) {
			return subscribed, nil
		}
		// Handed over, not stuck: a full queue is the dispatcher's delay.
		s.lastRecv.Store(time.Now().UnixNano())
	}
}

// hand passes an event to the dispatcher; false means the engine stops.
func (e *Engine) hand(ev rxEvent) bool {
	select {
	case e.events <- ev:
		return true
	case <-e.stop:
		return false
	}
}

// dispatch is the dispatcher goroutine: it alone calls Handler.Deliver and
// Handler.Control, and owns rxState. Events of one subscription arrive in
// the order its reader received them, so each partition keeps Redis's
// order.
func (e *Engine) dispatch() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case ev := <-e.events:
			e.handle(ev)
		}
	}
}

func (e *Engine) handle(ev rxEvent) {
	switch ev.kind {
	case rxMessage:
		e.onMessage(ev.msg)
	case rxSubscribed:
		ev.sub.ok.Store(true)
		if !ev.sub.ready {
			ev.sub.ready = true
			if e.confirmedOnce++; e.confirmedOnce == len(e.subs) {
				close(e.ready)
			}
		}
		lost := ev.sub.anchor
		ev.sub.anchor = ev.at
		if ev.gap {
			// A publication missed meanwhile was published after the
			// old anchor; its Time, read on its publisher's clock
			// before the publish ran, is later than the anchor less
			// the slack.
			e.sweep(ev.sub.partitions, lost.Add(-e.slack()))
		}
		e.log.Debug("subscribed", "channel", ev.sub.channels[0], "channels", len(ev.sub.channels))
	case rxLost:
		ev.sub.ok.Store(false)
	case rxPong:
		if ev.at.After(ev.sub.anchor) {
			ev.sub.anchor = ev.at
		}
		// The keeper's pings wake the dispatcher now and then even without
		// traffic: a good time for housekeeping.
		e.prune()
		var again []int
		for p, ok := range e.rx.resweep {
			if ok && slices.Contains(ev.sub.partitions, p) {
				again = append(again, p)
			}
		}
		if len(again) > 0 {
			e.sweep(again, time.Time{})
		}
	}
}

// onMessage handles one message on the dispatcher.
func (e *Engine) onMessage(m *goredis.Message) {
	if len(m.Payload) == 0 {
		return
	}
	if m.Channel == e.keys.inbox {
		node, rs, err := decodeReplies(m.Payload)
		if err != nil {
			e.log.Warn("dropping undecodable counts", "err", err)
			return
		}
		for _, r := range rs {
			e.pending.count(r.id, node, r.count)
		}
		return
	}
	switch m.Payload[0] {
	case kindPub:
		in, err := decodePub(m.Payload)
		if err != nil {
			e.log.Warn("dropping an undecodable publication", "err", err)
			return
		}
		e.onPub(in)
	case kindControl:
		in, err := decodeControl(m.Payload)
		if err != nil {
			e.log.Warn("dropping an undecodable control", "err", err)
			return
		}
		n := e.opts.Handler.Control(in.c)
		e.answer(in.origin, in.id, n)
	}
}

// answer sends this node's count for a request to its origin; this node's
// own requests are counted directly.
func (e *Engine) answer(origin string, id uint64, n int) {
	if id == 0 {
		return
	}
	if origin == e.opts.NodeID {
		e.pending.count(id, origin, n)
		return
	}
	e.replies.add(origin, reply{id: id, count: n})
}

// subscribed reports whether every subscription is confirmed.
func (e *Engine) subscribed() bool {
	for _, s := range e.subs {
		if !s.ok.Load() {
			return false
		}
	}
	return true
}

// passGate waits while a test holds the readers; false means stop.
func (e *Engine) passGate() bool {
	if g := e.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-e.stop:
			return false
		}
	}
	return !e.closed()
}

// pingPayload carries t, in unix ns, in the keeper's PING; pingTime reads
// it back from the pong, or returns zero for a pong without it.
func pingPayload(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

func pingTime(payload string) time.Time {
	ns, err := strconv.ParseInt(payload, 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
