package pushsvc

import "slices"

// StatKind tells how a number of Stats behaves over time.
type StatKind int

const (
	// Counter is a total since the node started: it only grows.
	Counter StatKind = iota + 1
	// Gauge is a level now: it goes up and down.
	Gauge
)

// StatSum says how the cluster's value of a number is made from its
// nodes' values.
type StatSum int

const (
	// SumAdd: the cluster's value is the sum of the nodes'.
	SumAdd StatSum = iota
	// SumMax: the cluster's value is the largest node's, for what nodes
	// share (a group with members on two nodes is one group).
	SumMax
)

// StatDef declares one number of Stats. The snapshot (Service.Stats), the
// cluster total (Total), the snapshot nodes exchange
// (herald.cluster.v1.NodeStats), the GetStats answer and the Prometheus
// collector are all made from these declarations.
type StatDef struct {
	// Name is the number's name on the wire: its field in
	// herald.push.v1.Stats and its key in herald.cluster.v1.NodeStats. A
	// contract: never renamed.
	Name string
	Kind StatKind
	Sum  StatSum
	// Metric is the Prometheus metric the number is exported as, a
	// contract for dashboards. Numbers may share a metric: then
	// MetricKind, the value of its "kind" label, tells them apart, and
	// they share Kind and Help.
	Metric     string
	MetricKind string
	// Help is the metric's help.
	Help string

	field func(*Stats) *uint64  // where the number is in a Stats
	load  func(*Service) uint64 // reads it now, for a snapshot
}

// StatDefs returns the declaration of every number of Stats, in a fixed
// order.
func StatDefs() []StatDef { return slices.Clone(statTable[:]) }

// gauge reads one of the hub's gauges, which a race between an add and a
// remove may leave below zero for a moment.
func gauge(v int64) uint64 { return uint64(max(v, 0)) }

