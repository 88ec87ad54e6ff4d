package bench

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
)

// startTarget runs a real Herald node until the test ends and returns a
// Config aimed at it. mutate, when set, changes the node's configuration
// last.
func startTarget(t *testing.T, mutate func(*server.Config)) Config {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) {
		// The bench opens its clients from two addresses as fast as it
		// can: the per-address handshake rate limit would refuse most of
		// them.
		c.HandshakesPerIPPerSecond = 0
		if mutate != nil {
			mutate(c)
		}
	}})
	return Config{
		WSURL:     n.WSURL,
		GRPCAddr:  n.GRPCAddr,
		AdminURL:  n.AdminURL,
		JWTSecret: n.Creds.JWTSecret,
		APIKey:    n.Creds.APIKey,
		ServerPID: os.Getpid(), // the server runs in this process
		SourceIPs: 2,
		Duration:  time.Minute,
		Workers:   1,
	}
}

func runBench(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := Run(ctx, cfg, &progress)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	if len(rep.Problems) > 0 {
		t.Errorf("problems: %q", rep.Problems)
	}
	return rep
}

func checkComplete(t *testing.T, rep *Report, conns int64, perCall int64) {
	t.Helper()
	if rep.Connect.Connected != conns || rep.Connect.Failed != 0 {
		t.Fatalf("connected %d, failed %d (%v); want %d, 0", rep.Connect.Connected, rep.Connect.Failed, rep.Connect.Errors, conns)
	}
	for i, s := range rep.Steps {
		if s.Errors != 0 {
			t.Errorf("step %d: %d call errors, first %q", i, s.Errors, s.FirstError)
		}
		if s.Sent == 0 || s.Sent+s.Skipped+s.Errors != int64(s.Rate*rep.Params.StepSeconds) {
			t.Errorf("step %d: sent %d + skipped %d + errors %d, want %v in all", i, s.Sent, s.Skipped, s.Errors, s.Rate*rep.Params.StepSeconds)
		}
		if perCall > 0 && s.Expected != s.Sent*perCall {
			t.Errorf("step %d: expected %d deliveries, want %d", i, s.Expected, s.Sent*perCall)
		}
		if s.Received != s.Expected || s.Completeness != 100 {
			t.Errorf("step %d: received %d of %d (%.2f%%), want all", i, s.Received, s.Expected, s.Completeness)
		}
		if s.Latency.Count != uint64(s.Received) || s.Latency.P50Ms <= 0 || s.Latency.MaxMs < s.Latency.P99Ms {
			t.Errorf("step %d: latency summary %+v does not fit %d deliveries", i, s.Latency, s.Received)
		}
	}
}
