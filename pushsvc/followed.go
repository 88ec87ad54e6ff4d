package pushsvc

import "github.com/herald-push/herald/pushsvc/engine"

// Streams lists the streams this node's sessions follow (engine.Handler).
func (n *node) Streams() []string { return n.svc.hub.streams() }

// streams lists the streams this node's sessions follow: the stream of
// each user with a session here, of each group with a session here, and
// the broadcast stream when there is any session: an engine that missed
// publications catches these up.
func (h *hub) streams() []string {
	var out []string
	for i := range h.users {
		us := &h.users[i]
		us.mu.RLock()
		for user, u := range us.users {
			if len(u.sessions) > 0 {
				out = append(out, engine.UserStream(user))
			}
		}
		us.mu.RUnlock()
	}
	if len(out) == 0 {
		return nil
	}
	out = append(out, engine.BroadcastStream)
	for i := range h.groups {
		gs := &h.groups[i]
		gs.mu.RLock()
		for g, e := range gs.groups {
			if len(e.sessions) > 0 {
				out = append(out, engine.GroupStream(g))
			}
		}
		gs.mu.RUnlock()
	}
	return out
}
