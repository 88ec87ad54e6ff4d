package grpcapi_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

// watchEvents opens a WatchEvents stream that ends with the test, and
// waits for its headers: the server sends them once it watches.
func watchEvents(t *testing.T, c pushv1.PushServiceClient, r *pushv1.WatchEventsRequest) grpc.ServerStreamingClient[pushv1.WatchEventsResponse] {
	t.Helper()
	st, err := c.WatchEvents(testContext(t), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatal(err)
	}
	return st
}

// recvEvents receives until it has n events.
func recvEvents(t *testing.T, st grpc.ServerStreamingClient[pushv1.WatchEventsResponse], n int) []*pushv1.Event {
	t.Helper()
	var out []*pushv1.Event
	for len(out) < n {
		res, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, res.GetEvents()...)
	}
	return out
}

// TestWatchEventsOverGRPC: an events-only key watches a session come and
// go, every field converted; the same key then resumes from a cursor.
func TestWatchEventsOverGRPC(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{APIKeys: []string{testKey, "watcher:events"}}})
	c := pushv1.NewPushServiceClient(dial(t, ts.addr, "watcher"))
	st := watchEvents(t, c, &pushv1.WatchEventsRequest{})
	s := connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice"}, false)
	got := recvEvents(t, st, 2)
	on, conn := got[0], got[1]
	if on.GetOnline().GetUserId() != "alice" || on.GetCursor() == "" || on.GetAt() == nil || on.GetNodeId() != ts.svc.NodeID() {
		t.Errorf("online event %v", on)
	}
	if cn := conn.GetConnected(); cn.GetUserId() != "alice" || cn.GetSessionId() != s.ID() || cn.GetNodeId() != ts.svc.NodeID() {
		t.Errorf("connected event %v", conn)
	}
	s.Abort(pushsvc.DisconnectSlowConsumer)
	got = recvEvents(t, st, 2)
	if d := got[0].GetDisconnected(); d.GetCode() != 4003 || d.GetSessionId() != s.ID() || d.GetReason() == "" || d.GetDuration() == nil {
		t.Errorf("disconnected event %v", got[0])
	}
	if off := got[1].GetOffline(); off.GetCode() != 4003 || off.GetUserId() != "alice" || off.GetOnlineFor() == nil {
		t.Errorf("offline event %v", got[1])
	}
	if _, err := ts.client.PushToUsers(testContext(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()}); err != nil {
		t.Fatal(err)
	}
	und := recvEvents(t, st, 1)[0].GetUndelivered()
	if und.GetUserId() != "alice" || und.GetReason() != pushv1.UndeliveredReason_UNDELIVERED_REASON_OFFLINE ||
		und.GetStream() != "user:alice" || und.GetOffset() != 1 || und.GetTopic() != "chat" || und.GetMessageId() == "" {
		t.Errorf("undelivered event %v", und)
	}

	// Resume after the online event, only the offline kind: one event.
	again := watchEvents(t, c, &pushv1.WatchEventsRequest{Cursor: on.GetCursor(), Kinds: []pushv1.EventKind{pushv1.EventKind_EVENT_KIND_OFFLINE}})
	if ev := recvEvents(t, again, 1)[0]; ev.GetOffline().GetUserId() != "alice" {
		t.Errorf("resumed: %v", ev)
	}
}

// TestWatchEventsErrors: a garbled cursor is InvalidArgument, one past
// retention FailedPrecondition (saying to resync), and so is a request
// breaking the schema; past the per-caller cap ResourceExhausted.
func TestWatchEventsErrors(t *testing.T) {
	svc, err := pushsvc.New(pushsvc.Options{EventRetention: 4, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	ts := startAPI(t, setup{opts: grpcapi.Options{Service: svc, Capacity: grpcapi.Capacity{MaxEventWatchersPerCaller: 2}}})
	recvErr := func(r *pushv1.WatchEventsRequest) error {
		ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
		defer cancel()
		st, err := ts.client.WatchEvents(ctx, r)
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}
	if err := recvErr(&pushv1.WatchEventsRequest{Cursor: "garbage"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbled cursor: %v, want InvalidArgument", err)
	}
	if err := recvErr(&pushv1.WatchEventsRequest{Kinds: []pushv1.EventKind{1, 1}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("repeated kind: %v, want InvalidArgument", err)
	}
	// Each connect is two events; the log keeps four. first keeps up.
	first := watchEvents(t, ts.client, &pushv1.WatchEventsRequest{})
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "a"}, false)
	old := recvEvents(t, first, 2)[0].GetCursor()
	for _, u := range []string{"b", "c"} {
		connect(t, ts.svc, pushsvc.SessionInfo{UserID: u}, false)
		recvEvents(t, first, 2)
	}
	err = recvErr(&pushv1.WatchEventsRequest{Cursor: old})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "GetPresence") {
		t.Errorf("cursor past retention: %v, want FailedPrecondition saying to resync", err)
	}
	// Two streams per key: first, and this one; a third is refused.
	_ = watchEvents(t, ts.client, &pushv1.WatchEventsRequest{})
	if err := recvErr(&pushv1.WatchEventsRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("third stream of a key: %v, want ResourceExhausted", err)
	}
}

// TestWatchEventsEndsOnShutdown: Shutdown ends an open stream with
// Unavailable, as it does WatchStats.
func TestWatchEventsEndsOnShutdown(t *testing.T) {
	ts := startAPI(t, setup{})
	st := watchEvents(t, ts.client, &pushv1.WatchEventsRequest{})
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "a"}, false)
	recvEvents(t, st, 2)
	ts.api.Shutdown()
	for {
		_, err := st.Recv()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Errorf("after Shutdown: %v, want Unavailable", err)
			}
			return
		}
	}
}
