package pushsvc

import "github.com/herald-push/herald/pushsvc/engine"

// Undelivered events: a push to a user's stream that did not reach them.
// Only pushes of user streams make them: a group or broadcast push that a
// user missed is the group's or everyone's, and one event per member
// would flood the log. Three cases:
//
//   - offline: no connection anywhere took the push (the publish's count
//     was 0: nobody had a session, or every node holding one was dead or
//     cut it). One event per push and user, from the node that published.
//   - slow consumer: a session was cut with 4003, or drop-oldest dropped
//     a push, and pushes of its user's own stream were waiting in its
//     queue: one event each, at most maxSlowCutEvents per cut, oldest
//     first (a 4,096-frame queue of them must not flood the log; the
//     client resumes the rest from history when it comes back).
//   - ack timeout: a session a push with an ack timeout reached did not
//     acknowledge it in time: one event per session.

// maxSlowCutEvents bounds the slow-consumer events of one 4003 cut.
const maxSlowCutEvents = 64

// undeliveredEvent describes p, which did not reach user's session (""
// for no session anywhere), as an event of this node.
func (s *Service) undeliveredEvent(p *engine.Publication, user, session string, why engine.UndeliveredReason) engine.Event {
	ev := engine.Event{
		Kind:      engine.EventUndelivered,
		At:        s.opts.Now(),
		NodeID:    s.opts.NodeID,
		UserID:    user,
		MessageID: p.ID,
		Stream:    p.Stream,
		Offset:    p.Offset,
		Topic:     p.Topic,
		Why:       why,
	}
	if session != "" {
		ev.SessionID, ev.SessionNode = session, s.opts.NodeID
	}
	return ev
}

// ownPush reports whether o is a push of user's own stream.
func ownPush(o *Outbound, user string) bool {
	if o.pub == nil {
		return false
	}
	u, ok := engine.StreamUser(o.pub.Stream)
	return ok && u == user
}

// noteDroppedLocked records, for the event writer, that o was dropped
// from s's queue by the slow-consumer policy, if it is a push of s's
// user's stream. The caller holds s.mu; the writer's add never blocks.
func (s *Session) noteDroppedLocked(o *Outbound) {
	if s.svc.undelivered != nil && ownPush(o, s.user) {
		s.svc.undelivered.add(s.svc.undeliveredEvent(o.pub, s.user, s.id, engine.UndeliveredSlowConsumer))
	}
}

// noteSlowCutLocked records the pushes of s's user's stream waiting in s's
// queue, which a 4003 cut is about to drop, up to maxSlowCutEvents. The
// caller holds s.mu.
func (s *Session) noteSlowCutLocked() {
	if s.svc.undelivered == nil {
		return
	}
	var evs []engine.Event
	for _, q := range [][]*Outbound{s.q.frames, s.q.held} {
		for _, o := range q {
			if len(evs) == maxSlowCutEvents {
				break
			}
			if ownPush(o, s.user) {
				evs = append(evs, s.svc.undeliveredEvent(o.pub, s.user, s.id, engine.UndeliveredSlowConsumer))
			}
		}
	}
	s.svc.undelivered.add(evs...)
}
