package grpcapi_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

// What one caller can make the node hold: connections, streams, and
// streams that never send their request. The attacks come from rawConn,
// a client that writes HTTP/2 frames itself.

var (
	pushToUsersMethod = pushv1.PushService_PushToUsers_FullMethodName
	watchStatsMethod  = pushv1.PushService_WatchStats_FullMethodName
)

// grpc-status values as they travel in trailers.
const (
	statusCanceled        = "1"
	statusUnauthenticated = "16"
)

// A stream without a valid key is refused as it opens, before the server
// starts a goroutine for it or waits for its request: 2,000 header-only
// streams get 2,000 answers at once, and the node serves a caller with a
// key meanwhile. Before the tap, each of them held a goroutine, waiting
// for a request that never came.
func TestStreamsWithoutAKeyAreRefusedWhenTheyOpen(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startAPI(t, setup{opts: grpcapi.Options{Registry: reg}})
	rc := dialRaw(t, ts.addr, true)
	const n = 2000
	rc.openStreams(t, n/2, pushToUsersMethod, "")
	rc.openStreams(t, n/2, pushToUsersMethod, "not-the-key")

	for id, ev := range rc.ends(t, n) {
		if ev.kind != "end" || ev.grpcStatus != statusUnauthenticated {
			t.Fatalf("stream %d ended with %+v, want trailers with grpc-status 16 (Unauthenticated)", id, ev)
		}
	}
	if _, err := ts.client.PushToUsers(testContext(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()}); err != nil {
		t.Errorf("a caller with a key, during the flood: %v", err)
	}
	if got := metricValue(t, reg, "herald_grpc_streams_refused_total", "grpc_code", "Unauthenticated"); got != n {
		t.Errorf("herald_grpc_streams_refused_total{Unauthenticated} = %v, want %d", got, n)
	}
}

// grpc-go never cancels the context of a stream its tap refuses, so the
// timer of a client's grpc-timeout would live on until that deadline,
// holding the stream's context and its connection: 10,000 header-only
// streams with "grpc-timeout: 99999999H" left 3.2 MB more heap each time
// they were sent, for 11,000 years. A stream with a deadline and no valid
// key is therefore let through: it gets Unauthenticated once its request
// arrives, or the request timer ends it like any other stream.
func TestRefusedStreamsWithADeadlineAreLetThrough(t *testing.T) {
	reg := prometheus.NewRegistry()
	// The request that follows its headers at once must beat the timer
	// even on a loaded machine.
	ts := startAPI(t, setup{opts: grpcapi.Options{Registry: reg, Capacity: grpcapi.Capacity{RequestTimeout: time.Second}}})
	rc := dialRaw(t, ts.addr, true)
	const n = 5
	headerOnly := rc.openStreams(t, n, pushToUsersMethod, "", hpack.HeaderField{Name: "grpc-timeout", Value: "99999999H"})
	withRequest := rc.call(t, pushToUsersMethod, "not-the-key", "99999999H")
	ends := rc.ends(t, n+1)
	if ev := ends[withRequest]; ev.kind != "end" || ev.grpcStatus != statusUnauthenticated {
		t.Errorf("a stream with a deadline and a wrong key ended with %+v, want Unauthenticated", ev)
	}
	for _, id := range headerOnly {
		if ev := ends[id]; ev.kind != "end" || ev.grpcStatus != statusCanceled {
			t.Errorf("a header-only stream with a deadline and no key ended with %+v, want Canceled by the request timer", ev)
		}
	}
	if got := metricValue(t, reg, "herald_grpc_request_timeouts_total"); got != n {
		t.Errorf("herald_grpc_request_timeouts_total = %v, want %d", got, n)
	}
	if got := metricValue(t, reg, "herald_grpc_streams_refused_total", "grpc_code", "Unauthenticated"); got != n+1 {
		t.Errorf("herald_grpc_streams_refused_total{Unauthenticated} = %v, want %d", got, n+1)
	}
}

// A connection holds at most MaxStreamsPerConnection streams at once,
// even from a client that ignores the server's SETTINGS; the rest are
// refused with RST_STREAM, and other connections are served meanwhile.
func TestStreamsPerConnectionAreCapped(t *testing.T) {
	const limit = 10
	ts := startAPI(t, setup{opts: grpcapi.Options{Capacity: grpcapi.Capacity{
		MaxStreamsPerConnection: limit,
		RequestTimeout:          time.Hour, // only the cap may end a stream here
	}}})
	rc := dialRaw(t, ts.addr, true)
	ids := rc.openStreams(t, limit+5, pushToUsersMethod, testKey)

	for range 5 {
		ev := rc.next(t)
		for ev.kind == "settings" || ev.kind == "pingack" {
			ev = rc.next(t)
		}
		if ev.kind != "rst" || ev.code != http2.ErrCodeRefusedStream || ev.stream <= ids[limit-1] {
			t.Fatalf("got %+v, want RST_STREAM REFUSED_STREAM for a stream past the first %d", ev, limit)
		}
	}
	if _, err := ts.client.PushToUsers(testContext(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()}); err != nil {
		t.Errorf("another connection, while this one is full: %v", err)
	}
}

