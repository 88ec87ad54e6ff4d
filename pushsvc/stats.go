package pushsvc

import (
	"context"
	"sync/atomic"
	"time"
)

// counters are the service's traffic counters, updated with atomics.
type counters struct {
	connects      atomic.Uint64
	pushes        atomic.Uint64 // publications, one per stream
	pushUsers     atomic.Uint64 // push calls by kind
	pushGroups    atomic.Uint64
	pushBroadcast atomic.Uint64
	duplicates    atomic.Uint64
	deliveries    atomic.Uint64
	batches       atomic.Uint64
	messagesIn    atomic.Uint64
	bytesIn       atomic.Uint64
	messagesOut   atomic.Uint64
	bytesOutRaw   atomic.Uint64
	bytesOutWire  atomic.Uint64
	drops         atomic.Uint64
	slowConsumers atomic.Uint64
}

func (c *counters) countPush(kind string) {
	switch kind {
	case "users":
		c.pushUsers.Add(1)
	case "groups":
		c.pushGroups.Add(1)
	case "broadcast":
		c.pushBroadcast.Add(1)
	}
}

// Stats is a snapshot of one node's gauges and counters.
type Stats struct {
	Connections uint64
	Users       uint64
	Groups      uint64
	// Pushes counts publications (one per stream a push went to).
	Pushes uint64
	// PushCalls counts push requests by kind: users, groups, broadcast.
	PushCalls map[string]uint64
	// Duplicates counts pushes refused as repeats of an idempotency key.
	Duplicates uint64
	// Deliveries counts pushes queued to sessions.
	Deliveries uint64
	// Batches counts PushBatch frames written.
	Batches      uint64
	Connects     uint64
	MessagesIn   uint64
	BytesIn      uint64
	MessagesOut  uint64
	BytesOutRaw  uint64
	BytesOutWire uint64
	Drops        uint64
	// SlowConsumerDisconnects counts sessions closed with 4003.
	SlowConsumerDisconnects uint64
	Uptime                  time.Duration
}

// Stats returns a snapshot of this node's counters.
func (s *Service) Stats(context.Context) Stats {
	c := &s.stats
	return Stats{
		Connections: uint64(max(s.hub.connections.Load(), 0)),
		Users:       uint64(max(s.hub.online.Load(), 0)),
		Groups:      uint64(max(s.hub.groupCount.Load(), 0)),
		Pushes:      c.pushes.Load(),
		PushCalls: map[string]uint64{
			"users":     c.pushUsers.Load(),
			"groups":    c.pushGroups.Load(),
			"broadcast": c.pushBroadcast.Load(),
		},
		Duplicates:              c.duplicates.Load(),
		Deliveries:              c.deliveries.Load(),
		Batches:                 c.batches.Load(),
		Connects:                c.connects.Load(),
		MessagesIn:              c.messagesIn.Load(),
		BytesIn:                 c.bytesIn.Load(),
		MessagesOut:             c.messagesOut.Load(),
		BytesOutRaw:             c.bytesOutRaw.Load(),
		BytesOutWire:            c.bytesOutWire.Load(),
		Drops:                   c.drops.Load(),
		SlowConsumerDisconnects: c.slowConsumers.Load(),
		Uptime:                  s.opts.Now().Sub(s.started),
	}
}

// CountWireBytes adds n bytes written to client sockets, after compression
// and framing. The WebSocket adapter calls it from its connections' writes.
func (s *Service) CountWireBytes(n int) { s.stats.bytesOutWire.Add(uint64(n)) }
