package pushsvc

import (
	"context"
	"time"
)

// UserPresence is one user's presence on this node.
type UserPresence struct {
	UserID      string
	Online      bool
	Connections []ConnectionInfo
}

// ConnectionInfo describes one session.
type ConnectionInfo struct {
	SessionID   string
	NodeID      string
	RemoteAddr  string
	UserAgent   string
	ConnectedAt time.Time
	Groups      []string
	Compressed  bool
}

// Presence reports each user's sessions, in the order asked: on every node
// with a cluster, on this one without.
func (s *Service) Presence(ctx context.Context, users []string) ([]UserPresence, error) {
	if s.cluster != nil {
		return s.clusterPresence(ctx, users)
	}
	out := make([]UserPresence, len(users))
	var buf []*Session
	for i, u := range users {
		buf = s.hub.userSessions(buf[:0], u)
		p := UserPresence{UserID: u, Online: len(buf) > 0}
		for _, sess := range buf {
			p.Connections = append(p.Connections, ConnectionInfo{
				SessionID:   sess.id,
				NodeID:      s.opts.NodeID,
				RemoteAddr:  sess.info.RemoteAddr,
				UserAgent:   sess.info.UserAgent,
				ConnectedAt: sess.connectedAt,
				Groups:      s.hub.sessionGroups(sess),
				Compressed:  sess.info.Compressed,
			})
		}
		out[i] = p
	}
	return out, nil
}

func (s *Service) clusterPresence(ctx context.Context, users []string) ([]UserPresence, error) {
	conns, err := s.cluster.Presence(ctx, users)
	if err != nil {
		return nil, errUnavailable(err)
	}
	out := make([]UserPresence, len(users))
	for i, u := range users {
		p := UserPresence{UserID: u, Online: len(conns[u]) > 0}
		for _, c := range conns[u] {
			p.Connections = append(p.Connections, ConnectionInfo{
				SessionID:   c.SessionID,
				NodeID:      c.NodeID,
				RemoteAddr:  c.RemoteAddr,
				UserAgent:   c.UserAgent,
				ConnectedAt: c.ConnectedAt,
				Groups:      c.Groups,
				Compressed:  c.Compressed,
			})
		}
		out[i] = p
	}
	return out, nil
}
