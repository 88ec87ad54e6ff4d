// Package engine defines what carries pushes between Herald nodes and keeps
// their history: the Engine interface, and the types that cross it.
//
// An engine assigns each publication the next offset of its stream, records
// it in the stream's bounded history, and hands it to every node's Handler
// (Deliver) in offset order. The in-memory engine (package memory) does this
// inside one process; other engines share it between processes. Stream
// names are made and read in one place, streams.go.
//
// Engines may also keep an event log (EventLog): presence and delivery
// events, split into partitions by user, each partition in order, kept
// up to a count and an age, read after a Cursor (one position per
// partition and a fingerprint of the log's life, so that a cursor of a
// log that started over is refused with ErrCursorExpired).
package engine
