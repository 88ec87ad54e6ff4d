package grpcapi_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

// TestCallMetricsMatchGrpcprom runs go-grpc-middleware's Prometheus
// provider, which the API's call metrics replace, beside them on the same
// server, makes calls of every kind, and compares what each exports: the
// same families (names, help, types), the same series and the same
// counts, handling-time observations included (their sums differ: the
// two time different spans).
func TestCallMetricsMatchGrpcprom(t *testing.T) {
	ours, theirs := prometheus.NewRegistry(), prometheus.NewRegistry()
	ref := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	theirs.MustRegister(ref)
	ts := startAPI(t, setup{
		opts: grpcapi.Options{Registry: ours},
		// Innermost: it sees the calls that reach their handler.
		serverOpts: []grpc.ServerOption{
			grpc.ChainUnaryInterceptor(ref.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(ref.StreamServerInterceptor()),
		},
		// Every service is registered by the time this runs.
		register: func(s *grpc.Server) { ref.InitializeMetrics(s) },
	})
	ctx := testContext(t)

	for range 3 {
		if _, err := ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.client.GetPresence(ctx, &pushv1.GetPresenceRequest{UserIds: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := healthpb.NewHealthClient(dial(t, ts.addr, "")).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	// A handler's own error: a health check of a service nobody serves.
	_, err := healthpb.NewHealthClient(dial(t, ts.addr, "")).Check(ctx, &healthpb.HealthCheckRequest{Service: "nobody"})
	wantCode(t, err, codes.NotFound)
	// A stream, two messages sent, ended by its caller.
	wctx, cancel := context.WithCancel(ctx)
	st, err := ts.client.WatchStats(wctx, &pushv1.WatchStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()

	// The stream's end reaches the server's interceptors after the
	// caller has moved on: wait until both have counted it.
	want := `grpc_server_handled_total{grpc_code="Canceled",grpc_method="WatchStats",grpc_service="herald.push.v1.PushService",grpc_type="server_stream"} 1`
	var got, ref2 string
	for {
		got, ref2 = exposition(t, ours), exposition(t, theirs)
		if strings.Contains(got, want) && strings.Contains(ref2, want) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("WatchStats never counted as Canceled:\n%s", got)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got != ref2 {
		t.Errorf("the call metrics differ from grpcprom's:\nours:\n%s\ngrpcprom:\n%s", got, ref2)
	}
	for _, line := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="PushToUsers",grpc_service="herald.push.v1.PushService",grpc_type="unary"} 3`,
		`grpc_server_msg_sent_total{grpc_method="WatchStats",grpc_service="herald.push.v1.PushService",grpc_type="server_stream"} 2`,
		`grpc_server_handling_seconds_count{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 2`,
	} {
		if !strings.Contains(got, line) {
			t.Errorf("no %s in\n%s", line, got)
		}
	}

	// A call refused before its handler, by validation, is counted too.
	_, err = ts.client.PushToUsers(ctx, &pushv1.PushToUsersRequest{Message: message()})
	wantCode(t, err, codes.InvalidArgument)
	if line := `grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="PushToUsers",grpc_service="herald.push.v1.PushService",grpc_type="unary"} 1`; !strings.Contains(exposition(t, ours), line) {
		t.Errorf("a refused call is not counted: no %s", line)
	}
}

// exposition writes what reg gathers, one line per sample, sorted, with
// the histograms' sums left out.
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "grpc_server_") {
			continue
		}
		lines = append(lines, fmt.Sprintf("# %s %s %s", f.GetName(), f.GetType(), f.GetHelp()))
		for _, m := range f.GetMetric() {
			labels := labelString(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				lines = append(lines, fmt.Sprintf("%s%s %g", f.GetName(), labels, m.GetCounter().GetValue()))
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				lines = append(lines, fmt.Sprintf("%s_count%s %d", f.GetName(), labels, h.GetSampleCount()))
				for _, b := range h.GetBucket() {
					lines = append(lines, fmt.Sprintf("%s_bucket%s le=%g", f.GetName(), labels, b.GetUpperBound()))
				}
			default:
				lines = append(lines, fmt.Sprintf("%s%s of type %s", f.GetName(), labels, f.GetType()))
			}
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func labelString(m *dto.Metric) string {
	kv := map[string]string{}
	for _, l := range m.GetLabel() {
		kv[l.GetName()] = l.GetValue()
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, kv[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
