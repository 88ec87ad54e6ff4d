package pushsvc

import (
	"slices"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/memory"
)

// TestEngineLearnsFollowedStreams: the engine's Handler, Streams, lists the
// streams of this node's sessions: their users, their token and member
// groups, and broadcast while there is a session.
func TestEngineLearnsFollowedStreams(t *testing.T) {
	var h engine.Handler
	svc := newTestService(t, Options{NewEngine: func(_ string, hh engine.Handler) (engine.Engine, error) {
		h = hh
		return memory.New(memory.Options{HistorySize: 10, HistoryTTL: time.Minute, Handler: hh})
	}})
	streams := func() []string { s := h.Streams(); slices.Sort(s); return s }
	if got := streams(); len(got) != 0 {
		t.Fatalf("with no session: %v", got)
	}
	a, _ := connect(t, svc, "alice", "g1")
	b, _ := connect(t, svc, "bob")
	if err := svc.AddToGroup(ctx(t), "g2", []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"broadcast", "group:g1", "group:g2", "user:alice", "user:bob"}
	if got := streams(); !slices.Equal(got, want) {
		t.Errorf("Streams() = %v, want %v (carol has no session here)", got, want)
	}
	svc.Disconnected(a)
	svc.Disconnected(b)
	if got := streams(); len(got) != 0 {
		t.Errorf("after every session left: %v", got)
	}
}
