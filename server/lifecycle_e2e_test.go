package server_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/tokens"
)

// TestSilentPeerIsDropped: a client that completes the upgrade and then
// never answers pings is closed after a few missed intervals and leaves
// presence and stats.
func TestSilentPeerIsDropped(t *testing.T) {
	const hb = 100 * time.Millisecond
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) { c.HeartbeatInterval = hb }})
	live := env.Connect(t, "live")
	c, _, err := dialWS(t, env.WSURL, env.Token(t, "ghost"), dialOpts{silent: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if w := c.Next(t).GetWelcome(); w.GetHeartbeatInterval().AsDuration() != hb {
		t.Errorf("welcome heartbeat = %v, want %v", w.GetHeartbeatInterval().AsDuration(), hb)
	}
	eventually(t, "ghost leaves presence", func() bool {
		p, err := env.API.GetPresence(testCtx(t), &pushv1.GetPresenceRequest{UserIds: []string{"ghost"}})
		return err == nil && !p.GetUsers()[0].GetOnline()
	})
	t.Logf("silent peer removed after %v (heartbeat %v)", time.Since(start).Round(time.Millisecond), hb)
	if st := env.Stats(t); st.GetConnections() != 1 || st.GetUsers() != 1 {
		t.Errorf("stats = %v", st)
	}
	// The live client answers pings (gws does by itself) and stays.
	noPushBeforePong(t, live)
}

// TestHalfHandshakeIsClosed: a TCP client that sends part of an upgrade
// request is cut after the handshake timeout.
func TestHalfHandshakeIsClosed(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) { c.HandshakeTimeout = 200 * time.Millisecond }})
	nc, err := net.Dial("tcp", env.Server.Addrs().WS)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	buf := make([]byte, 512)
	for {
		if _, err := nc.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("half handshake still open after 10s")
			}
			break // closed by the server
		}
	}
	t.Logf("half handshake closed after %v", time.Since(start).Round(time.Millisecond))
}

func TestTokenExpiryCloses4001(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	// exp is whole seconds and has no leeway: 2.5 s leaves at least 1.5 s
	// for the handshake on a loaded machine.
	tok, err := tokens.Mint([]byte(env.Creds.JWTSecret), tokens.MintClaims{UserID: "alice", TTL: 2500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := dialWS(t, env.WSURL, tok, dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Next(t).GetWelcome().GetTokenExpiresAt() == nil {
		t.Error("welcome does not tell the token expiry")
	}
	code, d := c.WaitClose(t)
	if code != pushsvc.CodeTokenExpired || d.GetCode() != pushsvc.CodeTokenExpired || !d.GetReconnect() {
		t.Errorf("close %d, disconnect %v", code, d)
	}
}

func TestRefreshTokenKeepsSession(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	short, _ := tokens.Mint([]byte(env.Creds.JWTSecret), tokens.MintClaims{UserID: "alice", TTL: 2500 * time.Millisecond}) // see TestTokenExpiryCloses4001
	c, _, err := dialWS(t, env.WSURL, short, dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	c.Next(t) // welcome
	// A token for someone else is refused with an Error frame.
	c.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_RefreshToken{RefreshToken: &clientv1.RefreshToken{Token: env.Token(t, "mallory")}}})
	if e := c.Next(t).GetError(); e == nil || e.GetCode() != "invalid_token" {
		t.Fatalf("refresh for another user: got %v, want an invalid_token Error", e)
	}
	c.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_RefreshToken{RefreshToken: &clientv1.RefreshToken{Token: "garbage"}}})
	if e := c.Next(t).GetError(); e == nil {
		t.Fatal("garbage refresh: no Error frame")
	}
	c.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_RefreshToken{RefreshToken: &clientv1.RefreshToken{Token: env.Token(t, "alice")}}})
	// Past the first token's expiry the session still receives pushes.
	timer := time.NewTimer(3500 * time.Millisecond)
	<-timer.C
	if _, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", "still here")}); err != nil {
		t.Fatal(err)
	}
	if p := c.NextPush(t); string(p.GetPayload()) != "still here" {
		t.Errorf("push = %v", p)
	}
}

func TestReadyzAndDrainRefusesUpgrades(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) { c.DrainTimeout = 2 * time.Second }})
	admin := env.AdminURL
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(admin + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		if p == "/metrics" {
			found := false
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if len(sc.Text()) > 0 && sc.Text()[0] != '#' && (strings.HasPrefix(sc.Text(), "herald_connections ") || strings.HasPrefix(sc.Text(), "grpc_server_")) {
					found = true
				}
			}
			if !found {
				t.Error("/metrics lacks herald_connections or grpc_server_ series")
			}
		}
		resp.Body.Close()
	}
	c := env.Connect(t, "alice")
	go env.Stop()
	code, d := c.WaitClose(t)
	if code != pushsvc.CodeGoingAway || !d.GetReconnect() || d.GetCode() != pushsvc.CodeGoingAway {
		t.Errorf("close %d, disconnect %v", code, d)
	}
}