// A stream whose request does not arrive within RequestTimeout is
// cancelled; a call whose request arrived runs as long as it needs.
func TestRequestTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	const timeout = 500 * time.Millisecond
	ts := startAPI(t, setup{opts: grpcapi.Options{Registry: reg, Capacity: grpcapi.Capacity{RequestTimeout: timeout}}})
	rc := dialRaw(t, ts.addr, true)
	rc.openStreams(t, 3, pushToUsersMethod, testKey)
	rc.openStreams(t, 1, watchStatsMethod, testKey)
	for id, ev := range rc.ends(t, 4) {
		if ev.kind != "end" || ev.grpcStatus != statusCanceled {
			t.Errorf("stream %d ended with %+v, want trailers with grpc-status 1 (Canceled)", id, ev)
		}
	}
	if got := metricValue(t, reg, "herald_grpc_request_timeouts_total"); got != 4 {
		t.Errorf("herald_grpc_request_timeouts_total = %v, want 4", got)
	}

	// Calls that outlast the timeout once their request is in.
	ctx := testContext(t)
	connect(t, ts.svc, pushsvc.SessionInfo{UserID: "bob"}, false) // never acks
	if _, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{
		UserIds: []string{"bob"}, Message: message(), AckTimeout: durationpb.New(2 * timeout),
	}); err != nil {
		t.Errorf("a unary call that waits past the request timeout: %v", err)
	}
	st, err := ts.client.WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(timeout / 2)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := st.Recv(); err != nil {
			t.Fatalf("a stream that runs past the request timeout, sample %d: %v", i, err)
		}
	}
}

// The node holds at most MaxConnections connections: one more is closed
// as soon as it is accepted, and a slot freed serves the next caller.
func TestConnectionsPerNodeAreCapped(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startAPI(t, setup{opts: grpcapi.Options{Registry: reg, Capacity: grpcapi.Capacity{MaxConnections: 2}}})
	first := dialRaw(t, ts.addr, true)
	second := dialRaw(t, ts.addr, true)
	for _, c := range []*rawConn{first, second} {
		if ev := c.next(t); ev.kind != "settings" {
			t.Fatalf("first frame %+v, want the server's SETTINGS", ev)
		}
	}

	third := dialRaw(t, ts.addr, true)
	if evs := third.closed(t); len(evs) != 0 {
		t.Errorf("the connection over the limit got %v, want none", evs)
	}
	if got := metricValue(t, reg, "herald_grpc_connections_refused_total"); got != 1 {
		t.Errorf("herald_grpc_connections_refused_total = %v, want 1", got)
	}
	if got := metricValue(t, reg, "herald_grpc_connections"); got != 2 {
		t.Errorf("herald_grpc_connections = %v, want 2", got)
	}

	// The slot comes back once the server has seen the close; the
	// client waits for it rather than failing fast.
	_ = first.conn.Close()
	if _, err := ts.client.GetStats(testContext(t), &pushv1.GetStatsRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Errorf("after a slot was freed: %v", err)
	}
}

// A connection that sends nothing is closed after the connection timeout.
func TestSilentConnectionIsClosed(t *testing.T) {
	ts := startAPI(t, setup{tune: func(a *grpcapi.API) { a.SetTransportTimings(50*time.Millisecond, 0, 0) }})
	rc := dialRaw(t, ts.addr, false)
	rc.closed(t)
}

// A connection with no stream open is closed once idle, with GOAWAY, even
// while it keeps making calls the tap refuses.
func TestIdleConnectionIsClosed(t *testing.T) {
	ts := startAPI(t, setup{tune: func(a *grpcapi.API) { a.SetTransportTimings(0, 300*time.Millisecond, 0) }})
	rc := dialRaw(t, ts.addr, true)
	rc.openStreams(t, 1, pushToUsersMethod, "")
	var goaway bool
	for _, ev := range rc.closed(t) {
		goaway = goaway || ev.kind == "goaway" && ev.debug == "max_idle"
	}
	if !goaway {
		t.Error("closed without GOAWAY max_idle")
	}
}

// Keepalive pings at the allowed pace are answered, with no call open; a
// flood of pings loses the connection with GOAWAY ENHANCE_YOUR_CALM.
// (grpc-go's default policy refuses the paced pings too: it allows no
// pings without a call.)
func TestKeepalivePolicy(t *testing.T) {
	const minInterval = 20 * time.Millisecond
	ts := startAPI(t, setup{tune: func(a *grpcapi.API) { a.SetTransportTimings(0, 0, minInterval) }})

	paced := dialRaw(t, ts.addr, true)
	tick := time.NewTicker(10 * minInterval)
	defer tick.Stop()
	for i := range 5 {
		<-tick.C // the pace is what is tested, not a wait for the server
		paced.ping(t)
		for ev := paced.next(t); ev.kind != "pingack"; ev = paced.next(t) {
			if ev.kind == "goaway" {
				t.Fatalf("ping %d at one per %v: GOAWAY %v %q", i, 10*minInterval, ev.code, ev.debug)
			}
		}
	}

	flood := dialRaw(t, ts.addr, true)
	for range 10 {
		flood.ping(t)
	}
	var calm bool
	for _, ev := range flood.closed(t) {
		calm = calm || ev.kind == "goaway" && ev.code == http2.ErrCodeEnhanceYourCalm
	}
	if !calm {
		t.Error("a ping flood: closed without GOAWAY ENHANCE_YOUR_CALM")
	}
}

// metricValue returns the value of the counter or gauge name in reg whose
// labels include the given name/value pairs, or fails the test.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}
