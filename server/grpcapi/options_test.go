package grpcapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
		{"insecure and client certificates only", grpcapi.Options{Service: svc, ClientCertOnly: true, Insecure: true}, "Insecure: cannot be combined with APIKeys or ClientCertOnly"},
		{"client certificates only, with keys", grpcapi.Options{Service: svc, APIKeys: keys, ClientCertOnly: true}, "ClientCertOnly: cannot be combined with APIKeys"},
		{"streams per connection over 32 bits", grpcapi.Options{Service: svc, APIKeys: keys, Capacity: grpcapi.Capacity{MaxStreamsPerConnection: 1 << 32}}, "Capacity.MaxStreamsPerConnection 4294967296"},
		{"empty key", grpcapi.Options{Service: svc, APIKeys: []string{"k", ""}}, "APIKeys[1]: the key must not be empty"},
		{"empty key with scopes", grpcapi.Options{Service: svc, APIKeys: []string{":push"}}, "APIKeys[0]: the key must not be empty"},
		{"unknown scope", grpcapi.Options{Service: svc, APIKeys: []string{"k", "secret:pusher"}}, "APIKeys[1]: unknown scope"},
		{"empty scope", grpcapi.Options{Service: svc, APIKeys: []string{"secret:push+"}}, "APIKeys[0]: empty scope"},
		{"no scope after the colon", grpcapi.Options{Service: svc, APIKeys: []string{"secret:"}}, "APIKeys[0]: empty scope"},
		{"duplicate key", grpcapi.Options{Service: svc, APIKeys: []string{"k:push", "j", "k:admin"}}, "APIKeys[2]: the same key as APIKeys[0]"},
		{"negative limit", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MaxUserIDs: -1}}, "Limits.MaxUserIDs -1"},
		{"limit above the schema", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MaxPayloadBytes: 1 << 20}}, "Limits.MaxPayloadBytes 1048576: must be > 0 and at most 65536"},
		{"ack timeout above the schema", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MaxAckTimeout: time.Minute}}, "Limits.MaxAckTimeout 1m0s"},
		{"interval below the schema", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MinStatsInterval: time.Millisecond}}, "Limits.MinStatsInterval 1ms"},
		{"interval above the schema", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MaxStatsInterval: 2 * time.Hour}}, "Limits.MaxStatsInterval 2h0m0s"},
		{"inverted intervals", grpcapi.Options{Service: svc, APIKeys: keys, Limits: grpcapi.Limits{MinStatsInterval: time.Minute, MaxStatsInterval: time.Second}}, "Limits.MinStatsInterval"},
		{"negative rate", grpcapi.Options{Service: svc, APIKeys: keys, RateLimit: grpcapi.RateLimit{PerSecond: -1}}, "RateLimit.PerSecond -1"},
		{"negative burst", grpcapi.Options{Service: svc, APIKeys: keys, RateLimit: grpcapi.RateLimit{Burst: -1}}, "RateLimit.Burst -1"},
		{"negative message size", grpcapi.Options{Service: svc, APIKeys: keys, MaxRecvMsgBytes: -1}, "MaxRecvMsgBytes -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := grpcapi.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
			// Keys are secrets: no error may quote one.
			for _, k := range tc.opts.APIKeys {
				if k, _, _ := strings.Cut(k, ":"); len(k) > 1 && strings.Contains(err.Error(), k) {
					t.Errorf("New: %v quotes the key %q", err, k)
				}
			}
		})
	}
}

func TestMetricsRegisteredAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startAPI(t, setup{opts: grpcapi.Options{Registry: reg}})
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
