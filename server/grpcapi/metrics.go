package grpcapi

import "github.com/prometheus/client_golang/prometheus"

// metrics count what happens before a call reaches the interceptors, where
// grpc_server_handled_total cannot see it: streams the tap refused,
// requests that never arrived, and connections. They are registered with
// Options.Registry when it is set.
type metrics struct {
	// immutable after newMetrics; the collectors are safe for concurrent use
	streamsRefused     *prometheus.CounterVec // by grpc code
	requestTimeouts    prometheus.Counter
	connections        prometheus.GaugeFunc
	connectionsRefused prometheus.Counter
}

// newMetrics makes the metrics; openConnections reports the connections
// open when scraped.
func newMetrics(openConnections func() float64) *metrics {
	return &metrics{
		streamsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_grpc_streams_refused_total",
			Help: "gRPC streams refused when they opened, before their request was read: Unauthenticated or PermissionDenied.",
		}, []string{"grpc_code"}),
		requestTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_grpc_request_timeouts_total",
			Help: "gRPC calls cancelled because their request did not arrive within the request timeout.",
		}),
		connections: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_grpc_connections",
			Help: "gRPC connections open.",
		}, openConnections),
		connectionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_grpc_connections_refused_total",
			Help: "gRPC connections closed as soon as accepted: the node held its maximum.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.streamsRefused.Describe(ch)
	m.requestTimeouts.Describe(ch)
	m.connections.Describe(ch)
	m.connectionsRefused.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.streamsRefused.Collect(ch)
	m.requestTimeouts.Collect(ch)
	m.connections.Collect(ch)
	m.connectionsRefused.Collect(ch)
}
