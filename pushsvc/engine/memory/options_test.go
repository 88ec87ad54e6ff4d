package memory

import (
	"context"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
)

// TestZeroOptionsAreTheDefaults: zero HistorySize and HistoryTTL mean
// engine's defaults, and NoHistory keeps none.
func TestZeroOptionsAreTheDefaults(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		size int
		keep int
	}{
		{0, engine.DefaultHistorySize},
		{engine.NoHistory, 0},
		{-5, 0},
		{3, 3},
	} {
		e, err := New(Options{HistorySize: tc.size, Handler: enginetest.Handler{}})
		if err != nil {
			t.Fatalf("size %d: %v", tc.size, err)
		}
		if e.opts.HistoryTTL != engine.DefaultHistoryTTL {
			t.Errorf("zero HistoryTTL became %v", e.opts.HistoryTTL)
		}
		for range engine.DefaultHistorySize + 1 {
			if _, _, err := e.Publish(ctx, "s", engine.Message{Topic: "t"}); err != nil {
				t.Fatal(err)
			}
		}
		sh := e.shard("s")
		sh.mu.Lock()
		st := sh.streams["s"]
		st.mu.Lock()
		got := st.n
		st.mu.Unlock()
		sh.mu.Unlock()
		if got != tc.keep {
			t.Errorf("size %d: kept %d, want %d", tc.size, got, tc.keep)
		}
		_ = e.Close()
	}
}

// TestOptionErrorsNameTheField names the field as Go callers write it.
func TestOptionErrorsNameTheField(t *testing.T) {
	_, err := New(Options{HistoryTTL: -time.Second})
	const want = "memory: Options.Handler: required\nmemory: Options.HistoryTTL -1s: must be > 0"
	if err == nil || err.Error() != want {
		t.Errorf("New: %v, want %q", err, want)
	}
}
