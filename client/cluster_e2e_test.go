package client_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/internal/redistest"
)

// TestKilledNodeLeavesPresence, on a standalone Redis and on a Redis
// Cluster: two `herald serve` processes on one Redis; SIGKILL the one
// holding alice: her connection leaves GetPresence and GetStats on the
// other within the node TTL (5s) and a janitor pass. On a cluster the
// janitor's deletes span masters (the dead node's keys, alice's record).
func TestKilledNodeLeavesPresence(t *testing.T) {
	redistest.EachBackend(t, testKilledNodeLeavesPresence)
}

func testKilledNodeLeavesPresence(t *testing.T, redisURL string) {
	cr := nodetest.NewCreds()
	a := startHerald(t, cr, "--redis-url", redisURL, "--node-id", "node-a")
	b := startHerald(t, cr, "--redis-url", redisURL, "--node-id", "node-b")
	rec := newRecorder()
	startClient(t, rec.options("ws://"+a.ws+"/ws", func() string { return cr.Token(t, "alice") }))
	waitFor(t, rec.connected, "connect to A")
	apiB := cr.Client(t, b.grpc)
	// ok is false when B could not answer this time: a Redis call that
	// timed out on a loaded machine is Unavailable, and the caller asks
	// again.
	online := func() (on bool, conns uint64, ok bool) {
		p, err := apiB.GetPresence(ctxT(t), &pushv1.GetPresenceRequest{UserIds: []string{"alice"}})
		if status.Code(err) == codes.Unavailable {
			return false, 0, false
		}
		if err != nil {
			t.Fatal(err)
		}
		st, err := apiB.GetStats(ctxT(t), &pushv1.GetStatsRequest{})
		if status.Code(err) == codes.Unavailable {
			return false, 0, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return p.GetUsers()[0].GetOnline(), st.GetStats().GetConnections(), true
	}
	pollUntil(t, 15*time.Second, "alice online on A, seen from B", func() bool {
		on, conns, ok := online()
		return ok && on && conns == 1
	})
	a.signal(t, 9)
	a.wait(t, 10*time.Second)
	killed := time.Now()
	pollUntil(t, 20*time.Second, "alice gone after the kill", func() bool {
		on, conns, ok := online()
		return ok && !on && conns == 0
	})
	t.Logf("a killed node's connections left presence and stats after %v", time.Since(killed).Round(time.Millisecond))
}

func pollUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not within %v", what, within)
		case <-tick.C:
		}
	}
}
