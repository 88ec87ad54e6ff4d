package server

import (
	"fmt"
	"time"

	"github.com/herald-push/herald/server/wsgate"
)

// WebSocket connections.
var webSocketSettings = []setting{
	&spec[time.Duration]{
		Flag:    "heartbeat-interval",
		Help:    fmt.Sprintf("interval of server pings; a peer silent for %d intervals is dropped", wsgate.DefaultMissedHeartbeats),
		Field:   func(c *Config) *time.Duration { return &c.HeartbeatInterval },
		Default: wsgate.DefaultHeartbeatInterval,
		Checks:  []func(time.Duration) string{above[time.Duration](0)},
		To:      func(o *options, v time.Duration) { o.ws.HeartbeatInterval = v },
	},
	&spec[time.Duration]{
		Flag: "handshake-timeout", Help: "time a connection has to complete the WebSocket upgrade request",
		Field:   func(c *Config) *time.Duration { return &c.HandshakeTimeout },
		Default: wsgate.DefaultHandshakeTimeout,
		Checks:  []func(time.Duration) string{above[time.Duration](0)},
		To:      func(o *options, v time.Duration) { o.ws.HandshakeTimeout = v },
	},
	&spec[time.Duration]{
		Flag: "drain-timeout", Help: "window over which a draining node closes its connections",
		Field:   func(c *Config) *time.Duration { return &c.DrainTimeout },
		Default: 30 * time.Second,
		Checks:  []func(time.Duration) string{above[time.Duration](0)},
	},
	&spec[int]{
		Flag: "max-frame-bytes", Help: "largest client frame; bigger closes with 1009",
		Field:   func(c *Config) *int { return &c.MaxFrameBytes },
		Default: wsgate.DefaultMaxFrameBytes,
		Over:    "Disconnect + close 1009 (also for a compressed frame that inflates past it)",
		Checks:  []func(int) string{above(0)},
		To:      func(o *options, v int) { o.ws.MaxFrameBytes = v },
	},
	&spec[bool]{
		Flag: "compression", Help: "negotiate permessage-deflate (no context takeover) with clients that offer it",
		Field:   func(c *Config) *bool { return &c.Compression },
		Default: true,
		To:      func(o *options, v bool) { o.ws.DisableCompression = !v },
	},
	&spec[[]string]{
		Flag:  "allowed-origins",
		Help:  "comma-separated Origins browsers may connect from (https://app.example.com, https://*.example.com); empty: no check",
		Field: func(c *Config) *[]string { return &c.AllowedOrigins },
		Parse: splitList,
		Checks: []func([]string) string{eachEntry(func(origin string) error {
			if err := wsgate.CheckOrigin(origin); err != nil {
				return fmt.Errorf("%q: %w", origin, err)
			}
			return nil
		})},
		To: func(o *options, v []string) { o.ws.AllowedOrigins = v },
	},
	&spec[int]{
		Flag: "max-connections", Help: "connections on this node",
		Field:  func(c *Config) *int { return &c.MaxConnections },
		Off:    "no limit",
		Over:   "503 + Retry-After at the handshake",
		Checks: []func(int) string{atLeast(0)},
		To:     func(o *options, v int) { o.ws.MaxConnections = v },
	},
	&spec[int]{
		Flag: "max-connections-per-user", Help: "connections per user on this node",
		Field:   func(c *Config) *int { return &c.MaxConnectionsPerUser },
		Default: wsgate.DefaultMaxConnectionsPerUser,
		Off:     "no limit",
		Over:    "503 + Retry-After",
		Checks:  []func(int) string{atLeast(0)},
		To:      func(o *options, v int) { o.ws.MaxConnectionsPerUser = v },
	},
	&spec[int]{
		Flag: "max-connections-per-ip", Help: "connections per client IP on this node; loopback peers are exempt",
		Field:   func(c *Config) *int { return &c.MaxConnectionsPerIP },
		Default: wsgate.DefaultMaxConnectionsPerIP,
		Off:     "no limit",
		Over:    "503 + Retry-After",
		Checks:  []func(int) string{atLeast(0)},
		To:      func(o *options, v int) { o.ws.MaxConnectionsPerIP = v },
	},
	&spec[float64]{
		Flag: "handshakes-per-ip-per-second", Help: "upgrade requests per client IP per second, in bursts of twice that; loopback peers are exempt",
		Field:   func(c *Config) *float64 { return &c.HandshakesPerIPPerSecond },
		Default: wsgate.DefaultMaxHandshakesPerIPPerSecond,
		Off:     "no limit",
		Over:    "429 + Retry-After, before the token is even parsed",
		Checks:  []func(float64) string{atLeast(0.0), atMost(wsgate.MaxRate, "")},
		To:      func(o *options, v float64) { o.ws.MaxHandshakesPerIPPerSecond = v },
	},
	&spec[float64]{
		Flag: "client-frames-per-second", Help: "frames a connection may send per second, in bursts of twice that",
		Field:   func(c *Config) *float64 { return &c.ClientFramesPerSecond },
		Default: wsgate.DefaultClientFramesPerSecond,
		Off:     "no limit",
		Over:    "Disconnect + close 1008",
		Checks:  []func(float64) string{atLeast(0.0), atMost(wsgate.MaxRate, "")},
		To:      func(o *options, v float64) { o.ws.ClientFramesPerSecond = v },
	},
}
