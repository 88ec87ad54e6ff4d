package pushsvc

import (
	"context"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc/engine"
)

// HandleFrame decodes and acts on one binary message from the client. It
// returns an error wrapping ErrInvalidFrame for a message that is not a
// ClientFrame; the caller closes the connection with 1007.
func (s *Session) HandleFrame(ctx context.Context, data []byte) error {
	s.svc.stats.messagesIn.Add(1)
	s.svc.stats.bytesIn.Add(uint64(len(data)))
	f, err := DecodeClientFrame(data)
	if err != nil {
		return err
	}
	if _, ok := f.Kind.(*clientv1.ClientFrame_Resume); !ok {
		// Any other first frame means no Resume is coming.
		s.releaseHold()
	}
	switch k := f.Kind.(type) {
	case *clientv1.ClientFrame_Ping:
		s.enqueue(marshalFrame(&clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Pong{
			Pong: &clientv1.Pong{Nonce: k.Ping.GetNonce()}}}))
	case *clientv1.ClientFrame_RefreshToken:
		s.refresh(k.RefreshToken.GetToken())
	case *clientv1.ClientFrame_Resume:
		s.resume(ctx, k.Resume)
	case *clientv1.ClientFrame_Ack:
		s.ack(k.Ack)
	}
	return nil
}

func (s *Session) refresh(token string) {
	if s.info.OnRefresh == nil {
		s.sendError("refresh_unsupported", "this server does not accept token refresh")
		return
	}
	if err := s.info.OnRefresh(token); err != nil {
		s.sendError("invalid_token", err.Error())
	}
}

func (s *Session) sendError(code, msg string) {
	s.enqueue(marshalFrame(&clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Error{
		Error: &clientv1.Error{Code: code, Message: msg}}}))
}

// resume answers a Resume: a ResumeResult, then the missed pushes of each
// recovered stream, oldest first, then live pushes.
//
// When the session holds live pushes for this Resume (it connected with
// resume=1), the switch is exact: held pushes of a recovered stream that the
// replay already carries are dropped, so each arrives once and in order; for
// a stream that is not recovered, the result reports the position just
// before its first held push, and the held pushes follow, so that only what
// was published while the client was away needs a resync. Without a hold,
// pushes queued before the Resume arrived may precede the replay.
func (s *Session) resume(ctx context.Context, r *clientv1.Resume) {
	res := &clientv1.ResumeResult{}
	var replay []*engine.Publication
	recovered := map[string]engine.Position{} // recovered streams' positions
	for _, pos := range r.GetStreams() {
		name := pos.GetStream()
		sr := &clientv1.StreamResult{Stream: name}
		if s.follows(name) {
			pubs, cur, ok, err := s.svc.engine.Since(ctx, name, engine.Position{Offset: pos.GetOffset(), Epoch: pos.GetEpoch()}, -1)
			sr.Offset, sr.Epoch = cur.Offset, cur.Epoch
			if err == nil && ok {
				sr.Recovered = true
				recovered[name] = cur
				for _, p := range pubs {
					if !excluded(p, s.user) {
						replay = append(replay, p)
					}
				}
			}
		}
		res.Streams = append(res.Streams, sr)
	}
	pushes := make([]*Outbound, 0, len(replay))
	for _, p := range replay {
		pushes = append(pushes, encodePush(p))
	}

	s.mu.Lock()
	if s.closing != nil {
		s.mu.Unlock()
		return
	}
	for name, cur := range recovered {
		if s.floors == nil {
			s.floors = make(map[string]engine.Position, len(recovered))
		}
		s.floors[name] = cur
	}
	if s.holding {
		kept := s.held[:0]
		for _, o := range s.held {
			if cur, ok := recovered[o.pub.Stream]; ok && o.pub.Epoch == cur.Epoch && o.pub.Offset <= cur.Offset {
				s.queueBytes -= len(o.data)
				continue
			}
			kept = append(kept, o)
		}
		s.held = kept
		for _, sr := range res.Streams {
			if !sr.Recovered {
				if first := firstHeld(s.held, sr.Stream, sr.Epoch); first > 0 {
					sr.Offset = first - 1
				}
			}
		}
	}
	// A replay is bounded by the history size, not by the send queue: it
	// is what the client asked for, all at once.
	result := marshalFrame(&clientv1.ServerFrame{Kind: &clientv1.ServerFrame_ResumeResult{ResumeResult: res}})
	for _, o := range append([]*Outbound{result}, pushes...) {
		s.queue = append(s.queue, o)
		s.queueBytes += len(o.data)
	}
	start := s.releaseLocked() || s.scheduleLocked()
	s.mu.Unlock()
	if start {
		s.t.Schedule(s.flushFn)
	}
}

// firstHeld returns the lowest offset of a held push of stream in epoch,
// or 0 when none is held.
func firstHeld(held []*Outbound, stream, epoch string) uint64 {
	var first uint64
	for _, o := range held {
		if o.pub.Stream == stream && o.pub.Epoch == epoch && (first == 0 || o.pub.Offset < first) {
			first = o.pub.Offset
		}
	}
	return first
}

// follows reports whether the session receives stream name.
func (s *Session) follows(name string) bool {
	switch {
	case name == BroadcastStream:
		return true
	case name == UserStream(s.user):
		return true
	case len(name) > len(groupStreamPrefix) && name[:len(groupStreamPrefix)] == groupStreamPrefix:
		g := name[len(groupStreamPrefix):]
		us := s.svc.hub.userShard(s.user)
		us.mu.RLock()
		_, ok := s.groups[g]
		us.mu.RUnlock()
		return ok
	}
	return false
}

func excluded(p *engine.Publication, user string) bool {
	for _, u := range p.Exclude {
		if u == user {
			return true
		}
	}
	return false
}
