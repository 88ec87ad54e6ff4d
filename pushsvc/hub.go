package pushsvc

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

const hubShards = 64

// hub indexes sessions by user and by group. Lock order: a user shard, then
// a group shard; never two shards of one kind at once.
type hub struct {
	seed   maphash.Seed
	users  [hubShards]userShard
	groups [hubShards]groupShard

	// forgetOffline is set when a cluster stores membership: the hub then
	// keeps members' groups only while they have a session here. Immutable
	// after newHub's caller sets it.
	forgetOffline bool

	connections atomic.Int64 // registered sessions
	online      atomic.Int64 // users with at least one session
	groupCount  atomic.Int64 // groups with a member or a session
}

type userShard struct {
	mu    sync.RWMutex // guards users and every userEntry and Session.groups of them
	users map[string]*userEntry
}

// userEntry is a user's sessions and the groups AddToGroup put them in.
type userEntry struct {
	sessions []*Session
	groups   map[string]struct{}
}

type groupShard struct {
	mu     sync.RWMutex // guards groups and every groupEntry in it
	groups map[string]*groupEntry
}

// groupEntry is a group's members (from AddToGroup) and the sessions that
// receive it (members' sessions and sessions with the group in their token).
type groupEntry struct {
	members  map[string]struct{}
	sessions map[*Session]struct{}
}

func newHub() *hub {
	h := &hub{seed: maphash.MakeSeed()}
	for i := range h.users {
		h.users[i].users = make(map[string]*userEntry)
		h.groups[i].groups = make(map[string]*groupEntry)
	}
	return h
}

func (h *hub) userShard(id string) *userShard {
	return &h.users[maphash.String(h.seed, id)%hubShards]
}

func (h *hub) groupShard(name string) *groupShard {
	return &h.groups[maphash.String(h.seed, name)%hubShards]
}

// add registers s with its token groups, its user's member groups known
// here, and extra member groups (from the cluster's membership store).
func (h *hub) add(s *Session, extra []string) {
	us := h.userShard(s.user)
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.users[s.user]
	if u == nil {
		u = &userEntry{}
		us.users[s.user] = u
	}
	if len(u.sessions) == 0 {
		h.online.Add(1)
	}
	u.sessions = append(u.sessions, s)
	h.connections.Add(1)
	s.groups = make(map[string]struct{}, len(s.info.Groups)+len(u.groups))
	for _, g := range s.info.Groups {
		s.groups[g] = struct{}{}
	}
	for _, g := range extra {
		if u.groups == nil {
			u.groups = make(map[string]struct{})
		}
		u.groups[g] = struct{}{}
	}
	for g := range u.groups {
		s.groups[g] = struct{}{}
	}
	for g := range s.groups {
		h.joinLocked(g, s)
	}
}

// remove unregisters s. It reports false when s was not registered.
func (h *hub) remove(s *Session) bool {
	us := h.userShard(s.user)
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.users[s.user]
	if u == nil {
		return false
	}
	i := slices.Index(u.sessions, s)
	if i < 0 {
		return false
	}
	u.sessions = slices.Delete(u.sessions, i, i+1)
	h.connections.Add(-1)
	if len(u.sessions) == 0 {
		h.online.Add(-1)
		if len(u.groups) == 0 || h.forgetOffline {
			delete(us.users, s.user)
		}
	}
	for g := range s.groups {
		h.leaveLocked(g, s)
	}
	return true
}

// joinLocked adds s to group g's sessions. The caller holds s's user shard.
func (h *hub) joinLocked(g string, s *Session) {
	gs := h.groupShard(g)
	gs.mu.Lock()
	e := gs.entryLocked(h, g)
	e.sessions[s] = struct{}{}
	gs.mu.Unlock()
}

// leaveLocked removes s from group g's sessions. The caller holds s's user
// shard.
func (h *hub) leaveLocked(g string, s *Session) {
	gs := h.groupShard(g)
	gs.mu.Lock()
	if e := gs.groups[g]; e != nil {
		delete(e.sessions, s)
		gs.dropIfEmptyLocked(h, g, e)
	}
	gs.mu.Unlock()
}

