package wsgate

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/pushsvc"
)

// Loopback is a whole /8 on Linux: a client dialing from 127.0.0.2 is
// another IP to the gateway than the bystanders on 127.0.0.1.
const otherIP = "127.0.0.2"

func TestOriginAllowList(t *testing.T) {
	tg := startGate(t, func(o *Options) {
		o.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000"}
	})
	bystander := tg.mustDial(t, "bob", dialOpts{})
	cases := []struct {
		origin []string // nil: no Origin header
		ok     bool
	}{
		{nil, true}, // not a browser
		{[]string{"https://app.example.com"}, true},
		{[]string{"HTTPS://APP.example.com:443"}, true},
		{[]string{"https://a.b.example.org"}, true},
		{[]string{"http://localhost:3000"}, true},
		{[]string{"https://example.org"}, false}, // the wildcard's apex
		{[]string{"http://app.example.com"}, false},
		{[]string{"https://app.example.com:8443"}, false},
		{[]string{"https://app.example.com.evil.test"}, false},
		{[]string{"https://evil-example.org"}, false},
		{[]string{"http://localhost"}, false},
		{[]string{"null"}, false},
		{[]string{""}, false},
		{[]string{"https://app.example.com", "https://evil.test"}, false},
	}
	for i, tc := range cases {
		h := http.Header{}
		if tc.origin != nil {
			h["Origin"] = tc.origin
		}
		if tc.ok {
			c := tg.mustDial(t, "alice", dialOpts{header: h})
			c.Close()
		} else {
			tg.refused(t, "user:alice", dialOpts{header: h}, http.StatusForbidden, false)
		}
		payload := fmt.Sprint("after ", tc.origin)
		tg.push(t, "bob", payload)
		if p := bystander.NextPush(t); string(p.GetPayload()) != payload || p.GetOffset() != uint64(i+1) {
			t.Fatalf("bystander got %q at %d", p.GetPayload(), p.GetOffset())
		}
	}
	if got := tg.metric(t, "herald_ws_handshakes_total", "result", "origin"); got != 9 {
		t.Errorf("origin refusals counted %v, want 9", got)
	}
	bystander.Close()
	tg.waitReleased(t)
}

func TestBadAllowedOriginsRefusedAtNew(t *testing.T) {
	for _, bad := range []string{"app.example.com", "*", "https://", "https://app.example.com/", "https://app.example.com/path",
		"https://user@app.example.com", "https://app.example.com?x", "https://a.*.example.com", "https://*.com", "https://*example.com",
		"https://app.example.com:99999", "https://app.example.com:", "null"} {
		_, err := New(Options{Service: newTestService(t), Verifier: &fakeVerifier{}, AllowedOrigins: []string{"https://ok.example.com", bad}})
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if got := err.Error(); !contains(got, "wsgate: Options.AllowedOrigins: ") || !contains(got, fmt.Sprintf("%q", bad)) {
			t.Errorf("%q: error %q does not name AllowedOrigins and the entry", bad, got)
		} else if CheckOrigin(bad) == nil {
			t.Errorf("CheckOrigin(%q) accepted what New refuses", bad)
		}
	}
}

func TestMaxConnectionsPerUser(t *testing.T) {
	tg := startGate(t, func(o *Options) { o.MaxConnectionsPerUser = 2 })
	bystander := tg.mustDial(t, "bob", dialOpts{})
	a1 := tg.mustDial(t, "alice", dialOpts{})
	a2 := tg.mustDial(t, "alice", dialOpts{from: otherIP})
	tg.refused(t, "user:alice", dialOpts{}, http.StatusServiceUnavailable, true)
	tg.refused(t, "user:alice", dialOpts{from: otherIP}, http.StatusServiceUnavailable, true)
	if n := tg.g.perUser.count("alice"); n != 2 {
		t.Errorf("alice counted %d, want 2", n)
	}
	tg.push(t, "bob", "one")
	tg.pushN(t, "alice", "to both", 2) // a refused handshake took nothing from the others
	receivesInOrder(t, bystander, []string{"one"})
	for _, c := range []*client{a1, a2} {
		if p := c.NextPush(t); string(p.GetPayload()) != "to both" {
			t.Errorf("alice got %q", p.GetPayload())
		}
	}
	// A closed connection gives its slot back.
	a1.Close()
	waitUntil(t, "alice's count to drop", func() bool { return tg.g.perUser.count("alice") == 1 })
	tg.mustDial(t, "alice", dialOpts{}).Close()
	if got := tg.metric(t, "herald_ws_handshakes_total", "result", "limit_user"); got != 2 {
		t.Errorf("limit_user refusals counted %v, want 2", got)
	}
	a2.Close()
	bystander.Close()
	tg.waitReleased(t)
}

