package client

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// welcomeWith is a Welcome carrying stream positions.
func welcomeWith(session string, streams ...*clientv1.StreamPosition) *clientv1.ServerFrame {
	f := welcomeFrame(session, time.Minute)
	f.GetWelcome().Streams = streams
	return f
}

// marker is the server's marker of a push that excluded this user.
func marker(stream string, offset uint64, epoch string) *clientv1.Push {
	return &clientv1.Push{Id: "m", Stream: stream, Offset: offset, Epoch: epoch, Excluded: true}
}

// TestWelcomePositionsAreResumed: the client takes the Welcome's position
// of each stream it has none of, keeps the one it has of another (here
// from Options.Resume, whatever the Welcome says), and its next
// connection's Resume names them all.
func TestWelcomePositionsAreResumed(t *testing.T) {
	ts := newTestServer(t)
	c, _, _ := newTestClient(t, ts.URL, func(o *Options) {
		o.Resume = []*clientv1.StreamPosition{pos("user:alice", 7, "u")}
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	if f := sc.recv(t); f.GetResume() == nil {
		t.Fatalf("first frame %v, want the Resume of Options.Resume", f)
	}
	sc.send(t,
		welcomeWith("s1",
			pos("user:alice", 9, "u"),  // ahead of the client's 7, which stays
			pos("broadcast", 0, ""),    // never published
			pos("group:news", 41, "n"), // nothing received yet
		),
		resumeResultFrame(&clientv1.StreamResult{Stream: "user:alice", Recovered: true, Offset: 7, Epoch: "u"}),
	)
	waitUntil(t, "the Welcome's positions", func() bool { return len(c.Positions()) == 3 })
	sc.disconnect(t, 1011, "internal error", true, 0)

	sc2 := ts.accept(t)
	want := &clientv1.Resume{Streams: []*clientv1.StreamPosition{
		pos("broadcast", 0, ""), pos("group:news", 41, "n"), pos("user:alice", 7, "u"),
	}}
	if f := sc2.recv(t); !proto.Equal(f.GetResume(), want) {
		t.Fatalf("Resume after reconnect %v, want %v", f, want)
	}
}

// TestMarkersSendNoResume: pushes of a group that excluded this user
// arrive as markers: the client asks for no gap, reports none, hands
// the app only the pushes, acknowledges past the markers, and resumes
// from the last of them.
func TestMarkersSendNoResume(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) { o.AutoAck = true })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeWith("s1", pos("group:chat", 0, "")))
	sc.send(t, pushFrame(marker("group:chat", 1, "c")), pushFrame(marker("group:chat", 2, "c")))
	sc.send(t, batchFrame(push("group:chat", 3, "c"), marker("group:chat", 4, "c")))
	sc.send(t, pushFrame(push("group:chat", 5, "c")), pushFrame(marker("group:chat", 6, "c")))
	rec.expectPushes(t, push("group:chat", 3, "c"), push("group:chat", 5, "c"))
	waitUntil(t, "the last marker", func() bool {
		p, _ := c.pos.get("group:chat")
		return p.offset == 6
	})
	// Only Acks came, the last up to 5 (an Ack of the markers alone
	// would tell the server nothing).
	for {
		f := sc.recv(t)
		a := f.GetAck()
		if a == nil {
			t.Fatalf("client sent %v, want only Acks", f)
		}
		if a.GetPositions()[0].GetOffset() == 5 {
			break
		}
	}
	select {
	case r := <-rec.failed:
		t.Fatalf("OnResumeFailed(%v)", r)
	case p := <-rec.pushes:
		t.Fatalf("a marker reached the app: %v", p)
	default:
	}
	sc.disconnect(t, 1011, "internal error", true, 0)
	sc2 := ts.accept(t)
	want := &clientv1.Resume{Streams: []*clientv1.StreamPosition{pos("group:chat", 6, "c")}}
	if f := sc2.recv(t); !proto.Equal(f.GetResume(), want) {
		t.Fatalf("Resume after reconnect %v, want %v", f, want)
	}
}

// TestFirstPushAboveOneAfterAnEmptyPosition: a stream the Welcome says
// was never published starts at 1; a first push above 1 is a gap, asked
// for from 0 of its epoch.
func TestFirstPushAboveOneAfterAnEmptyPosition(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeWith("s1", pos("group:news", 0, ""), pos("broadcast", 0, "")))
	sc.send(t, pushFrame(push("broadcast", 1, "b")), pushFrame(push("group:news", 3, "n")))
	rec.expectPushes(t, push("broadcast", 1, "b"))
	expectGapRequest(t, sc, pos("group:news", 0, "n"))
	sc.send(t,
		resumeResultFrame(&clientv1.StreamResult{Stream: "group:news", Recovered: true, Offset: 3, Epoch: "n"}),
		batchFrame(push("group:news", 1, "n"), push("group:news", 2, "n"), push("group:news", 3, "n")),
	)
	rec.expectPushes(t, push("group:news", 1, "n"), push("group:news", 2, "n"), push("group:news", 3, "n"))
	select {
	case r := <-rec.failed:
		t.Fatalf("OnResumeFailed(%v)", r)
	default:
	}
}

// waitUntil polls cond until it holds, within waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
