// Package redis is Herald's engine for several nodes sharing one Redis,
// standalone or Redis Cluster: it implements engine.Engine (streams,
// offsets, epochs, history, idempotent message ids) and engine.Cluster (group
// membership, presence, cluster-wide disconnects and stats).
//
// # Fan-out
//
// Streams are hashed into 16 partitions (partition.go), each with a
// sharded pub/sub channel; every node subscribes once to each partition
// channel and to its own inbox channel. Publish runs one Lua script that
// assigns the stream's next offset (starting a new random epoch when the
// stream has none), appends the publication to the stream's bounded
// history, refreshes the stream's TTLs and SPUBLISHes it on the stream's
// partition channel, so that offsets and delivery order agree on every
// node, and a broadcast to any number of users is one SPUBLISH. The
// scripts of concurrent publishes share round trips: those that start
// while others are on the wire leave together in the next pipeline to
// their master (batcher.go), with no timer and no added wait. For an
// idempotent message the same script first looks up the message id's key
// in the stream and, if the id was published there within the history
// TTL, publishes nothing; else it sets the key with the publication: a
// retry after any failure, a lost reply included, publishes exactly the
// streams that did not publish. Each node,
// the publishing one included, delivers what it receives to its own
// sessions; the others send their counts back to the publisher's inbox,
// batched, and Publish sums the counts of as many nodes as SPUBLISH
// reported receivers. Message.Local never leaves the node: the publisher's
// receiver re-attaches it, by publish id, to its own delivery. A node's
// receiver (receiver.go) reads the channels and hands what it reads, in
// order, to one dispatcher goroutine, which delivers each publication to
// the node's Handler (delivery.go) and repairs the gaps a lost
// subscription leaves (repair.go, catchup.go).
//
// Membership changes travel as Controls on the partition channel of the
// group's stream, and a disconnect on that of the user's stream, so a node
// applies a membership change before any push to the group published
// after it. Order holds within a partition: pushes to one stream, and the
// Controls that concern it, arrive in the order Redis ran them; across
// partitions there is no order, as there is none between streams.
//
// # Standalone Redis and Redis Cluster
//
// New tells them apart by the server's INFO (cluster_enabled:1) and builds
// a go-redis Client or ClusterClient from the same URL. One key layout
// serves both (keys.go): what a script touches shares a hash tag, hence a
// cluster slot; the rest is written key by key, and each such place says
// what a partial failure leaves and who repairs it. On a standalone Redis
// one connection carries every subscription; on a cluster, where a
// sharded subscription reaches the one master of its slot, each partition
// and the inbox have their own, resubscribed on their own when their
// master fails or the slot moves. While a slot moves, a publish the
// source redirects to the importing master reaches no node until they
// resubscribe there, and their catch-up delivers it; a membership change
// or a disconnect that reached no node fails instead, as nothing would
// ever deliver it (errNoReceiver).
//
// # Redis trouble
//
// Every call to Redis is bounded by CommandTimeout and is never retried
// after it may have reached Redis (a retried publish could publish twice;
// on a cluster, MOVED and ASK redirects are followed, as the command did
// not run): failures wrap engine.ErrUnavailable. A pipeline of publishes
// is no exception: when its replies are lost, each of its callers fails
// with ErrUnavailable; only the commands Redis refused without running
// them (a redirect, TRYAGAIN, NOSCRIPT) are sent again, alone. On a cluster only the
// streams of a failed master's slots fail. Each subscription resubscribes
// with jittered backoff by itself; once resubscribed, the node fetches
// from history what it missed of the streams of that subscription's
// partitions its sessions follow, those it had delivered nothing of
// included (see repair.go). Healthy reports whether
// every subscription is confirmed and the heartbeat reaches Redis. A
// cluster master that restarts empty makes every node write its presence
// records again (keeper.go).
//
// # Event log
//
// The engine implements engine.EventLog with one Redis stream per
// partition (eventscripts.go says how ids and epochs work). Register and
// Unregister are scripts on the user's slot, which holds the user's
// presence hash, online mark and their partition's log: each decides the
// user's transition (first connection: Online; last: Offline) in Redis
// and appends the events with it, so that a user's events are in the
// order Redis ran the changes, from whichever nodes, and each once. The
// janitor (reaper.go) unregisters a dead node's connections the same
// way, with code 0; the script's removal of the record is the gate that
// keeps several janitors from appending twice. ReadEvents reads all
// sixteen partitions in one pipeline and checks the cursor: its
// fingerprint against the partitions' epochs, its ids against the seqs of
// what it read (events.go). A tail (tail.go) blocks in XREAD on a client
// of its own to wake a reader when something is appended. While Redis
// lost the log, a node's rewrite of its presence goes through the
// register script too: the new log starts with the Online and Connected
// of everyone still connected.
//
// Redis 7.0 or later is required (sharded pub/sub, SET GET).
//
// # Concurrency
//
// Goroutines, all started by New and stopped and awaited by Close:
//
//   - one reader (read) per subscription owns its PubSub, and hands what
//     it receives, in order, to a bounded queue;
//   - the dispatcher (dispatch) owns rxState and the subscriptions'
//     confirmed state and anchors; it alone calls the Handler, in the
//     order each subscription received the messages, with no lock held,
//     and never waits on the network except to repair a gap;
//   - the replier (sendReplies) sends the counts the receiver queued in
//     replies to the publishing nodes;
//   - the keeper (keep) heartbeats, rewrites this node's presence records
//     when Redis lost them, pings the subscriptions, and reaps dead nodes.
//
// Each event tail has its own goroutines (one per standalone Redis, one
// per partition on a cluster), started by TailEvents and stopped by the
// tail's Close, or by Close, which waits for them (tails, tailMu).
//
// Publish, Since and the Cluster methods are safe for concurrent
// use. A Publish may send, on its own goroutine, the pipeline of the
// publishes queued behind it (batcher.go). pending (requests waiting for
// counts), replies and batch (queued publishes) each have their own
// mutex, held only for map and queue updates; presMu orders this node's
// presence writes and is held across them. No two of these locks are ever
// held together.
package redis