func TestMaxConnectionsPerIP(t *testing.T) {
	tg := startGate(t, func(o *Options) { o.MaxConnectionsPerIP = 2 })
	bystander := tg.mustDial(t, "bob", dialOpts{})
	m1 := tg.mustDial(t, "m1", dialOpts{from: otherIP})
	// A handshake that fails after taking the IP's slot gives it back.
	tg.refused(t, "bad token", dialOpts{from: otherIP}, http.StatusUnauthorized, false)
	tg.refused(t, "expired:x", dialOpts{from: otherIP}, http.StatusUnauthorized, false)
	m2 := tg.mustDial(t, "m2", dialOpts{from: otherIP})
	// Full: refused before the token is even read.
	calls := tg.ver.calls.Load()
	tg.refused(t, "user:m3", dialOpts{from: otherIP}, http.StatusServiceUnavailable, true)
	tg.refused(t, "", dialOpts{from: otherIP}, http.StatusServiceUnavailable, true)
	if got := tg.ver.calls.Load(); got != calls {
		t.Errorf("the verifier ran %d times for handshakes over the IP limit", got-calls)
	}
	// Another IP is not affected.
	b2 := tg.mustDial(t, "bob", dialOpts{})
	tg.pushN(t, "bob", "still here", 2)
	receivesInOrder(t, bystander, []string{"still here"})
	receivesInOrder(t, b2, []string{"still here"})
	if got := tg.metric(t, "herald_ws_counted_ips"); got != 2 {
		t.Errorf("herald_ws_counted_ips = %v, want 2", got)
	}
	m1.Close()
	waitUntil(t, "the IP's count to drop", func() bool { return tg.g.perIP.count(clientIP(otherIP+":1")) == 1 })
	tg.mustDial(t, "m3", dialOpts{from: otherIP}).Close()
	for _, c := range []*client{m2, b2, bystander} {
		c.Close()
	}
	tg.waitReleased(t)
}

func TestMaxConnectionsTotal(t *testing.T) {
	tg := startGate(t, func(o *Options) { o.MaxConnections = 2 })
	bystander := tg.mustDial(t, "bob", dialOpts{})
	a := tg.mustDial(t, "alice", dialOpts{})
	tg.refused(t, "user:carol", dialOpts{from: otherIP}, http.StatusServiceUnavailable, true)
	tg.push(t, "bob", "x")
	receivesInOrder(t, bystander, []string{"x"})
	a.Close()
	waitUntil(t, "a free slot", func() bool { return tg.g.slots.Load() == 1 })
	tg.mustDial(t, "carol", dialOpts{from: otherIP}).Close()
	bystander.Close()
	tg.waitReleased(t)
}

