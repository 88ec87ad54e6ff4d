package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/server"
)

// startEvents runs `herald events args...` until the test ends.
func startEvents(t *testing.T, args ...string) *running {
	t.Helper()
	return startCommand(t, "events", args...)
}

// lines waits until the output has n lines and returns them.
func (r *running) lines(t *testing.T, n int) []string {
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

// TestEventsCommand: `herald events` prints one line per event, cursor
// last, filtered by kind and user; when its node goes away it reconnects
// to the node that replaces it, on the same address and Redis, and
// resumes after the last cursor it printed: nothing missed, nothing twice.
func TestEventsCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	redisURL := redistest.Start(t).URL
	a := nodetest.Start(t, nodetest.Options{RedisURL: redisURL})
	b := nodetest.Start(t, nodetest.Options{Creds: a.Creds, RedisURL: redisURL})
	addr := a.GRPCAddr
	r := startEvents(t, "--grpc-addr", addr, "--api-key", a.Creds.APIKey,
		"--kinds", "online,offline,undelivered", "--users", "alice,bob")
	// The command has started watching once a first event comes through.
	var line string
	waitFor(t, 30*time.Second, "a first event", func() bool {
		if _, err := b.API.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"bob"}, Message: &pushv1.Message{Topic: "probe"}}); err != nil {
			t.Fatal(err)
		}
		if out := r.out.String(); out != "" {
			line = strings.Split(out, "\n")[0]
		}
		return line != ""
	})
	if f := strings.Fields(line); len(f) < 4 || f[1] != "undelivered" || f[2] != "bob" || !strings.HasPrefix(f[len(f)-1], "cursor=") {
		t.Fatalf("line %q: want <time> undelivered bob ... cursor=<cursor>", line)
	}
	// A last probe: once its line is out, every probe's is (one user's
	// events are in order).
	if _, err := b.API.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"bob"}, Message: &pushv1.Message{Topic: "probe", Id: "last-probe"}}); err != nil {
		t.Fatal(err)
	}
	probes := 0
	waitFor(t, 30*time.Second, "the last probe's line", func() bool {
		for i, l := range r.lines(t, 1) {
			if strings.Contains(l, "message=last-probe ") {
				probes = i + 1
			}
		}
		return probes != 0
	})

	alice := a.Connect(t, "alice")
	b.Connect(t, "carol") // filtered out
	r.lines(t, probes+1)
	a.Stop() // alice's connection is drained; the stream breaks
	alice.WaitClose(t)
	if _, err := b.API.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"bob"}, Message: &pushv1.Message{Topic: "while away", Id: "away"}}); err != nil {
		t.Fatal(err)
	}
	// The replacement, on the same address.
	nodetest.Start(t, nodetest.Options{Creds: a.Creds, RedisURL: redisURL, Config: func(c *server.Config) { c.GRPCAddr = addr }})
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
	n := nodetest.Start(t, nodetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := events(ctx, []string{"--kinds", "online,bogus", "--api-key", "k"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--kinds") {
		t.Errorf("bad kind: %v, want an error naming --kinds", err)
	}
	// A cursor of another node's log: this one's memory engine does not
	// know it.
	other := nodetest.Start(t, nodetest.Options{})
	r := startEvents(t, "--grpc-addr", other.GRPCAddr, "--api-key", other.Creds.APIKey)
	var cursor string
	waitFor(t, 30*time.Second, "a first event", func() bool {
		other.Connect(t, "x")
		if out := r.out.String(); out != "" {
			f := strings.Fields(strings.Split(out, "\n")[0])
			cursor = strings.TrimPrefix(f[len(f)-1], "cursor=")
		}
		return cursor != ""
	})
	err := events(ctx, []string{"--grpc-addr", n.GRPCAddr, "--api-key", n.Creds.APIKey, "--cursor", cursor}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "resync") {
		t.Errorf("foreign cursor: %v, want an error saying to resync", err)
	}
	err = events(ctx, []string{"--grpc-addr", n.GRPCAddr, "--api-key", "wrong"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "invalid API key") {
		t.Errorf("wrong key: %v, want invalid API key", err)
	}
}
