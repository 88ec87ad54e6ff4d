package grpcapi_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
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
	ts := startTestServer(t)
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