// TestLimitsExactUnderConcurrency races many handshakes against each
// limit: exactly the limit get in, whatever the interleaving.
func TestLimitsExactUnderConcurrency(t *testing.T) {
	const perUser, perIP, tries = 5, 7, 40
	tg := startGate(t, func(o *Options) {
		o.MaxConnectionsPerUser, o.MaxConnectionsPerIP = perUser, perIP
		o.MaxHandshakesPerIPPerSecond = -1
	})
	race := func(from string, user func(i int) string) []*client {
		var (
			mu  sync.Mutex
			in  []*client
			wg  sync.WaitGroup
			bad []string
		)
		for i := range tries {
			wg.Go(func() {
				c, resp, err := tg.dial(t, "user:"+user(i), dialOpts{from: from})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					in = append(in, c)
				case resp == nil || resp.StatusCode != http.StatusServiceUnavailable:
					bad = append(bad, status(resp))
				}
			})
		}
		wg.Wait()
		for _, b := range bad {
			t.Errorf("refused with %s, want 503", b)
		}
		return in
	}
	users := race("", func(int) string { return "alice" })
	if len(users) != perUser || tg.g.perUser.count("alice") != perUser {
		t.Errorf("%d of %d handshakes got in for one user (counted %d), want %d", len(users), tries, tg.g.perUser.count("alice"), perUser)
	}
	ips := race(otherIP, func(i int) string { return fmt.Sprint("u", i) })
	if len(ips) != perIP {
		t.Errorf("%d of %d handshakes got in from one IP, want %d", len(ips), tries, perIP)
	}
	for _, c := range append(users, ips...) {
		c.Close()
	}
	tg.waitReleased(t)
}

// TestHandshakeRatePerIP floods handshakes from one IP: past the burst
// they get 429 before any token is checked, while another IP connects and
// a bystander receives every push.
func TestHandshakeRatePerIP(t *testing.T) {
	const perSecond = 2 // bursts of 4
	tg := startGate(t, func(o *Options) { o.MaxHandshakesPerIPPerSecond = perSecond })
	bystander := tg.mustDial(t, "bob", dialOpts{})

	start := time.Now()
	var pushed []string
	passed, limited := 0, 0
	for i := range 30 {
		calls := tg.ver.calls.Load()
		_, resp, err := tg.dial(t, "bad token", dialOpts{from: otherIP})
		if err == nil {
			t.Fatal("upgraded with a bad token")
		}
		switch code := resp.StatusCode; code {
		case http.StatusUnauthorized:
			passed++
		case http.StatusTooManyRequests:
			limited++
			if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 with Retry-After %q", ra)
			}
			if tg.ver.calls.Load() != calls {
				t.Error("the token of a rate-limited handshake was checked")
			}
		default:
			t.Fatalf("handshake %d: %s", i, resp.Status)
		}
		if i%5 == 0 {
			p := fmt.Sprint("push ", i)
			tg.push(t, "bob", p)
			pushed = append(pushed, p)
		}
	}
	elapsed := time.Since(start)
	if maxPassed := burstOf(perSecond) + int(elapsed.Seconds()*perSecond) + 1; passed < burstOf(perSecond) || passed > maxPassed {
		t.Errorf("%d handshakes passed in %v, want %d to %d", passed, elapsed, burstOf(perSecond), maxPassed)
	}
	if got := tg.metric(t, "herald_ws_handshakes_total", "result", "rate_limited"); int(got) != limited {
		t.Errorf("rate_limited counted %v, want %d", got, limited)
	}
	// A good token from the flooding IP is refused too; others get in.
	tg.refused(t, "user:mallory", dialOpts{from: otherIP}, http.StatusTooManyRequests, true)
	other := tg.mustDial(t, "carol", dialOpts{})
	receivesInOrder(t, bystander, pushed)
	if got := tg.metric(t, "herald_ws_handshake_limiter_ips"); got != 2 {
		t.Errorf("limiter remembers %v IPs, want 2", got)
	}
	other.Close()
	bystander.Close()
	tg.waitReleased(t)
}

