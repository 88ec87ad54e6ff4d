//go:build !race && !lockcheck

// The race detector and the lock-order checker add allocations of their
// own: the budget holds for the normal build only.

package server_test

import "testing"

// pushToUsersAllocBudget is what one PushToUsers call to a user with one
// connection may allocate, counted over the whole round trip in one
// process: the gRPC client's call, the server's handling (tap,
// interceptors, validation, publish, history, fan-out, the write) and the
// WebSocket client's read of the push. Measured: 267 with
// go-grpc-middleware's logging and metrics interceptors and protovalidate;
// 265 with our own metrics; 212 with our own call log; 202 with the
// push requests' rules checked by hand; 197 with the unary stages in one
// interceptor.
const pushToUsersAllocBudget = 205

// TestPushToUsersAllocations fails when a PushToUsers call allocates more
// than its budget: allocations are what the garbage collector makes each
// call pay for again later.
func TestPushToUsersAllocations(t *testing.T) {
	n := startBenchNode(t, nil)
	welcome := n.expect(1)
	n.connect(t, 1, false)
	await(t, welcome)
	push := n.pushToUser(t, "u0")
	// Warm up: the stream's history ring, pools, HTTP/2 windows.
	for range 200 {
		push()
	}
	if got := testing.AllocsPerRun(1000, push); got > pushToUsersAllocBudget {
		t.Errorf("a PushToUsers call allocates %.0f times, budget %d", got, pushToUsersAllocBudget)
	} else {
		t.Logf("a PushToUsers call allocates %.0f times, budget %d", got, pushToUsersAllocBudget)
	}
}
