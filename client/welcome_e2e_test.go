package client_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
)

// pushGroup pushes payload to group, excluding exclude, and returns the
// count delivered.
func pushGroup(t *testing.T, n *nodetest.Node, group, payload string, exclude ...string) uint64 {
	t.Helper()
	res, err := n.API.PushToGroups(ctxT(t), &pushv1.PushToGroupsRequest{Groups: []string{group}, ExcludeUserIds: exclude,
		Message: &pushv1.Message{Topic: "t", Payload: []byte(payload)}})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetDelivered()
}

// waitPosition polls c's position in stream until it reaches offset.
func waitPosition(t *testing.T, c interface {
	Positions() []*clientv1.StreamPosition
}, stream string, offset uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, sp := range c.Positions() {
			if sp.GetStream() == stream && sp.GetOffset() >= offset {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("positions %v: %s never reached %d", c.Positions(), stream, offset)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestResumeCoversStreamsNeverReceived: a client follows a group and
// broadcast but has received nothing of either when its connection
// drops; pushed to both while it is away, it gets both pushes when it
// comes back, and not the group's push from before it first connected.
// Before the Welcome carried positions it had none for these streams, so
// its Resume did not name them and both pushes were lost.
func TestResumeCoversStreamsNeverReceived(t *testing.T) {
	cr := nodetest.NewCreds()
	n := nodetest.Start(t, nodetest.Options{Creds: cr})
	pushGroup(t, n, "news", "before the client")
	var up atomic.Bool
	up.Store(true)
	lb := startFailover(t, func() []string {
		if up.Load() {
			return []string{n.WSAddr}
		}
		return nil
	})
	rec := newRecorder()
	var failed atomic.Int32
	opts := rec.options(lb.url(), func() string { return cr.Token(t, "alice", "news") })
	opts.OnResumeFailed = func(*clientv1.StreamResult) { failed.Add(1) }
	startClient(t, opts)
	waitFor(t, rec.connected, "connect")

	up.Store(false)
	lb.cut()
	deadline := time.Now().Add(30 * time.Second)
	for n.Stats(t).GetConnections() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the node still holds the connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := pushGroup(t, n, "news", "while away"); d != 0 {
		t.Fatalf("pushed to %d connections while away", d)
	}
	if _, err := n.API.Broadcast(ctxT(t), &pushv1.BroadcastRequest{Message: &pushv1.Message{Topic: "t", Payload: []byte("everyone")}}); err != nil {
		t.Fatal(err)
	}
	up.Store(true)
	waitFor(t, rec.connected, "reconnect")
	ps := rec.waitPushes(t, 2)
	got := map[string]string{}
	for _, p := range ps {
		got[p.GetStream()] = fmt.Sprintf("%d %s", p.GetOffset(), p.GetPayload())
	}
	if len(ps) != 2 || got["group:news"] != "2 while away" || got["broadcast"] != "1 everyone" {
		t.Errorf("after the reconnect got %v, want group:news 2 and broadcast 1", got)
	}
	if f := failed.Load(); f != 0 {
		t.Errorf("%d streams reported not recovered", f)
	}
}

// TestExcludedSenderSendsNoResume: a chat where every message excludes
// its sender. The sender's client hands its app only the messages of
// others, asks the server for nothing (no Resume: the node counts no
// message in), reports no gap, and its position in the group moves with
// every push; the other member gets them all. Away and back, its Resume
// is answered with a replay with no hole: still nothing more asked.
// Before the server marked excluded offsets, each one was a gap the
// client asked the server about.
func TestExcludedSenderSendsNoResume(t *testing.T) {
	cr := nodetest.NewCreds()
	n := nodetest.Start(t, nodetest.Options{Creds: cr})
	var up atomic.Bool
	up.Store(true)
	lb := startFailover(t, func() []string {
		if up.Load() {
			return []string{n.WSAddr}
		}
		return nil
	})
	alice, bob := newRecorder(), newRecorder()
	var failed atomic.Int32
	opts := alice.options(lb.url(), func() string { return cr.Token(t, "alice", "chat") })
	opts.OnResumeFailed = func(*clientv1.StreamResult) { failed.Add(1) }
	ac := startClient(t, opts)
	startClient(t, bob.options(n.WSURL, func() string { return cr.Token(t, "bob", "chat") }))
	waitFor(t, alice.connected, "alice connect")
	waitFor(t, bob.connected, "bob connect")

	// Offsets 1..30: alice sends 2 of every 3.
	for i := 1; i <= 30; i++ {
		if i%3 == 0 {
			pushGroup(t, n, "chat", fmt.Sprint("bob ", i))
		} else {
			pushGroup(t, n, "chat", fmt.Sprint("alice ", i), "alice")
		}
	}
	assertContiguous(t, bob.waitPushes(t, 30), 30)
	waitPosition(t, ac, "group:chat", 30)
	if got := len(alice.waitPushes(t, 10)); got != 10 {
		t.Errorf("alice's app got %d pushes, want bob's 10", got)
	}
	if in := n.Stats(t).GetMessagesIn(); in != 0 {
		t.Errorf("the node got %d messages from the clients, want none: the sender asked for its own messages", in)
	}

	up.Store(false)
	lb.cut()
	deadline := time.Now().Add(30 * time.Second)
	for n.Stats(t).GetConnections() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the node still holds alice's connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 31; i <= 40; i++ {
		if i%2 == 0 {
			pushGroup(t, n, "chat", fmt.Sprint("bob ", i))
		} else {
			pushGroup(t, n, "chat", fmt.Sprint("alice ", i), "alice")
		}
	}
	up.Store(true)
	waitFor(t, alice.connected, "alice reconnect")
	waitPosition(t, ac, "group:chat", 40)
	ps := alice.waitPushes(t, 15)
	for _, p := range ps[10:] {
		if p.GetOffset()%2 != 0 {
			t.Errorf("alice got her own message at %d", p.GetOffset())
		}
	}
	if len(ps) != 15 {
		t.Errorf("alice got %d pushes, want 15", len(ps))
	}
	if in := n.Stats(t).GetMessagesIn(); in != 1 {
		t.Errorf("the node got %d messages from the clients, want 1: the Resume of alice's reconnect", in)
	}
	if f := failed.Load(); f != 0 {
		t.Errorf("%d streams reported not recovered", f)
	}
}
