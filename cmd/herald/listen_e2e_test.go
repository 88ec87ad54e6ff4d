package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/tokens"
)

func startListen(t *testing.T, args ...string) *running {
	t.Helper()
	return startCommand(t, "listen", args...)
}

func (l *running) waitConnected(t *testing.T) {
	t.Helper()
	waitFor(t, 20*time.Second, "listen to connect", func() bool { return strings.Contains(l.errOut.String(), "-- connected") })
}

// TestListenPrintsPushes is the walk-through: listen connects, prints a
// push, and exits 0 on SIGINT.
func TestListenPrintsPushes(t *testing.T) {
	srv := nodetest.Start(t, nodetest.Options{})
	l := startListen(t, "--url", srv.WSURL, "--user", "alice", "--jwt-secret", srv.Creds.JWTSecret)
	l.waitConnected(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := srv.API.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"},
		Message: &pushv1.Message{Topic: "greeting", Payload: []byte("hello")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the push to be printed", func() bool { return strings.Contains(l.out.String(), "user:alice #1 greeting hello\n") })
	l.cancel()
	if code := l.wait(t, 20*time.Second); code != exitOK {
		t.Fatalf("exit %d after SIGINT, want 0; stderr:\n%s", code, l.errOut.String())
	}
}

// TestListenExitsWhenDisconnectedForGood: DisconnectUser with reconnect
// false ends listen with exit 1 and says why (it used to keep running).
func TestListenExitsWhenDisconnectedForGood(t *testing.T) {
	srv := nodetest.Start(t, nodetest.Options{})
	l := startListen(t, "--url", srv.WSURL, "--user", "bob", "--jwt-secret", srv.Creds.JWTSecret)
	l.waitConnected(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := srv.API.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{UserId: "bob", Reason: "banned", Reconnect: false}); err != nil {
		t.Fatal(err)
	}
	if code := l.wait(t, 20*time.Second); code != exitFailed {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, l.errOut.String())
	}
	mustContain(t, "stderr", l.errOut.String(), "herald listen: disconnected by the server and told not to reconnect (close 4002: banned)")
}

// TestListenExitsWhenTheTokenIsRefused: a 401 at the handshake is final
// (the token was minted afresh for the attempt, so the next one would be
// refused too): listen exits 1 naming the likely causes instead of
// retrying forever.
func TestListenExitsWhenTheTokenIsRefused(t *testing.T) {
	srv := nodetest.Start(t, nodetest.Options{})
	l := startListen(t, "--url", srv.WSURL, "--user", "carol", "--jwt-secret", "not-the-server-secret-0123456789abcdef")
	if code := l.wait(t, 20*time.Second); code != exitFailed {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, l.errOut.String())
	}
	mustContain(t, "stderr", l.errOut.String(), "herald listen: the server refused the minted token (HTTP 401)", "--dev-credentials")

	// Two seconds past exp: within the 30 s clock leeway, such a token
	// used to be upgraded and then cut with 4001, again and again.
	issued := time.Now().Add(-time.Minute - 2*time.Second)
	expired, err := tokens.Mint([]byte(srv.Creds.JWTSecret), tokens.MintClaims{UserID: "carol", TTL: time.Minute, Now: func() time.Time { return issued }})
	if err != nil {
		t.Fatal(err)
	}
	l = startListen(t, "--url", srv.WSURL, "--token", expired)
	if code := l.wait(t, 20*time.Second); code != exitFailed {
		t.Fatalf("--token: exit %d, want 1; stderr:\n%s", code, l.errOut.String())
	}
	mustContain(t, "stderr", l.errOut.String(), "herald listen: the server refused --token (HTTP 401)")
}

// TestListenDevCredentials: --dev-credentials points listen at the file a
// dev server was started with, as token and bench already allowed.
func TestListenDevCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds.json")
	srv := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) {
		c.JWTSecret, c.APIKeys = "", nil // dev mode: the generated secret
		c.DevCredentials = path
	}})
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the dev server wrote no credentials: %v", err)
	}
	t.Setenv("HERALD_DEV_DIR", t.TempDir()) // not the file the server uses
	l := startListen(t, "--url", srv.WSURL, "--user", "dave", "--dev-credentials", path)
	l.waitConnected(t)

	t.Setenv(server.EnvName("dev-credentials"), path)
	l2 := startListen(t, "--url", srv.WSURL, "--user", "erin")
	l2.waitConnected(t)
}
