package pushsvc

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/internal/redistest"
)

// welcomeOf returns the Welcome ft's session wrote first.
func welcomeOf(t *testing.T, ft *fakeTransport) *clientv1.Welcome {
	t.Helper()
	ft.run()
	frames := ft.decoded(t)
	if len(frames) == 0 || frames[0].GetWelcome() == nil {
		t.Fatalf("first frame %v, want a Welcome", frames)
	}
	return frames[0].GetWelcome()
}

// positionsText renders positions for comparison: stream@offset/epoch.
func positionsText(sps []*clientv1.StreamPosition) []string {
	out := make([]string, len(sps))
	for i, sp := range sps {
		out[i] = fmt.Sprintf("%s@%d/%s", sp.GetStream(), sp.GetOffset(), sp.GetEpoch())
	}
	return out
}

// TestWelcomeCarriesPositions: the Welcome names every stream the session
// follows (its user, broadcast, its token's groups and its member groups)
// at its current position, and a stream never published at offset 0 with
// no epoch.
func TestWelcomeCarriesPositions(t *testing.T) {
	svc := newTestService(t, Options{})
	var user, bc, club string
	for range 3 {
		r, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"})
		user = r.Streams[0].Epoch
	}
	r, _ := svc.Broadcast(ctx(t), Message{Topic: "t"})
	bc = r.Streams[0].Epoch
	if err := svc.AddToGroup(ctx(t), "club", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r, _ := svc.PushToGroups(ctx(t), []string{"club"}, nil, Message{Topic: "t"})
		club = r.Streams[0].Epoch
	}
	_, ft := connect(t, svc, "alice", "news")
	want := []string{"user:alice@3/" + user, "broadcast@1/" + bc, "group:club@2/" + club, "group:news@0/"}
	if got := positionsText(welcomeOf(t, ft).GetStreams()); !slices.Equal(got, want) {
		t.Errorf("Welcome streams %q, want %q", got, want)
	}
}

// TestResumeFromWelcomePositions: a client that received nothing of a
// group it follows, drops, and resumes with the positions of its Welcome
// (what the SDKs send) gets the push made to the group while it was away.
// Before Welcome carried positions, the client had none for the group, so
// its Resume did not name it and the push was lost.
func TestResumeFromWelcomePositions(t *testing.T) {
	svc := newTestService(t, Options{})
	// The group has history from before the client: not its.
	_, _ = svc.PushToGroups(ctx(t), []string{"news"}, nil, Message{Topic: "before"})
	first, ft := connect(t, svc, "alice", "news")
	sps := welcomeOf(t, ft).GetStreams()
	svc.Disconnected(first)
	if _, err := svc.PushToGroups(ctx(t), []string{"news"}, nil, Message{Topic: "missed"}); err != nil {
		t.Fatal(err)
	}

	ft = &fakeTransport{}
	s, err := svc.Connect(SessionInfo{UserID: "alice", Groups: []string{"news"}, AwaitResume: true}, ft)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.HandleFrame(ctx(t), resumeFrame(t, sps...)); err != nil {
		t.Fatal(err)
	}
	ft.run()
	frames := ft.decoded(t)
	if len(frames) < 2 || frames[0].GetWelcome() == nil || frames[1].GetResumeResult() == nil {
		t.Fatalf("frames %v: want Welcome, ResumeResult first", frames)
	}
	for _, sr := range frames[1].GetResumeResult().GetStreams() {
		if !sr.GetRecovered() {
			t.Errorf("stream %s not recovered", sr.GetStream())
		}
	}
	ps := ft.pushes(t)
	if len(ps) != 1 || ps[0].GetStream() != "group:news" || ps[0].GetOffset() != 2 || ps[0].GetTopic() != "missed" {
		t.Errorf("replayed %v, want group:news 2 (missed) alone", ps)
	}
}

