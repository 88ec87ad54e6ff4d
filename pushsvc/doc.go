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
// is closed (or drops its oldest pushes) at once. Each session has at most
// one flush scheduled or running on its transport's writer at a time. With
// a cluster, one goroutine, owned by the Service and stopped by Close,
// writes the presence changes and the stats to it.
//
// A session answers one Resume at a time (resume.go): on the goroutine
// that called HandleFrame, until the replay must wait for the writer to
// drain; from there on one goroutine of the Service's replay group pages
// it out, woken by the flush. Those goroutines end with their replay or
// their session, and Service.Close stops and awaits them. No lock is held
// across an engine call.
package pushsvc
