package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProbeCallsReported: with --probe-rate, each step makes GetStats and
// single PushToUsers calls besides the load and reports their latency
// apart; the probe pushes are delivered and counted like the load's.
func TestProbeCallsReported(t *testing.T) {
	cfg := startTarget(t, nil)
	cfg.Scenario = ScenarioBroadcast
	cfg.Conns = 10
	cfg.Rates = []float64{10}
	cfg.Step = time.Second
	cfg.ProbeRate = 20
	rep := runBench(t, cfg)
	checkComplete(t, rep, 10, 0)
	p := rep.Steps[0].Probes
	if p == nil {
		t.Fatal("no probe report")
	}
	if p.Errors != 0 || p.GetStats.Count == 0 || p.PushToUsers.Count == 0 || p.GetStats.Count+p.PushToUsers.Count+uint64(p.Skipped) != 20 {
		t.Fatalf("probe report %+v: want 20 calls of both kinds, no errors", p)
	}
	if p.GetStats.P99Ms <= 0 || p.PushToUsers.P99Ms <= 0 {
		t.Fatalf("probe latencies %+v, want them measured", p)
	}
	if s := rep.Steps[0]; s.Expected != s.Sent*10+int64(p.PushToUsers.Count) {
		t.Fatalf("expected %d deliveries, want %d broadcast and %d probe", s.Expected, s.Sent*10, p.PushToUsers.Count)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "probe calls at 20/s: GetStats p50") {
		t.Fatalf("the table does not show the probes:\n%s", table.String())
	}
}

func TestProbeRateValidated(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		rate     float64
		want     string
	}{
		{ScenarioBroadcast, -1, "--probe-rate: -1 must be in [0, 1000]"},
		{ScenarioUsers, 1e6, "--probe-rate: 1e+06 must be in [0, 1000]"},
		{ScenarioIdle, 10, "--probe-rate: the idle scenario has no steps to probe"},
	} {
		cfg := Config{JWTSecret: "s", APIKey: "k", Scenario: tc.scenario, ProbeRate: tc.rate}
		cfg.fill()
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s at %g: Validate() = %v, want %q", tc.scenario, tc.rate, err, tc.want)
		}
	}
	ok := Config{JWTSecret: "s", APIKey: "k", Scenario: ScenarioBroadcast, ProbeRate: 10}
	ok.fill()
	if err := ok.Validate(); err != nil {
		t.Errorf("--probe-rate 10: %v", err)
	}
}
