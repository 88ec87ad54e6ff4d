package pushsvc

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

func newTestService(t *testing.T, opts Options) *Service {
	t.Helper()
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func connect(t *testing.T, svc *Service, user string, groups ...string) (*Session, *fakeTransport) {
	t.Helper()
	ft := &fakeTransport{}
	s, err := svc.Connect(SessionInfo{UserID: user, Groups: groups}, ft)
	if err != nil {
		t.Fatal(err)
	}
	return s, ft
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestWelcomeIsFirstFrame(t *testing.T) {
	svc := newTestService(t, Options{NodeID: "n1"})
	s, ft := connect(t, svc, "alice", "g1")
	if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	ft.run()
	frames := ft.decoded(t)
	if len(frames) != 2 {
		t.Fatalf("got %d frames, want welcome and push", len(frames))
	}
	w := frames[0].GetWelcome()
	if w == nil || w.GetUserId() != "alice" || w.GetSessionId() != s.ID() || w.GetNodeId() != "n1" {
		t.Fatalf("first frame = %v, want a Welcome for alice", frames[0])
	}
	if !slices.Equal(w.GetGroups(), []string{"g1"}) {
		t.Errorf("welcome groups = %v", w.GetGroups())
	}
}

func TestUserPushReachesEveryDevice(t *testing.T) {
	svc := newTestService(t, Options{})
	_, a1 := connect(t, svc, "alice")
	_, a2 := connect(t, svc, "alice")
	_, b := connect(t, svc, "bob")
	res, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 2 {
		t.Errorf("delivered = %d, want 2", res.Delivered)
	}
	for _, ft := range []*fakeTransport{a1, a2, b} {
		ft.run()
	}
	for i, ft := range []*fakeTransport{a1, a2} {
		p := ft.pushes(t)
		if len(p) != 1 || string(p[0].GetPayload()) != "hi" || p[0].GetStream() != "user:alice" || p[0].GetOffset() != 1 {
			t.Errorf("device %d got %v", i, p)
		}
	}
	if p := b.pushes(t); len(p) != 0 {
		t.Errorf("bob got %v", p)
	}
	if a1.shared != 1 {
		t.Errorf("a push to two sessions should be written as a shared frame")
	}
}

func TestGroupPushMembersOnlyAndExclude(t *testing.T) {
	svc := newTestService(t, Options{})
	_, a := connect(t, svc, "alice", "room")
	_, b := connect(t, svc, "bob", "room")
	_, c := connect(t, svc, "carol")
	res, err := svc.PushToGroups(ctx(t), []string{"room"}, []string{"bob"}, Message{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 1 {
		t.Errorf("delivered = %d, want 1", res.Delivered)
	}
	for _, ft := range []*fakeTransport{a, b, c} {
		ft.run()
	}
	if n := len(a.pushes(t)); n != 1 {
		t.Errorf("alice got %d pushes, want 1", n)
	}
	if n := len(c.pushes(t)); n != 0 {
		t.Errorf("non-member carol got %d pushes", n)
	}
	// Excluded bob gets the offset, marked, without the push.
	if ps := b.pushes(t); len(ps) != 1 || !isMarker(ps[0], "group:room", 1) {
		t.Errorf("excluded bob got %v, want the marker of group:room 1 alone", ps)
	}
}

// isMarker reports whether p is the exclusion marker of stream's offset:
// its id and position, and nothing of the push.
func isMarker(p *clientv1.Push, stream string, offset uint64) bool {
	return p.GetExcluded() && p.GetStream() == stream && p.GetOffset() == offset && p.GetEpoch() != "" && p.GetId() != "" &&
		p.GetTopic() == "" && len(p.GetPayload()) == 0 && p.GetSentAt() == nil
}

func TestAddToGroupAppliesToCurrentAndFutureSessions(t *testing.T) {
	svc := newTestService(t, Options{})
	_, now := connect(t, svc, "alice")
	if err := svc.AddToGroup(ctx(t), "room", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	_, later := connect(t, svc, "alice")
	res, _ := svc.PushToGroups(ctx(t), []string{"room"}, nil, Message{Topic: "t"})
	if res.Delivered != 2 {
		t.Fatalf("delivered = %d, want 2", res.Delivered)
	}
	members, _ := svc.GroupMembers(ctx(t), "room")
	if !slices.Equal(members, []string{"alice"}) {
		t.Errorf("members = %v", members)
	}
	if err := svc.RemoveFromGroup(ctx(t), "room", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	res, _ = svc.PushToGroups(ctx(t), []string{"room"}, nil, Message{Topic: "t"})
	if res.Delivered != 0 {
		t.Errorf("after removal delivered = %d, want 0", res.Delivered)
	}
	now.run()
	later.run()
	if len(now.pushes(t)) != 1 || len(later.pushes(t)) != 1 {
		t.Errorf("each session should have exactly the one push sent while a member")
	}
	if st := svc.Stats(ctx(t)); st.Groups != 0 {
		t.Errorf("groups = %d after the last member left, want 0", st.Groups)
	}
}

func TestRemoveFromGroupKeepsTokenGroup(t *testing.T) {
	svc := newTestService(t, Options{})
	_, a := connect(t, svc, "alice", "room")
	_ = svc.AddToGroup(ctx(t), "room", []string{"alice"})
	_ = svc.RemoveFromGroup(ctx(t), "room", []string{"alice"})
	res, _ := svc.PushToGroups(ctx(t), []string{"room"}, nil, Message{Topic: "t"})
	if res.Delivered != 1 {
		t.Errorf("a session whose token names the group keeps it: delivered = %d", res.Delivered)
	}
	a.run()
}

func TestBroadcastAndStats(t *testing.T) {
	svc := newTestService(t, Options{})
	var fts []*fakeTransport
	var sessions []*Session
	for i := range 5 {
		s, ft := connect(t, svc, fmt.Sprintf("u%d", i%3))
		fts = append(fts, ft)
		sessions = append(sessions, s)
	}
	res, err := svc.Broadcast(ctx(t), Message{Topic: "all", Payload: []byte("p")})
	if err != nil || res.Delivered != 5 {
		t.Fatalf("broadcast: %+v %v", res, err)
	}
	for _, ft := range fts {
		ft.run()
		if p := ft.pushes(t); len(p) != 1 || p[0].GetStream() != "broadcast" {
			t.Errorf("got %v", p)
		}
	}
	st := svc.Stats(ctx(t))
	if st.Connections != 5 || st.Users != 3 || st.Deliveries != 5 || st.PushCallsBroadcast != 1 {
		t.Errorf("stats = %+v", st)
	}
	for _, s := range sessions {
		svc.Disconnected(s)
		svc.Disconnected(s) // twice is harmless
	}
	st = svc.Stats(ctx(t))
	if st.Connections != 0 || st.Users != 0 {
		t.Errorf("after disconnects stats = %+v", st)
	}
}

func TestPresence(t *testing.T) {
	svc := newTestService(t, Options{NodeID: "n1"})
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice", Groups: []string{"b", "a"}, RemoteAddr: "127.0.0.1:5", UserAgent: "ua", Compressed: true}, ft)
	ps, _ := svc.Presence(ctx(t), []string{"alice", "bob"})
	if len(ps) != 2 || !ps[0].Online || ps[1].Online || len(ps[0].Connections) != 1 {
		t.Fatalf("presence = %+v", ps)
	}
	c := ps[0].Connections[0]
	if c.SessionID != s.ID() || c.NodeID != "n1" || c.RemoteAddr != "127.0.0.1:5" || c.UserAgent != "ua" || !c.Compressed || !slices.Equal(c.Groups, []string{"a", "b"}) {
		t.Errorf("connection = %+v", c)
	}
	svc.Disconnected(s)
	ps, _ = svc.Presence(ctx(t), []string{"alice"})
	if ps[0].Online {
		t.Error("alice still online after disconnect")
	}
}

func TestBatchingKeepsOrder(t *testing.T) {
	svc := newTestService(t, Options{})
	_, ft := connect(t, svc, "alice")
	for i := range 50 {
		if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: fmt.Sprint(i), Payload: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	ft.run()
	frames := ft.decoded(t)
	batches := 0
	for _, f := range frames {
		if f.GetBatch() != nil {
			batches++
		}
	}
	if batches == 0 {
		t.Fatalf("no PushBatch among %d frames", len(frames))
	}
	ps := ft.pushes(t)
	if len(ps) != 50 {
		t.Fatalf("got %d pushes, want 50", len(ps))
	}
	for i, p := range ps {
		if p.GetOffset() != uint64(i+1) || p.GetTopic() != fmt.Sprint(i) {
			t.Fatalf("push %d = offset %d topic %q", i, p.GetOffset(), p.GetTopic())
		}
	}
}

func TestBatchBounded(t *testing.T) {
	svc := newTestService(t, Options{MaxBatchBytes: 1000})
	_, ft := connect(t, svc, "alice")
	for range 30 {
		_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: make([]byte, 200)})
	}
	ft.run()
	for _, b := range ft.frames {
		if len(b) > 1000+300 {
			t.Errorf("frame of %d bytes exceeds the batch bound", len(b))
		}
	}
	if n := len(ft.pushes(t)); n != 30 {
		t.Errorf("got %d pushes, want 30", n)
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	svc := newTestService(t, Options{SendQueueBytes: 4096})
	_, slow := connect(t, svc, "slow")
	_, fast := connect(t, svc, "fast")
	for range 100 {
		_, _ = svc.PushToUsers(ctx(t), []string{"slow", "fast"}, Message{Topic: "t", Payload: make([]byte, 200)})
		fast.run() // fast keeps up; slow never runs its writer
	}
	cl := slow.closes()
	if len(cl) != 1 || cl[0].Code != CodeSlowConsumer {
		t.Fatalf("slow closes = %+v, want one 4003", cl)
	}
	if n := len(fast.pushes(t)); n != 100 {
		t.Errorf("fast got %d pushes, want 100", n)
	}
	st := svc.Stats(ctx(t))
	if st.SlowConsumerDisconnects != 1 || st.Drops == 0 {
		t.Errorf("stats = %+v", st)
	}
	slow.run()
	if n := len(slow.pushes(t)); n != 0 {
		t.Errorf("an aborted session still wrote %d pushes", n)
	}
}

func TestDropOldestPolicy(t *testing.T) {
	svc := newTestService(t, Options{SendQueueLen: 10, SlowPolicy: SlowDropOldest})
	_, ft := connect(t, svc, "alice")
	for range 25 {
		_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
	}
	ft.run()
	// The queue holds 10 frames: the Welcome, which is never dropped, and
	// the newest 9 pushes.
	if f := ft.decoded(t); len(f) == 0 || f[0].GetWelcome() == nil {
		t.Fatalf("first frame is not the Welcome: %v", f)
	}
	ps := ft.pushes(t)
	if len(ps) != 9 || ps[0].GetOffset() != 17 || ps[len(ps)-1].GetOffset() != 25 {
		t.Fatalf("got %d pushes %v, want the newest 9", len(ps), ps)
	}
	if len(ft.closes()) != 0 {
		t.Error("drop-oldest must not disconnect")
	}
	if st := svc.Stats(ctx(t)); st.Drops != 16 {
		t.Errorf("drops = %d, want 16 pushes", st.Drops)
	}
}

func TestGracefulCloseFlushesFirst(t *testing.T) {
	svc := newTestService(t, Options{})
	s, ft := connect(t, svc, "alice")
	_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
	s.Close(DisconnectShutdown)
	if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "late"}); err != nil {
		t.Fatal(err)
	}
	if len(ft.closes()) != 0 {
		t.Fatal("closed before the queue was written")
	}
	ft.run()
	if n := len(ft.pushes(t)); n != 1 {
		t.Errorf("got %d pushes, want the one queued before close", n)
	}
	if cl := ft.closes(); len(cl) != 1 || cl[0].Code != CodeGoingAway {
		t.Errorf("closes = %+v", cl)
	}
}

func TestDisconnectUser(t *testing.T) {
	svc := newTestService(t, Options{})
	_, a1 := connect(t, svc, "alice")
	_, a2 := connect(t, svc, "alice")
	n, _ := svc.DisconnectUser(ctx(t), "alice", "bye", false)
	if n != 2 {
		t.Fatalf("disconnected %d, want 2", n)
	}
	for _, ft := range []*fakeTransport{a1, a2} {
		ft.run()
		if cl := ft.closes(); len(cl) != 1 || cl[0].Code != CodeKicked || cl[0].Reason != "bye" || cl[0].Reconnect {
			t.Errorf("closes = %+v", cl)
		}
	}
}

func TestIdempotentPush(t *testing.T) {
	svc := newTestService(t, Options{})
	_, ft := connect(t, svc, "alice")
	r1, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", ID: "order-1"})
	r2, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", ID: "order-1"})
	if r1.MessageID != "order-1" || r2.MessageID != r1.MessageID || !r2.Duplicate || r2.Delivered != 0 {
		t.Fatalf("r1 %+v r2 %+v", r1, r2)
	}
	ft.run()
	if n := len(ft.pushes(t)); n != 1 {
		t.Errorf("got %d pushes, want 1", n)
	}
}

func TestPingPong(t *testing.T) {
	svc := newTestService(t, Options{})
	s, ft := connect(t, svc, "alice")
	if err := s.HandleFrame(ctx(t), mustMarshal(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: 42}}})); err != nil {
		t.Fatal(err)
	}
	ft.run()
	frames := ft.decoded(t)
	if p := frames[len(frames)-1].GetPong(); p == nil || p.GetNonce() != 42 {
		t.Fatalf("last frame = %v, want Pong 42", frames[len(frames)-1])
	}
}

func TestRefreshTokenErrors(t *testing.T) {
	svc := newTestService(t, Options{})
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice", OnRefresh: func(string) error { return fmt.Errorf("bad token") }}, ft)
	if err := s.HandleFrame(ctx(t), mustMarshal(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_RefreshToken{RefreshToken: &clientv1.RefreshToken{Token: "x"}}})); err != nil {
		t.Fatal(err)
	}
	ft.run()
	frames := ft.decoded(t)
	if e := frames[len(frames)-1].GetError(); e == nil || e.GetCode() != "invalid_token" {
		t.Fatalf("last frame = %v, want an invalid_token Error", frames[len(frames)-1])
	}
}

