package main

import (
	"io"
	"log/slog"
	"runtime"
	"testing"
)

// TestRaiseProcs: serve runs with at least two processors, so that one is
// free to answer calls while the WebSocket writers take the others;
// GOMAXPROCS in the environment decides when set.
func TestRaiseProcs(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	noEnv := func(string) string { return "" }

	runtime.GOMAXPROCS(1)
	raiseProcs(log, noEnv)
	if n := runtime.GOMAXPROCS(0); n != minProcs {
		t.Errorf("one processor raised to %d, want %d", n, minProcs)
	}
	runtime.GOMAXPROCS(1)
	raiseProcs(log, func(k string) string {
		if k == "GOMAXPROCS" {
			return "1"
		}
		return ""
	})
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS=1 in the environment: %d processors, want 1", n)
	}
	runtime.GOMAXPROCS(3)
	raiseProcs(log, noEnv)
	if n := runtime.GOMAXPROCS(0); n != 3 {
		t.Errorf("three processors changed to %d", n)
	}
}
