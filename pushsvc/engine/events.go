package engine

import (
	"context"
	"errors"
	"time"
)

// ErrCursorExpired means an event cursor is not one the log can resume
// from: the events after it were dropped by the retention bounds, or the
// cursor belongs to another life of the log (a restarted in-memory node,
// a Redis that restarted empty), or it is ahead of the log. The caller
// resynchronises (presence) and reads again from the log's head.
var ErrCursorExpired = errors.New("engine: event cursor expired: the events after it are no longer in the log")

// Defaults of the event log's retention.
const (
	// DefaultEventRetention bounds the events an event log keeps.
	DefaultEventRetention = 100_000
	// DefaultEventMaxAge bounds how long it keeps one.
	DefaultEventMaxAge = time.Hour
)

// EventKind is what an Event says happened.
type EventKind uint8

// The kinds of events.
const (
	// EventOnline: a user's first connection anywhere opened.
	EventOnline EventKind = iota + 1
	// EventOffline: a user's last connection anywhere closed.
	EventOffline
	// EventConnected: a connection opened.
	EventConnected
	// EventDisconnected: a connection closed.
	EventDisconnected
	// EventUndelivered: a push did not reach a user.
	EventUndelivered
)

// NumEventKinds is the number of event kinds; kinds are 1..NumEventKinds.
const NumEventKinds = 5

// UndeliveredReason says why a push did not reach a user.
type UndeliveredReason uint8

// The reasons of EventUndelivered.
const (
	// UndeliveredOffline: no connection anywhere took the push.
	UndeliveredOffline UndeliveredReason = iota + 1
	// UndeliveredSlowConsumer: the push was dropped from a connection's
	// send queue by the slow-consumer policy.
	UndeliveredSlowConsumer
	// UndeliveredAckTimeout: a connection did not acknowledge the push
	// within the caller's ack timeout.
	UndeliveredAckTimeout
)

// Event is one entry of the event log.
type Event struct {
	// Part and ID are the event's position: its partition of the log and
	// its id there. The log sets them; AppendEvents ignores them.
	Part int
	ID   EventID

	Kind EventKind
	// At is when the event happened, by the clock of the node that
	// recorded it.
	At time.Time
	// NodeID is the node that recorded the event.
	NodeID string
	// UserID is the user the event is about.
	UserID string

	// SessionID and SessionNode name the connection of a Connected or
	// Disconnected event, and of an Undelivered one of the slow-consumer
	// and ack-timeout kinds. SessionNode is the node holding it, which
	// differs from NodeID when a node reaped a dead node's connections.
	SessionID   string
	SessionNode string
	// Code and Reason are how a connection closed (Disconnected), or how
	// the user's last one did (Offline): the WebSocket close code, 0 when
	// its node died.
	Code   uint16
	Reason string
	// Duration is how long the connection was open (Disconnected) or the
	// user online (Offline).
	Duration time.Duration

	// MessageID, Stream, Offset and Topic name the push of an Undelivered
	// event, and Why says why it did not arrive.
	MessageID string
	Stream    string
	Offset    uint64
	Topic     string
	Why       UndeliveredReason
}

// EventLog is implemented by engines that keep a log of presence and
// delivery events, shared by every node of a cluster. The log is split
// into partitions (one for the in-memory engine); the events of one user
// are in one partition, in the order they happened there. It keeps the
// last events up to its retention bounds (a count and an age) and
// forgets the rest.
//
// A Cluster engine appends the presence events itself, atomically with
// the presence changes of Register, Unregister and its reaping of dead
// nodes; without a Cluster the node appends them with AppendEvents. A
// node appends the delivery events with AppendEvents.
type EventLog interface {
	// AppendEvents appends evs, each to the partition of its user.
	AppendEvents(ctx context.Context, evs []Event) error
	// EventsHead returns the cursor of the log's end now: reading after
	// it returns what is appended from now on.
	EventsHead(ctx context.Context) (Cursor, error)
	// ReadEvents returns up to limit events after after, oldest first,
	// each partition's in order, and when upTo is not zero none past upTo
	// in any partition. It returns ErrCursorExpired when after is not in
	// the log (see ErrCursorExpired), and no events when there are none
	// yet. It does not wait.
	ReadEvents(ctx context.Context, after, upTo Cursor, limit int) ([]Event, error)
	// TailEvents starts telling when events are appended after from. The
	// caller closes the tail when done.
	TailEvents(from Cursor) Tail
}

// Tail tells its owner when the log may have new events.
type Tail interface {
	// Changed returns a channel that is closed when events may have been
	// appended since Changed was called. Take it before reading, then
	// wait on it when the read returned nothing: no append is missed.
	// The tail may close it without an append (after an error), never
	// miss one for long; owners also read now and then on their own.
	Changed() <-chan struct{}
	// Close stops the tail and waits for its goroutines.
	Close()
}
