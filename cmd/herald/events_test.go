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
	"github.com/herald-push/herald/internal/wstest"
	"github.com/herald-push/herald/pushsvc/engine/redis/redistest"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/auth"
)

const (
	eventsTestSecret = "events-test-secret-0123456789abcdef0123"
	eventsTestKey    = "events-test-key"
)

// lockedBuffer is a bytes.Buffer safe for a running command's writes and
// the test's reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventsNode is a node run in-process for the events tests.
type eventsNode struct {
	srv  *server.Server
	api  pushv1.PushServiceClient
	stop func()
}

// startEventsNode runs a node on grpcAddr (127.0.0.1:0 for any port).
func startEventsNode(t *testing.T, grpcAddr string, mutate func(*server.Config)) *eventsNode {
	t.Helper()
	cfg := server.Defaults()
	cfg.WSAddr, cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", grpcAddr, "127.0.0.1:0"
	cfg.JWTSecret, cfg.APIKeys, cfg.DrainTimeout = eventsTestSecret, []string{eventsTestKey}, 100*time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	conn, err := grpc.NewClient(srv.Addrs().GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearerKey(eventsTestKey)))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	n := &eventsNode{srv: srv, api: pushv1.NewPushServiceClient(conn)}
	n.stop = func() {
		once.Do(func() {
			_ = conn.Close()
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("node did not stop within 30s")
			}
		})
	}
	t.Cleanup(n.stop)
	return n
}

// runningEvents is `herald events` running until its test ends.
type runningEvents struct {
	out, errOut *lockedBuffer
	done        chan error
}

func startEvents(t *testing.T, args ...string) *runningEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningEvents{out: &lockedBuffer{}, errOut: &lockedBuffer{}, done: make(chan error, 1)}
	go func() { r.done <- events(ctx, args, r.out, r.errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("herald events did not end within 30s of its cancel")
		}
	})
	return r
}

// lines waits until the output has n lines and returns them.
func (r *runningEvents) lines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := strings.Split(strings.TrimSpace(r.out.String()), "\n")
		if out[0] != "" && len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d lines, want %d:\n%s\nstderr:\n%s", len(out), n, r.out.String(), r.errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialUser connects a raw WebSocket client as user to node.
func dialUser(t *testing.T, n *eventsNode, user string) *wstest.Client {
	t.Helper()
	tok, err := auth.Mint([]byte(eventsTestSecret), auth.MintClaims{UserID: user, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := wstest.Dial(t, wstest.Options{URL: "ws://" + n.srv.Addrs().WS + "/ws", Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	c.Next(t) // the Welcome
	return c
}

// TestEventsCommand: `herald events` prints one line per event, cursor
// last, filtered by kind and user; when its node goes away it reconnects
// to the node that replaces it, on the same address and Redis, and
// resumes after the last cursor it printed: nothing missed, nothing twice.
func TestEventsCommand(t *testing.T) {
	redisURL := redistest.Start(t).URL
	onRedis := func(c *server.Config) { c.RedisURL = redisURL }
	a := startEventsNode(t, "127.0.0.1:0", onRedis)
	b := startEventsNode(t, "127.0.0.1:0", onRedis)
	addr := a.srv.Addrs().GRPC
	r := startEvents(t, "--grpc-addr", addr, "--api-key", eventsTestKey,
		"--kinds", "online,offline,undelivered", "--users", "alice,bob")
	// The command has started watching once a first event comes through.
	var line string
	for line == "" {
		if _, err := b.api.PushToUsers(context.Background(), &pushv1.PushToUsersRequest{UserIds: []string{"bob"}, Message: &pushv1.Message{Topic: "probe"}}); err != nil {
			t.Fatal(err)
		}
		if out := r.out.String(); out != "" {
			line = strings.Split(out, "\n")[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f := strings.Fields(line); len(f) < 4 || f[1] != "undelivered" || f[2] != "bob" || !strings.HasPrefix(f[len(f)-1], "cursor=") {
		t.Fatalf("line %q: want <time> undelivered bob ... cursor=<cursor>", line)
	}
	// A last probe: once its line is out, every probe's is (one user's
	// events are in order).
	if _, err := b.api.PushToUsers(context.Background(), &pushv1.PushToUsersRequest{UserIds: []string{"bob"}, Message: &pushv1.Message{Topic: "probe", Id: "last-probe"}}); err != nil {
		t.Fatal(err)
	}
	probes := 0
	for probes == 0 {
		for i, l := range r.lines(t, 1) {
			if strings.Contains(l, "message=last-probe ") {
				probes = i + 1
			}
		}
		time.Sleep(10 * time.Millisecond)
	}

	alice := dialUser(t, a, "alice")
	dialUser(t, b, "carol") // filtered out
	r.lines(t, probes+1)
	a.stop() // alice's connection is drained; the stream breaks
	alice.WaitClose(t)
	if _, err := b.api.PushToUsers(context.Background(), &pushv1.PushToUsersRequest{UserIds: []string{"bob"}, Message: &pushv1.Message{Topic: "while away", Id: "away"}}); err != nil {
		t.Fatal(err)
	}
	startEventsNode(t, addr, onRedis) // the replacement, on the same address
	out := r.lines(t, probes+3)
	var kinds []string
	for _, l := range out[probes:] {
		f := strings.Fields(l)
		kinds = append(kinds, f[1]+":"+f[2])
	}
	if got := strings.Join(kinds, " "); got != "online:alice offline:alice undelivered:bob" {
		t.Errorf("after the probes: %s, want online:alice offline:alice undelivered:bob\n%s", got, strings.Join(out, "\n"))
	}
	if !strings.Contains(r.errOut.String(), "resuming after cursor") {
		t.Errorf("stderr does not tell the resume:\n%s", r.errOut.String())
	}
}

// TestEventsCommandErrors: a bad kind is refused before anything starts;
// a cursor the log no longer holds ends the command with an error that
// says to resync.
func TestEventsCommandErrors(t *testing.T) {
	n := startEventsNode(t, "127.0.0.1:0", nil)
	ctx := context.Background()
	if err := events(ctx, []string{"--kinds", "online,bogus", "--api-key", "k"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--kinds") {
		t.Errorf("bad kind: %v, want an error naming --kinds", err)
	}
	// A cursor of another node's log: this one's memory engine does not
	// know it.
	other := startEventsNode(t, "127.0.0.1:0", nil)
	r := startEvents(t, "--grpc-addr", other.srv.Addrs().GRPC, "--api-key", eventsTestKey)
	var cursor string
	for cursor == "" {
		dialUser(t, other, "x")
		if out := r.out.String(); out != "" {
			f := strings.Fields(strings.Split(out, "\n")[0])
			cursor = strings.TrimPrefix(f[len(f)-1], "cursor=")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := events(ctx, []string{"--grpc-addr", n.srv.Addrs().GRPC, "--api-key", eventsTestKey, "--cursor", cursor}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "resync") {
		t.Errorf("foreign cursor: %v, want an error saying to resync", err)
	}
	err = events(ctx, []string{"--grpc-addr", n.srv.Addrs().GRPC, "--api-key", "wrong"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "invalid API key") {
		t.Errorf("wrong key: %v, want invalid API key", err)
	}
}
