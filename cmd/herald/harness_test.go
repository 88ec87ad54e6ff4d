package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/grpcapi"
)

// syncBuffer is a bytes.Buffer safe for the writes of a running command
// and the reads of the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is how a command line ended.
type result struct {
	code        int
	out, errOut string
}

// runCLI runs a command line to its end, bounded by the test's timeout.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code := run(ctx, args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

const (
	testSecret = "cmd-test-secret-0123456789abcdef0123"
	testAPIKey = "cmd-test-api-key"
)

// testServer is a real Herald node on loopback port 0 with a gRPC client.
type testServer struct {
	wsURL    string
	grpcAddr string
	api      pushv1.PushServiceClient
	// stop stops the node (draining its connections) and waits for it;
	// the test's end does too.
	stop func()
}

// startServer runs a node until the test ends. mutate may change its
// configuration first (a GRPCAddr of its own, for instance).
func startServer(t *testing.T, mutate func(*server.Config)) *testServer {
	t.Helper()
	cfg := server.Defaults()
	cfg.WSAddr, cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.JWTSecret = testSecret
	cfg.APIKeys = []string{testAPIKey}
	cfg.DrainTimeout = time.Second
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
	conn, err := grpc.NewClient(srv.Addrs().GRPC,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(grpcapi.Bearer(testAPIKey)))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = conn.Close()
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
	}
	t.Cleanup(stop)
	return &testServer{wsURL: "ws://" + srv.Addrs().WS + "/ws", grpcAddr: srv.Addrs().GRPC, api: pushv1.NewPushServiceClient(conn), stop: stop}
}

// running is a command running until its test stops it or it ends by
// itself.
type running struct {
	out, errOut *syncBuffer
	cancel      context.CancelFunc // SIGINT, in effect
	done        chan struct{}      // closed when the command has returned
	code        int                // the exit code, once done is closed
}

// startCommand runs `herald <name> args...` until the test ends.
func startCommand(t *testing.T, name string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	r := &running{out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = run(ctx, append([]string{name}, args...), r.out, r.errOut)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not end within 30s of its cancel", name)
		}
	})
	return r
}

// wait returns the exit code once the command has ended by itself,
// failing the test if it has not within d.
func (r *running) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(d):
		t.Fatalf("still running after %v; stderr:\n%s", d, r.errOut.String())
		return -1
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}
