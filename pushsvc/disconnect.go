package pushsvc

import (
	"context"
	"time"
)

// Disconnect says why the server closes a connection: the close code, a
// reason for humans, and whether and when the client should reconnect. The
// WebSocket adapter sends it as a Disconnect frame, then closes with Code.
type Disconnect struct {
	Code           uint16
	Reason         string
	Reconnect      bool
	ReconnectAfter time.Duration
}

// The close codes of the contract (the README's "Close codes" table),
// defined here once for the
// server and its tests. They are untyped, so that they compare with a
// close frame's uint16 and a Disconnect frame's uint32 alike.
const (
	CodeNormal       = 1000
	CodeGoingAway    = 1001
	CodeTextFrame    = 1003
	CodeBadFrame     = 1007
	CodePolicy       = 1008
	CodeTooBig       = 1009
	CodeInternal     = 1011
	CodeTryLater     = 1013
	CodeTokenExpired = 4001
	CodeKicked       = 4002
	CodeSlowConsumer = 4003
	// CodeProtocolError is RFC 6455's code for a broken frame, which gws
	// sends on its own (not one the server chooses).
	CodeProtocolError = 1002
	// CodeAbnormal is never sent: it stands, in events, for a connection
	// that dropped without a close frame (RFC 6455's 1006).
	CodeAbnormal = 1006
)

var (
	// DisconnectShutdown closes connections while a node drains.
	DisconnectShutdown = Disconnect{Code: CodeGoingAway, Reason: "server shutting down", Reconnect: true}
	// DisconnectTextFrame closes a connection that sent a text frame.
	DisconnectTextFrame = Disconnect{Code: CodeTextFrame, Reason: "text frames are not accepted: send binary ClientFrame messages", Reconnect: true}
	// DisconnectBadFrame closes a connection that sent an undecodable frame.
	DisconnectBadFrame = Disconnect{Code: CodeBadFrame, Reason: "binary frame is not a valid herald.client.v1.ClientFrame", Reconnect: true}
	// DisconnectTooBig closes a connection that sent an oversize frame.
	DisconnectTooBig = Disconnect{Code: CodeTooBig, Reason: "frame exceeds the maximum frame size", Reconnect: true}
	// DisconnectSlowConsumer closes a connection that fell too far behind.
	DisconnectSlowConsumer = Disconnect{Code: CodeSlowConsumer, Reason: "slow consumer: send queue full; resume from history", Reconnect: true}
	// DisconnectTokenExpired closes a connection whose token expired.
	DisconnectTokenExpired = Disconnect{Code: CodeTokenExpired, Reason: "token expired", Reconnect: true}
	// DisconnectInternal closes a connection after a server fault.
	DisconnectInternal = Disconnect{Code: CodeInternal, Reason: "internal error", Reconnect: true}
	// DisconnectProtocolError closes a connection that broke the
	// WebSocket protocol (RFC 6455): an unmasked frame, a fragmented or
	// oversize control frame, reserved bits, an unknown opcode, a
	// continuation out of place, a bad length.
	DisconnectProtocolError = Disconnect{Code: CodeProtocolError, Reason: "WebSocket protocol error (RFC 6455)", Reconnect: true}
)

// DisconnectUser closes every session of user, on every node, with 4002
// and reports how many there were.
func (s *Service) DisconnectUser(ctx context.Context, user, reason string, reconnect bool) (int, error) {
	if reason == "" {
		reason = "disconnected by the server"
	}
	if s.cluster != nil {
		n, err := s.cluster.Disconnect(ctx, user, reason, reconnect)
		return n, errUnavailable(err)
	}
	return s.disconnectLocal(user, reason, reconnect), nil
}

func (s *Service) disconnectLocal(user, reason string, reconnect bool) int {
	sessions := s.hub.userSessions(nil, user)
	for _, sess := range sessions {
		sess.Close(Disconnect{Code: CodeKicked, Reason: reason, Reconnect: reconnect})
	}
	return len(sessions)
}
