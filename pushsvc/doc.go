// Package pushsvc is Herald's push service, free of transports: the hub of
// users, groups and sessions, each session's bounded send queue and its
// writer, stream offsets and history through an engine, and the counters.
//
// The WebSocket adapter (package server) gives each connection a Transport
// and calls Service.Connect; the gRPC adapter calls the push, group,
// presence and stats methods. pushsvc owns the client wire format
// (herald.client.v1) and encodes each push once per stream, not once per
// recipient.
//
// Concurrency: the hub is sharded; user shards and group shards each have
// a mutex. Lock order: user shard, then group shard, then session mu; the
// presence queue's mu, then session mu. No lock is held while calling into
// a Transport except Session.mu never being held across Transport calls at
// all. Fan-out copies the target sessions under a shard lock and enqueues
// outside it; enqueue never blocks: a session over its byte or count budget
// is closed (or drops its oldest frames) at once. Each session has at most
// one flush scheduled or running on its transport's writer at a time. With
// a cluster, one goroutine, owned by the Service and stopped by Close,
// writes the presence changes and the stats to it.
//
// Events: when the engine keeps an event log (engine.EventLog), watchers
// (WatchEvents) read it through the eventHub: one reader goroutine per
// node, running while there are watchers, hands each batch to every
// watcher's bounded buffer and cuts a watcher whose buffer is full, so
// it never waits for one. The events this node records (undelivered
// pushes) go through the eventWriter, a bounded queue with one goroutine
// that appends them, so that fan-out and enqueue never wait on the
// network; both goroutines are stopped by Close. Without a cluster the
// hub appends the presence events itself, under the user's shard lock,
// to the in-memory log, whose append never blocks. More lock order: user
// shard, then session mu, then the eventWriter's mu or the in-memory
// log's; the eventHub's mu is taken alone.
package pushsvc
