// Package pushsvc is Herald's push service, free of transports: the hub of
// users, groups and sessions, each session's bounded send queue and its
// writer, stream offsets and history through an engine, and the counters.
//
// The WebSocket adapter (server/wsgate) gives each connection a Transport
// and calls Service.Connect; the gRPC adapter (server/grpcapi) calls the
// push, group, presence and stats methods. pushsvc owns the client wire
// format (herald.client.v1) and encodes each push once per stream, not
// once per recipient.
//
// # The life of a push
//
// A push goes through four stages, a file each, and no function value
// in between: every call can be followed with "go to definition", and the
// interfaces it crosses (engine.Handler, Transport, Writer) have one
// implementation each outside tests.
//
//  1. Publish (publish.go). The gRPC adapter's handler (grpcapi/push.go)
//     calls Service.PushToUsers, PushToGroups or Broadcast, on the gRPC
//     request's goroutine. Service.publish names one stream per target
//     (engine/streams.go: user:<id>, group:<name>, broadcast) and calls
//     Engine.Publish for each, holding no lock. The engine assigns the
//     stream's next offset, records the push in the stream's history and
//     delivers it on every node, where it calls the node's Handler:
//
//     - In-memory engine (engine/memory): Publish runs on the caller's
//     goroutine. It takes the stream's shard lock, then the stream's lock,
//     lets the shard go, checks the idempotency key, assigns the offset,
//     appends to the history ring, and calls Handler.Deliver under the
//     stream's lock: the whole fan-out below runs there, which is what
//     keeps each stream's pushes in offset order.
//     - Redis engine (engine/redis): Publish runs one Lua script
//     (publish.go, scripts.go) that assigns the offset, appends to the
//     history list and SPUBLISHes the push on its partition's channel,
//     sent in one pipeline with the other publishes that queued while
//     earlier ones were on the wire (batcher.go: the caller first in the
//     queue sends it), then waits up to ReplyTimeout for every node's
//     count. On each node,
//     the publisher included, a subscription's reader goroutine
//     (receiver.go) hands the message to the one dispatcher goroutine,
//     which drops repeats, fills gaps from history (repair.go) and calls
//     Handler.Deliver (delivery.go) holding no lock; the count goes back to
//     the publisher's inbox (replier.go), and Publish returns the sum.
//
//  2. Fan-out (fanout.go). node.Deliver, the service's engine.Handler,
//     finds the node's sessions of the stream in the hub (hub.go: every
//     session for broadcast, the user's for a user stream, the group's
//     for a group stream), copying them out under the shard's read lock,
//     one shard at a time. It encodes the push once (frame.go) and queues
//     the same bytes to each session; with an ack timeout it registers a
//     receipt wait first (receipt.go). The group's sessions of users the
//     push excludes get its exclusion marker instead, encoded once too, so
//     that their stream's offsets have no hole.
//
//  3. Queue (queue.go). Session.enqueue, under the session's lock, refuses
//     a session that is not open, applies the slow-consumer policy at
//     once (drop the oldest pushes, or abort the session: Disconnect 4003,
//     Transport.Close, Service.Disconnected, all after unlocking), holds
//     the push while a Resume is answered (resume.go), or appends it to
//     the send queue and, when the session's writer is idle, marks it
//     scheduled and, unlocked, calls Transport.Schedule. It never blocks.
//     The pushes of the user's own stream that the policy drops are noted
//     as undelivered events (undelivered.go), queued to the event writer.
//
//  4. Writer (writer.go). The transport runs the session's Writer on its
//     connection's writer: wsgate's conn puts the connection on its
//     Gateway's ready queue, and one of a few writer goroutines runs
//     writer.Flush. Flush takes the queue under the session's lock,
//     writes it unlocked (one frame as it is, runs of pushes as one
//     PushBatch, or, on a compressed connection, a run of shared pushes
//     each compressed once for every connection), which the transport
//     collects and, once Flush returns, puts on the socket in one write
//     that never waits (a goroutine of its own finishes what a full
//     socket did not take). Locked again, Flush schedules itself for what
//     came meanwhile or lets the writer go idle, and closes the transport
//     when a graceful close has drained the queue.
//
// The counts flow back: Deliver returns how many sessions took the push,
// the engine sums the nodes', and Result.Delivered is the sum over the
// streams. A push of a user's stream that no session took makes an
// undelivered event (offline), queued by publish to the event writer.
//
// # Sessions
//
// Connect reads the positions of the streams a new session follows before
// the session can receive them, and queues its Welcome, with them, ahead
// of anything else (welcome.go says why that order loses nothing).
//
// A session's state is three small machines (session.go), written only
// there: its life (open, closing, closed, aborted, removed), its writer
// (idle, scheduled: at most one flush scheduled or running) and its
// resume phase (none, awaiting the first Resume of a resume=1
// connection, active while Resumes are answered and replayed). Other
// files ask the session through methods. A session answers one Resume at
// a time (resume.go): on the goroutine that called HandleFrame, until the
// replay must wait for the writer to drain; from there on one goroutine
// of the Service's replay group pages it out, woken by the flush. Those
// goroutines end with their replay or their session, and Service.Close
// stops and awaits them.
//
// # Concurrency
//
// The locks of the push path and the order in which they are taken are
// written in one place, internal/lockorder, and checked when the tests
// run with -tags lockcheck (make test-lockcheck). No pushsvc lock is held
// across an engine call, but a user shard's across the in-memory event
// log's append (localpresence.go), and none but the in-memory engine's
// stream lock across a Transport call. Fan-out copies the target
// sessions under a shard lock and queues outside it. With a cluster, one
// goroutine, owned by the Service and stopped by Close, writes the
// presence changes and the stats to it.
//
// # Events
//
// When the engine keeps an event log (engine.EventLog), watchers
// (WatchEvents, watch.go) read it through the eventHub (eventhub.go): one
// reader goroutine per node, running while there are watchers, hands each
// batch to every watcher's bounded buffer and cuts a watcher whose buffer
// is full, so it never waits for one. The events this node records
// (undelivered pushes, undelivered.go) go through the eventWriter
// (eventwriter.go), a bounded queue with one goroutine that appends them,
// so that fan-out and enqueue never wait on the network; both goroutines
// are stopped by Close. With a cluster, the presence events are the
// engine's, written with each presence change (presencequeue.go); without
// one, the hub appends them itself (localpresence.go), under the user's
// shard lock, to the in-memory log, whose append never blocks. The event
// writer's lock and the in-memory log's are leaves of the lock order; the
// eventHub's is taken alone.
package pushsvc
