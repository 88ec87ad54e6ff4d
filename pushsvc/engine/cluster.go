package engine

import (
	"context"
	"time"
)

// ControlKind names a cluster-wide instruction.
type ControlKind int

const (
	// MembersAdded: Users joined Group; nodes add their sessions of them.
	MembersAdded ControlKind = iota + 1
	// MembersRemoved: Users left Group.
	MembersRemoved
	// DisconnectUser: nodes close User's sessions with 4002.
	DisconnectUser
)

// Control is an instruction every node applies to its own sessions.
type Control struct {
	Kind      ControlKind
	Group     string
	Users     []string
	Reason    string
	Reconnect bool
}

// Handler is the node as its engine sees it: where the engine hands what
// it receives for the node's own sessions. The push service implements it
// (pushsvc's node). The engine calls Deliver and Control from one
// goroutine per stream at a time, in the order it received them, and they
// must not block: they queue to sessions and return.
type Handler interface {
	// Deliver queues a publication to the node's sessions of its stream
	// and reports how many took it. For one stream it is called in offset
	// order and never concurrently. The in-memory engine calls it holding
	// the stream's lock (see pushsvc/internal/lockorder for what that
	// allows).
	Deliver(p *Publication) int
	// Control applies an instruction to the node's sessions and reports
	// how many it touched (closed, for DisconnectUser).
	Control(c Control) int
	// Streams lists the streams the node's sessions follow now: their
	// users' streams, their groups' streams, and the broadcast stream
	// when there is a session. An engine that can miss publications (a
	// subscription that was down) catches these streams up.
	Streams() []string
}

// Conn is one connection as the cluster's presence registry holds it.
type Conn struct {
	SessionID   string
	UserID      string
	NodeID      string
	RemoteAddr  string
	UserAgent   string
	ConnectedAt time.Time
	Groups      []string
	Compressed  bool
}

// Closed says how a connection ended, for the presence events.
type Closed struct {
	At     time.Time
	Code   uint16 // the WebSocket close code
	Reason string
}

// Cluster is implemented by engines that several nodes share. With it,
// group membership, presence, disconnects and stats span every node; the
// in-memory engine does not implement it and the node answers for itself.
type Cluster interface {
	// NodeID names this node in the cluster.
	NodeID() string
	// AddMembers stores the membership and has every node apply it. The
	// store is written before the Control is published, and the Controls
	// of one group reach each node in the order they were written: a node
	// that reads UserGroups while Controls arrive relies on both to tell
	// which of the two is newer.
	AddMembers(ctx context.Context, group string, users []string) error
	// RemoveMembers ends the membership on every node, like AddMembers.
	RemoveMembers(ctx context.Context, group string, users []string) error
	// Members lists the users added to group, sorted.
	Members(ctx context.Context, group string) ([]string, error)
	// UserGroups lists the groups user was added to, for a new session.
	UserGroups(ctx context.Context, user string) ([]string, error)
	// Register and Unregister keep this node's connections in the
	// presence registry. Connections of a node that stops heartbeating
	// leave it within the engine's node TTL. An engine that is also an
	// EventLog appends the presence events these changes make (connected
	// and disconnected, online and offline), atomically with them.
	Register(ctx context.Context, c Conn) error
	Unregister(ctx context.Context, c Conn, closed Closed) error
	// Presence returns the live connections of each user.
	Presence(ctx context.Context, users []string) (map[string][]Conn, error)
	// Disconnect closes user's sessions on every node and reports how
	// many were closed.
	Disconnect(ctx context.Context, user, reason string, reconnect bool) (int, error)
	// PutStats publishes this node's stats snapshot (opaque to the
	// engine); Stats returns the snapshots of the live nodes by node id.
	PutStats(ctx context.Context, snapshot []byte) error
	Stats(ctx context.Context) (map[string][]byte, error)
	// Healthy reports whether the engine can reach its backend now.
	Healthy() bool
}