// TestWelcomeGroupsOfACluster: with a cluster, the user's stored groups
// get their positions too; a group whose membership changed while they
// were read gets none, and a group joined after the connect none either.
func TestWelcomeGroupsOfACluster(t *testing.T) {
	svc, fc := newFakeClusterService(t)
	for _, g := range []string{"stored", "changed"} {
		if _, err := svc.PushToGroups(ctx(t), []string{g}, nil, Message{Topic: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	fc.mu.Lock()
	fc.groups["alice"] = map[string]bool{"stored": true, "changed": true}
	fc.mu.Unlock()
	_, ft := connectDuringChange(t, svc, fc, "alice", func() {
		if err := svc.RemoveFromGroup(ctx(t), "changed", []string{"alice"}); err != nil {
			t.Fatal(err)
		}
		if err := svc.AddToGroup(ctx(t), "changed", []string{"alice"}); err != nil {
			t.Fatal(err)
		}
	})
	var names []string
	for _, sp := range welcomeOf(t, ft).GetStreams() {
		names = append(names, sp.GetStream())
		if sp.GetStream() == "group:stored" && (sp.GetOffset() != 1 || sp.GetEpoch() == "") {
			t.Errorf("group:stored at %v, want offset 1 of its epoch", sp)
		}
	}
	if want := []string{"user:alice", "broadcast", "group:stored"}; !slices.Equal(names, want) {
		t.Errorf("Welcome streams %q, want %q", names, want)
	}
}

// TestExcludedSessionsGetMarkers: a push to a group that excludes a user
// reaches that user's sessions as a marker, counted as no delivery; a replay across such pushes carries their
// markers, so it has no hole.
func TestExcludedSessionsGetMarkers(t *testing.T) {
	svc := newTestService(t, Options{})
	a1, f1 := connect(t, svc, "alice", "chat")
	_, f2 := connect(t, svc, "alice", "chat")
	_, fb := connect(t, svc, "bob", "chat")
	for i := range 4 {
		var exclude []string
		if i%2 == 0 {
			exclude = []string{"alice"} // alice's own messages
		}
		res, err := svc.PushToGroups(ctx(t), []string{"chat"}, exclude, Message{Topic: "msg", Payload: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 3}[exclude != nil]; res.Delivered != want {
			t.Errorf("push %d delivered to %d, want %d: markers are no deliveries", i, res.Delivered, want)
		}
	}
	if got := svc.Stats(ctx(t)).Deliveries; got != 8 {
		t.Errorf("deliveries %d, want 8", got)
	}
	for _, ft := range []*fakeTransport{f1, f2, fb} {
		ft.run()
	}
	check := func(who string, ps []*clientv1.Push) {
		t.Helper()
		if len(ps) != 4 {
			t.Fatalf("%s got %d pushes, want 4", who, len(ps))
		}
		for i, p := range ps {
			if p.GetOffset() != uint64(i+1) {
				t.Fatalf("%s: push %d at offset %d: a hole", who, i, p.GetOffset())
			}
			if mark := i%2 == 0 && who != "bob"; mark != p.GetExcluded() || (mark && !isMarker(p, "group:chat", uint64(i+1))) ||
				(!mark && len(p.GetPayload()) != 1) {
				t.Errorf("%s: offset %d is %v", who, i+1, p)
			}
		}
	}
	check("alice 1", f1.pushes(t))
	check("alice 2", f2.pushes(t))
	check("bob", fb.pushes(t))

	// The replay from before the first push: markers where alice was
	// excluded, pushes elsewhere, no hole.
	epoch := f1.pushes(t)[0].GetEpoch()
	svc.Disconnected(a1)
	ft := &fakeTransport{}
	s, _ := svc.Connect(SessionInfo{UserID: "alice", Groups: []string{"chat"}, AwaitResume: true}, ft)
	if err := s.HandleFrame(ctx(t), resumeFrame(t, &clientv1.StreamPosition{Stream: "group:chat", Offset: 0, Epoch: epoch})); err != nil {
		t.Fatal(err)
	}
	ft.run()
	check("alice's replay", ft.pushes(t))
}

// TestMarkerSize: a marker costs its position and id, not the push.
func TestMarkerSize(t *testing.T) {
	svc := newTestService(t, Options{})
	_, ft := connect(t, svc, "alice", "chat")
	if _, err := svc.PushToGroups(ctx(t), []string{"chat"}, []string{"alice"}, Message{Topic: "topic", Payload: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	ft.run()
	frames := ft.decoded(t)
	last := frames[len(frames)-1]
	if !isMarker(last.GetPush(), "group:chat", 1) {
		t.Fatalf("last frame %v, want the marker", last)
	}
	if n := proto.Size(last); n > 64 {
		t.Errorf("marker frame of %d bytes, want its position and id only", n)
	}
}

// TestWelcomePositionsOverRedis: over Redis, the Welcome carries the
// positions of the user's stored groups, read from Redis, beside its
// user stream and broadcast.
func TestWelcomePositionsOverRedis(t *testing.T) {
	srv := redistest.Start(t)
	svc := newRedisService(t, srv.URL, nil, nil)
	if err := svc.AddToGroup(ctx(t), "news", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	var epoch string
	for range 2 {
		r, err := svc.PushToGroups(ctx(t), []string{"news"}, nil, Message{Topic: "t"})
		if err != nil {
			t.Fatal(err)
		}
		epoch = r.Streams[0].Epoch
	}
	_, ft := connect(t, svc.Service, "alice")
	want := []string{"user:alice@0/", "broadcast@0/", "group:news@2/" + epoch}
	if got := positionsText(welcomeOf(t, ft).GetStreams()); !slices.Equal(got, want) {
		t.Errorf("Welcome streams %q, want %q", got, want)
	}
}
