// Package wsgate is Herald's WebSocket adapter: it authenticates and
// upgrades GET /ws with gws behind net/http, turns each connection into a
// pushsvc session whose Transport it implements, reads client frames, runs
// heartbeats and token expiry, and drains connections on shutdown.
//
// Concurrency: each connection has one gws read goroutine, owned by the
// Gateway's WaitGroup, and gws's write queue, which runs one task at a time
// and exists only while it has work: every write to a socket happens there,
// so one writer at a time touches it. The Gateway's connection registry is
// sharded, each shard guarded by its own mutex. One heartbeat goroutine
// pings every connection once per interval, spread over the interval.
package wsgate