func TestBadFramesAreRejected(t *testing.T) {
	svc := newTestService(t, Options{})
	s, _ := connect(t, svc, "alice")
	for name, data := range map[string][]byte{
		"empty":    {},
		"garbage":  []byte("\xff\xff\xff\xff"),
		"no kind":  mustMarshal(t, &clientv1.ClientFrame{}),
		"truncate": mustMarshal(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: 1 << 60}}})[:3],
	} {
		if err := s.HandleFrame(ctx(t), data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestResumeReplaysMissed(t *testing.T) {
	svc := newTestService(t, Options{})
	s1, _ := connect(t, svc, "alice")
	for range 5 {
		_, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
	}
	svc.Disconnected(s1)
	var epoch string
	for range 3 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "missed"})
		epoch = r.Streams[0].Epoch
	}
	s2, ft := connect(t, svc, "alice")
	resume := &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{Streams: []*clientv1.StreamPosition{
		{Stream: "user:alice", Offset: 5, Epoch: epoch},
		{Stream: "broadcast", Offset: 9, Epoch: "old"},
	}}}}
	if err := s2.HandleFrame(ctx(t), mustMarshal(t, resume)); err != nil {
		t.Fatal(err)
	}
	ft.run()
	var rr *clientv1.ResumeResult
	for _, f := range ft.decoded(t) {
		if f.GetResumeResult() != nil {
			rr = f.GetResumeResult()
		}
	}
	if rr == nil || len(rr.GetStreams()) != 2 || !rr.GetStreams()[0].GetRecovered() || rr.GetStreams()[1].GetRecovered() {
		t.Fatalf("resume result = %v", rr)
	}
	ps := ft.pushes(t)
	if len(ps) != 3 || ps[0].GetOffset() != 6 || ps[2].GetOffset() != 8 {
		t.Fatalf("replayed %v", ps)
	}
}

