package pushsvc

import (
	"context"
	"errors"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Message is what a push carries.
type Message struct {
	// Topic labels the payload for the app.
	Topic string
	// Payload is delivered unchanged.
	Payload []byte
	// ID is an optional idempotency key: within the history TTL, each
	// stream publishes a message with a given ID once. A generated id when
	// empty.
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
	// Delivered counts the sessions the push was queued to by this call:
	// on a retry, those of the streams it published, not those the first
	// attempt reached.
	Delivered int
	// Duplicate is true when every stream had the message already (its id
	// was pushed to each within the history window): nothing was pushed
	// this time.
	Duplicate bool
	// Streams are the positions of the push, one per stream: where this
	// call published it, or, for a stream marked Duplicate, where an
	// earlier call did.
	Streams []StreamOffset
	// Receipts has one entry per session reached when AckTimeout was set.
	Receipts []Receipt
}

// StreamOffset is where a push landed in one stream.
type StreamOffset struct {
	Stream string
	Offset uint64
	Epoch  string
	// Duplicate is true when an earlier push with the same id put the
	// message there, and this one did not publish it again.
	Duplicate bool
}

// PushToUsers pushes m to every session of each user.
func (s *Service) PushToUsers(ctx context.Context, users []string, m Message) (Result, error) {
	streams := make([]string, len(users))
	for i, u := range users {
		streams[i] = engine.UserStream(u)
	}
	return s.publish(ctx, streams, nil, m, "users")
}

// PushToGroups pushes m to the sessions of each group, except those of the
// excluded users. A session in several of the groups receives the push once
// per group stream, with the same id.
func (s *Service) PushToGroups(ctx context.Context, groups, exclude []string, m Message) (Result, error) {
	streams := make([]string, len(groups))
	for i, g := range groups {
		streams[i] = engine.GroupStream(g)
	}
	return s.publish(ctx, streams, exclude, m, "groups")
}

// Broadcast pushes m to every session.
func (s *Service) Broadcast(ctx context.Context, m Message) (Result, error) {
	return s.publish(ctx, []string{engine.BroadcastStream}, nil, m, "broadcast")
}

// publish is the first stage of a push: it hands the message to the
// engine once per stream, and the engine assigns its offset, records it in
// history and delivers it on every node (node.Deliver, fanout.go), on the
// caller's goroutine with the in-memory engine. With a caller's id, each
// stream checks it atomically with the publication (engine.Message's
// Idempotent): when a call fails part-way, the streams before the failure
// stay published, and a retry with the same id publishes exactly the
// others, even those whose publication succeeded after the caller saw an
// error.
func (s *Service) publish(ctx context.Context, streams, exclude []string, m Message, kind string) (Result, error) {
	res := Result{MessageID: m.ID}
	if m.ID == "" {
		res.MessageID = newID()
	}
	em := engine.Message{ID: res.MessageID, Idempotent: m.ID != "", Topic: m.Topic, Payload: m.Payload, TTL: m.TTL, Exclude: exclude}
	var r *receipt
	if m.AckTimeout > 0 {
		r = newReceipt()
		em.Local = r
	}
	published := 0
	var offline []engine.Event // pushes of user streams nobody took
	defer func() { s.undelivered.add(offline...) }()
	for _, st := range dedupe(streams) {
		p, n, err := s.engine.Publish(ctx, st, em)
		switch {
		case errors.Is(err, engine.ErrDuplicate):
			res.Streams = append(res.Streams, StreamOffset{Stream: st, Offset: p.Offset, Epoch: p.Epoch, Duplicate: true})
			continue
		case err != nil:
			// The error tells the caller the push as a whole is not
			// confirmed; the retry completes it.
			return res, errUnavailable(err)
		}
		published++
		res.Delivered += n
		if u, ok := engine.StreamUser(st); n == 0 && ok && s.undelivered != nil {
			offline = append(offline, s.undeliveredEvent(p, u, "", engine.UndeliveredOffline))
		}
		res.Streams = append(res.Streams, StreamOffset{Stream: st, Offset: p.Offset, Epoch: p.Epoch})
		s.stats.pushes.Add(1)
	}
	if published == 0 && len(res.Streams) > 0 {
		res.Duplicate = true
		s.stats.duplicates.Add(1)
		return res, nil
	}
	s.stats.countPush(kind)
	if r != nil {
		res.Receipts = awaitReceipt(ctx, r, m.AckTimeout)
		if s.undelivered != nil {
			s.undelivered.add(r.unacked(s)...)
		}
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
