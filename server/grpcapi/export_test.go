package grpcapi

import "time"

// SetTransportTimings shortens the connection-level timings for a test;
// call it before ServerOptions. Zero keeps a timing.
func (a *API) SetTransportTimings(connectionTimeout, maxConnectionIdle, minClientPingInterval time.Duration) {
	if connectionTimeout != 0 {
		a.timings.connectionTimeout = connectionTimeout
	}
	if maxConnectionIdle != 0 {
		a.timings.maxConnectionIdle = maxConnectionIdle
	}
	if minClientPingInterval != 0 {
		a.timings.minClientPingInterval = minClientPingInterval
	}
}
