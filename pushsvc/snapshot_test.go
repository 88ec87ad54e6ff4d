package pushsvc

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	clusterv1 "github.com/herald-push/herald/gen/herald/cluster/v1"
	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

func TestSnapshotRoundTrip(t *testing.T) {
	var st Stats
	for i, d := range statTable {
		*d.field(&st) = uint64(i+1) << 33 // past 32 bits
	}
	st.Uptime = 90*time.Minute + time.Millisecond
	b, err := encodeSnapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshot(b)
	if err != nil || got != st {
		t.Errorf("decoded %+v, %v; want %+v", got, err, st)
	}
}

// newerSnapshot is a snapshot as a later Herald could write it: version 2,
// a number this one does not know, and a field it does not know.
func newerSnapshot(t *testing.T) []byte {
	t.Helper()
	b, err := proto.Marshal(&clusterv1.NodeStats{
		Version: 2,
		Values:  map[string]uint64{"connections": 7, "drops": 3, "a_later_number": 11},
		Uptime:  durationpb.New(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 15, protowire.BytesType)
	return protowire.AppendString(b, "region eu-1")
}

// newerStats is what this node reads from newerSnapshot.
var newerStats = Stats{Connections: 7, Drops: 3, Uptime: time.Minute}

func TestSnapshotOfANewerNodeKeepsWhatItKnows(t *testing.T) {
	got, err := decodeSnapshot(newerSnapshot(t))
	if err != nil || got != newerStats {
		t.Errorf("decoded %+v, %v; want %+v", got, err, newerStats)
	}
}

func TestSnapshotOfAnOlderNodeReadsMissingAsZero(t *testing.T) {
	b, err := proto.Marshal(&clusterv1.NodeStats{Version: 1, Values: map[string]uint64{"connections": 4}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshot(b)
	if want := (Stats{Connections: 4}); err != nil || got != want {
		t.Errorf("decoded %+v, %v; want %+v", got, err, want)
	}
}

// oldJSONSnapshot is what Herald wrote before herald.cluster.v1: its Stats
// as JSON.
const oldJSONSnapshot = `{"Connections":2,"Users":1,"Groups":0,"Pushes":5,"PushCalls":{"broadcast":0,"groups":0,"users":5},"Drops":0,"Uptime":61000000000}`

func TestBadSnapshotIsRefused(t *testing.T) {
	noVersion, err := proto.Marshal(&clusterv1.NodeStats{Values: map[string]uint64{"connections": 4}})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"old JSON":   []byte(oldJSONSnapshot),
		"garbage":    []byte("not a snapshot"),
		"empty":      nil,
		"no version": noVersion,
		"truncated":  newerSnapshot(t)[:10],
	} {
		if st, err := decodeSnapshot(b); !errors.Is(err, errBadSnapshot) {
			t.Errorf("%s: decoded %+v, %v; want errBadSnapshot", name, st, err)
		}
	}
}

// TestClusterStatsReadsOtherNodes: over a real Redis, ClusterStats lists
// another node from a snapshot of a newer version, and leaves out, with a
// warning, a node whose snapshot it cannot read (one in the JSON of an
// older Herald).
func TestClusterStatsReadsOtherNodes(t *testing.T) {
	srv := redistest.Start(t)
	logs := &countingHandler{}
	svc := newRedisService(t, srv.URL, slog.New(logs), nil)
	other := newBareNode(t, srv.URL, "n2")
	if err := other.PutStats(ctx(t), newerSnapshot(t)); err != nil {
		t.Fatal(err)
	}
	nodes, err := svc.ClusterStats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(nodes, func(n NodeStats) bool { return n.NodeID == "n2" })
	if len(nodes) != 2 || nodes[0].NodeID != "n1" || i < 0 || nodes[i].Stats != newerStats {
		t.Fatalf("nodes %+v, want n1 and n2 with %+v", nodes, newerStats)
	}

	warns := logs.count()
	if err := other.PutStats(ctx(t), []byte(oldJSONSnapshot)); err != nil {
		t.Fatal(err)
	}
	nodes, err = svc.ClusterStats(ctx(t))
	if err != nil || len(nodes) != 1 || nodes[0].NodeID != "n1" {
		t.Errorf("nodes %+v, %v; want n1 alone", nodes, err)
	}
	if w := logs.since(warns); len(w) != 1 || w[0] != "stats of a node left out: its snapshot cannot be read" {
		t.Errorf("warnings %q, want one about the snapshot", w)
	}
}

// newBareNode is a Redis engine that is a node of the cluster at url, with
// no service behind it.
func newBareNode(t *testing.T, url, id string) *redis.Engine {
	t.Helper()
	e, err := redis.New(ctx(t), redis.Options{
		URL:        url,
		NodeID:     id,
		HistoryTTL: time.Minute,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler:    enginetest.Handler{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}
