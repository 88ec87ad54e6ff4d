package pushsvc

import (
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/memory"
)

// TestOptionErrorsNameTheField: a bad option is named as a Go caller
// wrote it, not as a command-line flag.
func TestOptionErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{HistoryTTL: -time.Second}, "pushsvc: Options.HistoryTTL -1s: must be > 0"},
		{Options{SendQueueBytes: -1}, "pushsvc: Options.SendQueueBytes -1: must be > 0"},
		{Options{MaxBatchBytes: -1}, "pushsvc: Options.MaxBatchBytes -1: must be > 0"},
		{Options{SlowPolicy: 7}, "pushsvc: Options.SlowPolicy 7: unknown"},
	} {
		svc, err := New(tc.opts)
		if err == nil {
			svc.Close()
			t.Errorf("New(%+v) accepted", tc.opts)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("New: %q, want %q", err, tc.want)
		}
	}
}

// TestNewEngineGetsTheNodeID: the node id is generated in one place, and
// the engine (which names the node in a cluster) gets that one.
func TestNewEngineGetsTheNodeID(t *testing.T) {
	var got string
	svc := newTestService(t, Options{NewEngine: func(nodeID string, h engine.Handler) (engine.Engine, error) {
		got = nodeID
		return memory.New(memory.Options{Handler: h})
	}})
	if got == "" || got != svc.NodeID() {
		t.Errorf("engine got node %q, service is %q", got, svc.NodeID())
	}
	if !strings.HasPrefix(got, "node-") {
		t.Errorf("generated node id %q", got)
	}
}

// TestWelcomeTellsTheTransportsHeartbeat: the Welcome states the interval
// the session's transport checks, so the two cannot disagree.
func TestWelcomeTellsTheTransportsHeartbeat(t *testing.T) {
	svc := newTestService(t, Options{})
	for _, hb := range []time.Duration{7 * time.Second, 0} {
		ft := &fakeTransport{}
		if _, err := svc.Connect(SessionInfo{UserID: "alice", HeartbeatInterval: hb}, ft); err != nil {
			t.Fatal(err)
		}
		ft.run()
		w := ft.decoded(t)[0].GetWelcome()
		if got := w.GetHeartbeatInterval().AsDuration(); got != hb || (hb == 0) != (w.GetHeartbeatInterval() == nil) {
			t.Errorf("transport heartbeat %v: Welcome says %v", hb, w.GetHeartbeatInterval())
		}
	}
}
