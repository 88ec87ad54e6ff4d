package grpcapi_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

func TestGetStats(t *testing.T) {
	ts := startTestServer(t)
	ctx := testContext(t)
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice"}, false)
	if _, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()}); err != nil {
		t.Fatal(err)
	}

	res, err := ts.client.GetStats(ctx, &pushv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	st := res.GetStats()
	if st.GetConnections() != 1 || st.GetUsers() != 1 || st.GetPushes() != 1 || st.GetMessagesOut() == 0 || st.GetUptime() == nil {
		t.Errorf("stats %v, want 1 connection, 1 user, 1 push, messages out and an uptime", st)
	}
	nodes := res.GetNodes()
	if len(nodes) != 1 || nodes[0].GetNodeId() != ts.svc.NodeID() || nodes[0].GetStats().GetConnections() != 1 {
		t.Errorf("nodes %v, want this node with 1 connection", nodes)
	}
}

func TestWatchStatsStreamsUntilCancelled(t *testing.T) {
	ts := startTestServer(t)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	st, err := ts.client.WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := st.Recv()
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if len(res.GetNodes()) != 1 || res.GetStats().GetUptime() == nil {
			t.Errorf("sample %d: %v, want stats and one node", i, res)
		}
	}
	cancel()
	// Samples already in flight may still arrive; the stream must end.
	for {
		if _, err = st.Recv(); err != nil {
			break
		}
	}
	wantCode(t, err, codes.Canceled)
}

func TestShutdownEndsWatchStats(t *testing.T) {
	ts := startTestServer(t)
	// The default interval is 1s; an hour makes sure only Shutdown can end
	// the stream.
	st, err := ts.client.WatchStats(testContext(t), &pushv1.WatchStatsRequest{Interval: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	ts.api.Shutdown()
	_, err = st.Recv()
	wantCode(t, err, codes.Unavailable)
}

// WatchStats streams are capped per caller and per node: past either cap
// a new one gets ResourceExhausted, and a stream that ends gives its slot
// back.
func TestWatchStatsCaps(t *testing.T) {
	ts := start(t, setup{opts: grpcapi.Options{
		APIKeys:  []string{"ops-a", "ops-b", "ops-c"},
		Capacity: grpcapi.Capacity{MaxStatsWatchers: 3, MaxStatsWatchersPerCaller: 2},
	}})
	watch := func(ctx context.Context, key string) error {
		st, err := pushv1.NewPushServiceClient(dial(t, ts.addr, key)).WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(time.Hour)})
		if err == nil {
			_, err = st.Recv() // the first sample, or why there is none
		}
		return err
	}
	ctx := testContext(t)
	aCtx, cancelA := context.WithCancel(ctx)
	defer cancelA()
	for i := range 2 {
		if err := watch(aCtx, "ops-a"); err != nil {
			t.Fatalf("ops-a, stream %d: %v", i, err)
		}
	}
	wantCode(t, watch(ctx, "ops-a"), codes.ResourceExhausted) // its own cap
	if err := watch(ctx, "ops-b"); err != nil {
		t.Fatalf("ops-b: %v", err)
	}
	wantCode(t, watch(ctx, "ops-c"), codes.ResourceExhausted) // the node's cap

	// ops-a's streams end: their slots come back once the server has seen
	// the cancel.
	cancelA()
	for {
		err := watch(ctx, "ops-c")
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted || ctx.Err() != nil {
			t.Fatalf("ops-c after ops-a left: %v", err)
		}
	}
}

// A caller ending WatchStats, by cancelling or by its deadline, is normal:
// the call is logged at debug, not as a warning. A refusal by the node
// keeps its level.
func TestWatchStatsEndedByTheCallerLogsAtDebug(t *testing.T) {
	logs := &recordingHandler{}
	ts := start(t, setup{opts: grpcapi.Options{
		Logger:   slog.New(logs),
		Capacity: grpcapi.Capacity{MaxStatsWatchers: 1},
	}})
	ctx := testContext(t)

	// The caller's deadline passes. A gRPC client cancels the call itself
	// then; a raw client does nothing, so the server's own deadline ends
	// it. grpc-go reports that as DeadlineExceeded or, when its reset of
	// the stream wins the race with the context's timer, Canceled.
	rc := dialRaw(t, ts.addr, true)
	rc.call(t, watchStatsMethod, testKey, "300m")
	rc.ends(t, 1)
	if r := logs.waitForWatchStats(t, 1)[0]; r.Level != slog.LevelDebug {
		t.Errorf("a stream whose caller's deadline passed is logged at %v, want DEBUG: %v", r.Level, r)
	}

	// The caller cancels.
	cctx, cancel := context.WithCancel(ctx)
	st, err := ts.client.WatchStats(cctx, &pushv1.WatchStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.Canceled)
	if r := logs.waitForWatchStats(t, 2)[1]; r.Level != slog.LevelDebug {
		t.Errorf("a stream its caller cancelled is logged at %v, want DEBUG: %v", r.Level, r)
	}

	// One stream open, the cap is 1: the next is refused, a warning.
	held, cancelHeld := context.WithCancel(ctx)
	defer cancelHeld()
	st, err = ts.client.WatchStats(held, &pushv1.WatchStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	st2, err := ts.client.WatchStats(ctx, &pushv1.WatchStatsRequest{})
	if err == nil {
		_, err = st2.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted)
	if r := logs.waitForWatchStats(t, 3)[2]; r.Level != slog.LevelWarn {
		t.Errorf("a stream the node refused is logged at %v, want WARN: %v", r.Level, r)
	}
}

// recordingHandler is a slog.Handler that keeps every record.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record // guarded by mu
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// waitForWatchStats waits until n WatchStats calls have been logged as
// finished and returns their records, in order.
func (h *recordingHandler) waitForWatchStats(t *testing.T, n int) []slog.Record {
	t.Helper()
	ctx := testContext(t)
	for {
		var found []slog.Record
		h.mu.Lock()
		for _, r := range h.records {
			method := ""
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "grpc.method" {
					method = a.Value.String()
				}
				return true
			})
			if r.Message == "finished call" && method == "WatchStats" {
				found = append(found, r)
			}
		}
		h.mu.Unlock()
		if len(found) >= n {
			return found
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d WatchStats calls logged as finished, want %d", len(found), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
