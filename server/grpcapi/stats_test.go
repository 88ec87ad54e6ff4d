package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
)

func TestGetStats(t *testing.T) {
	ts := startTestServer(t)
	ctx := testContext(t)
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice"}, false)
	if _, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()}); err != nil {
		t.Fatal(err)
	}

	res, err := ts.client.GetStats(ctx, &pushv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	st := res.GetStats()
	if st.GetConnections() != 1 || st.GetUsers() != 1 || st.GetPushes() != 1 || st.GetMessagesOut() == 0 || st.GetUptime() == nil {
		t.Errorf("stats %v, want 1 connection, 1 user, 1 push, messages out and an uptime", st)
	}
	nodes := res.GetNodes()
	if len(nodes) != 1 || nodes[0].GetNodeId() != ts.svc.NodeID() || nodes[0].GetStats().GetConnections() != 1 {
		t.Errorf("nodes %v, want this node with 1 connection", nodes)
	}
}

func TestWatchStatsStreamsUntilCancelled(t *testing.T) {
	ts := startTestServer(t)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	st, err := ts.client.WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := st.Recv()
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if len(res.GetNodes()) != 1 || res.GetStats().GetUptime() == nil {
			t.Errorf("sample %d: %v, want stats and one node", i, res)
		}
	}
	cancel()
	// Samples already in flight may still arrive; the stream must end.
	for {
		if _, err = st.Recv(); err != nil {
			break
		}
	}
	wantCode(t, err, codes.Canceled)
}

func TestShutdownEndsWatchStats(t *testing.T) {
	ts := startTestServer(t)
	// The default interval is 1s; an hour makes sure only Shutdown can end
	// the stream.
	st, err := ts.client.WatchStats(testContext(t), &pushv1.WatchStatsRequest{Interval: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	ts.api.Shutdown()
	_, err = st.Recv()
	wantCode(t, err, codes.Unavailable)
}
