package pushsvc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// hookedEngine is the Redis engine with hooks a test sets before the
// service starts.
type hookedEngine struct {
	*redis.Engine
	// beforePublish runs before the nth publish; what it returns runs
	// after it.
	beforePublish func(n int) (after func())
	// afterUserGroups runs after a read of a user's stored groups, before
	// its answer goes back.
	afterUserGroups func()

	mu    sync.Mutex // guards calls
	calls int
}

func (e *hookedEngine) Publish(ctx context.Context, stream string, m engine.Message) (*engine.Publication, int, error) {
	e.mu.Lock()
	e.calls++
	n := e.calls
	e.mu.Unlock()
	if e.beforePublish != nil {
		if after := e.beforePublish(n); after != nil {
			defer after()
		}
	}
	return e.Engine.Publish(ctx, stream, m)
}

func (e *hookedEngine) UserGroups(ctx context.Context, user string) ([]string, error) {
	groups, err := e.Engine.UserGroups(ctx, user)
	if e.afterUserGroups != nil {
		e.afterUserGroups()
	}
	return groups, err
}

// redisService is a Service on a Redis engine, with its hooks.
type redisService struct {
	*Service
	hooks *hookedEngine
	// controls receives each Control after the service applied it.
	controls chan engine.Control
}

// newRedisService starts a Service on the Redis at url; hook, when set,
// sets the engine's hooks before the service starts.
func newRedisService(t *testing.T, url string, log *slog.Logger, hook func(*hookedEngine)) *redisService {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rs := &redisService{controls: make(chan engine.Control, 16)}
	svc := newTestService(t, Options{NodeID: "n1", Logger: log, NewEngine: func(nodeID string, h engine.Handler) (engine.Engine, error) {
		h = controlSpy{Handler: h, controls: rs.controls}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e, err := redis.New(ctx, redis.Options{
			URL:            url,
			NodeID:         nodeID,
			HistorySize:    100,
			HistoryTTL:     time.Minute,
			Handler:        h,
			CommandTimeout: 300 * time.Millisecond,
			Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			return nil, err
		}
		rs.hooks = &hookedEngine{Engine: e}
		if hook != nil {
			hook(rs.hooks)
		}
		return rs.hooks, nil
	}})
	rs.Service = svc
	return rs
}

// controlSpy passes each Control on to its Handler, then to controls.
type controlSpy struct {
	engine.Handler
	controls chan engine.Control
}

func (c controlSpy) Control(ctl engine.Control) int {
	n := c.Handler.Control(ctl)
	select {
	case c.controls <- ctl:
	default:
	}
	return n
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countIDs counts, by id, the pushes ft received.
func countIDs(t *testing.T, ft *fakeTransport) map[string]int {
	t.Helper()
	out := make(map[string]int)
	for _, id := range pushIDs(t, ft) {
		out[id]++
	}
	return out
}

// TestRetryAfterLostReplyOverRedis: a push to three users, over Redis,
// whose second publish times out because Redis froze; Redis runs it when
// it thaws, after the caller saw Unavailable. The caller's retry with the
// same id publishes to the third user only, and each user receives the
// push exactly once.
func TestRetryAfterLostReplyOverRedis(t *testing.T) {
	srv := redistest.Start(t)
	svc := newRedisService(t, srv.URL, nil, func(e *hookedEngine) {
		e.beforePublish = func(n int) func() {
			if n != 2 {
				return nil
			}
			srv.Pause()
			return srv.Resume
		}
	})
	users := []string{"u1", "u2", "u3"}
	fts := make([]*fakeTransport, len(users))
	for i, u := range users {
		_, fts[i] = connect(t, svc.Service, u)
	}
	ctx := ctx(t)
	m := Message{Topic: "t", ID: "order-9"}
	if _, err := svc.PushToUsers(ctx, users, m); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first attempt: %v, want ErrUnavailable", err)
	}
	var res Result
	eventually(t, 10*time.Second, "the retry to succeed", func() bool {
		var err error
		res, err = svc.PushToUsers(ctx, users, m)
		return err == nil
	})
	if res.MessageID != "order-9" || res.Duplicate || len(res.Streams) != 3 || !res.Streams[0].Duplicate || res.Streams[2].Duplicate {
		t.Errorf("retry answered %+v; want u1 a duplicate, u3 published", res)
	}
	// A marker after the push: once each user has it, a second copy of
	// the push, which would come before it in the stream, would be there.
	if _, err := svc.PushToUsers(ctx, users, Message{Topic: "marker"}); err != nil {
		t.Fatal(err)
	}
	for i, ft := range fts {
		var got map[string]int
		eventually(t, 10*time.Second, users[i]+" to receive the marker", func() bool {
			got = countIDs(t, ft)
			return len(got) == 2
		})
		if got["order-9"] != 1 {
			t.Errorf("%s received %v; want order-9 once", users[i], got)
		}
	}
}
