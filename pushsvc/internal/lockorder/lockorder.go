// Package lockorder is where the push path's lock order is written, once,
// and what checks it.
//
// # The order
//
// A goroutine takes a lock only while every lock it holds comes earlier in
// this list, and never holds two locks of one rank (two hub shards, two
// sessions):
//
//  1. EngineShard: a shard of the in-memory engine's streams.
//  2. EngineStream: one stream of the in-memory engine, held while its
//     publication is delivered to the node (engine.Handler.Deliver), so
//     that a stream's pushes reach sessions in offset order.
//  3. UserShard: a user shard of pushsvc's hub: the user's sessions and
//     groups, and each session's groups.
//  4. GroupShard: a group shard of the hub. Taken under a user shard when
//     a session joins or leaves a group.
//  5. PresenceQueue: pushsvc's queue of presence changes for a cluster. It
//     reads whether a session left under its lock.
//  6. Session: a session's state and send queue (Session.mu). Nothing
//     else of the hub is taken under it: a session asks the hub
//     (hub.receives) with it unlocked, and calls its transport and the
//     service (Disconnected) with it unlocked.
//  7. SessionWaits: the receipts a session waits to be acked for.
//  8. Receipt: one push's receipt, settled under its session's waits.
//  9. EventWriter: pushsvc's queue of events to append to the event log
//     (undelivered pushes). A leaf: a session adds to it under its own
//     lock, when the slow-consumer policy drops pushes.
//  10. EventLog: the in-memory engine's event log. A leaf: the hub
//     appends a user's presence events under the user's shard lock.
//
// The Redis engine delivers from its dispatcher goroutine holding none of
// its locks; its own locks (pending counts, replies, presence writes,
// event tails) and pushsvc's few others (the replay group, rate-limited
// warnings, the event watchers' hub) are leaves, held alone and never
// while taking another, and stay plain sync.Mutex. No lock is held across a Transport call, except that the
// in-memory engine's stream lock is held across the whole fan-out
// (enqueue then schedules the writer, which must not block).
//
// # The check
//
// Mutex and RWMutex carry their rank as a type parameter
// (Mutex[lockorder.Session]). In a normal build they are sync.Mutex and
// sync.RWMutex and cost nothing more. Built with -tags lockcheck (make
// test-lockcheck, which CI runs), they record, per goroutine, the ranks
// it holds and panic when a goroutine takes a lock out of order, before
// it can deadlock, naming both locks.
package lockorder

// Rank is the rank of a lock in the order: one of the types below.
type Rank interface {
	rank() int
	String() string
}

// The ranks, in order.
type (
	// EngineShard ranks the in-memory engine's shard locks.
	EngineShard struct{}
	// EngineStream ranks the in-memory engine's stream locks.
	EngineStream struct{}
	// UserShard ranks the hub's user shard locks.
	UserShard struct{}
	// GroupShard ranks the hub's group shard locks.
	GroupShard struct{}
	// PresenceQueue ranks the presence queue's lock.
	PresenceQueue struct{}
	// Session ranks a session's lock.
	Session struct{}
	// SessionWaits ranks a session's receipt waits lock.
	SessionWaits struct{}
	// Receipt ranks a receipt's lock.
	Receipt struct{}
	// EventWriter ranks the event writer's lock.
	EventWriter struct{}
	// EventLog ranks the in-memory event log's lock.
	EventLog struct{}
)

func (EngineShard) rank() int   { return 1 }
func (EngineStream) rank() int  { return 2 }
func (UserShard) rank() int     { return 3 }
func (GroupShard) rank() int    { return 4 }
func (PresenceQueue) rank() int { return 5 }
func (Session) rank() int       { return 6 }
func (SessionWaits) rank() int  { return 7 }
func (Receipt) rank() int       { return 8 }
func (EventWriter) rank() int   { return 9 }
func (EventLog) rank() int      { return 10 }

func (EngineShard) String() string   { return "engine shard" }
func (EngineStream) String() string  { return "engine stream" }
func (UserShard) String() string     { return "hub user shard" }
func (GroupShard) String() string    { return "hub group shard" }
func (PresenceQueue) String() string { return "presence queue" }
func (Session) String() string       { return "session" }
func (SessionWaits) String() string  { return "session waits" }
func (Receipt) String() string       { return "receipt" }
func (EventWriter) String() string   { return "event writer" }
func (EventLog) String() string      { return "in-memory event log" }
