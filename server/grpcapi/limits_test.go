package grpcapi_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

// Each key has its own bucket: one key flooding the server runs out while
// another key's calls still pass. A refill rate of one call per thousand
// seconds keeps the test free of timing: only the burst counts.
func TestRateLimitPerKey(t *testing.T) {
	const burst = 5
	ts := startAPI(t, setup{opts: grpcapi.Options{
		APIKeys:   []string{"flood:push+admin", "calm:push"},
		RateLimit: grpcapi.RateLimit{PerSecond: 0.001, Burst: burst},
	}})
	flood := pushv1.NewPushServiceClient(dial(t, ts.addr, "flood"))
	calm := pushv1.NewPushServiceClient(dial(t, ts.addr, "calm"))
	ctx := testContext(t)
	push := func(c pushv1.PushServiceClient) error {
		_, err := c.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()})
		return err
	}

	for i := range burst {
		if err := push(flood); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := push(flood)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "rate limit exceeded: 0.001 calls/s per API key, burst 5") {
		t.Errorf("over the burst: %v %q, want ResourceExhausted naming the limit", st.Code(), st.Message())
	}
	// Streams spend from the same bucket.
	ws, err := flood.WatchStats(ctx, &pushv1.WatchStatsRequest{})
	if err == nil {
		_, err = ws.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted)

	// The other key has its whole burst.
	for i := range burst {
		if err := push(calm); err != nil {
			t.Errorf("calm key, call %d: %v", i, err)
		}
	}
	// Health checks are not limited.
	h := healthpb.NewHealthClient(dial(t, ts.addr, ""))
	if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health during the flood: %v", err)
	}
}

// An infinite rate turns the limit off, whatever the burst.
func TestRateLimitOff(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{RateLimit: grpcapi.RateLimit{PerSecond: math.Inf(1), Burst: 1}}})
	for i := range 3 {
		if _, err := ts.client.GetStats(testContext(t), &pushv1.GetStatsRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// Invalid requests spend tokens too: the limit comes before validation,
// so a caller flooding with them is limited like any other.
func TestRateLimitCountsInvalidRequests(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{
		APIKeys:   []string{"pusher:push"},
		RateLimit: grpcapi.RateLimit{PerSecond: 0.001, Burst: 2},
	}})
	c := pushv1.NewPushServiceClient(dial(t, ts.addr, "pusher"))
	ctx := testContext(t)
	for range 2 {
		_, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{})
		wantCode(t, err, codes.InvalidArgument)
	}
	_, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{})
	wantCode(t, err, codes.ResourceExhausted)
}

// The default message size limit, 1 MiB, refuses a larger request before
// decoding it, and holds the largest request the schema allows.
func TestMessageSizeLimit(t *testing.T) {
	ts := startAPI(t, setup{})
	ctx := testContext(t)
	big := message()
	big.Payload = make([]byte, 2<<20)
	_, err := ts.client.Broadcast(ctx, &pushv1.BroadcastRequest{Message: big})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "larger than max") {
		t.Errorf("a 2 MiB request: %v %q, want ResourceExhausted naming the limit", st.Code(), st.Message())
	}

	largest := &pushv1.PushToGroupsRequest{Message: &pushv1.Message{
		Topic:   strings.Repeat("t", 256),
		Payload: make([]byte, 64<<10),
		Id:      strings.Repeat("i", 128),
	}}
	for i := range 1000 {
		largest.ExcludeUserIds = append(largest.ExcludeUserIds, fmt.Sprintf("%s%04d", strings.Repeat("u", 252), i))
	}
	for i := range 100 {
		largest.Groups = append(largest.Groups, fmt.Sprintf("%s%04d", strings.Repeat("g", 252), i))
	}
	if _, err := ts.client.PushToGroups(ctx, largest); err != nil {
		t.Errorf("the largest valid request: %v", err)
	}
}

func TestMessageSizeLimitIsConfigurable(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{MaxRecvMsgBytes: 1024}})
	m := message()
	m.Payload = make([]byte, 2048) // within the schema's bound, over the server's
	_, err := ts.client.Broadcast(testContext(t), &pushv1.BroadcastRequest{Message: m})
	wantCode(t, err, codes.ResourceExhausted)
}
