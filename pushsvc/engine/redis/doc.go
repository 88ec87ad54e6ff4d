// Package redis is Herald's engine for several nodes sharing one Redis: it
// implements engine.Engine (streams, offsets, epochs, history, idempotency
// claims) and engine.Cluster (group membership, presence, cluster-wide
// disconnects and stats).
//
// # Fan-out
//
// Every node subscribes once to one fan-out channel and to its own inbox
// channel. Publish runs one Lua script that assigns the stream's next
// offset (starting a new random epoch when the stream has none), appends
// the publication to the stream's bounded history, refreshes the stream's
// TTLs and PUBLISHes it, so that offsets and delivery order agree on every
// node, and a broadcast to any number of users is one PUBLISH. Each node,
// the publishing one included, delivers what it receives to its own
// sessions; the others send their counts back to the publisher's inbox,
// batched, and Publish sums the counts of as many nodes as PUBLISH
// reported receivers. Message.Local never leaves the node: the publisher's
// receiver re-attaches it, by publish id, to its own delivery.
//
// Membership changes and disconnects travel as Controls on the same
// channel, so a node applies a membership change before any push published
// after it.
//
// # Redis trouble
//
// Every call to Redis is bounded by CommandTimeout and is never retried by
// the client (a retried publish could publish twice); failures wrap
// engine.ErrUnavailable. The receiver resubscribes with jittered backoff by
// itself; once resubscribed it fetches, from history, what it missed of the
// streams it has sessions for (see repair.go). Healthy reports whether the
// node is subscribed and its heartbeat reaches Redis.
//
// Only standalone Redis 7.0 or later is supported (a primary, optionally
// with replicas and a failover that keeps its address); New refuses a
// Redis Cluster.
//
// # Concurrency
//
// Goroutines, all started by New and stopped and awaited by Close:
//
//   - the receiver (receive) owns the subscription and rxState; it alone
//     calls Handler.Deliver and Handler.Control, in the order messages
//     arrive, and never waits on the network except to repair a gap;
//   - the replier (sendReplies) sends the counts the receiver queued in
//     replies to the publishing nodes;
//   - the keeper (keep) heartbeats, rewrites this node's presence records
//     when Redis lost them, pings the subscription, and reaps dead nodes.
//
// Publish, Since, Claim and the Cluster methods are safe for concurrent
// use. pending (requests waiting for counts) and replies each have their
// own mutex, held only for map updates; presMu orders this node's presence
// writes and is held across them. No two of these locks are ever held
// together.
package redis
