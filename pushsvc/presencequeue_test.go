package pushsvc

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/internal/redistest"
)

// countingHandler counts the records at Warn or above.
type countingHandler struct {
	mu    sync.Mutex
	warns []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns = append(h.warns, r.Message)
		h.mu.Unlock()
	}
	return nil
}

// since returns the warnings after the first n.
func (h *countingHandler) since(n int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.warns[n:]...)
}

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.warns)
}

// liveSessions lists the session ids the cluster's presence shows for
// users, sorted.
func liveSessions(ctx context.Context, svc *Service, users []string) ([]string, error) {
	ps, err := svc.Presence(ctx, users)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range ps {
		for _, c := range p.Connections {
			out = append(out, c.SessionID)
		}
	}
	slices.Sort(out)
	return out, nil
}

// TestPresenceDuringOutageStaysBounded: while Redis is down, 50,000
// sessions connect and leave, a few connect and stay, a few registered
// before leave. The presence queue holds at most one entry per session
// still to write (live, or gone with a record to remove), not one per
// change; the service warns once, not once per connect or retry; and once
// Redis is back (empty, as after a restart) the records are exactly the
// live sessions.
func TestPresenceDuringOutageStaysBounded(t *testing.T) {
	srv := redistest.Start(t)
	logs := &countingHandler{}
	svc := newRedisService(t, srv.URL, slog.New(logs), nil)
	var live []*Session
	var users []string
	var before []*Session
	for i := range 10 {
		s, _ := connect(t, svc.Service, fmt.Sprintf("before-%d", i))
		before = append(before, s)
		users = append(users, s.user)
	}
	eventually(t, 10*time.Second, "the first sessions in presence", func() bool {
		got, err := liveSessions(ctx(t), svc.Service, users)
		return err == nil && len(got) == 10 && svc.presence.len() == 0
	})
	warnsBefore := logs.count()

	srv.Stop()
	for _, s := range before[5:] {
		svc.Disconnected(s)
	}
	live = append(live, before[:5]...)
	const churn, churnUsers = 50_000, 100
	for i := range churn {
		if i%(churn/20) == 0 {
			s, _ := connect(t, svc.Service, fmt.Sprintf("during-%d", i))
			live = append(live, s)
			users = append(users, s.user)
		}
		s, _ := connect(t, svc.Service, fmt.Sprintf("churn-%d", i%churnUsers))
		svc.Disconnected(s)
	}
	for i := range churnUsers {
		users = append(users, fmt.Sprintf("churn-%d", i))
	}
	failures := func() uint64 {
		svc.presence.mu.Lock()
		defer svc.presence.mu.Unlock()
		return svc.presence.failures
	}
	eventually(t, 30*time.Second, "three failed presence writes", func() bool { return failures() >= 3 })
	// The registered sessions that left must have their records removed;
	// each failed write may leave one more such session.
	t.Logf("after %d connect/disconnect pairs: %d presence entries pending, %d failed writes", churn, svc.presence.len(), failures())
	if n, limit := svc.presence.len(), 20+5+int(failures()); n > limit {
		t.Errorf("%d presence entries pending, want at most %d (20 live sessions unwritten, 5 removals, %d failed writes)", n, limit, failures())
	}
	if w := logs.since(warnsBefore); len(w) > 2 {
		t.Errorf("%d warnings during the outage, want at most 2 (presence, group membership at connect); first: %q", len(w), w[:3])
	}

	srv.Restart()
	want := make([]string, 0, len(live))
	for _, s := range live {
		want = append(want, s.id)
	}
	slices.Sort(want)
	// A context per check: the test outlives one context's timeout.
	eventually(t, 30*time.Second, "presence to show exactly the live sessions", func() bool {
		got, err := liveSessions(ctx(t), svc.Service, users)
		return err == nil && slices.Equal(got, want) && svc.presence.len() == 0
	})
	// Redis holds those records and no other.
	opts, err := goredis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(opts)
	t.Cleanup(func() { _ = raw.Close() })
	ctx := ctx(t)
	var inRedis []string
	keys, err := raw.Keys(ctx, "herald:pu:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ids, err := raw.HKeys(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		inRedis = append(inRedis, ids...)
	}
	slices.Sort(inRedis)
	byNode, err := raw.HKeys(ctx, "herald:pn:{n1}").Result()
	slices.Sort(byNode)
	if err != nil || !slices.Equal(inRedis, want) || !slices.Equal(byNode, want) {
		t.Errorf("Redis holds user records %q and node records %q (%v), want %q", inRedis, byNode, err, want)
	}
}
