package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBroadcastEndToEnd(t *testing.T) {
	cfg := startTarget(t, nil)
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
	if strings.Contains(buf.String(), cfg.JWTSecret) || strings.Contains(buf.String(), cfg.APIKey) {
		t.Fatal("the JSON report holds a secret")
	}
}

// TestFloodEndToEnd: an abusive connection flooding frames is closed
// with 1008 (and dials again), while the others get every push.
func TestFloodEndToEnd(t *testing.T) {
	cfg := startTarget(t, nil)
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
	cfg := startTarget(t, nil)
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
	cfg := startTarget(t, nil)
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
	cfg := startTarget(t, nil)
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
	cfg := startTarget(t, nil)
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
