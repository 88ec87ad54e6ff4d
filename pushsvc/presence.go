package pushsvc

import (
	"context"

	"github.com/herald-push/herald/pushsvc/engine"
)

// UserPresence is one user's presence.
type UserPresence struct {
	UserID      string
	Online      bool
	Connections []ConnectionInfo
}

// ConnectionInfo describes one session, as the cluster's presence registry
// holds it too.
type ConnectionInfo = engine.Conn

// Presence reports each user's sessions, in the order asked: on every node
// with a cluster, on this one without.
func (s *Service) Presence(ctx context.Context, users []string) ([]UserPresence, error) {
	var cluster map[string][]engine.Conn
	if s.cluster != nil {
		var err error
		if cluster, err = s.cluster.Presence(ctx, users); err != nil {
			return nil, errUnavailable(err)
		}
	}
	out := make([]UserPresence, len(users))
	var buf []*Session
	for i, u := range users {
		conns := cluster[u]
		if s.cluster == nil {
			buf = s.hub.userSessions(buf[:0], u)
			for _, sess := range buf {
				conns = append(conns, s.connOf(sess))
			}
		}
		out[i] = UserPresence{UserID: u, Online: len(conns) > 0, Connections: conns}
	}
	return out, nil
}