// connectCompressed connects a session that negotiated permessage-deflate.
func connectCompressed(t *testing.T, svc *Service, user string, groups ...string) *fakeTransport {
	t.Helper()
	ft := &fakeTransport{}
	if _, err := svc.Connect(SessionInfo{UserID: user, Groups: groups, Compressed: true}, ft); err != nil {
		t.Fatal(err)
	}
	return ft
}

// Shared and unshared frames of one flush reach the socket in the order
// they were queued (they were once written by different means, and a
// frame written after a shared one overtook it).
func TestSharedWriteIsNotOvertaken(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprint("compressed=", compressed), func(t *testing.T) {
			svc := newTestService(t, Options{})
			var ft *fakeTransport
			if compressed {
				ft = connectCompressed(t, svc, "alice")
			} else {
				_, ft = connect(t, svc, "alice")
			}
			_, _ = connect(t, svc, "bob")
			ft.run() // the Welcome
			// broadcast (shared), personal, broadcast, broadcast, personal:
			// one flush.
			for i, personal := range []bool{false, true, false, false, true} {
				m := Message{Topic: fmt.Sprint(i), Payload: []byte("x")}
				var err error
				if personal {
					_, err = svc.PushToUsers(ctx(t), []string{"alice"}, m)
				} else {
					_, err = svc.Broadcast(ctx(t), m)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			ft.run()
			var topics []string
			for _, p := range ft.pushes(t) {
				topics = append(topics, p.GetTopic())
			}
			if want := []string{"0", "1", "2", "3", "4"}; !slices.Equal(topics, want) {
				t.Fatalf("pushes arrived as %v, want %v", topics, want)
			}
		})
	}
}

