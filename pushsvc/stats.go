package pushsvc

import (
	"context"
	"iter"
	"sync/atomic"
	"time"
)

// counters are the service's traffic counters, updated with atomics where
// the traffic happens. What each counts, and how it is reported, is its
// row in statTable (stattable.go).
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

// Stats is a snapshot of one node's gauges and counters, or the sum of
// several nodes' (Total). Each number is declared by its row in statTable,
// which says what it counts; All and StatDefs list them.
type Stats struct {
	Connections             uint64
	Users                   uint64
	Groups                  uint64
	Pushes                  uint64
	PushCallsUsers          uint64
	PushCallsGroups         uint64
	PushCallsBroadcast      uint64
	Duplicates              uint64
	Deliveries              uint64
	Batches                 uint64
	Connects                uint64
	MessagesIn              uint64
	BytesIn                 uint64
	MessagesOut             uint64
	BytesOutRaw             uint64
	BytesOutWire            uint64
	Drops                   uint64
	SlowConsumerDisconnects uint64
	// Uptime is how long the node has run; in a Total, the longest. The
	// one figure that is a duration, it has no row in statTable.
	Uptime time.Duration
}

// Stats returns a snapshot of this node's gauges and counters.
func (s *Service) Stats(context.Context) Stats {
	st := Stats{Uptime: s.opts.Now().Sub(s.started)}
	for i := range statTable {
		d := &statTable[i]
		*d.field(&st) = d.load(s)
	}
	return st
}

// All yields every number of st with its declaration, in the order of
// StatDefs.
func (st Stats) All() iter.Seq2[StatDef, uint64] {
	return func(yield func(StatDef, uint64) bool) {
		for _, d := range statTable {
			if !yield(d, *d.field(&st)) {
				return
			}
		}
	}
}

// Total adds up nodes' stats into the cluster's: each number as its
// StatDef.Sum says, and the uptime of the longest-running node.
func Total(nodes []NodeStats) Stats {
	var t Stats
	for i := range nodes {
		n := &nodes[i].Stats
		for _, d := range statTable {
			sum, v := d.field(&t), *d.field(n)
			switch d.Sum {
			case SumMax:
				*sum = max(*sum, v)
			default:
				*sum += v
			}
		}
		t.Uptime = max(t.Uptime, n.Uptime)
	}
	return t
}

// CountWireBytes adds n bytes written to client sockets, after compression
// and framing. The WebSocket adapter calls it from its connections' writes.
func (s *Service) CountWireBytes(n int) { s.stats.bytesOutWire.Add(uint64(n)) }
