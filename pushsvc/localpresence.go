package pushsvc

import (
	"context"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// localPresence appends the presence events of a node whose engine has
// no shared presence registry (the in-memory engine): the hub calls it
// under the user's shard lock, so that a user's events are in the log in
// the order of the hub's changes, and the log's append never blocks.
type localPresence struct {
	svc *Service
	log engine.EventLog
}

// joined appends Online, when s is its user's first session, and
// Connected.
func (lp *localPresence) joined(s *Session, first bool) {
	evs := make([]engine.Event, 0, 2)
	if first {
		evs = append(evs, lp.event(engine.EventOnline, s.user, s.connectedAt))
	}
	c := lp.event(engine.EventConnected, s.user, s.connectedAt)
	c.SessionID, c.SessionNode = s.id, lp.svc.opts.NodeID
	evs = append(evs, c)
	lp.append(evs)
}

// left appends Disconnected and, when s was its user's last session,
// Offline (online since since), both saying how s closed.
func (lp *localPresence) left(s *Session, closed engine.Closed, last bool, since time.Time) {
	dis := lp.event(engine.EventDisconnected, s.user, closed.At)
	dis.SessionID, dis.SessionNode = s.id, lp.svc.opts.NodeID
	dis.Code, dis.Reason, dis.Duration = closed.Code, closed.Reason, closed.At.Sub(s.connectedAt)
	evs := []engine.Event{dis}
	if last {
		off := lp.event(engine.EventOffline, s.user, closed.At)
		off.Code, off.Reason, off.Duration = closed.Code, closed.Reason, closed.At.Sub(since)
		evs = append(evs, off)
	}
	lp.append(evs)
}

func (lp *localPresence) event(k engine.EventKind, user string, at time.Time) engine.Event {
	return engine.Event{Kind: k, At: at, NodeID: lp.svc.opts.NodeID, UserID: user}
}

func (lp *localPresence) append(evs []engine.Event) {
	// The in-memory log appends under its lock and cannot fail.
	_ = lp.log.AppendEvents(context.Background(), evs)
}
