package server_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc"
)

// TestClusterFanOut, on a standalone Redis and on a Redis Cluster: with
// alice connected to B and C, bob (a member by his token) on B and carol
// (added with AddToGroup) on C, each push sent to node A, to alice, to
// the group and to everyone, reaches every one of those sessions, and
// its delivered count is the number of sessions across the nodes. Through
// A, presence shows alice's sessions on B and C, stats count the four
// sessions and three nodes, and a disconnect closes both of alice's.
func TestClusterFanOut(t *testing.T) { redistest.EachBackend(t, testClusterFanOut) }

func testClusterFanOut(t *testing.T, redisURL string) {
	nodes := nodetest.StartCluster(t, redisURL, 3, nodetest.Options{})
	a, b, c := nodes[0], nodes[1], nodes[2]
	aliceB := b.Connect(t, "alice")
	aliceC := c.Connect(t, "alice")
	bobB := b.Connect(t, "bob", "room")
	carolC := c.Connect(t, "carol")

	res, err := a.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", "to alice")})
	if err != nil || res.GetDelivered() != 2 {
		t.Fatalf("user push via A: %v %v, want delivered 2", res, err)
	}
	for _, cl := range []*wsClient{aliceB, aliceC} {
		if p := cl.NextPush(t); string(p.GetPayload()) != "to alice" || p.GetOffset() != 1 {
			t.Errorf("push = %v", p)
		}
	}

	if _, err := a.API.AddToGroup(testCtx(t), &pushv1.AddToGroupRequest{Group: "room", UserIds: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	members, err := b.API.ListGroupMembers(testCtx(t), &pushv1.ListGroupMembersRequest{Group: "room"})
	if err != nil || len(members.GetUserIds()) == 0 {
		t.Fatalf("members via B: %v %v", members, err)
	}
	// The membership travels before any later push to the group, so the
	// first group push after AddToGroup returned reaches carol on C.
	gres, err := a.API.PushToGroups(testCtx(t), &pushv1.PushToGroupsRequest{Groups: []string{"room"}, Message: msg("g", "room")})
	if err != nil || gres.GetDelivered() != 2 {
		t.Fatalf("group push via A: %v %v, want delivered 2 (bob on B, carol on C)", gres, err)
	}
	for _, cl := range []*wsClient{bobB, carolC} {
		if p := cl.NextPush(t); p.GetStream() != "group:room" || string(p.GetPayload()) != "room" {
			t.Errorf("group push = %v", p)
		}
	}

	res2, err := a.API.Broadcast(testCtx(t), &pushv1.BroadcastRequest{Message: msg("all", "everyone")})
	if err != nil || res2.GetDelivered() != 4 {
		t.Fatalf("broadcast via A: %v %v, want delivered 4", res2, err)
	}
	for _, cl := range []*wsClient{aliceB, aliceC, bobB, carolC} {
		if p := cl.NextPush(t); p.GetStream() != "broadcast" || string(p.GetPayload()) != "everyone" {
			t.Errorf("broadcast push = %v", p)
		}
	}

	pres, err := a.API.GetPresence(testCtx(t), &pushv1.GetPresenceRequest{UserIds: []string{"alice"}})
	if err != nil || len(pres.GetUsers()) != 1 {
		t.Fatalf("presence via A: %v %v", pres, err)
	}
	var on []string
	for _, conn := range pres.GetUsers()[0].GetConnections() {
		on = append(on, conn.GetNodeId())
	}
	slices.Sort(on)
	if !pres.GetUsers()[0].GetOnline() || !slices.Equal(on, []string{"node-b", "node-c"}) {
		t.Errorf("presence via A: alice online %v on %v, want on node-b and node-c", pres.GetUsers()[0].GetOnline(), on)
	}
	// Stats are snapshots each node puts now and then: poll.
	perNode := func(st *pushv1.GetStatsResponse) map[string]uint64 {
		m := map[string]uint64{}
		for _, n := range st.GetNodes() {
			m[n.GetNodeId()] = n.GetStats().GetConnections()
		}
		return m
	}
	eventually(t, "cluster stats", func() bool {
		st, err := a.API.GetStats(testCtx(t), &pushv1.GetStatsRequest{})
		return err == nil && st.GetStats().GetConnections() == 4 &&
			maps.Equal(perNode(st), map[string]uint64{"node-a": 0, "node-b": 2, "node-c": 2})
	})
	dis, err := a.API.DisconnectUser(testCtx(t), &pushv1.DisconnectUserRequest{UserId: "alice", Reason: "bye"})
	if err != nil || dis.GetDisconnected() != 2 {
		t.Fatalf("disconnect via A: %v %v", dis, err)
	}
	for _, cl := range []*wsClient{aliceB, aliceC} {
		if code, _ := cl.WaitClose(t); code != pushsvc.CodeKicked {
			t.Errorf("close %d, want 4002", code)
		}
	}
}

// TestClusterMove, on a standalone Redis and on a Redis Cluster: a client
// on A is closed (A drains) while pushes keep coming through C; it resumes
// on B with every push once, in order.
func TestClusterMove(t *testing.T) { redistest.EachBackend(t, testClusterMove) }

func testClusterMove(t *testing.T, redisURL string) {
	nodes := nodetest.StartCluster(t, redisURL, 3, nodetest.Options{})
	a, b, c := nodes[0], nodes[1], nodes[2]
	onA := a.Connect(t, "alice")

	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", fmt.Sprint(n))}); err != nil {
				t.Errorf("push %d: %v", n, err)
				return
			}
			n++
		}
	}()

	var last *clientv1.Push
	for range 20 {
		last = onA.NextPush(t)
	}
	go a.Stop() // A drains: the client is told to go away
	for {
		f := onA.Next(t)
		if p := f.GetPush(); p != nil {
			last = p
		}
		if b := f.GetBatch(); b != nil {
			last = b.GetPushes()[len(b.GetPushes())-1]
		}
		if f.GetDisconnect() != nil {
			break
		}
	}
	onA.WaitClose(t)

	onB, _, err := dialWS(t, b.WSURL+"?resume=1", b.Token(t, "alice"), dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	onB.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{Streams: []*clientv1.StreamPosition{
		{Stream: "user:alice", Offset: last.GetOffset(), Epoch: last.GetEpoch()}}}}})
	if onB.Next(t).GetWelcome() == nil {
		t.Fatal("no welcome on B")
	}
	if rr := onB.Next(t).GetResumeResult(); rr == nil || !rr.GetStreams()[0].GetRecovered() {
		t.Fatalf("resume on B: %v", rr)
	}
	// Let some live pushes flow on B, then stop and check the sequence.
	want := last.GetOffset() + 1
	for want < last.GetOffset()+50 {
		for _, p := range pushesOf(onB.Next(t)) {
			if p.GetOffset() != want {
				t.Fatalf("offset %d on B, want %d", p.GetOffset(), want)
			}
			want++
		}
	}
	close(stop)
	total := uint64(<-sent)
	for want <= total {
		for _, p := range pushesOf(onB.Next(t)) {
			if p.GetOffset() != want {
				t.Fatalf("offset %d on B, want %d", p.GetOffset(), want)
			}
			want++
		}
	}
}

