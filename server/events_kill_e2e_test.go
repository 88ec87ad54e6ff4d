package server_test

import (
	"testing"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/heraldproc"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/server"
)

// TestEventsNodeKilled, on a standalone Redis and on a Redis Cluster: a
// node process holding connections of three users is killed. A watcher
// on another node sees each of its connections disconnected once, with
// code 0, and the two users it alone held go offline once, within the
// node TTL and a janitor period; the user who also has a connection on
// the live node stays online. The test logs how long it took.
func TestEventsNodeKilled(t *testing.T) { redistest.EachBackend(t, testEventsNodeKilled) }

func testEventsNodeKilled(t *testing.T, redisURL string) {
	cr := nodetest.NewCreds()
	a := nodetest.Start(t, nodetest.Options{Creds: cr, RedisURL: redisURL, Config: func(c *server.Config) { c.NodeID = "node-a" }})
	// A process, so that it can be killed the way a machine dies: no
	// drain, no goodbye to Redis.
	d := heraldproc.Start(t, cr.Env(),
		"--redis-url", redisURL, "--node-id", "node-d")
	w := watchOn(t, a.API, &pushv1.WatchEventsRequest{})
	for _, u := range []string{"u1", "u2", "u3", "u1"} {
		c, _, err := dialWS(t, "ws://"+d.WS+"/ws", a.Token(t, u), dialOpts{})
		if err != nil {
			t.Fatal(err)
		}
		c.Next(t) // the Welcome
	}
	a.Connect(t, "u3")
	st := newPresenceState()
	apply := func(evs []*pushv1.Event) {
		for _, ev := range evs[st.applied:] {
			if err := st.apply(ev); err != nil {
				t.Fatalf("%v: %s", err, describeEvents(evs))
			}
		}
	}
	w.until(t, 30*time.Second, "five connections", func(evs []*pushv1.Event) bool {
		apply(evs)
		return len(st.seen) == 5
	})
	before := st.applied
	d.Kill()
	killed := time.Now()
	evs := w.until(t, 60*time.Second, "u1 and u2 offline", func(evs []*pushv1.Event) bool {
		apply(evs)
		return !st.online["u1"] && !st.online["u2"] && st.closed["u3"] == 1
	})
	t.Logf("the killed node's users offline %v after the kill", time.Since(killed).Round(time.Millisecond))
	after := evs[before:]
	if got := describeEvents(after); len(after) != 6 {
		t.Fatalf("after the kill: %s; want 4 disconnected and 2 offline", got)
	}
	for _, ev := range after {
		if dis := ev.GetDisconnected(); dis != nil && (dis.GetCode() != 0 || dis.GetNodeId() != "node-d" || ev.GetNodeId() != "node-a") {
			t.Errorf("disconnected %v: want code 0, node-d's, recorded by node-a", ev)
		}
		if off := ev.GetOffline(); off != nil && off.GetCode() != 0 {
			t.Errorf("offline %v: want code 0", ev)
		}
	}
	if !st.online["u3"] || len(st.open["u3"]) != 1 {
		t.Errorf("u3, with a connection on node-a, is online %v with %d open", st.online["u3"], len(st.open["u3"]))
	}
}
