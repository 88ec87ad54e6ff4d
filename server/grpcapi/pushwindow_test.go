package grpcapi

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// The window has room until it holds its count of requests or its bytes;
// a release makes room again. A wait with a cancelled context returns at
// once when there is room, and fails when it would block.
func TestWindowBoundsRequestsAndBytes(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	hasRoom := func(w *window) bool { return w.wait(cancelled) == nil }

	w := newWindow(PushStreamLimits{Window: 3, WindowBytes: 1000})
	for i := range 3 {
		if !hasRoom(w) {
			t.Fatalf("no room with %d requests held", i)
		}
		if held := w.take(10); held != i+1 {
			t.Fatalf("take: holds %d, want %d", held, i+1)
		}
	}
	if hasRoom(w) {
		t.Fatal("room with the window full of requests")
	}
	w.release(10)
	if !hasRoom(w) {
		t.Fatal("no room after a release")
	}

	// Bytes: the request that crosses the bound is held; the next waits.
	w = newWindow(PushStreamLimits{Window: 100, WindowBytes: 1000})
	w.take(600)
	if !hasRoom(w) {
		t.Fatal("no room with 600 of 1000 bytes held")
	}
	w.take(600)
	if hasRoom(w) {
		t.Fatal("room with 1200 of 1000 bytes held")
	}
	w.release(600)
	if !hasRoom(w) {
		t.Fatal("no room after a release")
	}
	w.release(600)
	w.close()
	if held := w.take(1); held != 0 {
		t.Errorf("take after close: holds %d, want 0", held)
	}
}

// A receiver waiting for room wakes up when a slot is released.
func TestWindowWakesTheReceiver(t *testing.T) {
	w := newWindow(PushStreamLimits{Window: 1, WindowBytes: 1000})
	w.take(1)
	waited := make(chan error, 1)
	go func() { waited <- w.wait(t.Context()) }()
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting; {
		if time.Now().After(deadline) {
			t.Fatal("the receiver never waited for room")
		}
		w.mu.Lock()
		waiting = w.waiting
		w.mu.Unlock()
		runtime.Gosched()
	}
	w.release(1)
	if err := <-waited; err != nil {
		t.Fatalf("wait: %v", err)
	}
	w.close()
}
