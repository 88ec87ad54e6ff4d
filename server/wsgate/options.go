package wsgate

import (
	"errors"
	"fmt"
	"log/slog"
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
	// handshake gets 503. Zero means no bound.
	MaxConnections int
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
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
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
	return errors.Join(errs...)
}
