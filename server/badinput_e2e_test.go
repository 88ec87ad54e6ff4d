package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"
	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/server"
	"github.com/herald-push/herald/server/tokens"
)

func TestCompressionNegotiated(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	big := strings.Repeat("compressible ", 200)
	for _, compress := range []bool{true, false} {
		c, resp, err := dialWS(t, env.WSURL, env.Token(t, "alice"), dialOpts{compress: compress})
		if err != nil {
			t.Fatal(err)
		}
		ext := resp.Header.Get("Sec-WebSocket-Extensions")
		if got := strings.Contains(ext, "permessage-deflate"); got != compress {
			t.Errorf("offered deflate %v: negotiated extensions %q", compress, ext)
		}
		if c.Next(t).GetWelcome() == nil {
			t.Fatal("no welcome")
		}
		if _, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", big)}); err != nil {
			t.Fatal(err)
		}
		if p := c.NextPush(t); string(p.GetPayload()) != big {
			t.Errorf("compress %v: payload corrupted", compress)
		}
		_ = c.Conn.WriteClose(pushsvc.CodeNormal, nil)
		<-c.Closed()
	}
	// Wire bytes counted less than raw bytes for the compressed push.
	st, err := env.API.GetStats(testCtx(t), &pushv1.GetStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetStats().GetBytesOutWire() == 0 || st.GetStats().GetBytesOutRaw() == 0 {
		t.Errorf("byte counters not moving: %v", st.GetStats())
	}
}

func TestCompressionCanBeTurnedOff(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) { c.Compression = false }})
	_, resp, err := dialWS(t, env.WSURL, env.Token(t, "alice"), dialOpts{compress: true})
	if err != nil {
		t.Fatal(err)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("compression off, yet negotiated %q", ext)
	}
}

func TestBadTokensGet401WithoutUpgrade(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{})
	expired, err := tokens.Mint([]byte(env.Creds.JWTSecret), tokens.MintClaims{UserID: "alice", TTL: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	wrongSig, _ := tokens.Mint([]byte("another secret entirely"), tokens.MintClaims{UserID: "alice", TTL: time.Hour})
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	noSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(env.Creds.JWTSecret))
	for name, tok := range map[string]string{"missing": "", "wrong signature": wrongSig, "expired": expired, "alg none": none, "no sub": noSub, "garbage": "a.b.c"} {
		_, resp, err := dialWS(t, env.WSURL, tok, dialOpts{})
		if err == nil {
			t.Errorf("%s: upgraded", name)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: response %v, want 401", name, resp)
		}
	}
	// The query parameter works for browsers.
	c, _, err := dialWS(t, env.WSURL+"?token="+env.Token(t, "alice"), "", dialOpts{})
	if err != nil {
		t.Fatalf("token in query: %v", err)
	}
	if c.Next(t).GetWelcome() == nil {
		t.Error("no welcome")
	}
}

// TestBadFramesCloseOnlyTheirConnection sends each bad frame on its own
// connection while a bystander keeps receiving pushes.
func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) { c.MaxFrameBytes = 1024 }})
	bystander := env.Connect(t, "bystander")
	cases := []struct {
		name string
		send func(c *wsClient) error
		code uint16
	}{
		{"text frame", func(c *wsClient) error { return c.Conn.WriteString("hello") }, pushsvc.CodeTextFrame},
		{"garbage binary", func(c *wsClient) error { return c.Conn.WriteMessage(gws.OpcodeBinary, []byte{0xff, 0x01, 0x02}) }, pushsvc.CodeBadFrame},
		{"empty binary", func(c *wsClient) error { return c.Conn.WriteMessage(gws.OpcodeBinary, nil) }, pushsvc.CodeBadFrame},
		{"oversize", func(c *wsClient) error { return c.Conn.WriteMessage(gws.OpcodeBinary, make([]byte, 4096)) }, pushsvc.CodeTooBig},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := env.Connect(t, "mallory")
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			code, d := c.WaitClose(t)
			if code != tc.code {
				t.Errorf("close code %d, want %d", code, tc.code)
			}
			if d == nil || d.GetCode() != uint32(tc.code) || d.GetReason() == "" {
				t.Errorf("Disconnect frame = %v, want code %d with a reason", d, tc.code)
			}
			res, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"bystander"}, Message: msg("t", tc.name)})
			if err != nil || res.GetDelivered() != 1 {
				t.Fatalf("push to bystander: %v %v", res, err)
			}
			if p := bystander.NextPush(t); string(p.GetPayload()) != tc.name || p.GetOffset() != uint64(i+1) {
				t.Errorf("bystander got %v", p)
			}
		})
	}
}

// TestSlowConsumerDropOldestPolicy: with drop-oldest, a client whose queue
// overflows keeps its connection and loses the oldest pushes, counted as
// drops.
func TestSlowConsumerDropOldestPolicy(t *testing.T) {
	env := nodetest.Start(t, nodetest.Options{Config: func(c *server.Config) {
		c.SlowPolicy = "drop-oldest"
		c.SendQueueBytes = 64 << 10
	}})
	c, _, err := dialWS(t, env.WSURL+"?resume=1", env.Token(t, "alice"), dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	// The pending Resume holds pushes in the queue: 100 of 2 KiB overflow
	// its 64 KiB.
	for range 100 {
		if _, err := env.API.PushToUsers(testCtx(t), &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: msg("t", strings.Repeat("x", 2048))}); err != nil {
			t.Fatal(err)
		}
	}
	st := env.Stats(t)
	if st.GetDrops() == 0 || st.GetSlowConsumerDisconnects() != 0 || st.GetConnections() != 1 {
		t.Fatalf("stats = %v, want drops, no 4003 and the connection kept", st)
	}
	c.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{}}})
	if p := c.NextPush(t); p.GetOffset() == 1 {
		t.Errorf("the oldest push survived the overflow")
	}
}