// A push queued while a flush runs goes out after what that flush took,
// shared writes included.
func TestSharedWriteIsNotOvertakenAcrossFlushes(t *testing.T) {
	svc := newTestService(t, Options{})
	ft := connectCompressed(t, svc, "alice")
	_, _ = connect(t, svc, "bob")
	ft.run() // the Welcome
	push := func(topic string, personal bool) {
		t.Helper()
		m := Message{Topic: topic, Payload: []byte("x")}
		var err error
		if personal {
			_, err = svc.PushToUsers(ctx(t), []string{"alice"}, m)
		} else {
			_, err = svc.Broadcast(ctx(t), m)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	push("1", false)
	push("2", true)
	push("3", false)
	ft.runOne() // the flush of "1", "2" and "3"
	push("4", true)
	ft.run()
	var topics []string
	for _, p := range ft.pushes(t) {
		topics = append(topics, p.GetTopic())
	}
	if want := []string{"1", "2", "3", "4"}; !slices.Equal(topics, want) {
		t.Fatalf("pushes arrived as %v, want %v", topics, want)
	}
}

// On a compressed session a run of broadcast pushes goes out as shared
// frames (compressed once for everyone), not as a per-session PushBatch.
func TestCompressedSessionWritesSharedRuns(t *testing.T) {
	svc := newTestService(t, Options{})
	ft := connectCompressed(t, svc, "alice")
	_, _ = connect(t, svc, "bob")
	ft.run()
	for i := range 5 {
		if _, err := svc.Broadcast(ctx(t), Message{Topic: fmt.Sprint(i), Payload: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	ft.run()
	for _, f := range ft.decoded(t) {
		if f.GetBatch() != nil {
			t.Fatal("a compressed session got a PushBatch of broadcast pushes")
		}
	}
	if ft.runs != 1 || ft.shared != 5 {
		t.Fatalf("runs = %d, shared frames = %d; want one run of 5", ft.runs, ft.shared)
	}
	if n := len(ft.pushes(t)); n != 5 {
		t.Fatalf("got %d pushes, want 5", n)
	}
}
