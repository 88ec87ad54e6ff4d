package client

import (
	"fmt"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// State is where a Client is in its connection life cycle.
//
//	Connecting ──► Connected ──► Reconnecting ──► Connected ──► …
//	     │             │              │
//	     └─────────────┴──────────────┴──► Closed (terminal)
type State int32

const (
	// StateIdle is the state of a Client that has not been started.
	StateIdle State = iota
	// StateConnecting: started, first connection attempt under way.
	StateConnecting
	// StateConnected: the server's Welcome arrived on a live connection.
	StateConnected
	// StateReconnecting: a connection or attempt failed; the client waits
	// StateChange.Delay, then dials again. Reported once per failure.
	StateReconnecting
	// StateClosed is terminal: Close was called, or the server said not to
	// reconnect. The client never connects again.
	StateClosed
)

// String returns the state's name for logs.
func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// StateChange is passed to Options.OnState.
type StateChange struct {
	// State is the new state.
	State State

	// Code is the WebSocket close code of the connection that ended, from
	// the server's close frame or, failing that, its Disconnect frame; 0
	// when no connection was up or none was received (dial or handshake
	// error, network drop). 1000 when Close ended a live connection.
	Code uint16
	// Reason is the server's reason for Code, from its Disconnect frame or
	// close frame.
	Reason string
	// Err is why the previous state ended, nil for Connecting and
	// Connected. ErrClosed after Close, ErrDisconnected when the server
	// refused reconnects, ErrSilentServer, ErrUnauthorized, ... otherwise.
	Err error

	// Delay is, for Reconnecting, how long the client waits before its next
	// attempt: the server's reconnect_after or Retry-After when given,
	// otherwise the backoff's.
	Delay time.Duration
	// Attempt is, for Reconnecting, the number of attempts that failed in a
	// row since the last stable connection (1 for the first failure).
	Attempt int

	// Welcome is, for Connected, the server's Welcome frame.
	Welcome *clientv1.Welcome
}
