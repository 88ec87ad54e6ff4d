package wsgate

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/tokens"
)

// Verifier checks client tokens.
type Verifier interface {
	Verify(token string) (tokens.Claims, error)
}

// Options configure a Gateway. The zero value of each field means its
// default, filled in by New; a limit is turned off by NoLimit.
type Options struct {
	// Service is the push service sessions register with. Required.
	Service *pushsvc.Service
	// Verifier checks tokens. Required.
	Verifier Verifier
	// HeartbeatInterval is how often the server pings each connection; a
	// connection that sends nothing for MissedHeartbeats intervals is
	// closed. Each session's Welcome frame tells the client. Default
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// MissedHeartbeats is how many silent intervals a peer gets. Default
	// DefaultMissedHeartbeats.
	MissedHeartbeats int
	// HandshakeTimeout bounds writing the upgrade response. Default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a socket. Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxFrameBytes is the largest client message accepted; bigger ones
	// close the connection with 1009. Default DefaultMaxFrameBytes.
	MaxFrameBytes int
	// DisableCompression turns permessage-deflate off.
	DisableCompression bool
	// CompressThreshold is the smallest frame compressed. Default
	// DefaultCompressThreshold.
	CompressThreshold int
	// MaxConnections bounds connections on this node; over it the
	// handshake gets 503 with Retry-After. Default: no bound.
	MaxConnections int

	// The limits below count per client IP, which is the TCP peer address
	// (IPv6 peers by their /64, which one subscriber usually holds whole).
	// Forwarded-for headers are not trusted: behind a proxy every client
	// shares the proxy's address, so turn the per-IP limits off there,
	// unless the proxy is local (see LimitLoopback).

	// AllowedOrigins lists the browser origins allowed to connect, each
	// scheme://host[:port], or scheme://*.domain for every subdomain of
	// domain (not domain itself). A request with an Origin header that
	// matches none gets 403 before the upgrade; a request without one (not
	// a browser) is always allowed. Empty: no Origin check.
	AllowedOrigins []string
	// MaxConnectionsPerUser bounds one user's connections on this node;
	// over it the handshake gets 503 with Retry-After. Default
	// DefaultMaxConnectionsPerUser.
	MaxConnectionsPerUser int
	// MaxConnectionsPerIP bounds the connections from one client IP,
	// handshakes in progress included; over it the handshake gets 503 with
	// Retry-After. Default DefaultMaxConnectionsPerIP.
	MaxConnectionsPerIP int
	// MaxHandshakesPerIPPerSecond is the rate of upgrade requests one
	// client IP may make, with bursts of twice that; over it the request
	// gets 429 with Retry-After, before its token is checked. Default
	// DefaultMaxHandshakesPerIPPerSecond; at most MaxRate.
	MaxHandshakesPerIPPerSecond float64
	// ClientFramesPerSecond is the rate of frames (data frames, each
	// fragment of a message, pings, pongs) one connection may send, with
	// bursts of twice that; over it the connection gets Disconnect and
	// close 1008. Default DefaultClientFramesPerSecond; at most MaxRate.
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

// NoLimit, or any negative number, turns off the limit it is given to:
// MaxConnections, MaxConnectionsPerUser, MaxConnectionsPerIP,
// MaxHandshakesPerIPPerSecond or ClientFramesPerSecond.
const NoLimit = -1

// MaxRate is the highest rate a rate limit takes: above a million per
// second a rate limits nothing, and its burst would not fit an int on
// every platform.
const MaxRate = 1e6

// Defaults of Options.
const (
	DefaultHeartbeatInterval = 25 * time.Second
	DefaultMissedHeartbeats  = 3
	DefaultHandshakeTimeout  = 5 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxFrameBytes     = 64 << 10
	DefaultCompressThreshold = 512
)

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

func (o *Options) setDefaults() {
	setDefault(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&o.MissedHeartbeats, DefaultMissedHeartbeats)
	setDefault(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&o.WriteTimeout, DefaultWriteTimeout)
	setDefault(&o.MaxFrameBytes, DefaultMaxFrameBytes)
	setDefault(&o.CompressThreshold, DefaultCompressThreshold)
	setDefault(&o.MaxConnectionsPerUser, DefaultMaxConnectionsPerUser)
	setDefault(&o.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	setDefault(&o.MaxHandshakesPerIPPerSecond, DefaultMaxHandshakesPerIPPerSecond)
	setDefault(&o.ClientFramesPerSecond, DefaultClientFramesPerSecond)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// setDefault sets *v to def when it is zero.
func setDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// burstOf is the bucket size of a rate: two seconds' worth, at least one.
func burstOf(perSecond float64) int {
	return max(1, int(math.Ceil(2*perSecond)))
}

// validate checks the options after setDefaults; its errors name the
// field.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("wsgate: Options."+format, args...)) }
	if o.Service == nil {
		bad("Service: required")
	}
	if o.Verifier == nil {
		bad("Verifier: required")
	}
	if o.HeartbeatInterval < 0 {
		bad("HeartbeatInterval %v: must be > 0", o.HeartbeatInterval)
	}
	if o.MissedHeartbeats < 0 {
		bad("MissedHeartbeats %d: must be > 0", o.MissedHeartbeats)
	}
	if o.HandshakeTimeout < 0 {
		bad("HandshakeTimeout %v: must be > 0", o.HandshakeTimeout)
	}
	if o.WriteTimeout < 0 {
		bad("WriteTimeout %v: must be > 0", o.WriteTimeout)
	}
	if o.MaxFrameBytes < 0 {
		bad("MaxFrameBytes %d: must be > 0", o.MaxFrameBytes)
	}
	if _, err := parseOrigins(o.AllowedOrigins); err != nil {
		bad("AllowedOrigins: %w", err)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"MaxHandshakesPerIPPerSecond", o.MaxHandshakesPerIPPerSecond},
		{"ClientFramesPerSecond", o.ClientFramesPerSecond},
	} {
		if math.IsNaN(r.v) || r.v > MaxRate {
			bad("%s %v: must be a number up to %g (NoLimit: no limit)", r.name, r.v, float64(MaxRate))
		}
	}
	return errors.Join(errs...)
}