func pushesOf(f *clientv1.ServerFrame) []*clientv1.Push {
	if p := f.GetPush(); p != nil {
		return []*clientv1.Push{p}
	}
	return f.GetBatch().GetPushes()
}

// TestRedisRestartMidTraffic: while Redis is down, pushes fail with
// Unavailable and nodes turn not ready; after it is back they recover by
// themselves, and every push answered with success reached the client.
func TestRedisRestartMidTraffic(t *testing.T) {
	rs := redistest.Start(t)
	nodes := nodetest.StartCluster(t, rs.URL, 2, nodetest.Options{})
	a, b := nodes[0], nodes[1]
	cl := b.Connect(t, "alice")
	ok := map[string]bool{}
	push := func(i int) error {
		res, err := a.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", fmt.Sprint(i))})
		if err == nil {
			ok[res.GetMessageId()] = true
		}
		return err
	}
	for i := range 50 {
		if err := push(i); err != nil {
			t.Fatal(err)
		}
	}
	rs.Stop()
	sawUnavailable := false
	for i := 50; i < 100; i++ {
		err := push(i)
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("push during the outage: %v, want Unavailable", err)
			}
			sawUnavailable = true
		}
	}
	if !sawUnavailable {
		t.Fatal("no push failed while Redis was down")
	}
	resp, err := httpGet(a.AdminURL + "/readyz")
	if err != nil || resp != 503 {
		t.Errorf("readyz during the outage: %d %v, want 503", resp, err)
	}
	rs.Restart()
	eventually(t, "pushes flow again", func() bool { return push(1000) == nil })
	for i := 1001; i < 1050; i++ {
		if err := push(i); err != nil {
			t.Fatalf("push after recovery: %v", err)
		}
	}
	got := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(got) < len(ok) {
		select {
		case f := <-cl.Frames():
			for _, p := range pushesOf(f) {
				got[p.GetId()] = true
			}
		case <-deadline:
			var missing []string
			for id := range ok {
				if !got[id] {
					missing = append(missing, id)
				}
			}
			t.Fatalf("%d pushes answered with success never arrived: %v", len(missing), missing)
		}
	}
	eventually(t, "ready again", func() bool {
		code, err := httpGet(a.AdminURL + "/readyz")
		return err == nil && code == 200
	})
}
