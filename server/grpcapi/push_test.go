package grpcapi_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
)

func TestPushToOfflineUser(t *testing.T) {
	ts := startAPI(t, setup{})
	res, err := ts.client.PushToUsers(testContext(t), &pushv1.PushToUsersRequest{UserIds: []string{"nobody"}, Message: message()})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetDelivered() != 0 || res.GetMessageId() == "" {
		t.Errorf("delivered %d, message_id %q; want 0 and an id", res.GetDelivered(), res.GetMessageId())
	}
}

func TestPushIdempotencyKey(t *testing.T) {
	ts := startAPI(t, setup{})
	ctx := testContext(t)
	m := message()
	m.Id = "order-42-shipped"
	var ids []string
	for range 2 {
		res, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: m})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.GetMessageId())
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("message ids %q, want the same id twice", ids)
	}
	if got := ts.svc.Stats(ctx).Duplicates; got != 1 {
		t.Errorf("duplicates %d, want 1", got)
	}
}

func TestGroupMembership(t *testing.T) {
	ts := startAPI(t, setup{})
	ctx := testContext(t)
	c := ts.client
	if _, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: "team", UserIds: []string{"carol", "alice", "bob"}}); err != nil {
		t.Fatal(err)
	}
	members := func() []string {
		res, err := c.ListGroupMembers(ctx, &pushv1.ListGroupMembersRequest{Group: "team"})
		if err != nil {
			t.Fatal(err)
		}
		return res.GetUserIds()
	}
	if got, want := members(), []string{"alice", "bob", "carol"}; !slices.Equal(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}
	if _, err := c.RemoveFromGroup(ctx, &pushv1.RemoveFromGroupRequest{Group: "team", UserIds: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := members(), []string{"alice", "carol"}; !slices.Equal(got, want) {
		t.Errorf("members after removing bob %q, want %q", got, want)
	}

	res, err := c.PushToGroups(ctx, &pushv1.PushToGroupsRequest{Groups: []string{"team"}, Message: message(), ExcludeUserIds: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetMessageId() == "" || res.GetDelivered() != 0 {
		t.Errorf("group push: message_id %q delivered %d; want an id and 0 (nobody connected)", res.GetMessageId(), res.GetDelivered())
	}
	bres, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{Message: message()})
	if err != nil {
		t.Fatal(err)
	}
	if bres.GetMessageId() == "" {
		t.Error("broadcast: no message_id")
	}
}

// The tests below connect sessions straight to pushsvc through a fake
// transport: they check the gRPC conversions, not WebSocket delivery.

func TestPushWithAckTimeoutAnswersReceipts(t *testing.T) {
	ts := startAPI(t, setup{})
	ctx := testContext(t)
	acked := connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice"}, true)
	silent := connect(t, ts.svc, pushsvc.SessionInfo{UserID: "bob"}, false)

	res, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{
		UserIds: []string{"alice", "bob"},
		Message: message(),
		// bob never acknowledges: the call answers when this passes.
		AckTimeout: durationpb.New(200 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetDelivered() != 2 {
		t.Errorf("delivered %d, want 2", res.GetDelivered())
	}
	got := map[string]*pushv1.Receipt{}
	for _, r := range res.GetReceipts() {
		got[r.GetSessionId()] = r
	}
	for _, want := range []*pushv1.Receipt{
		{UserId: "alice", SessionId: acked.ID(), Acked: true},
		{UserId: "bob", SessionId: silent.ID(), Acked: false},
	} {
		r := got[want.GetSessionId()]
		if r.GetUserId() != want.GetUserId() || r.GetAcked() != want.GetAcked() {
			t.Errorf("receipt for %s: %v, want %v", want.GetUserId(), r, want)
		}
	}
	if len(got) != 2 {
		t.Errorf("receipts %v, want 2", res.GetReceipts())
	}
}

func TestPresenceAndDisconnect(t *testing.T) {
	ts := startAPI(t, setup{})
	ctx := testContext(t)
	info := pushsvc.SessionInfo{UserID: "alice", Groups: []string{"team"}, RemoteAddr: "192.0.2.7:5000", UserAgent: "app/1.0", Compressed: true}
	sess := connect(t, ts.svc, info, false)

	res, err := ts.client.GetPresence(ctx, &pushv1.GetPresenceRequest{UserIds: []string{"alice", "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	users := res.GetUsers()
	if len(users) != 2 || users[0].GetUserId() != "alice" || users[1].GetUserId() != "bob" {
		t.Fatalf("users %v, want alice then bob", users)
	}
	if !users[0].GetOnline() || users[1].GetOnline() {
		t.Errorf("online alice=%v bob=%v, want true false", users[0].GetOnline(), users[1].GetOnline())
	}
	conns := users[0].GetConnections()
	if len(conns) != 1 {
		t.Fatalf("alice's connections %v, want 1", conns)
	}
	c := conns[0]
	if c.GetSessionId() != sess.ID() || c.GetNodeId() != ts.svc.NodeID() || c.GetRemoteAddr() != info.RemoteAddr ||
		c.GetUserAgent() != info.UserAgent || !c.GetCompressed() || !slices.Equal(c.GetGroups(), info.Groups) ||
		c.GetConnectedAt() == nil {
		t.Errorf("connection %v, want it to describe %+v", c, info)
	}

	dres, err := ts.client.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{UserId: "alice", Reason: "account closed"})
	if err != nil {
		t.Fatal(err)
	}
	if dres.GetDisconnected() != 1 {
		t.Errorf("disconnected %d, want 1", dres.GetDisconnected())
	}
	closes := sess.transport.closes()
	if len(closes) != 1 || closes[0].Code != pushsvc.CodeKicked || closes[0].Reason != "account closed" || closes[0].Reconnect {
		t.Errorf("transport closes %+v, want one 4002 \"account closed\" without reconnect", closes)
	}
}
