package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

// TestWatchCaps: WatchStats and WatchEvents streams are each capped per
// caller and per node: past either cap a new one gets ResourceExhausted,
// and a stream that ends gives its slot back.
func TestWatchCaps(t *testing.T) {
	for _, tc := range []struct {
		method   string
		keys     []string
		capacity grpcapi.Capacity
		// watch reports nil once a stream of c watches, else why it was
		// refused.
		watch func(ctx context.Context, c pushv1.PushServiceClient) error
	}{
		{
			method:   "WatchStats",
			keys:     []string{"ops-a", "ops-b", "ops-c"},
			capacity: grpcapi.Capacity{MaxStatsWatchers: 3, MaxStatsWatchersPerCaller: 2},
			watch: func(ctx context.Context, c pushv1.PushServiceClient) error {
				st, err := c.WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(time.Hour)})
				if err == nil {
					_, err = st.Recv() // the first sample, or why there is none
				}
				return err
			},
		},
		{
			method:   "WatchEvents",
			keys:     []string{"ops-a", "ops-b:events", "ops-c:admin"},
			capacity: grpcapi.Capacity{MaxEventWatchers: 3, MaxEventWatchersPerCaller: 2},
			watch: func(ctx context.Context, c pushv1.PushServiceClient) error {
				st, err := c.WatchEvents(ctx, &pushv1.WatchEventsRequest{})
				if err != nil {
					return err
				}
				if md, _ := st.Header(); md != nil {
					return nil // headers come once it watches
				}
				_, err = st.Recv()
				return err
			},
		},
	} {
		t.Run(tc.method, func(t *testing.T) {
			ts := startAPI(t, setup{opts: grpcapi.Options{APIKeys: tc.keys, Capacity: tc.capacity}})
			watch := func(ctx context.Context, key string) error {
				return tc.watch(ctx, pushv1.NewPushServiceClient(dial(t, ts.addr, key)))
			}
			ctx := testContext(t)
			aCtx, cancelA := context.WithCancel(ctx)
			defer cancelA()
			for i := range 2 {
				if err := watch(aCtx, "ops-a"); err != nil {
					t.Fatalf("ops-a, stream %d: %v", i, err)
				}
			}
			wantCode(t, watch(ctx, "ops-a"), codes.ResourceExhausted) // its own cap
			if err := watch(ctx, "ops-b"); err != nil {
				t.Fatalf("ops-b: %v", err)
			}
			wantCode(t, watch(ctx, "ops-c"), codes.ResourceExhausted) // the node's cap

			// ops-a's streams end: their slots come back once the server
			// has seen the cancel.
			cancelA()
			for {
				err := watch(ctx, "ops-c")
				if err == nil {
					break
				}
				if status.Code(err) != codes.ResourceExhausted || ctx.Err() != nil {
					t.Fatalf("ops-c after ops-a left: %v", err)
				}
			}
		})
	}
}
