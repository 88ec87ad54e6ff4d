package pushsvc

import (
	"context"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// clusterTimeout bounds each call the service makes to a cluster on its
// own behalf (presence, stats); callers' requests use their contexts.
const clusterTimeout = 2 * time.Second

// statsEvery is how often a node publishes its stats to the cluster.
const statsEvery = time.Second

// runCluster is the cluster goroutine: it writes the presence changes
// queued in q until stop, retrying after presenceRetry when the cluster
// fails, and publishes the node's stats every statsEvery. At stop it
// makes one last attempt, so that the sessions a draining node closed
// leave presence with their close codes rather than as reaped ones.
func (s *Service) runCluster(c engine.Cluster, q *presenceQueue) {
	defer close(q.stopped)
	stats := time.NewTicker(statsEvery)
	defer stats.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	failing := false
	for {
		select {
		case <-q.stop:
			if !failing {
				q.flush(s, c, true)
			}
			return
		case <-stats.C:
			s.putStats(c)
			continue
		case <-q.wake:
			if failing {
				continue // the retry writes it; one attempt per presenceRetry
			}
		case <-retry.C:
		}
		failing = !q.flush(s, c, false)
		if failing {
			retry.Reset(presenceRetry)
		}
	}
}

func (s *Service) putStats(c engine.Cluster) {
	b, err := encodeSnapshot(s.Stats(context.Background()))
	if err != nil {
		s.opts.Logger.Error("encoding stats failed", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := c.PutStats(ctx, b); err != nil {
		s.opts.Logger.Debug("publishing stats failed", "err", err)
	}
}

// connOf describes sess for the presence registry.
func (s *Service) connOf(sess *Session) engine.Conn {
	return engine.Conn{
		SessionID:   sess.id,
		UserID:      sess.user,
		NodeID:      s.opts.NodeID,
		RemoteAddr:  sess.info.RemoteAddr,
		UserAgent:   sess.info.UserAgent,
		ConnectedAt: sess.connectedAt,
		Groups:      s.hub.sessionGroups(sess),
		Compressed:  sess.info.Compressed,
	}
}

// Control applies a cluster-wide instruction to this node's sessions
// (engine.Handler).
func (n *node) Control(c engine.Control) int {
	s := n.svc
	switch c.Kind {
	case engine.MembersAdded:
		for _, u := range c.Users {
			s.hub.addMember(c.Group, u)
		}
		s.reregister(c.Users...)
	case engine.MembersRemoved:
		for _, u := range c.Users {
			s.hub.removeMember(c.Group, u)
		}
		s.reregister(c.Users...)
	case engine.DisconnectUser:
		n := 0
		for _, u := range c.Users {
			n += s.disconnectLocal(u, c.Reason, c.Reconnect)
		}
		return n
	}
	return 0
}

// reregister refreshes the presence records of users' sessions here, so
// that presence shows their groups as they are now.
func (s *Service) reregister(users ...string) {
	var buf []*Session
	for _, u := range users {
		buf = s.hub.userSessions(buf[:0], u)
		for _, sess := range buf {
			s.presence.changed(sess)
		}
	}
}

// NodeStats is one node's stats.
type NodeStats struct {
	NodeID string
	Stats  Stats
}

// ClusterStats returns every live node's stats, this node's first. Without
// a cluster it is this node alone. A node whose snapshot cannot be read is
// left out, with a warning.
func (s *Service) ClusterStats(ctx context.Context) ([]NodeStats, error) {
	local := NodeStats{NodeID: s.opts.NodeID, Stats: s.Stats(ctx)}
	if s.cluster == nil {
		return []NodeStats{local}, nil
	}
	snaps, err := s.cluster.Stats(ctx)
	if err != nil {
		return nil, errUnavailable(err)
	}
	out := []NodeStats{local}
	for id, b := range snaps {
		if id == s.opts.NodeID {
			continue
		}
		st, err := decodeSnapshot(b)
		if err != nil {
			// A node of an older Herald (JSON snapshots) during an
			// upgrade, or a corrupt key: every GetStats would say so.
			s.snapshotWarn.warn(s.opts.Now(), "node", id, "err", err)
			continue
		}
		out = append(out, NodeStats{NodeID: id, Stats: st})
	}
	return out, nil
}

// Ready reports whether the node can serve pushes: always without a
// cluster, and while the cluster's backend is reachable with one.
func (s *Service) Ready() bool {
	return s.cluster == nil || s.cluster.Healthy()
}