func (gs *groupShard) entryLocked(h *hub, g string) *groupEntry {
	e := gs.groups[g]
	if e == nil {
		e = &groupEntry{members: map[string]struct{}{}, sessions: map[*Session]struct{}{}}
		gs.groups[g] = e
		h.groupCount.Add(1)
	}
	return e
}

func (gs *groupShard) dropIfEmptyLocked(h *hub, g string, e *groupEntry) {
	if len(e.members) == 0 && len(e.sessions) == 0 {
		delete(gs.groups, g)
		h.groupCount.Add(-1)
	}
}

// addMember makes user a member of g, for its current and future sessions.
func (h *hub) addMember(g, user string) {
	us := h.userShard(user)
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.users[user]
	if u == nil {
		if h.forgetOffline {
			// The cluster's store remembers; this node holds no session.
			return
		}
		u = &userEntry{}
		us.users[user] = u
	}
	if u.groups == nil {
		u.groups = make(map[string]struct{})
	}
	u.groups[g] = struct{}{}
	gs := h.groupShard(g)
	gs.mu.Lock()
	e := gs.entryLocked(h, g)
	e.members[user] = struct{}{}
	for _, s := range u.sessions {
		s.groups[g] = struct{}{}
		e.sessions[s] = struct{}{}
	}
	gs.mu.Unlock()
}

// removeMember ends user's membership of g. Sessions that have g in their
// token keep receiving it.
func (h *hub) removeMember(g, user string) {
	us := h.userShard(user)
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.users[user]
	if u == nil {
		return
	}
	delete(u.groups, g)
	gs := h.groupShard(g)
	gs.mu.Lock()
	if e := gs.groups[g]; e != nil {
		delete(e.members, user)
		for _, s := range u.sessions {
			if !slices.Contains(s.info.Groups, g) {
				delete(s.groups, g)
				delete(e.sessions, s)
			}
		}
		gs.dropIfEmptyLocked(h, g, e)
	}
	gs.mu.Unlock()
	if len(u.sessions) == 0 && len(u.groups) == 0 {
		delete(us.users, user)
	}
}

// members returns g's members and the users of sessions receiving g, sorted.
func (h *hub) members(g string) []string {
	gs := h.groupShard(g)
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	e := gs.groups[g]
	if e == nil {
		return nil
	}
	set := make(map[string]struct{}, len(e.members)+len(e.sessions))
	for m := range e.members {
		set[m] = struct{}{}
	}
	for s := range e.sessions {
		set[s.user] = struct{}{}
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// userSessions appends user's sessions to dst.
func (h *hub) userSessions(dst []*Session, user string) []*Session {
	us := h.userShard(user)
	us.mu.RLock()
	if u := us.users[user]; u != nil {
		dst = append(dst, u.sessions...)
	}
	us.mu.RUnlock()
	return dst
}

// groupSessions appends the sessions receiving g to dst, except those of
// excluded users.
func (h *hub) groupSessions(dst []*Session, g string, exclude []string) []*Session {
	gs := h.groupShard(g)
	gs.mu.RLock()
	if e := gs.groups[g]; e != nil {
		for s := range e.sessions {
			if len(exclude) > 0 && slices.Contains(exclude, s.user) {
				continue
			}
			dst = append(dst, s)
		}
	}
	gs.mu.RUnlock()
	return dst
}

// allSessions appends every session to dst.
func (h *hub) allSessions(dst []*Session) []*Session {
	for i := range h.users {
		us := &h.users[i]
		us.mu.RLock()
		for _, u := range us.users {
			dst = append(dst, u.sessions...)
		}
		us.mu.RUnlock()
	}
	return dst
}

// sessionGroups returns the groups s receives, sorted.
func (h *hub) sessionGroups(s *Session) []string {
	us := h.userShard(s.user)
	us.mu.RLock()
	out := make([]string, 0, len(s.groups))
	for g := range s.groups {
		out = append(out, g)
	}
	us.mu.RUnlock()
	slices.Sort(out)
	return out
}
