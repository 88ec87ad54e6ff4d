package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/pushsvc/engine"
)

// maxEventsPerResponse bounds one WatchEventsResponse: a watcher's whole
// buffer (4,096 events by default, ~250 bytes each) would make a message
// over the 1 MiB many clients accept.
const maxEventsPerResponse = 512

// WatchEvents streams the cluster's events from the request's cursor (or
// from now on), filtered, until the caller cancels, the watcher is cut
// (too slow, cursor expired) or the server stops. Past
// Capacity.MaxEventWatchers streams on the node, or
// MaxEventWatchersPerCaller of the caller's, it answers
// ResourceExhausted. The validation interceptor has checked the request.
func (s *pushServer) WatchEvents(r *pushv1.WatchEventsRequest, stream grpc.ServerStreamingServer[pushv1.WatchEventsResponse]) error {
	a := s.api
	ctx := stream.Context()
	release, err := a.eventWatchers.acquire(callerFrom(ctx))
	if err != nil {
		return err
	}
	defer release()
	req := pushsvc.WatchRequest{Users: r.GetUserIds(), Cursor: r.GetCursor()}
	for _, k := range r.GetKinds() {
		req.Kinds = append(req.Kinds, eventKind(k))
	}
	w, err := a.svc.WatchEvents(ctx, req)
	if err != nil {
		return a.toStatus(ctx, err)
	}
	defer w.Close()
	// The headers tell the caller the watch has started: every event
	// from now on is in the stream (a client may wait for them).
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	// Next waits in ctx: make Shutdown end it too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		evs, err := w.Next(ctx)
		if err != nil {
			select {
			case <-a.stopped:
				return status.Error(codes.Unavailable, "server shutting down: resume on another node with the last cursor you processed")
			default:
			}
			return a.toStatus(ctx, err)
		}
		for len(evs) > 0 {
			n := min(len(evs), maxEventsPerResponse)
			if err := stream.Send(&pushv1.WatchEventsResponse{Events: fromEvents(evs[:n])}); err != nil {
				return err
			}
			evs = evs[n:]
		}
	}
}

func fromEvents(evs []pushsvc.WatchedEvent) []*pushv1.Event {
	out := make([]*pushv1.Event, len(evs))
	for i := range evs {
		out[i] = fromEvent(&evs[i])
	}
	return out
}

func fromEvent(ev *pushsvc.WatchedEvent) *pushv1.Event {
	e := &pushv1.Event{Cursor: ev.Cursor, At: timestamp(ev.At), NodeId: ev.NodeID}
	switch ev.Kind {
	case engine.EventOnline:
		e.Kind = &pushv1.Event_Online{Online: &pushv1.UserOnline{UserId: ev.UserID}}
	case engine.EventOffline:
		e.Kind = &pushv1.Event_Offline{Offline: &pushv1.UserOffline{
			UserId: ev.UserID, OnlineFor: durationpb.New(ev.Duration), Code: uint32(ev.Code)}}
	case engine.EventConnected:
		e.Kind = &pushv1.Event_Connected{Connected: &pushv1.SessionConnected{
			UserId: ev.UserID, SessionId: ev.SessionID, NodeId: ev.SessionNode}}
	case engine.EventDisconnected:
		e.Kind = &pushv1.Event_Disconnected{Disconnected: &pushv1.SessionDisconnected{
			UserId: ev.UserID, SessionId: ev.SessionID, NodeId: ev.SessionNode,
			Code: uint32(ev.Code), Reason: ev.Reason, Duration: durationpb.New(ev.Duration)}}
	case engine.EventUndelivered:
		e.Kind = &pushv1.Event_Undelivered{Undelivered: &pushv1.Undelivered{
			UserId: ev.UserID, MessageId: ev.MessageID, Stream: ev.Stream, Offset: ev.Offset,
			Topic: ev.Topic, Reason: undeliveredReason(ev.Why), SessionId: ev.SessionID}}
	}
	return e
}

// eventKind converts a kind validation accepted (defined, not 0).
func eventKind(k pushv1.EventKind) engine.EventKind {
	switch k {
	case pushv1.EventKind_EVENT_KIND_ONLINE:
		return engine.EventOnline
	case pushv1.EventKind_EVENT_KIND_OFFLINE:
		return engine.EventOffline
	case pushv1.EventKind_EVENT_KIND_CONNECTED:
		return engine.EventConnected
	case pushv1.EventKind_EVENT_KIND_DISCONNECTED:
		return engine.EventDisconnected
	case pushv1.EventKind_EVENT_KIND_UNDELIVERED:
		return engine.EventUndelivered
	}
	return 0 // pushsvc refuses it
}

func undeliveredReason(r engine.UndeliveredReason) pushv1.UndeliveredReason {
	switch r {
	case engine.UndeliveredOffline:
		return pushv1.UndeliveredReason_UNDELIVERED_REASON_OFFLINE
	case engine.UndeliveredSlowConsumer:
		return pushv1.UndeliveredReason_UNDELIVERED_REASON_SLOW_CONSUMER
	case engine.UndeliveredAckTimeout:
		return pushv1.UndeliveredReason_UNDELIVERED_REASON_ACK_TIMEOUT
	}
	return pushv1.UndeliveredReason_UNDELIVERED_REASON_UNSPECIFIED
}
