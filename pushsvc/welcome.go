package pushsvc

import (
	"context"
	"slices"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
)

// The Welcome carries the position of every stream a session follows at
// connect, so that a client holds a position even for a stream it has not
// received anything from yet, and the Resume of its next connection gets
// what was pushed to that stream while it was away.
//
// Why no push is skipped. A client takes a Welcome position P for a
// stream it has none for, drops the pushes at or below P as duplicates
// and treats a push above P+1 as a gap, which it fills with a Resume (on
// this connection, or at the next connect). So a position is right when
// every push at or below it was published before the session could
// receive any push of the stream: those were never the client's, and
// every later one is above P, delivered live or, when the session did not
// receive it, asked for as a gap. (A position read after the session
// could receive the stream would be wrong: with Redis, a push published
// just before the read can reach this node after it, be queued behind the
// Welcome, and be dropped by the client.) Hence each position is read
// before the session starts receiving its stream:
//
//   - the user stream, broadcast, the token's groups and the user's
//     member groups this node knows (AddToGroup), before the session
//     joins the hub (Engine.Positions reads each position atomically with
//     its publications, and the in-memory engine under the stream lock
//     that Deliver holds);
//   - with a cluster, the stored groups the session is not in yet, after
//     they are read and before hub.endRead makes the session join them.
//     A group a membership change touched during that read may have been
//     joined before its position was read: it gets none.
//
// The cost of the rule is a push published between the read and the join:
// the session does not receive it live, and the client gets it only with
// the stream's next push (a gap it asks for) or its next Resume. Streams
// the session stopped following by the time the Welcome is queued, and
// groups it joined meanwhile, get no position; a group joined later
// (AddToGroup) has none either, and its first push, arriving live, gives
// the client one. A push made before the join is not the client's.

// welcomeReader reads, for one connecting session, the positions its
// Welcome carries. Owned by the goroutine in Service.Connect.
type welcomeReader struct {
	svc  *Service
	user string
	skip bool                       // the engine failed, or a cluster is unhealthy: no positions
	pos  map[string]engine.Position // by stream
}

func (s *Service) newWelcomeReader(user string) *welcomeReader {
	return &welcomeReader{
		svc:  s,
		user: user,
		// Without its backend a read would only add a timeout to every
		// connect: serve without positions, as before they existed.
		skip: s.cluster != nil && !s.cluster.Healthy(),
		pos:  make(map[string]engine.Position),
	}
}

// beforeJoin reads the positions of the streams a session of info follows
// as it joins the hub: the caller calls it before hub.add.
func (r *welcomeReader) beforeJoin(info SessionInfo) {
	streams := []string{engine.UserStream(r.user), engine.BroadcastStream}
	groups := append(slices.Clone(info.Groups), r.svc.hub.memberGroups(r.user)...)
	slices.Sort(groups)
	for _, g := range slices.Compact(groups) {
		streams = append(streams, engine.GroupStream(g))
	}
	r.read(streams)
}

// beforeStored reads the positions of the stored groups the session does
// not receive yet: the caller calls it between the read of the stored
// groups and hub.endRead.
func (r *welcomeReader) beforeStored(sess *Session, stored []string) {
	var streams []string
	for _, g := range stored {
		if !r.svc.hub.receives(sess, g) {
			streams = append(streams, engine.GroupStream(g))
		}
	}
	r.read(streams)
}

// forget drops the positions of groups a membership change touched while
// the stored groups were read: the session may have joined them before
// their position was read.
func (r *welcomeReader) forget(groups []string) {
	for _, g := range groups {
		delete(r.pos, engine.GroupStream(g))
	}
}

func (r *welcomeReader) read(streams []string) {
	if r.skip || len(streams) == 0 {
		return
	}
	streams = streams[:min(len(streams), maxResumeStreams-len(r.pos))]
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	got, err := r.svc.engine.Positions(ctx, streams)
	cancel()
	if err != nil {
		// Serve the connection anyway, with no position, as before
		// Welcome had them; a later read would likely fail the same way.
		// Only a cluster's engine fails, in an outage that fails the read
		// of the stored groups too, which warns: a warning here would
		// only double it.
		r.svc.opts.Logger.Debug("stream positions unavailable at connect: Welcome without them", "user", r.user, "err", err)
		r.skip = true
		clear(r.pos)
		return
	}
	for i, name := range streams {
		r.pos[name] = got[i]
	}
}

// positions returns the Welcome's positions of the streams sess follows
// now: its user stream, broadcast, then its groups, sorted; at most
// maxResumeStreams, which is also what one Resume can name.
func (r *welcomeReader) positions(sess *Session) []*clientv1.StreamPosition {
	if len(r.pos) == 0 {
		return nil
	}
	out := make([]*clientv1.StreamPosition, 0, len(r.pos))
	add := func(name string) {
		if p, ok := r.pos[name]; ok {
			out = append(out, &clientv1.StreamPosition{Stream: name, Offset: p.Offset, Epoch: p.Epoch})
		}
	}
	add(engine.UserStream(r.user))
	add(engine.BroadcastStream)
	for _, g := range r.svc.hub.sessionGroups(sess) {
		add(engine.GroupStream(g))
	}
	return out
}
