package grpcapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server/grpcapi"
)

func TestNewRejectsBadOptions(t *testing.T) {
	svc, err := pushsvc.New(pushsvc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	keys := []string{"k"}
	for _, tc := range []struct {
		name string
		opts grpcapi.Options
		want string
	}{
		{"no service", grpcapi.Options{APIKeys: keys}, "Service: required"},
		{"no keys", grpcapi.Options{Service: svc}, "APIKeys: at least one key is required"},
		{"insecure with keys", grpcapi.Options{Service: svc, APIKeys: keys, Insecure: true}, "Insecure: cannot be combined with APIKeys"},
		{"empty key", grpcapi.Options{Service: svc, APIKeys: []string{"k", ""}}, "APIKeys[1]: must not be empty"},
		{"negative limit", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MaxUserIDs: -1}}, "Limits.MaxUserIDs -1"},
		{"inverted intervals", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MinStatsInterval: time.Minute, MaxStatsInterval: time.Second}}, "Limits.MinStatsInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := grpcapi.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLimitsAreConfigurable(t *testing.T) {
	ts := start(t, setup{opts: grpcapi.Options{Limits: grpcapi.Limits{MaxUserIDs: 2}}})
	_, err := ts.client.GetPresence(testContext(t), &pushv1.GetPresenceRequest{UserIds: []string{"a", "b", "c"}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestMetricsRegisteredAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := start(t, setup{opts: grpcapi.Options{Registry: reg}})
	if _, err := ts.client.GetStats(testContext(t), &pushv1.GetStatsRequest{}); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	handled := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			handled[labels["grpc_method"]+" "+labels["grpc_code"]] = m.GetCounter().GetValue()
		}
	}
	if handled["GetStats OK"] != 1 {
		t.Errorf("grpc_server_handled_total{GetStats,OK} = %v, want 1", handled["GetStats OK"])
	}
	// InitializeMetrics made a zero series for methods not called yet.
	if _, ok := handled["PushToUsers OK"]; !ok {
		t.Error("no zero series for PushToUsers: InitializeMetrics did not run")
	}
}
