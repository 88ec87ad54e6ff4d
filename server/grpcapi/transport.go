package grpcapi

import (
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Connection-level bounds: what a connection may hold and for how long.
// With the connection cap of API.Listener and the tap's refusal of
// streams without a key, they bound what any caller, authenticated or
// not, can make the node hold.

// transportTimings are the connection-level timings. New sets
// defaultTransportTimings; only tests change them.
type transportTimings struct {
	connectionTimeout     time.Duration
	maxConnectionIdle     time.Duration
	keepaliveTime         time.Duration
	keepaliveTimeout      time.Duration
	minClientPingInterval time.Duration
}

var defaultTransportTimings = transportTimings{
	// A new connection's TLS handshake and HTTP/2 preface must be done
	// within 10 s: a connection that sends nothing holds a slot of
	// Capacity.MaxConnections this long at most (grpc-go's default is
	// 120 s).
	connectionTimeout: 10 * time.Second,

	// A connection with no open stream for 5 minutes is closed (GOAWAY),
	// giving its slot back; a backend that calls again reconnects, one
	// handshake per 5 minutes of silence. A stream the tap refused never
	// opened, so a connection that only makes refused calls goes idle
	// too. grpc-go's default keeps it forever.
	maxConnectionIdle: 5 * time.Minute,

	// The node pings a connection silent for a minute and closes it when
	// the ack takes over 20 s, so a peer that vanished (no FIN, no RST)
	// frees its slot and its streams within 80 s rather than the 2 h of
	// grpc-go's default.
	keepaliveTime:    time.Minute,
	keepaliveTimeout: 20 * time.Second,

	// The keepalive enforcement policy: a client that pings more often
	// than every 5 s gets a strike, and at the third GOAWAY
	// ENHANCE_YOUR_CALM, so a ping flood ends there. 5 s is half the 10 s
	// floor grpc-go and grpc-java clients put on their keepalive time, so
	// no conforming client is struck, with or without a call open.
	// grpc-go's default policy (5 minutes, and no pings at all without a
	// call open) cuts clients that keep a connection alive through a NAT
	// or a load balancer every 30 s.
	minClientPingInterval: 5 * time.Second,
}

// transportOptions are the grpc.Server options behind the Capacity bounds
// and the timings above.
func (a *API) transportOptions() []grpc.ServerOption {
	t := a.timings
	opts := []grpc.ServerOption{
		grpc.InTapHandle(a.tap),
		grpc.ConnectionTimeout(t.connectionTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: t.maxConnectionIdle,
			Time:              t.keepaliveTime,
			Timeout:           t.keepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             t.minClientPingInterval,
			PermitWithoutStream: true,
		}),
	}
	streams := uint32(math.MaxUint32) // grpc-go's "no limit"
	if n := a.capacity.MaxStreamsPerConnection; n > 0 {
		streams = uint32(n)
	}
	return append(opts, grpc.MaxConcurrentStreams(streams))
}
