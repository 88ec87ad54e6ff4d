// Package wsgate is Herald's WebSocket adapter: it authenticates and
// upgrades GET /ws with gws behind net/http, turns each connection into a
// pushsvc session whose Transport it implements, reads client frames, runs
// heartbeats and token expiry, and drains connections on shutdown.
//
// It is also the edge's guard: an Origin allow-list, a handshake rate per
// client IP, connection limits for the node, each IP and each user, and an
// inbound frame rate per connection, which counts every frame (data,
// continuation, control) as its header is read. The cheap checks run
// before the token is verified, and a refused handshake is a plain HTTP
// error (see ServeHTTP).
//
// Every close the server starts says why: a Disconnect frame, then the
// close frame, for gws's own closes too (a frame too big, a protocol
// error, a missed heartbeat: see wireConn), and then the socket lingers
// (linger.go): it shuts its write side and reads and discards for up to
// 2s, so that a client still sending reads the close rather than a reset.
//
// Writing: the sessions' flushes run on the Gateway's writers, a few
// goroutines (GOMAXPROCS) that share one ready queue (writers.go). Herald
// frames and compresses its data frames itself, a frame shared by many
// sessions once for all of them, and writes each flush with one
// non-blocking write(2); the rest of a flush that a full socket did not
// take is written by a goroutine of its own, and the session's next flush
// waits for it (rawwrite.go). gws writes the control frames, and the
// Disconnect and close frames of a close, on its read goroutine and its
// write queue (Conn.Async), which has a goroutine only while it has work.
// Every write holds the socket (wireConn), so one writer at a time
// touches it and frames never interleave.
//
// Concurrency: each connection has one gws read goroutine, owned by the
// Gateway's WaitGroup. The read goroutine alone reads the socket and owns
// the connection's frame scanner and limiter, until a lingering close takes
// the reading over (wireConn.readMu hands it over). Lingering closes run on
// goroutines of their own, at most 1,024 at once, owned by the Gateway,
// which cuts them and waits for them in Close, as it stops and waits for
// its writers and the writes they handed over. The Gateway's connection
// registry, the per-IP and per-user connection counts and the handshake
// limiter are each sharded 64 ways, each shard guarded by its own mutex; no
// two of these locks are ever held together. A handshake takes its slots in
// the counts before the upgrade and gives them back when it fails; a
// connection gives them back in OnClose. Handshakes hold the Gateway's life
// lock for reading, so Close waits for those in progress and no read loop
// starts after it. One heartbeat goroutine pings every connection once per
// interval, spread over the interval, and forgets idle IPs of the handshake
// limiter as it goes.
package wsgate
