package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/server"
)

// The stream scenario pushes over PushStream calls and every push it was
// answered for arrives.
func TestStreamEndToEnd(t *testing.T) {
	cfg := startTarget(t, nil)
	cfg.Scenario = ScenarioStream
	cfg.Conns = 30
	cfg.Users = 15 // two connections per user
	cfg.Callers = 2
	cfg.Window = 8
	cfg.Step = 500 * time.Millisecond
	cfg.Rates = []float64{200, 400}
	rep := runBench(t, cfg)
	checkComplete(t, rep, 30, 2)
	for i, s := range rep.Steps {
		if s.CallLatency.Count != uint64(s.Sent) || s.ServerDelivered != s.Expected {
			t.Errorf("step %d: %d result latencies and %d delivered by the server for %d sent (%d expected)",
				i, s.CallLatency.Count, s.ServerDelivered, s.Sent, s.Expected)
		}
	}
}

// A refused request counts as an error, and the stream goes on: with one
// token left after the call's own, one request of the step is pushed and
// the others are refused.
func TestStreamCountsRefusedRequests(t *testing.T) {
	cfg := startTarget(t, func(c *server.Config) {
		c.GRPCRateLimit = 0.001
		// GetStats after connecting and before the step, the stream, and
		// one request.
		c.GRPCRateBurst = 4
	})
	cfg.Scenario = ScenarioStream
	cfg.Conns = 2
	cfg.Callers = 1
	cfg.Step = 500 * time.Millisecond
	cfg.Rates = []float64{20}
	cfg.AdminURL = ""
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Steps[0]
	if s.Sent != 1 || s.Errors != 9 || s.Skipped != 0 || !strings.Contains(s.FirstError, "rate limit exceeded") {
		t.Errorf("sent %d, errors %d (first %q), skipped %d; want 1 sent and 9 refused by the rate limit",
			s.Sent, s.Errors, s.FirstError, s.Skipped)
	}
}

// --offline pushes to users no client holds: calls succeed and nothing
// is expected or delivered, on unary calls and on streams alike.
func TestOfflinePushes(t *testing.T) {
	cfg := startTarget(t, nil)
	cfg.Conns = 2
	cfg.Offline = true
	cfg.Step = 500 * time.Millisecond
	cfg.Rates = []float64{100}
	for _, scenario := range []string{ScenarioUsers, ScenarioStream} {
		cfg.Scenario = scenario
		rep := runBench(t, cfg)
		s := rep.Steps[0]
		if s.Sent != 50 || s.Errors != 0 || s.Expected != 0 || s.ServerDelivered != 0 || s.Received != 0 {
			t.Errorf("%s: sent %d, errors %d (%s), expected %d, delivered %d, received %d; want 50 sent, nothing delivered",
				scenario, s.Sent, s.Errors, s.FirstError, s.Expected, s.ServerDelivered, s.Received)
		}
	}
}
