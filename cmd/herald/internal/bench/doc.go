// Package bench is the load generator behind `herald bench`: it opens many
// WebSocket clients against a Herald node on loopback, pushes to them over
// gRPC at stepped rates, and measures what arrives (completeness, deliveries
// per second, end-to-end latency from a timestamp in the payload), what the
// calls cost (calls per second, call latency) and, for idle connections, what
// they cost the server (RSS and heap per connection).
//
// Only loopback targets are accepted: a load generator pointed at someone
// else's server by mistake is an attack.
//
// The clients are raw sockets that speak WebSocket themselves (wsframe.go)
// and that pollers read (poller.go): one goroutine per CPU the process may
// use, reading whichever sockets epoll says have data, so that receiving
// costs the bench as little as the server's sending costs it.
//
// One process holds at most what its open-files limit allows, so past
// about 18,000 clients Run forks worker processes of the same binary
// (`herald bench --worker`), each holding a share of the clients; --workers
// N forks N at any count, to spread the receiving over CPUs. Workers take
// their share as JSON on stdin, report progress and their final counts as
// JSON lines on stdout, and the parent merges them. Clients spread over
// source addresses 127.0.0.1..127.0.0.N because each source address has its
// own range of ephemeral ports.
//
// The stream scenario pushes over PushStream calls (stream.go) instead of
// a unary call per push, which costs the bench itself far less per push.
// Every step measures the bench's own CPU: a step in which its processes
// used nearly all the CPUs they may run on is reported as saturated, its
// figures a floor of what the server does (saturation.go).
//
// Every delivery carries, in its payload, its send time, its rate step and
// a run tag, so a receiver needs no coordination to attribute it: it adds
// one count to a sharded histogram of atomic counters, without allocating
// and without a lock.
//
// The soak scenario (soak.go) runs for a bounded time: steady clients
// receive a mix of pushes to users, groups and everyone, while churning
// clients (churn.go) connect, leave in each way a connection ends and come
// back with a Resume of what they have seen, checking that no push is
// lost or repeated. It samples the server's goroutines, RSS and heap from
// its /metrics before, during and after the load, forcing a GC through
// pprof when it can, and says whether they came back to their baseline.
//
// Concurrency: a fleet's pollers are owned by its WaitGroup, and a client
// by its poller once dial has registered it; pushes are sent by a fixed
// pool of caller goroutines per rate step fed by one pacer goroutine (for
// the stream scenario, a sender and a result reader per stream); every loop ends at its step's end, at the
// run's deadline or when the context is cancelled. The soak's churners and
// sampler are owned by the soak, which stops them before it closes the
// fleet.
package bench
