package pushsvc

import (
	"hash/maphash"
	"slices"
	"sync/atomic"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

const hubShards = 64

// hub indexes sessions by user and by group, each in 64 shards with a
// lock each, taken in the order internal/lockorder gives.
type hub struct {
	seed   maphash.Seed
	users  [hubShards]userShard
	groups [hubShards]groupShard

	// forgetOffline is set when a cluster stores membership: the hub then
	// keeps members' groups only while they have a session here, and reads
	// a user's stored groups when a session connects (groupRead). Immutable
	// after newHub's caller sets it.
	forgetOffline bool
	// local, without a cluster, appends the presence events of the
	// hub's changes, under the user's shard lock. Immutable after
	// newHub's caller sets it; nil without an event log.
	local *localPresence

	connections atomic.Int64 // registered sessions
	online      atomic.Int64 // users with at least one session
	groupCount  atomic.Int64 // groups with a member or a session
}

type userShard struct {
	mu    lockorder.RWMutex[lockorder.UserShard] // guards users and every userEntry and Session.groups of them
	users map[string]*userEntry
}

// userEntry is a user's sessions and the groups AddToGroup put them in.
type userEntry struct {
	sessions    []*Session
	groups      map[string]struct{}
	onlineSince time.Time // when the first of sessions connected
	// With a cluster: the reads of the user's stored groups in flight, and
	// the membership changes applied since the oldest of them began, in
	// order (see endRead). changes is empty when reads is 0.
	reads   int
	changes []memberChange
}

// memberChange is a membership Control applied to a user.
type memberChange struct {
	group string
	added bool
}

// groupRead is a read of a user's stored groups, begun by add.
type groupRead struct {
	user  string
	entry *userEntry
	from  int // index in entry.changes of the first change applied during the read
}

type groupShard struct {
	mu     lockorder.RWMutex[lockorder.GroupShard] // guards groups and every groupEntry in it
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

// add registers s with its token groups and its user's member groups
// known here. With a cluster it begins a read of the user's stored groups:
// the caller reads them and hands them to endRead.
func (h *hub) add(s *Session) *groupRead {
	us := h.userShard(s.user)
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.users[s.user]
	if u == nil {
		u = &userEntry{}
		us.users[s.user] = u
	}
	first := len(u.sessions) == 0
	if first {
		h.online.Add(1)
		u.onlineSince = s.connectedAt
	}
	u.sessions = append(u.sessions, s)
	h.connections.Add(1)
	if h.local != nil {
		h.local.joined(s, first)
	}
	s.groups = make(map[string]struct{}, len(s.info.Groups)+len(u.groups))
	for _, g := range s.info.Groups {
		s.groups[g] = struct{}{}
	}
	for g := range u.groups {
		s.groups[g] = struct{}{}
	}
	for g := range s.groups {
		h.joinLocked(g, s)
	}
	if !h.forgetOffline {
		return nil
	}
	u.reads++
	return &groupRead{user: s.user, entry: u, from: len(u.changes)}
}

// endRead ends read r with the stored groups it read (ok false: the read
// failed). It sets the user's member groups to stored, then applies again
// the membership changes applied during the read, in order, and the user's
// sessions here follow.
//
// Why the result is right: the session's entry existed, and recorded
// changes, before the read began; the engine publishes a membership
// Control only after writing the change to the store, and delivers the
// Controls of one group in the order they were written. A Control
// delivered before the entry existed was written before the read, so the
// read reflects it (the hub, holding no session of the user, dropped it).
// One delivered during the read is applied again after the read's result,
// which is right whether its write came before the read (the same change
// twice) or after (the read missed it). One delivered after endRead is
// applied directly. So for each group the last change delivered wins, as
// it would had the session been here all along. Without this, a Control
// delivered during the read was dropped (no session yet) or undone (by the
// stale list), and the session missed the group, or kept it, for good.
//
// A failed read changes nothing: the session has its token groups and
// those of the user's other sessions here, and every change from now on.
// endRead reports whether the user's member groups changed, and the
// groups the changes applied during the read touched.
func (h *hub) endRead(r *groupRead, stored []string, ok bool) (changed bool, touched []string) {
	us := h.userShard(r.user)
	us.mu.Lock()
	defer us.mu.Unlock()
	u := r.entry
	if us.users[r.user] != u {
		return false, nil // every session of the user left during the read
	}
	u.reads--
	for _, c := range u.changes[r.from:] {
		touched = append(touched, c.group)
	}
	if ok {
		want := make(map[string]struct{}, len(stored)+len(u.changes)-r.from)
		for _, g := range stored {
			want[g] = struct{}{}
		}
		for _, c := range u.changes[r.from:] {
			if c.added {
				want[c.group] = struct{}{}
			} else {
				delete(want, c.group)
			}
		}
		for g := range u.groups {
			if _, keep := want[g]; !keep {
				h.removeMemberLocked(g, r.user, u)
				changed = true
			}
		}
		for g := range want {
			if _, has := u.groups[g]; !has {
				h.addMemberLocked(g, r.user, u)
				changed = true
			}
		}
	}
	if u.reads == 0 {
		u.changes = nil
	}
	return changed, touched
}

// memberGroups returns the groups AddToGroup put user in, as this node
// knows them: with a cluster, only while the user has a session here.
func (h *hub) memberGroups(user string) []string {
	us := h.userShard(user)
	us.mu.RLock()
	defer us.mu.RUnlock()
	u := us.users[user]
	if u == nil || len(u.groups) == 0 {
		return nil
	}
	out := make([]string, 0, len(u.groups))
	for g := range u.groups {
		out = append(out, g)
	}
	return out
}

// remove unregisters s, which closed as closed says. It reports false
// when s was not registered.
func (h *hub) remove(s *Session, closed engine.Closed) bool {
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
	if h.local != nil {
		h.local.left(s, closed, len(u.sessions) == 0, u.onlineSince)
	}
	for g := range s.groups {
		h.leaveLocked(g, s)
	}
	if len(u.sessions) == 0 {
		h.online.Add(-1)
		if h.forgetOffline {
			// The cluster's store remembers the user's groups; the
			// groups here forget the member, or they would keep every
			// user that ever connected.
			for g := range u.groups {
				h.removeMemberLocked(g, s.user, u)
			}
		}
		if len(u.groups) == 0 {
			delete(us.users, s.user)
		}
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
	if u.reads > 0 {
		u.changes = append(u.changes, memberChange{group: g, added: true})
	}
	h.addMemberLocked(g, user, u)
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
	if u.reads > 0 {
		u.changes = append(u.changes, memberChange{group: g})
	}
	h.removeMemberLocked(g, user, u)
	if len(u.sessions) == 0 && len(u.groups) == 0 {
		delete(us.users, user)
	}
}

// addMemberLocked makes user, whose entry is u, a member of g. The caller
// holds the user's shard.
func (h *hub) addMemberLocked(g, user string, u *userEntry) {
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

// removeMemberLocked ends the membership of user, whose entry is u, of g.
// The caller holds the user's shard.
func (h *hub) removeMemberLocked(g, user string, u *userEntry) {
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
// excluded users, which it appends to skipped.
func (h *hub) groupSessions(dst, skipped []*Session, g string, exclude []string) ([]*Session, []*Session) {
	gs := h.groupShard(g)
	gs.mu.RLock()
	if e := gs.groups[g]; e != nil {
		for s := range e.sessions {
			if len(exclude) > 0 && slices.Contains(exclude, s.user) {
				skipped = append(skipped, s)
				continue
			}
			dst = append(dst, s)
		}
	}
	gs.mu.RUnlock()
	return dst, skipped
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

// receives reports whether s receives group g's pushes.
func (h *hub) receives(s *Session, g string) bool {
	us := h.userShard(s.user)
	us.mu.RLock()
	_, ok := s.groups[g]
	us.mu.RUnlock()
	return ok
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
