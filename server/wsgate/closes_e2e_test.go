package wsgate

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/wstest"
	"github.com/herald-push/herald/pushsvc"
)

// TestSilentPeerToldWhy: a peer dropped for missing heartbeats gets a
// Disconnect that says so and a close code that is not "normal".
func TestSilentPeerToldWhy(t *testing.T) {
	const hb = 50 * time.Millisecond
	tg := startGate(t, func(o *Options) { o.HeartbeatInterval = hb })
	c := tg.mustDial(t, "ghost", dialOpts{silent: true})
	code, d := c.WaitClose(t)
	if code != pushsvc.CodePolicy {
		t.Errorf("close code %d, want 1008", code)
	}
	want := fmt.Sprintf("no heartbeat for 3 intervals of %v", hb)
	if d.GetCode() != pushsvc.CodePolicy || !strings.Contains(d.GetReason(), want) || !d.GetReconnect() {
		t.Errorf("Disconnect = %v, want 1008, reconnect, and a reason saying %q", d, want)
	}
	tg.waitReleased(t)
	if got := tg.metric(t, "herald_ws_closes_total", "code", codeLabel(pushsvc.CodePolicy)); got != 1 {
		t.Errorf("closes with 1008 counted %v, want 1", got)
	}
	if got := tg.metric(t, "herald_ws_closes_total", "code", "abnormal"); got != 0 {
		t.Errorf("closes counted abnormal: %v, want 0", got)
	}
}

// TestProtocolErrorsToldWhy: frames that break RFC 6455, which gws
// refuses on its own with 1002, get a Disconnect first; and a length with
// its top bit set, which would crash gws, closes only its connection.
func TestProtocolErrorsToldWhy(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
	}{
		{"unmasked frame", []byte{0x82, 0x01, 0x00}},
		{"fragmented ping", maskedHeader(0x9, false, false, 0)},
		{"reserved opcode", maskedHeader(0x3, true, false, 0)},
		{"continuation with nothing to continue", maskedHeader(0x0, true, false, 0)},
		{"64-bit length with its top bit set", append([]byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, 0, 0, 0, 0)},
	}
	tg := startGate(t, nil)
	bystander := tg.mustDial(t, "bob", dialOpts{})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tg.mustDial(t, "mallory", dialOpts{})
			if _, err := c.Conn.NetConn().Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			code, d := c.WaitClose(t)
			if code != pushsvc.CodeProtocolError || d.GetCode() != pushsvc.CodeProtocolError || d.GetReason() == "" {
				t.Errorf("close %d, Disconnect %v; want 1002 and a Disconnect with a reason", code, d)
			}
			p := fmt.Sprint("after ", tc.name)
			tg.push(t, "bob", p)
			if got := bystander.NextPush(t); string(got.GetPayload()) != p || got.GetOffset() != uint64(i+1) {
				t.Fatalf("bystander got %q at %d", got.GetPayload(), got.GetOffset())
			}
		})
	}
	waitUntil(t, "the closes counted", func() bool {
		return tg.metric(t, "herald_ws_closes_total", "code", codeLabel(pushsvc.CodeProtocolError)) == float64(len(cases))
	})
}

// TestFragmentsCountAgainstFrameRate: every frame counts, the fragments
// of a message included, which gws hands over only as one message at its
// end.
func TestFragmentsCountAgainstFrameRate(t *testing.T) {
	tg := startGate(t, func(o *Options) { o.ClientFramesPerSecond = 5 })
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the client's cleanup closes it
	c := tg.mustDial(t, "mallory", dialOpts{})
	wg.Go(func() {
		w := c.Conn.NetConn()
		if _, err := w.Write(maskedHeader(0x2, false, false, 0)); err != nil {
			return
		}
		// Zero-length fragments that never end the message, one write
		// each, until the connection is cut.
		fragment := maskedHeader(0x0, false, false, 0)
		for range 100_000 {
			if _, err := w.Write(fragment); err != nil {
				return
			}
		}
	})
	code, d := c.WaitClose(t)
	if code != pushsvc.CodePolicy || d.GetCode() != pushsvc.CodePolicy || !d.GetReconnect() {
		t.Errorf("close %d, Disconnect %v; want 1008 for the frame rate", code, d)
	}
	if got := tg.metric(t, "herald_ws_frame_rate_closes_total"); got != 1 {
		t.Errorf("frame rate closes counted %v, want 1", got)
	}
}

// TestEachFrameCountedOnce: a burst of exactly the limiter's burst, of
// protocol pings and Ping frames, is all answered: no frame counts twice.
func TestEachFrameCountedOnce(t *testing.T) {
	const perSecond = 5 // bursts of 10
	tg := startGate(t, func(o *Options) { o.ClientFramesPerSecond = perSecond; o.HeartbeatInterval = time.Hour })
	c := tg.mustDial(t, "alice", dialOpts{})
	var burst []byte
	for i := range burstOf(perSecond) / 2 {
		burst = appendMaskedFrame(burst, 0x9, nil)
		burst = appendMaskedFrame(burst, 0x2, mustMarshal(ping(uint64(i))))
	}
	if _, err := c.Conn.NetConn().Write(burst); err != nil {
		t.Fatal(err)
	}
	for i := range burstOf(perSecond) / 2 {
		if f := c.Next(t); f.GetPong().GetNonce() != uint64(i) {
			t.Fatalf("got %v, want Pong %d", f, i)
		}
	}
	tg.push(t, "alice", "still open")
	receivesInOrder(t, c, []string{"still open"})
	if got := tg.metric(t, "herald_ws_frame_rate_closes_total"); got != 0 {
		t.Errorf("frame rate closes counted %v, want 0", got)
	}
}

// TestSessionRefusedToldWhy: an upgraded connection the push service
// refuses gets Disconnect and close 1011.
func TestSessionRefusedToldWhy(t *testing.T) {
	tg := startGate(t, nil)
	c, _, err := tg.dial(t, "no user", dialOpts{})
	if err != nil {
		t.Fatal(err)
	}
	code, d := c.WaitClose(t)
	if code != pushsvc.CodeInternal || d.GetCode() != pushsvc.CodeInternal || d.GetReason() != pushsvc.DisconnectInternal.Reason {
		t.Errorf("close %d, Disconnect %v; want 1011 and an internal error", code, d)
	}
	tg.waitReleased(t)
}

// TestServedWithoutListenerRefused: a gateway served on a listener that
// Listener did not wrap could not count frames nor tell why it closes: it
// refuses every connection with 1011, and says so in the log.
func TestServedWithoutListenerRefused(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	tg := startGate(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: tg.g, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	c, _, err := wstest.Dial(t, wstest.Options{URL: "ws://" + ln.Addr().String() + "/ws", Token: "user:alice"})
	if err != nil {
		t.Fatal(err)
	}
	if code, d := c.WaitClose(t); code != pushsvc.CodeInternal || d.GetCode() != pushsvc.CodeInternal {
		t.Errorf("close %d, Disconnect %v; want 1011", code, d)
	}
	tg.waitReleased(t)
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "Gateway.Listener") {
		t.Errorf("log %q does not say to serve on Gateway.Listener", logs.String())
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
