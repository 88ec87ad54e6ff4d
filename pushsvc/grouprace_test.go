package pushsvc

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/memory"
)

// fakeCluster is an in-memory engine with the membership store of a
// cluster, as the Redis engine keeps it: a change is written to the store,
// then its Control is applied. UserGroups reads the store and then waits
// for the test, which can apply Controls while the read's answer is on
// its way.
type fakeCluster struct {
	*memory.Engine
	h engine.Handler

	mu     sync.Mutex // guards groups
	groups map[string]map[string]bool

	read    chan struct{} // UserGroups read the store
	release chan struct{} // UserGroups may answer
}

func newFakeClusterService(t *testing.T) (*Service, *fakeCluster) {
	t.Helper()
	fc := &fakeCluster{groups: make(map[string]map[string]bool), read: make(chan struct{}, 1), release: make(chan struct{}, 1)}
	svc := newTestService(t, Options{NewEngine: func(_ string, h engine.Handler) (engine.Engine, error) {
		e, err := memory.New(memory.Options{HistorySize: 100, HistoryTTL: time.Minute, Handler: h})
		if err != nil {
			return nil, err
		}
		fc.Engine, fc.h = e, h
		return fc, nil
	}})
	return svc, fc
}

func (f *fakeCluster) NodeID() string { return "fake" }

func (f *fakeCluster) AddMembers(_ context.Context, group string, users []string) error {
	return f.change(engine.MembersAdded, group, users)
}

func (f *fakeCluster) RemoveMembers(_ context.Context, group string, users []string) error {
	return f.change(engine.MembersRemoved, group, users)
}

func (f *fakeCluster) change(kind engine.ControlKind, group string, users []string) error {
	f.mu.Lock()
	for _, u := range users {
		if f.groups[u] == nil {
			f.groups[u] = make(map[string]bool)
		}
		f.groups[u][group] = kind == engine.MembersAdded
	}
	f.mu.Unlock()
	f.h.Control(engine.Control{Kind: kind, Group: group, Users: users})
	return nil
}

func (f *fakeCluster) Members(context.Context, string) ([]string, error) { return nil, nil }

