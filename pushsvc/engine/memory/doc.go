// Package memory is Herald's in-memory engine: streams, offsets, history
// and each stream's idempotent message ids, inside one process. It is the
// zero-configuration default for a single node; everything it holds is
// lost when the process stops, and a restarted process starts every stream
// in a new epoch so that clients see the loss instead of a silent gap.
//
// Concurrency: streams live in a fixed number of shards, each guarded by its
// own mutex; each stream has a mutex held while an idempotent id is checked,
// its offset assigned, the id recorded and its publication delivered, so
// delivery is in offset order per stream and an id publishes once: the
// node's Handler.Deliver runs under the stream's lock. The order of these
// locks, and of pushsvc's taken under them, is in pushsvc/internal/lockorder.
// One janitor goroutine, owned by the Engine and stopped by Close, forgets
// idle streams and expired ids.
//
// The event log (events.go) holds the last events in chunks, bounded by
// EventRetention and EventMaxAge, guarded by its own mutex, which is a
// leaf of the lock order: pushsvc appends under a hub user shard, and an
// append never blocks. Its fingerprint is drawn at New, so a cursor from
// a previous process is refused.
package memory