// statTable declares every gauge and counter a node reports, once.
//
// To add a counter:
//  1. count it: a field in counters, incremented where the traffic
//     happens (s.svc.stats.<name>.Add(n));
//  2. declare it here, and give it its field in Stats;
//  3. add its field, of the same name, to Stats in
//     api/herald/push/v1/push.proto, run `make generate`;
//  4. say what it counts in README.md ("What GetStats counts"), and add
//     its metric to the list in server/metrics_e2e_test.go.
//
// GetStats, WatchStats, /metrics and the cluster's sums then follow by
// themselves; the tests of pushsvc, server and server/grpcapi fail until
// the four places agree.
var statTable = [...]StatDef{
	{Name: "connections", Kind: Gauge, Metric: "herald_connections",
		Help:  "Open client connections (sessions).",
		field: func(st *Stats) *uint64 { return &st.Connections },
		load:  func(s *Service) uint64 { return gauge(s.hub.connections.Load()) }},
	// A user with connections on two nodes counts on each.
	{Name: "users", Kind: Gauge, Metric: "herald_users",
		Help:  "Users with at least one connection.",
		field: func(st *Stats) *uint64 { return &st.Users },
		load:  func(s *Service) uint64 { return gauge(s.hub.online.Load()) }},
	{Name: "groups", Kind: Gauge, Sum: SumMax, Metric: "herald_groups",
		Help:  "Groups with a member or a connection.",
		field: func(st *Stats) *uint64 { return &st.Groups },
		load:  func(s *Service) uint64 { return gauge(s.hub.groupCount.Load()) }},
	{Name: "pushes", Kind: Counter, Metric: "herald_publications_total",
		Help:  "Pushes published, one per stream.",
		field: func(st *Stats) *uint64 { return &st.Pushes },
		load:  func(s *Service) uint64 { return s.stats.pushes.Load() }},
	{Name: "push_calls_users", Kind: Counter, Metric: "herald_pushes_total", MetricKind: "users",
		Help:  "Push requests by kind.",
		field: func(st *Stats) *uint64 { return &st.PushCallsUsers },
		load:  func(s *Service) uint64 { return s.stats.pushUsers.Load() }},
	{Name: "push_calls_groups", Kind: Counter, Metric: "herald_pushes_total", MetricKind: "groups",
		Help:  "Push requests by kind.",
		field: func(st *Stats) *uint64 { return &st.PushCallsGroups },
		load:  func(s *Service) uint64 { return s.stats.pushGroups.Load() }},
	{Name: "push_calls_broadcast", Kind: Counter, Metric: "herald_pushes_total", MetricKind: "broadcast",
		Help:  "Push requests by kind.",
		field: func(st *Stats) *uint64 { return &st.PushCallsBroadcast },
		load:  func(s *Service) uint64 { return s.stats.pushBroadcast.Load() }},
	{Name: "duplicates", Kind: Counter, Metric: "herald_duplicate_pushes_total",
		Help:  "Pushes refused as repeats of an idempotency key.",
		field: func(st *Stats) *uint64 { return &st.Duplicates },
		load:  func(s *Service) uint64 { return s.stats.duplicates.Load() }},
	{Name: "deliveries", Kind: Counter, Metric: "herald_deliveries_total",
		Help:  "Pushes queued to connections.",
		field: func(st *Stats) *uint64 { return &st.Deliveries },
		load:  func(s *Service) uint64 { return s.stats.deliveries.Load() }},
	{Name: "batches", Kind: Counter, Metric: "herald_batches_total",
		Help:  "PushBatch frames written.",
		field: func(st *Stats) *uint64 { return &st.Batches },
		load:  func(s *Service) uint64 { return s.stats.batches.Load() }},
	{Name: "connects", Kind: Counter, Metric: "herald_connects_total",
		Help:  "Client connections accepted (sessions started).",
		field: func(st *Stats) *uint64 { return &st.Connects },
		load:  func(s *Service) uint64 { return s.stats.connects.Load() }},
	{Name: "messages_in", Kind: Counter, Metric: "herald_messages_in_total",
		Help:  "Frames received from clients.",
		field: func(st *Stats) *uint64 { return &st.MessagesIn },
		load:  func(s *Service) uint64 { return s.stats.messagesIn.Load() }},
	{Name: "bytes_in", Kind: Counter, Metric: "herald_bytes_in_total",
		Help:  "Bytes of frames received from clients.",
		field: func(st *Stats) *uint64 { return &st.BytesIn },
		load:  func(s *Service) uint64 { return s.stats.bytesIn.Load() }},
	{Name: "messages_out", Kind: Counter, Metric: "herald_messages_out_total",
		Help:  "Frames written to clients.",
		field: func(st *Stats) *uint64 { return &st.MessagesOut },
		load:  func(s *Service) uint64 { return s.stats.messagesOut.Load() }},
	{Name: "bytes_out_raw", Kind: Counter, Metric: "herald_bytes_out_total", MetricKind: "raw",
		Help:  "Bytes written to clients: raw frames before compression, and wire bytes.",
		field: func(st *Stats) *uint64 { return &st.BytesOutRaw },
		load:  func(s *Service) uint64 { return s.stats.bytesOutRaw.Load() }},
	{Name: "bytes_out_wire", Kind: Counter, Metric: "herald_bytes_out_total", MetricKind: "wire",
		Help:  "Bytes written to clients: raw frames before compression, and wire bytes.",
		field: func(st *Stats) *uint64 { return &st.BytesOutWire },
		load:  func(s *Service) uint64 { return s.stats.bytesOutWire.Load() }},
	{Name: "drops", Kind: Counter, Metric: "herald_queue_drops_total",
		Help:  "Frames dropped from full or closed send queues.",
		field: func(st *Stats) *uint64 { return &st.Drops },
		load:  func(s *Service) uint64 { return s.stats.drops.Load() }},
	{Name: "slow_consumer_disconnects", Kind: Counter, Metric: "herald_slow_consumer_disconnects_total",
		Help:  "Connections closed with 4003.",
		field: func(st *Stats) *uint64 { return &st.SlowConsumerDisconnects },
		load:  func(s *Service) uint64 { return s.stats.slowConsumers.Load() }},
}
