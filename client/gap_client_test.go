package client

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// expectGapRequest reads the client's Resume for one stream.
func expectGapRequest(t *testing.T, sc *serverConn, want *clientv1.StreamPosition) {
	t.Helper()
	f := sc.recv(t)
	if r := f.GetResume(); r == nil || len(r.GetStreams()) != 1 || !proto.Equal(r.Streams[0], want) {
		t.Fatalf("client sent %v, want a Resume of %v alone", f, want)
	}
}

// TestGapAskedForAndFilled: a push whose offset jumps is not delivered;
// the client asks for the missing pushes with a Resume of that stream and
// delivers the replay, then what it held, once each, in order.
func TestGapAskedForAndFilled(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) { o.AutoAck = true })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute), pushFrame(push("user:alice", 1, "e1")))
	rec.expectPushes(t, push("user:alice", 1, "e1"))
	if a := sc.recv(t).GetAck(); a == nil {
		t.Fatal("no auto ack")
	}

	sc.send(t, pushFrame(push("user:alice", 4, "e1")), pushFrame(push("broadcast", 1, "b")))
	expectGapRequest(t, sc, pos("user:alice", 1, "e1"))
	rec.expectPushes(t, push("broadcast", 1, "b")) // other streams are not held
	sc.send(t, pushFrame(push("user:alice", 5, "e1")))
	sc.send(t,
		resumeResultFrame(&clientv1.StreamResult{Stream: "user:alice", Recovered: true, Offset: 5, Epoch: "e1"}),
		batchFrame(push("user:alice", 2, "e1"), push("user:alice", 3, "e1"), push("user:alice", 4, "e1")),
		pushFrame(push("user:alice", 5, "e1")),
		pushFrame(push("user:alice", 6, "e1")),
	)
	rec.expectPushes(t,
		push("user:alice", 2, "e1"),
		push("user:alice", 3, "e1"),
		push("user:alice", 4, "e1"),
		push("user:alice", 5, "e1"),
		push("user:alice", 6, "e1"),
	)
	for {
		f := sc.recv(t)
		a := f.GetAck()
		if a == nil {
			t.Fatalf("expected only acks, got %v", f)
		}
		i := slices.IndexFunc(a.GetPositions(), func(p *clientv1.StreamPosition) bool { return p.GetStream() == "user:alice" })
		if i >= 0 && a.Positions[i].GetOffset() == 6 {
			break
		}
	}
	select {
	case r := <-rec.failed:
		t.Fatalf("OnResumeFailed(%v) for a filled gap", r)
	default:
	}
	equalPositions(t, c.Positions(), []*clientv1.StreamPosition{pos("broadcast", 1, "b"), pos("user:alice", 6, "e1")})
}

// TestGapNotRecoveredIsReported: the server cannot replay the gap: the
// stream is reported, and the client goes on from the held pushes.
func TestGapNotRecoveredIsReported(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute), pushFrame(push("user:alice", 1, "e1")), pushFrame(push("user:alice", 9, "e1")))
	expectGapRequest(t, sc, pos("user:alice", 1, "e1"))
	sc.send(t, resumeResultFrame(&clientv1.StreamResult{Stream: "user:alice", Recovered: false, Offset: 9, Epoch: "e1"}))
	select {
	case r := <-rec.failed:
		if !proto.Equal(r, &clientv1.StreamResult{Stream: "user:alice", Offset: 8, Epoch: "e1"}) {
			t.Fatalf("OnResumeFailed(%v), want user:alice going on after 8", r)
		}
	case <-time.After(waitFor):
		t.Fatal("OnResumeFailed not called")
	}
	rec.expectPushes(t, push("user:alice", 1, "e1"), push("user:alice", 9, "e1"))
}

// TestGapWithoutAnswerIsReported: the server never answers the Resume;
// at FillTimeout (the client pings the quiet server to wake itself) it
// reports the stream and delivers what it held.
func TestGapWithoutAnswerIsReported(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) { o.FillTimeout = 100 * time.Millisecond })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute), pushFrame(push("user:alice", 1, "e1")), pushFrame(push("user:alice", 3, "e1")))
	expectGapRequest(t, sc, pos("user:alice", 1, "e1"))
	rec.expectPushes(t, push("user:alice", 1, "e1"))
	select {
	case r := <-rec.failed:
		if r.GetStream() != "user:alice" || r.GetRecovered() || r.GetOffset() != 2 {
			t.Fatalf("OnResumeFailed(%v), want user:alice going on after 2", r)
		}
	case <-time.After(waitFor):
		t.Fatal("OnResumeFailed not called")
	}
	rec.expectPushes(t, push("user:alice", 3, "e1"))
	// The answer that comes late is not taken for the next gap's.
	sc.send(t, resumeResultFrame(&clientv1.StreamResult{Stream: "user:alice", Recovered: true, Offset: 3, Epoch: "e1"}),
		pushFrame(push("user:alice", 2, "e1")), pushFrame(push("user:alice", 3, "e1")), pushFrame(push("user:alice", 4, "e1")))
	rec.expectPushes(t, push("user:alice", 4, "e1"))
}

// TestGapAcrossAReconnect: the connection drops while a gap is being
// filled; the next connection resumes from before the gap, and the gap's
// pushes arrive once.
func TestGapAcrossAReconnect(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute), pushFrame(push("user:alice", 1, "e1")), pushFrame(push("user:alice", 3, "e1")))
	expectGapRequest(t, sc, pos("user:alice", 1, "e1"))
	rec.expectPushes(t, push("user:alice", 1, "e1"))
	sc.disconnect(t, 1011, "internal error", true, 0)

	sc2 := ts.accept(t)
	f := sc2.recv(t)
	want := &clientv1.Resume{Streams: []*clientv1.StreamPosition{pos("user:alice", 1, "e1")}}
	if !proto.Equal(f.GetResume(), want) {
		t.Fatalf("first frame after reconnect = %v, want %v: from before the gap", f, want)
	}
	sc2.send(t,
		welcomeFrame("s2", time.Minute),
		resumeResultFrame(&clientv1.StreamResult{Stream: "user:alice", Recovered: true, Offset: 3, Epoch: "e1"}),
		batchFrame(push("user:alice", 2, "e1"), push("user:alice", 3, "e1")),
		pushFrame(push("user:alice", 4, "e1")),
	)
	rec.expectPushes(t, push("user:alice", 2, "e1"), push("user:alice", 3, "e1"), push("user:alice", 4, "e1"))
}
