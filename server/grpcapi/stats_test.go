package grpcapi_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

func TestGetStats(t *testing.T) {
	ts := startAPI(t, setup{})
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
	ts := startAPI(t, setup{})
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
	ts := startAPI(t, setup{})
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

// TestStatsMatchProto: every number pushsvc declares has its uint64 field
// in pushv1.Stats, every field but uptime is a number pushsvc declares,
// and README.md says what each counts.
func TestStatsMatchProto(t *testing.T) {
	fields := (&pushv1.Stats{}).ProtoReflect().Descriptor().Fields()
	declared := make(map[string]bool)
	for _, d := range pushsvc.StatDefs() {
		declared[d.Name] = true
		f := fields.ByName(protoreflect.Name(d.Name))
		if f == nil || f.Kind() != protoreflect.Uint64Kind || f.Cardinality() == protoreflect.Repeated {
			t.Errorf("pushsvc declares %q, but herald.push.v1.Stats has no uint64 field of that name: add it to push.proto and run make generate", d.Name)
		}
	}
	inProto := make(map[string]bool)
	for i := range fields.Len() {
		name := string(fields.Get(i).Name())
		inProto[name] = true
		if name != "uptime" && !declared[name] {
			t.Errorf("herald.push.v1.Stats has %q, but pushsvc declares no such number (statTable)", name)
		}
	}
	readme := readmeStatsSection(t)
	for name := range inProto {
		if _, ok := readme[name]; !ok {
			t.Errorf("README.md's \"What GetStats counts\" does not say what %q counts", name)
		}
	}
	for _, d := range pushsvc.StatDefs() {
		row, ok := readme[d.Name]
		if ok && (!strings.Contains(row, "`"+d.Metric) || d.MetricKind != "" && !strings.Contains(row, `kind="`+d.MetricKind+`"`)) {
			t.Errorf("README.md's \"What GetStats counts\" does not name %q's metric, %s{kind=%q}", d.Name, d.Metric, d.MetricKind)
		}
	}
	for name := range readme {
		if !inProto[name] {
			t.Errorf("README.md's \"What GetStats counts\" lists %q, which herald.push.v1.Stats does not have", name)
		}
	}
}

// readmeStatsSection returns the names the table of README.md's "What
// GetStats counts" lists in its first column, each with its row.
func readmeStatsSection(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## What GetStats counts\n")
	if !ok {
		t.Fatal(`README.md has no "## What GetStats counts" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := make(map[string]string)
	for line := range strings.Lines(section) {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.Contains(cells[1], "`") {
			continue
		}
		for i, s := range strings.Split(cells[1], "`") {
			if i%2 == 1 {
				names[s] = line
			}
		}
	}
	if len(names) == 0 {
		t.Fatal(`README.md's "What GetStats counts" has no table`)
	}
	return names
}

// TestGetStatsCarriesEveryNumber: each number of the node's stats reaches
// the GetStats answer, in its field.
func TestGetStatsCarriesEveryNumber(t *testing.T) {
	ts := startAPI(t, setup{})
	ctx := testContext(t)
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "alice", Groups: []string{"team"}}, false)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dup := &pushv1.Message{Topic: "chat", Payload: []byte("once"), Id: "push-1"}
	must(ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: dup}))
	must(ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: dup})) // a duplicate
	must(ts.client.PushToGroups(ctx, &pushv1.PushToGroupsRequest{Groups: []string{"team"}, Message: message()}))
	must(ts.client.Broadcast(ctx, &pushv1.BroadcastRequest{Message: message()}))

	res, err := ts.client.GetStats(ctx, &pushv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	local := ts.svc.Stats(ctx)
	got := res.GetStats().ProtoReflect()
	for d, want := range local.All() {
		f := got.Descriptor().Fields().ByName(protoreflect.Name(d.Name))
		if f == nil {
			t.Errorf("%s: no field", d.Name)
		} else if v := got.Get(f).Uint(); v != want {
			t.Errorf("%s: GetStats says %d, the node %d", d.Name, v, want)
		}
	}
	st := res.GetStats()
	if st.GetPushCallsUsers() != 1 || st.GetPushCallsGroups() != 1 || st.GetPushCallsBroadcast() != 1 ||
		st.GetDuplicates() != 1 || st.GetDeliveries() != 3 || st.GetConnects() != 1 {
		t.Errorf("stats %v, want 1 push call of each kind, 1 duplicate, 3 deliveries, 1 connect", st)
	}
}

// A caller ending WatchStats, by cancelling or by its deadline, is normal:
// the call is logged at debug, not as a warning. A refusal by the node
// keeps its level.
func TestWatchStatsEndedByTheCallerLogsAtDebug(t *testing.T) {
	logs := &recordingHandler{}
	ts := startAPI(t, setup{opts: grpcapi.Options{
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
	min slog.Leveler // the lowest level recorded; nil: every level

	mu      sync.Mutex
	records []slog.Record // guarded by mu
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.min == nil || l >= h.min.Level()
}

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
