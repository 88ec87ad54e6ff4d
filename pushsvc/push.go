package pushsvc

import (
	"context"
	"slices"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Message is what a push carries.
type Message struct {
	// Topic labels the payload for the app.
	Topic string
	// Payload is delivered unchanged.
	Payload []byte
	// ID is an optional idempotency key; a generated id when empty.
	ID string
	// TTL optionally shortens how long the push stays resumable.
	TTL time.Duration
	// AckTimeout, when set on a push to users, makes the call wait up to
	// this long for every session it reached to acknowledge it, and answer
	// Receipts.
	AckTimeout time.Duration
}

// Result says what became of a push.
type Result struct {
	// MessageID is the message's id.
	MessageID string
	// Delivered counts the sessions the push was queued to.
	Delivered int
	// Duplicate is true when the id was pushed before within the history
	// window: nothing was pushed this time.
	Duplicate bool
	// Streams are the positions the push was given, one per stream.
	Streams []StreamOffset
	// Receipts has one entry per session reached when AckTimeout was set.
	Receipts []Receipt
}

// StreamOffset is where a push landed in one stream.
type StreamOffset struct {
	Stream string
	Offset uint64
	Epoch  string
}

// PushToUsers pushes m to every session of each user.
func (s *Service) PushToUsers(ctx context.Context, users []string, m Message) (Result, error) {
	streams := make([]string, len(users))
	for i, u := range users {
		streams[i] = UserStream(u)
	}
	return s.publish(ctx, streams, nil, m, "users")
}

// PushToGroups pushes m to the sessions of each group, except those of the
// excluded users. A session in several of the groups receives the push once
// per group stream, with the same id.
func (s *Service) PushToGroups(ctx context.Context, groups, exclude []string, m Message) (Result, error) {
	streams := make([]string, len(groups))
	for i, g := range groups {
		streams[i] = GroupStream(g)
	}
	return s.publish(ctx, streams, exclude, m, "groups")
}

// Broadcast pushes m to every session.
func (s *Service) Broadcast(ctx context.Context, m Message) (Result, error) {
	return s.publish(ctx, []string{BroadcastStream}, nil, m, "broadcast")
}

func (s *Service) publish(ctx context.Context, streams, exclude []string, m Message, kind string) (Result, error) {
	res := Result{MessageID: m.ID}
	if m.ID == "" {
		res.MessageID = newID()
	} else {
		// The key's window is the history window: within it a resend could
		// reach a client twice, past it the first is gone anyway.
		first, ok, err := s.engine.Claim(ctx, "msg:"+m.ID, m.ID, s.opts.HistoryTTL)
		if err != nil {
			return Result{}, errUnavailable(err)
		}
		if !ok {
			s.stats.duplicates.Add(1)
			return Result{MessageID: first, Duplicate: true}, nil
		}
	}
	em := engine.Message{ID: res.MessageID, Topic: m.Topic, Payload: m.Payload, TTL: m.TTL, Exclude: exclude}
	var r *receipt
	if m.AckTimeout > 0 {
		r = newReceipt()
		em.Local = r
	}
	for _, st := range dedupe(streams) {
		p, n, err := s.engine.Publish(ctx, st, em)
		if err != nil {
			// Streams before this one stay published; the error tells the
			// caller the push as a whole is not confirmed.
			return res, errUnavailable(err)
		}
		res.Delivered += n
		res.Streams = append(res.Streams, StreamOffset{Stream: st, Offset: p.Offset, Epoch: p.Epoch})
		s.stats.pushes.Add(1)
	}
	s.stats.countPush(kind)
	if r != nil {
		res.Receipts = awaitReceipt(ctx, r, m.AckTimeout)
	}
	return res, nil
}

// awaitReceipt waits until every session reached acknowledged, timeout
// passed or ctx ended, and returns the receipts.
func awaitReceipt(ctx context.Context, r *receipt, timeout time.Duration) []Receipt {
	r.seal()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
	case <-ctx.Done():
	}
	return r.finish()
}

// dedupe drops repeated names, keeping the first occurrence's order.
func dedupe(names []string) []string {
	if len(names) < 2 {
		return names
	}
	seen := make(map[string]struct{}, len(names))
	out := names[:0:0]
	for _, n := range names {
		if _, ok := seen[n]; ok {
			continue
		}
		seen[n] = struct{}{}
		out = append(out, n)
	}
	return out
}

// AddToGroup makes users members of group, for their current and future
// sessions on every node.
func (s *Service) AddToGroup(ctx context.Context, group string, users []string) error {
	if s.cluster != nil {
		return errUnavailable(s.cluster.AddMembers(ctx, group, users))
	}
	for _, u := range users {
		s.hub.addMember(group, u)
	}
	return nil
}

// RemoveFromGroup ends users' membership of group. Sessions whose token
// names the group keep receiving it.
func (s *Service) RemoveFromGroup(ctx context.Context, group string, users []string) error {
	if s.cluster != nil {
		return errUnavailable(s.cluster.RemoveMembers(ctx, group, users))
	}
	for _, u := range users {
		s.hub.removeMember(group, u)
	}
	return nil
}

// GroupMembers lists group's members and the users whose sessions receive
// it, sorted. With a cluster, token groups count for this node's sessions
// only.
func (s *Service) GroupMembers(ctx context.Context, group string) ([]string, error) {
	local := s.hub.members(group)
	if s.cluster == nil {
		return local, nil
	}
	stored, err := s.cluster.Members(ctx, group)
	if err != nil {
		return nil, errUnavailable(err)
	}
	return mergeSorted(stored, local), nil
}

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

// mergeSorted merges two sorted lists, dropping repeats.
func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}
