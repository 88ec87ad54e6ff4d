package pushsvc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/memory"
)

// flakyEngine fails the publishes a test picks, by call number, before
// they reach the engine under it, as an unreachable backend would.
type flakyEngine struct {
	engine.Engine
	mu    sync.Mutex // guards calls and fail
	calls int
	fail  map[int]bool
}

func (f *flakyEngine) Publish(ctx context.Context, stream string, m engine.Message) (*engine.Publication, int, error) {
	f.mu.Lock()
	f.calls++
	fail := f.fail[f.calls]
	f.mu.Unlock()
	if fail {
		return nil, 0, fmt.Errorf("flaky: %w", engine.ErrUnavailable)
	}
	return f.Engine.Publish(ctx, stream, m)
}

func newFlakyService(t *testing.T, failCalls ...int) *Service {
	t.Helper()
	fail := make(map[int]bool)
	for _, n := range failCalls {
		fail[n] = true
	}
	return newTestService(t, Options{NewEngine: func(_ string, h engine.Handler) (engine.Engine, error) {
		e, err := memory.New(memory.Options{HistorySize: 100, HistoryTTL: 5 * time.Minute, Handler: h})
		if err != nil {
			return nil, err
		}
		return &flakyEngine{Engine: e, fail: fail}, nil
	}})
}

// pushIDs returns the ids of the pushes ft received, after running its
// writer.
func pushIDs(t *testing.T, ft *fakeTransport) []string {
	t.Helper()
	ft.run()
	var ids []string
	for _, p := range ft.pushes(t) {
		ids = append(ids, p.GetId())
	}
	return ids
}

// TestRetryAfterUnavailableCompletesThePush: a push to three users whose
// second publish fails answers Unavailable; the caller's retry with the
// same id, as the README recommends, reaches the two users the first
// attempt did not, and the first user only once. Before, the id was
// claimed before publishing and kept: the retry answered delivered 0 as a
// duplicate, and two users never got the push.
func TestRetryAfterUnavailableCompletesThePush(t *testing.T) {
	svc := newFlakyService(t, 2)
	users := []string{"u1", "u2", "u3"}
	fts := make([]*fakeTransport, len(users))
	for i, u := range users {
		_, fts[i] = connect(t, svc, u)
	}
	m := Message{Topic: "t", ID: "order-7"}

	_, err := svc.PushToUsers(ctx(t), users, m)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first attempt: %v, want ErrUnavailable", err)
	}
	res, err := svc.PushToUsers(ctx(t), users, m)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if res.MessageID != "order-7" || res.Delivered != 2 || res.Duplicate {
		t.Errorf("retry answered %+v; want message id order-7, delivered 2 (u2 and u3), not a duplicate", res)
	}
	again, err := svc.PushToUsers(ctx(t), users, m)
	if err != nil || !again.Duplicate || again.Delivered != 0 || again.MessageID != "order-7" {
		t.Errorf("third attempt: %+v, %v; want a duplicate, delivered 0", again, err)
	}
	for i, ft := range fts {
		if got := pushIDs(t, ft); len(got) != 1 || got[0] != "order-7" {
			t.Errorf("%s received %q, want order-7 once", users[i], got)
		}
	}
}

// TestRetryResultSaysWhatWasNew: on a retry, Streams tells the streams
// published before (Duplicate, at their first position) from those this
// call published; the same id to another stream is a new push there.
func TestRetryResultSaysWhatWasNew(t *testing.T) {
	svc := newFlakyService(t, 2)
	m := Message{Topic: "t", ID: "order-8"}
	if _, err := svc.PushToUsers(ctx(t), []string{"a", "b"}, m); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first attempt: %v, want ErrUnavailable", err)
	}
	res, err := svc.PushToUsers(ctx(t), []string{"a", "b"}, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []StreamOffset{
		{Stream: "user:a", Offset: 1, Epoch: res.Streams[0].Epoch, Duplicate: true},
		{Stream: "user:b", Offset: 1, Epoch: res.Streams[1].Epoch},
	}
	if len(res.Streams) != 2 || res.Streams[0] != want[0] || res.Streams[1] != want[1] || res.Streams[0].Epoch == "" {
		t.Errorf("streams %+v, want %+v", res.Streams, want)
	}
	other, err := svc.PushToUsers(ctx(t), []string{"c"}, m)
	if err != nil || other.Duplicate || len(other.Streams) != 1 || other.Streams[0].Duplicate {
		t.Errorf("the same id to another user: %+v, %v; want it published", other, err)
	}
	if st := svc.Stats(ctx(t)); st.Duplicates != 0 || st.Pushes != 3 {
		t.Errorf("stats: %d duplicates, %d pushes; want 0 and 3", st.Duplicates, st.Pushes)
	}
}
