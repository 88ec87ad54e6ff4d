package engine

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable means the engine cannot publish right now (for example its
// backend is unreachable); the caller may retry.
var ErrUnavailable = errors.New("engine: unavailable")

// ErrDuplicate is what Publish returns, with the first publication's
// stream, offset and epoch, when m is Idempotent and its ID was published
// to the stream within the history TTL: nothing was published this time.
var ErrDuplicate = errors.New("engine: message id already published to the stream")

// Message is what a caller publishes to a stream.
type Message struct {
	// ID is the message id (the caller's idempotency key or a generated id).
	ID string
	// Idempotent makes ID an idempotency key: a stream publishes a message
	// with a given ID once within the engine's history TTL, and Publish
	// answers a repeat with ErrDuplicate. The engine checks and records
	// the ID in the same atomic step as the publication, so a retry after
	// an error, even one whose reply was lost after the engine published,
	// never publishes twice, and one after a failure that published
	// nothing publishes.
	Idempotent bool
	// Topic is the caller's label.
	Topic string
	// Payload is delivered unchanged.
	Payload []byte
	// TTL bounds how long the message stays in history; zero means the
	// engine's history TTL. It never lengthens it.
	TTL time.Duration
	// Exclude lists users of a group stream who do not receive the message,
	// live or in a replay.
	Exclude []string
	// Local is node-local data the publisher attaches for its own
	// Handler.Deliver (delivery receipts). It never leaves the node:
	// engines that carry messages between processes drop it.
	Local any
}

// Publication is a message placed in a stream.
type Publication struct {
	Message
	// Stream is the stream's name (streams.go).
	Stream string
	// Offset is the publication's position in Stream, starting at 1.
	Offset uint64
	// Epoch names the stream's history; offsets restart with a new epoch.
	Epoch string
	// Time is when the engine accepted the publication.
	Time time.Time
}

// Position is a point in a stream.
type Position struct {
	Offset uint64
	Epoch  string
}

// Engine carries publications and keeps history.
type Engine interface {
	// Publish places m at the end of stream, records it in history and
	// delivers it on every node. It reports the publication and how many
	// connections it was queued to on all nodes (an engine shared by nodes
	// counts the nodes that answered within its reply timeout). An error
	// means the push may not have been published: the caller must not
	// report it as delivered. With m.Idempotent, a repeat of m.ID in
	// stream returns ErrDuplicate and a Publication that holds only the
	// first publication's Stream, Offset and Epoch beside m.
	Publish(ctx context.Context, stream string, m Message) (*Publication, int, error)
	// Since returns the publications of stream after pos, oldest first, at
	// most limit of them (all when limit is negative, none when it is 0),
	// and the stream's current position. ok is false when the pushes after
	// pos cannot all be returned: the epoch changed, or history was
	// trimmed or expired past pos. With a limit, ok still answers for all
	// of them, of which pubs are the first: a caller pages through a long
	// gap by asking again after the last one it got, and learns from ok
	// whether history still covers the rest.
	Since(ctx context.Context, stream string, pos Position, limit int) (pubs []*Publication, cur Position, ok bool, err error)
	// Positions returns the current position of each stream, in order:
	// the offset and epoch of its last publication, or the zero Position
	// for a stream never published (or forgotten once idle past the
	// history TTL), whose next publication starts a new epoch at offset 1.
	// Each stream's position is read atomically with its publications: one
	// placed before the read is at or below it, one placed after it above
	// it. It reads no history: a connect calls it (pushsvc's Welcome).
	Positions(ctx context.Context, streams []string) ([]Position, error)
	// Close releases the engine's resources.
	Close() error
}
