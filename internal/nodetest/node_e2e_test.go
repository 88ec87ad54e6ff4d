package nodetest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/server"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func pushTo(t *testing.T, api pushv1.PushServiceClient, user, payload string) uint64 {
	t.Helper()
	res, err := api.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{user}, Message: &pushv1.Message{Topic: "t", Payload: []byte(payload)}})
	if err != nil {
		t.Fatalf("PushToUsers: %v", err)
	}
	return res.GetDelivered()
}

// TestStart: a started node serves its WebSocket, gRPC and admin
// listeners on loopback; its API client carries the key, a key it was not
// given is refused; Connect is past the Welcome and gets a push; Config
// changes the node last; after Stop (twice) the node no longer answers.
func TestStart(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) { c.NodeID = "kit" }})
	alice := n.Connect(t, "alice", "news")
	if d := pushTo(t, n.API, "alice", "hi"); d != 1 {
		t.Fatalf("delivered %d, want 1", d)
	}
	if p := alice.NextPush(t); string(p.GetPayload()) != "hi" {
		t.Errorf("push = %v", p)
	}
	st, err := n.API.GetStats(testCtx(t), &pushv1.GetStatsRequest{})
	if err != nil || len(st.GetNodes()) != 1 || st.GetNodes()[0].GetNodeId() != "kit" {
		t.Errorf("GetStats = %v, %v; want one node, kit", st, err)
	}
	other := nodetest.Creds{JWTSecret: n.Creds.JWTSecret, APIKey: "not-the-key"}
	if _, err := other.Client(t, n.GRPCAddr).GetStats(testCtx(t), &pushv1.GetStatsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("another key: %v, want Unauthenticated", err)
	}
	resp, err := http.Get(n.AdminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}

	n.Stop()
	n.Stop()
	alice.WaitClose(t)
	if _, err := n.Creds.Client(t, n.GRPCAddr).GetStats(testCtx(t), &pushv1.GetStatsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("after Stop: %v, want Unavailable", err)
	}
}

// TestStartClusterSharesCreds: StartCluster's nodes, node-a and node-b,
// share one Redis and one set of Creds: a token minted for the cluster
// connects to B, and a push through A's API reaches it.
func TestStartClusterSharesCreds(t *testing.T) {
	nodes := nodetest.StartCluster(t, redistest.Start(t).URL, 2, nodetest.Options{})
	a, b := nodes[0], nodes[1]
	if a.Creds != b.Creds {
		t.Fatalf("creds differ: %+v, %+v", a.Creds, b.Creds)
	}
	bob := b.Connect(t, "bob")
	if d := pushTo(t, a.API, "bob", "across"); d != 1 {
		t.Fatalf("delivered %d through A, want 1 (bob on B)", d)
	}
	if p := bob.NextPush(t); string(p.GetPayload()) != "across" {
		t.Errorf("push = %v", p)
	}
	st, err := a.API.GetStats(testCtx(t), &pushv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, nd := range st.GetNodes() {
		ids = append(ids, nd.GetNodeId())
	}
	if len(ids) == 0 || ids[0] != "node-a" {
		t.Errorf("A's stats name nodes %v, want node-a first", ids)
	}
}
