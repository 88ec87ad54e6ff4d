package wsgate

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/auth"
)

// Verifier checks client tokens.
type Verifier interface {
	Verify(token string) (auth.Claims, error)
}

// Options configure a Gateway. Zero values mean the documented defaults.
type Options struct {
	// Service is the push service sessions register with. Required.
	Service *pushsvc.Service
	// Verifier checks tokens. Required.
	Verifier Verifier
	// HeartbeatInterval is how often the server pings each connection; a
	// connection that sends nothing for MissedHeartbeats intervals is
	// closed. Default 25s.
	HeartbeatInterval time.Duration
	// MissedHeartbeats is how many silent intervals a peer gets. Default 3.
	MissedHeartbeats int
	// HandshakeTimeout bounds writing the upgrade response. Default 5s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a socket. Default 10s.
	WriteTimeout time.Duration
	// MaxFrameBytes is the largest client message accepted; bigger ones
	// close the connection with 1009. Default 64 KiB.
	MaxFrameBytes int
	// DisableCompression turns permessage-deflate off.
	DisableCompression bool
	// CompressThreshold is the smallest frame compressed. Default 512.
	CompressThreshold int
	// MaxConnections bounds connections on this node; over it the
	// handshake gets 503 with Retry-After. Zero means no bound.
	MaxConnections int

	// The limits below count per client IP, which is the TCP peer address
	// (IPv6 peers by their /64, which one subscriber usually holds whole).
	// Forwarded-for headers are not trusted: behind a proxy every client
	// shares the proxy's address, so turn the per-IP limits off there,
	// unless the proxy is local (see LimitLoopback). For each limit, zero
	// means the default and a negative value no limit.

	// AllowedOrigins lists the browser origins allowed to connect, each
	// scheme://host[:port], or scheme://*.domain for every subdomain of
	// domain (not domain itself). A request with an Origin header that
	// matches none gets 403 before the upgrade; a request without one (not
	// a browser) is always allowed. Empty: no Origin check.
	AllowedOrigins []string
	// MaxConnectionsPerUser bounds one user's connections on this node;
	// over it the handshake gets 503 with Retry-After. Default 100.
	MaxConnectionsPerUser int
	// MaxConnectionsPerIP bounds the connections from one client IP,
	// handshakes in progress included; over it the handshake gets 503 with
	// Retry-After. Default 1000.
	MaxConnectionsPerIP int
	// MaxHandshakesPerIPPerSecond is the rate of upgrade requests one
	// client IP may make, with bursts of twice that; over it the request
	// gets 429 with Retry-After, before its token is checked. Default 20.
	MaxHandshakesPerIPPerSecond float64
	// ClientFramesPerSecond is the rate of frames (data frames, each
	// fragment of a message, pings, pongs) one connection may send, with
	// bursts of twice that; over it the connection gets Disconnect and
	// close 1008. Default 200.
	ClientFramesPerSecond float64
	// LimitLoopback applies the per-IP limits to loopback peers (and to
	// peers of a non-TCP listener) too. By default they are exempt: such
	// a peer is a local proxy or load balancer speaking for many clients,
	// or a test or benchmark tool, never a client on the internet.
	LimitLoopback bool

	// Registerer receives the gateway's metrics when set.
	Registerer prometheus.Registerer
	// Logger receives logs. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 25 * time.Second
	}
	if o.MissedHeartbeats == 0 {
		o.MissedHeartbeats = 3
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = 64 << 10
	}
	if o.CompressThreshold == 0 {
		o.CompressThreshold = 512
	}
	if o.MaxConnectionsPerUser == 0 {
		o.MaxConnectionsPerUser = DefaultMaxConnectionsPerUser
	}
	if o.MaxConnectionsPerIP == 0 {
		o.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if o.MaxHandshakesPerIPPerSecond == 0 {
		o.MaxHandshakesPerIPPerSecond = DefaultMaxHandshakesPerIPPerSecond
	}
	if o.ClientFramesPerSecond == 0 {
		o.ClientFramesPerSecond = DefaultClientFramesPerSecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// The defaults of the limits. A browser tab holds one connection, so 100
// per user is generous; 1000 per IP leaves room for a large NAT. 20
// handshakes per second per IP (bursts of 40) outpaces any reconnect
// backoff. A client sends a ping per heartbeat and at most an ack per frame
// it receives, so 200 frames per second (bursts of 400) holds unless it
// receives more than 200 frames a second for seconds on end, while a
// flooding loop sends thousands.
const (
	DefaultMaxConnectionsPerUser       = 100
	DefaultMaxConnectionsPerIP         = 1000
	DefaultMaxHandshakesPerIPPerSecond = 20
	DefaultClientFramesPerSecond       = 200
)

// burstOf is the bucket size of a rate: two seconds' worth, at least one.
func burstOf(perSecond float64) int {
	return max(1, int(math.Ceil(2*perSecond)))
}

func (o *Options) validate() error {
	var errs []error
	if o.Service == nil {
		errs = append(errs, errors.New("wsgate: Service is required"))
	}
	if o.Verifier == nil {
		errs = append(errs, errors.New("wsgate: Verifier is required"))
	}
	if o.HeartbeatInterval < 0 {
		errs = append(errs, fmt.Errorf("heartbeat-interval %v: must be > 0", o.HeartbeatInterval))
	}
	if o.MissedHeartbeats < 0 {
		errs = append(errs, fmt.Errorf("missed heartbeats %d: must be > 0", o.MissedHeartbeats))
	}
	if o.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("handshake-timeout %v: must be > 0", o.HandshakeTimeout))
	}
	if o.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout %v: must be > 0", o.WriteTimeout))
	}
	if o.MaxFrameBytes < 0 {
		errs = append(errs, fmt.Errorf("max-frame-bytes %d: must be > 0", o.MaxFrameBytes))
	}
	if o.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("max-connections %d: must be >= 0", o.MaxConnections))
	}
	if _, err := parseOrigins(o.AllowedOrigins); err != nil {
		errs = append(errs, err)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"handshakes-per-ip-per-second", o.MaxHandshakesPerIPPerSecond},
		{"client-frames-per-second", o.ClientFramesPerSecond},
	} {
		// A rate above a million per second is no limit, and its burst
		// would not fit an int on every platform.
		if math.IsNaN(r.v) || math.IsInf(r.v, 0) || r.v > 1e6 {
			errs = append(errs, fmt.Errorf("%s %v: must be a number up to 1e6 (negative: no limit)", r.name, r.v))
		}
	}
	return errors.Join(errs...)
}