// TestClientFrameRate floods frames on one connection: it gets a
// Disconnect and close 1008, while a bystander that keeps within the rate
// is answered and receives every push sent meanwhile.
func TestClientFrameRate(t *testing.T) {
	const perSecond = 5 // bursts of 10
	floods := []struct {
		name   string
		opcode byte
		frame  []byte
	}{
		{"client frames", 0x2, mustMarshal(ping(1))},
		{"protocol pings", 0x9, nil},
		{"protocol pongs", 0xA, nil},
	}
	tg := startGate(t, func(o *Options) { o.ClientFramesPerSecond = perSecond })
	bystander := tg.mustDial(t, "bob", dialOpts{})
	n := 0
	for _, fl := range floods {
		t.Run(fl.name, func(t *testing.T) {
			mallory := tg.mustDial(t, "mallory", dialOpts{})
			// The flood goes out in one write; cut_e2e_test.go cuts
			// clients that keep writing frame after frame.
			var burst []byte
			for range 200 {
				burst = appendMaskedFrame(burst, fl.opcode, fl.frame)
			}
			sent := make(chan error, 1)
			go func() {
				_, err := mallory.Conn.NetConn().Write(burst)
				sent <- err
			}()
			var pushed []string
			for range 20 {
				n++
				pushed = append(pushed, fmt.Sprint("push ", n))
				tg.push(t, "bob", pushed[len(pushed)-1])
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			code, d := mallory.WaitClose(t)
			if code != pushsvc.CodePolicy {
				t.Errorf("close code %d, want 1008", code)
			}
			if d.GetCode() != pushsvc.CodePolicy || d.GetReason() == "" || !d.GetReconnect() || d.GetReconnectAfter().AsDuration() <= 0 {
				t.Errorf("Disconnect = %v, want 1008 with a reason and a reconnect delay", d)
			}
			receivesInOrder(t, bystander, pushed)
		})
	}
	if got := tg.metric(t, "herald_ws_frame_rate_closes_total"); got != float64(len(floods)) {
		t.Errorf("frame rate closes counted %v, want %d", got, len(floods))
	}
	// Within the burst, every frame is answered.
	for i := range burstOf(perSecond) - 1 {
		bystander.Send(t, ping(uint64(i)))
		if f := bystander.Next(t); f.GetPong().GetNonce() != uint64(i) {
			t.Fatalf("bystander got %v, want a Pong", f)
		}
	}
	bystander.Close()
	tg.waitReleased(t)
}

// appendMaskedFrame appends a client frame (masked, with a zero key) of
// up to 125 bytes.
func appendMaskedFrame(dst []byte, opcode byte, payload []byte) []byte {
	dst = append(dst, 0x80|opcode, 0x80|byte(len(payload)), 0, 0, 0, 0)
	return append(dst, payload...)
}

// TestLoopbackPeersExemptFromPerIPLimits: by default a loopback peer,
// a local proxy speaking for many clients, is not limited per IP.
func TestLoopbackPeersExemptFromPerIPLimits(t *testing.T) {
	tg := startGate(t, func(o *Options) {
		o.LimitLoopback = false
		o.MaxConnectionsPerIP, o.MaxHandshakesPerIPPerSecond = 1, 0.001
	})
	var cs []*client
	for i := range 5 {
		cs = append(cs, tg.mustDial(t, fmt.Sprint("u", i), dialOpts{from: otherIP}))
	}
	if tg.g.perIP.keys() != 0 || tg.g.handshakes.size() != 0 {
		t.Error("loopback peers counted")
	}
	for _, c := range cs {
		c.Close()
	}
	tg.waitReleased(t)
}

// TestIdleConnectionHasNoFrameLimiter: the limiter is made on the first
// frame, so idle connections do not pay for it.
func TestIdleConnectionHasNoFrameLimiter(t *testing.T) {
	// No server ping, hence no pong, during the test.
	tg := startGate(t, func(o *Options) { o.HeartbeatInterval = time.Hour })
	c := tg.mustDial(t, "alice", dialOpts{})
	// The Welcome can arrive before the connection is registered.
	waitUntil(t, "the connection registered", func() bool { return tg.g.Connections() == 1 })
	var conns []*conn
	for i := range registryShards {
		conns = tg.g.snapshot(i, conns)
	}
	if len(conns) != 1 || conns[0].frames != nil {
		t.Fatalf("%d connections, want 1 without a frame limiter", len(conns))
	}
	c.Close()
	tg.waitReleased(t)
}
