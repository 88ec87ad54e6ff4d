package redis

import (
	"math/rand/v2"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Receiver backoff between subscription attempts.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// receive is the receiver goroutine: it holds the node's one subscription
// (the fan-out channel and this node's inbox), hands every message to the
// handler in the order received, and after any failure resubscribes with
// backoff. It never uses go-redis's PubSub.Channel, which drops messages
// when its buffer stays full.
func (e *Engine) receive() {
	defer e.wg.Done()
	backoff := minBackoff
	for {
		if !e.passGate() {
			return
		}
		subscribed, err := e.session()
		e.subscribed.Store(false)
		if e.closed() {
			return
		}
		if subscribed {
			backoff = minBackoff
			e.log.Warn("subscription lost; resubscribing", "err", err)
		} else {
			e.log.Debug("subscribing failed; retrying", "err", err, "in", backoff)
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
func (e *Engine) session() (bool, error) {
	// Subscribe without channels makes a PubSub without connecting, which
	// Close and the keeper can reach before the first (blocking) dial.
	ps := e.client.Subscribe(e.ctx)
	e.lastRecv.Store(time.Now().UnixNano())
	e.sub.Store(ps)
	defer func() {
		e.sub.Store(nil)
		_ = ps.Close()
	}()
	if e.closed() {
		// Close may have looked for a subscription before we stored it.
		return false, nil
	}
	ctx, cancel := e.cmdCtx(e.ctx)
	err := ps.Subscribe(ctx, e.keys.fanout, e.keys.inbox)
	cancel()
	if err != nil {
		return false, err
	}
	confirmed, subscribed := 0, false
	for {
		// Until both channels are confirmed a read has a deadline: a
		// server that accepts connections but does not answer (paused,
		// overloaded) must not hold the receiver. Once subscribed, reads
		// wait as long as the channel is quiet; the keeper's pings catch
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
		e.lastRecv.Store(time.Now().UnixNano())
		switch m := msg.(type) {
		case *goredis.Message:
			e.dispatch(m)
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				confirmed++
			}
			if confirmed == 2 && !subscribed {
				subscribed = true
				e.onSubscribed()
			}
		case *goredis.Pong:
			// The keeper's pings wake the receiver now and then even
			// without traffic: a good time for housekeeping.
			e.rx.prune(e.opts.HistoryTTL)
		}
	}
}

// onSubscribed runs on the receiver once a subscription is confirmed. After
// an interruption it catches up the streams this node has sessions for.
func (e *Engine) onSubscribed() {
	e.subscribed.Store(true)
	e.readyOnce.Do(func() { close(e.ready) })
	if e.rx.interrupted {
		e.sweep()
	}
	e.rx.interrupted = true // from now on, a new session follows a gap
	e.log.Debug("subscribed", "channel", e.keys.fanout)
}

// dispatch handles one message on the receiver.
func (e *Engine) dispatch(m *goredis.Message) {
	if len(m.Payload) == 0 {
		return
	}
	switch m.Channel {
	case e.keys.fanout:
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
	case e.keys.inbox:
		_, rs, err := decodeReplies(m.Payload)
		if err != nil {
			e.log.Warn("dropping undecodable counts", "err", err)
			return
		}
		for _, r := range rs {
			e.pending.count(r.id, r.count)
		}
	}
}

// answer sends this node's count for a request to its origin; this node's
// own requests are counted directly.
func (e *Engine) answer(origin string, id uint64, n int) {
	if id == 0 {
		return
	}
	if origin == e.opts.NodeID {
		e.pending.count(id, n)
		return
	}
	e.replies.add(origin, reply{id: id, count: n})
}

// passGate waits while a test holds the receiver; false means stop.
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