func (f *fakeCluster) UserGroups(ctx context.Context, user string) ([]string, error) {
	f.mu.Lock()
	var out []string
	for g, in := range f.groups[user] {
		if in {
			out = append(out, g)
		}
	}
	f.mu.Unlock()
	f.read <- struct{}{}
	select {
	case <-f.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return out, nil
}

func (f *fakeCluster) Register(context.Context, engine.Conn) error                  { return nil }
func (f *fakeCluster) Unregister(context.Context, engine.Conn, engine.Closed) error { return nil }
func (f *fakeCluster) Presence(context.Context, []string) (map[string][]engine.Conn, error) {
	return nil, nil
}

func (f *fakeCluster) Disconnect(context.Context, string, string, bool) (int, error) { return 0, nil }
func (f *fakeCluster) PutStats(context.Context, []byte) error                        { return nil }
func (f *fakeCluster) Stats(context.Context) (map[string][]byte, error)              { return nil, nil }
func (f *fakeCluster) Healthy() bool                                                 { return true }

// connectDuringChange connects user while change runs between the read of
// the user's stored groups and its answer, and returns the session.
func connectDuringChange(t *testing.T, svc *Service, fc *fakeCluster, user string, change func()) (*Session, *fakeTransport) {
	t.Helper()
	ft := &fakeTransport{}
	done := make(chan *Session, 1)
	go func() {
		s, err := svc.Connect(SessionInfo{UserID: user}, ft)
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	select {
	case <-fc.read:
	case <-time.After(10 * time.Second):
		t.Fatal("Connect did not read the user's groups")
	}
	change()
	fc.release <- struct{}{}
	return <-done, ft
}

// TestGroupChangeDuringConnectIsKept: a membership change applied while a
// connecting session's stored groups are being read is neither lost (an
// addition, which the hub dropped as the user had no session yet) nor
// undone (a removal, which the stale list put back).
func TestGroupChangeDuringConnectIsKept(t *testing.T) {
	t.Run("added", func(t *testing.T) {
		svc, fc := newFakeClusterService(t)
		s, _ := connectDuringChange(t, svc, fc, "alice", func() {
			if err := svc.AddToGroup(ctx(t), "team", []string{"alice"}); err != nil {
				t.Fatal(err)
			}
		})
		if got := svc.hub.sessionGroups(s); !slices.Equal(got, []string{"team"}) {
			t.Errorf("session groups %q, want [team]", got)
		}
		res, err := svc.PushToGroups(ctx(t), []string{"team"}, nil, Message{Topic: "t"})
		if err != nil || res.Delivered != 1 {
			t.Errorf("push to team: delivered %d, %v; want 1", res.Delivered, err)
		}
	})
	t.Run("removed", func(t *testing.T) {
		svc, fc := newFakeClusterService(t)
		if err := svc.AddToGroup(ctx(t), "team", []string{"alice"}); err != nil {
			t.Fatal(err)
		}
		s, _ := connectDuringChange(t, svc, fc, "alice", func() {
			if err := svc.RemoveFromGroup(ctx(t), "team", []string{"alice"}); err != nil {
				t.Fatal(err)
			}
		})
		if got := svc.hub.sessionGroups(s); len(got) != 0 {
			t.Errorf("session groups %q, want none", got)
		}
		res, err := svc.PushToGroups(ctx(t), []string{"team"}, nil, Message{Topic: "t"})
		if err != nil || res.Delivered != 0 {
			t.Errorf("push to team: delivered %d, %v; want 0", res.Delivered, err)
		}
	})
	t.Run("added, removed and added again", func(t *testing.T) {
		svc, fc := newFakeClusterService(t)
		s, _ := connectDuringChange(t, svc, fc, "alice", func() {
			for _, add := range []bool{true, false, true} {
				var err error
				if add {
					err = svc.AddToGroup(ctx(t), "team", []string{"alice"})
				} else {
					err = svc.RemoveFromGroup(ctx(t), "team", []string{"alice"})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := svc.AddToGroup(ctx(t), "other", []string{"alice"}); err != nil {
				t.Fatal(err)
			}
			if err := svc.RemoveFromGroup(ctx(t), "other", []string{"alice"}); err != nil {
				t.Fatal(err)
			}
		})
		if got := svc.hub.sessionGroups(s); !slices.Equal(got, []string{"team"}) {
			t.Errorf("session groups %q, want [team]", got)
		}
	})
}

// TestSecondSessionReadRefreshesTheFirst: the stored groups a connect
// reads apply to the user's sessions already here, and a user's groups
// leave the hub with its last session.
func TestSecondSessionReadRefreshesTheFirst(t *testing.T) {
	svc, fc := newFakeClusterService(t)
	first, _ := connectDuringChange(t, svc, fc, "alice", func() {})
	// Stored while no Control reached this node (as for a node whose
	// subscription was down).
	fc.mu.Lock()
	fc.groups["alice"] = map[string]bool{"team": true}
	fc.mu.Unlock()
	second, _ := connectDuringChange(t, svc, fc, "alice", func() {})
	for i, s := range []*Session{first, second} {
		if got := svc.hub.sessionGroups(s); !slices.Equal(got, []string{"team"}) {
			t.Errorf("session %d groups %q, want [team]", i, got)
		}
	}
	svc.Disconnected(first)
	svc.Disconnected(second)
	if n := svc.hub.groupCount.Load(); n != 0 {
		t.Errorf("%d groups left in the hub after the user's last session left, want 0", n)
	}
}

// TestGroupChangeDuringConnectOverRedis: with real Redis, an AddToGroup or
// RemoveFromGroup whose Control this node applies after a connecting
// session read the user's stored groups, and before the read's answer is
// applied, holds for the session.
func TestGroupChangeDuringConnectOverRedis(t *testing.T) {
	for _, add := range []bool{true, false} {
		name := map[bool]string{true: "added", false: "removed"}[add]
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			var change func()
			svc := newRedisService(t, srv.URL, nil, func(e *hookedEngine) {
				e.afterUserGroups = func() {
					if change != nil {
						change()
					}
				}
			})
			ctx := ctx(t)
			if !add {
				if err := svc.AddToGroup(ctx, "team", []string{"alice"}); err != nil {
					t.Fatal(err)
				}
				<-svc.controls
			}
			// The change runs once the read has answered, with the stale
			// list, and returns once this node has applied its Control.
			change = func() {
				change = nil
				var err error
				if add {
					err = svc.AddToGroup(ctx, "team", []string{"alice"})
				} else {
					err = svc.RemoveFromGroup(ctx, "team", []string{"alice"})
				}
				if err != nil {
					t.Error(err)
					return
				}
				select {
				case <-svc.controls:
				case <-ctx.Done():
					t.Error("the Control never came")
				}
			}
			s, _ := connect(t, svc.Service, "alice")
			want := map[bool][]string{true: {"team"}, false: {}}[add]
			if got := svc.hub.sessionGroups(s); !slices.Equal(got, want) {
				t.Errorf("session groups %q, want %q", got, want)
			}
			res, err := svc.PushToGroups(ctx, []string{"team"}, nil, Message{Topic: "t"})
			if wantN := len(want); err != nil || res.Delivered != wantN {
				t.Errorf("push to team: delivered %d, %v; want %d", res.Delivered, err, wantN)
			}
		})
	}
}

// TestOfflineMembersLeaveTheHub: with a cluster, whose store keeps the
// membership, a member's last session leaving takes it out of the hub's
// groups; before, every user a Control ever added stayed there.
func TestOfflineMembersLeaveTheHub(t *testing.T) {
	svc, fc := newFakeClusterService(t)
	s, _ := connectDuringChange(t, svc, fc, "alice", func() {})
	if err := svc.AddToGroup(ctx(t), "team", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	svc.Disconnected(s)
	if n := svc.hub.groupCount.Load(); n != 0 {
		t.Errorf("%d groups in the hub after their only member left, want 0 (members %q)", n, svc.hub.members("team"))
	}
}
