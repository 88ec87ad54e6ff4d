package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not within 10s", what)
		case <-tick.C:
		}
	}
}

func TestStatsAndPresenceFollowConnections(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	a := env.Connect(t, "alice", "room")
	env.Connect(t, "alice")
	env.Connect(t, "bob")
	st := env.Stats(t)
	if st.GetConnections() != 3 || st.GetUsers() != 2 || st.GetGroups() != 1 {
		t.Errorf("stats = %v", st)
	}
	pres, err := env.API.GetPresence(testCtx(t), &pushv1.GetPresenceRequest{UserIds: []string{"alice", "carol"}})
	if err != nil {
		t.Fatal(err)
	}
	u := pres.GetUsers()
	if len(u) != 2 || !u[0].GetOnline() || len(u[0].GetConnections()) != 2 || u[1].GetOnline() {
		t.Fatalf("presence = %v", pres)
	}
	for _, c := range u[0].GetConnections() {
		if c.GetSessionId() == "" || c.GetRemoteAddr() == "" || c.GetConnectedAt() == nil || c.GetNodeId() == "" {
			t.Errorf("connection = %v", c)
		}
	}
	_ = a.Conn.WriteClose(pushsvc.CodeNormal, nil)
	eventually(t, "stats after a close", func() bool { return env.Stats(t).GetConnections() == 2 })
	st = env.Stats(t)
	if st.GetGroups() != 0 || st.GetUsers() != 2 {
		t.Errorf("stats after close = %v", st)
	}
}

func TestDisconnectUserCloses4002(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	a1 := env.Connect(t, "alice")
	a2 := env.Connect(t, "alice")
	b := env.Connect(t, "bob")
	res, err := env.API.DisconnectUser(testCtx(t), &pushv1.DisconnectUserRequest{UserId: "alice", Reason: "banned"})
	if err != nil || res.GetDisconnected() != 2 {
		t.Fatalf("disconnect: %v %v", res, err)
	}
	for _, c := range []*wsClient{a1, a2} {
		code, d := c.WaitClose(t)
		if code != pushsvc.CodeKicked || d.GetCode() != pushsvc.CodeKicked || d.GetReason() != "banned" || d.GetReconnect() {
			t.Errorf("close %d, disconnect %v", code, d)
		}
	}
	noPushBeforePong(t, b)
	eventually(t, "alice gone", func() bool { return env.Stats(t).GetConnections() == 1 })
}

func TestWatchStatsStreams(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := env.API.WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	env.Connect(t, "alice")
	for {
		s, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if s.GetStats().GetConnections() == 1 {
			break
		}
	}
	if len(first.GetNodes()) != 1 {
		t.Errorf("nodes = %v", first.GetNodes())
	}
	cancel()
}

func TestGRPCAuth(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	addr := env.GRPCAddr
	for name, key := range map[string]string{"no key": "", "wrong key": "nope"} {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if key != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(grpcapi.Bearer(key)))
		}
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pushv1.NewPushServiceClient(conn).GetStats(testCtx(t), &pushv1.GetStatsRequest{})
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", name, err)
		}
		// Health needs no key.
		if _, err := healthpb.NewHealthClient(conn).Check(testCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Errorf("%s: health: %v", name, err)
		}
		_ = conn.Close()
	}
	_, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{Message: msg("t", "x")})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "user_ids") {
		t.Errorf("empty user_ids: %v", err)
	}
}
