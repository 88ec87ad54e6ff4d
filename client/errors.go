package client

import "errors"

// Sentinel errors. Errors the client returns or reports in a StateChange wrap
// one of these (test with errors.Is) when the cause is the client's own
// decision or the server's answer; transport errors are passed through
// wrapped with %w.
var (
	// ErrClosed reports that Close was called: methods return it afterwards
	// (and after the server ended the client for good), and the final
	// StateChange carries it when the app closed the client.
	ErrClosed = errors.New("client: closed")

	// ErrStarted is returned by a second call to Start.
	ErrStarted = errors.New("client: already started")

	// ErrNotConnected is returned by Ack and RefreshToken while no
	// connection is up (connecting, or waiting to reconnect).
	ErrNotConnected = errors.New("client: not connected")

	// ErrDisconnected is the reason of the final StateChange when the server
	// closed the connection and told the client not to reconnect (for
	// example DisconnectUser with reconnect=false, close code 4002).
	ErrDisconnected = errors.New("client: disconnected by server")

	// ErrSilentServer reports a connection dropped because nothing (no
	// message, ping or pong) arrived from the server for three heartbeat
	// intervals.
	ErrSilentServer = errors.New("client: server silent past the heartbeat timeout")

	// ErrEmptyToken reports that Options.Token returned "" without an error.
	ErrEmptyToken = errors.New("client: token provider returned an empty token")

	// ErrUnauthorized reports a handshake refused with HTTP 401: the token
	// was missing, invalid or expired. The client retries with backoff and
	// asks the token provider again.
	ErrUnauthorized = errors.New("client: handshake refused: unauthorized")

	// ErrForbidden reports a handshake refused with HTTP 403.
	ErrForbidden = errors.New("client: handshake refused: forbidden")

	// ErrTryLater reports a handshake refused with HTTP 503 (the server is
	// at its connection limit); the client waits at least Retry-After.
	ErrTryLater = errors.New("client: handshake refused: server busy")

	// ErrHandshake reports any other failed WebSocket handshake.
	ErrHandshake = errors.New("client: handshake failed")

	// ErrBadFrame reports a server message that is not a valid binary
	// ServerFrame; the client closes that connection (1007) and reconnects.
	ErrBadFrame = errors.New("client: invalid frame from server")
)
