package server_test

import (
	"runtime/metrics"
	"sync"
	"testing"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
)

// TestGRPCCallsRunOnPooledGoroutines: 64 callers pushing at once (what
// herald bench's users scenario keeps in flight) are served by grpc-go's
// pool of stream workers, whose stacks have grown to what a call needs,
// not by a new goroutine per call that grows its stack anew: that cost
// 4% of a push's CPU in the users scenario's profile (runtime.newstack).
// The pushes go to a user with no connection: delivering to a WebSocket
// starts goroutines of its own.
func TestGRPCCallsRunOnPooledGoroutines(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	ctx := testCtx(t)
	const callers, calls = 64, 20
	push := func() {
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for range calls {
					if _, err := env.API.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"nobody"}, Message: &pushv1.Message{Topic: "t"}}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	push() // warm up: the connection, the workers
	created := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(created)
	before := created[0].Value.Uint64()
	push()
	metrics.Read(created)
	// The callers are 64 goroutines; grpc-go's client starts none per call.
	perCall := float64(created[0].Value.Uint64()-before-callers) / (callers * calls)
	t.Logf("%.2f goroutines created per call", perCall)
	if perCall > 0.1 {
		t.Errorf("%.2f goroutines created per call, want at most 0.1: calls run on new goroutines, not on the stream workers", perCall)
	}
}
