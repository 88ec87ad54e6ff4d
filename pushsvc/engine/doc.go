// Package engine defines what carries pushes between Herald nodes and keeps
// their history: the Engine interface, and the types that cross it.
//
// An engine assigns each publication the next offset of its stream, records
// it in the stream's bounded history, and hands it to every node's Handler
// (Deliver) in offset order. The in-memory engine (package memory) does this
// inside one process; other engines share it between processes. Stream
// names are made and read in one place, streams.go.
package engine
