package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/server"
)

const (
	testSecret = "bench-test-secret-0123456789abcdef"
	testAPIKey = "bench-test-api-key"
)

// startServer runs a real Herald node on loopback port 0 until the test
// ends and returns a Config aimed at it.
func startServer(t *testing.T) Config {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with a change to the server's
// configuration.
func startServerWith(t *testing.T, mutate func(*server.Config)) Config {
	t.Helper()
	cfg := server.Defaults()
	cfg.WSAddr, cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.JWTSecret = testSecret
	cfg.APIKeys = []string{testAPIKey}
	cfg.DrainTimeout = time.Second
	// The bench opens its clients from two addresses as fast as it can:
	// the per-address handshake rate limit would refuse most of them.
	cfg.HandshakesPerIPPerSecond = 0
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
	a := srv.Addrs()
	return Config{
		WSURL:     "ws://" + a.WS + "/ws",
		GRPCAddr:  a.GRPC,
		AdminURL:  "http://" + a.Admin,
		JWTSecret: testSecret,
		APIKey:    testAPIKey,
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

func TestBroadcastEndToEnd(t *testing.T) {
	cfg := startServer(t)
	cfg.Scenario = ScenarioBroadcast
	cfg.Conns = 20
	cfg.Rates = []float64{20}
	cfg.Step = time.Second
	cfg.Compress = true
	rep := runBench(t, cfg)
	checkComplete(t, rep, 20, 20)
	if rep.Connect.ServerConnections != 20 {
		t.Errorf("server counted %d connections, want 20", rep.Connect.ServerConnections)
	}
	if rep.Memory == nil || rep.Memory.HeapAfter == 0 {
		t.Errorf("no memory figures from /metrics: %+v", rep.Memory)
	}

	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("the JSON does not parse: %v\n%s", err, buf.String())
	}
	if back.Params.Scenario != ScenarioBroadcast || len(back.Steps) != 1 || back.Steps[0].Completeness != 100 || back.Host.NumCPU == 0 {
		t.Fatalf("JSON round trip lost figures: %+v", back)
	}
	if strings.Contains(buf.String(), testSecret) || strings.Contains(buf.String(), testAPIKey) {
		t.Fatal("the JSON report holds a secret")
	}
}

// TestFloodEndToEnd: an abusive connection flooding frames is closed
// with 1008 (and dials again), while the others get every push.
func TestFloodEndToEnd(t *testing.T) {
	cfg := startServer(t)
	cfg.Scenario = ScenarioBroadcast
	cfg.Conns = 10
	cfg.Rates = []float64{20}
	cfg.Step = time.Second
	cfg.Flood = 1
	rep := runBench(t, cfg)
	checkComplete(t, rep, 10, 10)
	if rep.Flood == nil || rep.Flood.FramesSent == 0 || rep.Flood.Closes["1008"] == 0 {
		t.Fatalf("flood report = %+v, want frames sent and 1008 closes", rep.Flood)
	}
}

func TestUsersAndGroupsEndToEnd(t *testing.T) {
	cfg := startServer(t)
	cfg.Conns = 30
	cfg.Users = 15 // two connections per user
	cfg.Groups = 3 // ten per group
	cfg.Step = 500 * time.Millisecond
	cfg.Rates = []float64{40, 80}

	cfg.Scenario = ScenarioUsers
	checkComplete(t, runBench(t, cfg), 30, 2)
	cfg.Scenario = ScenarioGroups
	checkComplete(t, runBench(t, cfg), 30, 10)
}

func TestWorkerProcessesEndToEnd(t *testing.T) {
	cfg := startServer(t)
	cfg.ServerPID = 0
	cfg.Scenario = ScenarioBroadcast
	cfg.Conns = 30
	cfg.Workers = 3
	cfg.Rates = []float64{10}
	cfg.Step = time.Second
	cfg.newWorkerCmd = testWorkerCmd
	rep := runBench(t, cfg)
	if rep.Workers != 3 {
		t.Fatalf("report says %d workers, want 3", rep.Workers)
	}
	checkComplete(t, rep, 30, 30)
}

func TestIdleReportsMemory(t *testing.T) {
	cfg := startServer(t)
	cfg.Scenario = ScenarioIdle
	cfg.Conns = 50
	cfg.Settle = 100 * time.Millisecond
	rep := runBench(t, cfg)
	if rep.Connect.Connected != 50 {
		t.Fatalf("connected %d, want 50", rep.Connect.Connected)
	}
	if m := rep.Memory; m == nil || m.RSSAfter == 0 || m.HeapAfter == 0 || m.GoroutinesAfter <= m.GoroutinesBefore {
		t.Fatalf("memory report %+v: want RSS, heap and more goroutines after connecting", rep.Memory)
	}
}

// cancelOnStep cancels the run once the progress line shows a rate step
// under way: an interrupt in the middle of sending.
type cancelOnStep struct {
	cancel context.CancelFunc
}

func (c cancelOnStep) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("step 1/")) {
		c.cancel()
	}
	return len(p), nil
}

func TestInterruptedRunReportsWhatItMeasured(t *testing.T) {
	cfg := startServer(t)
	cfg.Scenario = ScenarioBroadcast
	cfg.Conns = 20
	cfg.Rates = []float64{20, 20}
	cfg.Step = time.Minute // cut short by the interrupt
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg, cancelOnStep{cancel})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Run error = %v, want an interruption", err)
	}
	if rep == nil || rep.Connect.Connected != 20 || len(rep.Steps) != 1 {
		t.Fatalf("partial report %+v: want 20 connected and the one step begun", rep)
	}
	s := rep.Steps[0]
	if s.Sent == 0 || s.Errors != 0 || s.Received != s.Expected {
		t.Fatalf("interrupted step: sent %d, errors %d (%s), received %d of %d; want every call made delivered",
			s.Sent, s.Errors, s.FirstError, s.Received, s.Expected)
	}
}
