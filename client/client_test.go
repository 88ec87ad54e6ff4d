package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

func TestDeliversPushesInOrderAndDropsDuplicates(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	rec.waitState(t, StateConnecting)
	sc := ts.accept(t)
	if got := sc.header.Get("Authorization"); got != "Bearer tok-1" {
		t.Fatalf("Authorization = %q", got)
	}
	if ext := sc.header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") ||
		!strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover") {
		t.Fatalf("Sec-WebSocket-Extensions = %q, want deflate without context takeover", ext)
	}

	sc.send(t, welcomeFrame("s1", time.Minute))
	if st := rec.waitState(t, StateConnected); st.Welcome.GetSessionId() != "s1" {
		t.Fatalf("Connected with Welcome %v", st.Welcome)
	}
	if c.State() != StateConnected {
		t.Fatalf("State() = %v", c.State())
	}
	sc.send(t,
		pushFrame(push("user:alice", 1, "e1")),
		batchFrame(push("user:alice", 2, "e1"), push("group:g", 1, "g1"), push("user:alice", 3, "e1")),
		pushFrame(push("user:alice", 3, "e1")), // duplicate
		batchFrame(push("user:alice", 2, "e1"), push("user:alice", 4, "e1")),
	)
	rec.expectPushes(t,
		push("user:alice", 1, "e1"),
		push("user:alice", 2, "e1"),
		push("group:g", 1, "g1"),
		push("user:alice", 3, "e1"),
		push("user:alice", 4, "e1"), // right after 3: the duplicates never arrived
	)
	equalPositions(t, c.Positions(), []*clientv1.StreamPosition{pos("group:g", 1, "g1"), pos("user:alice", 4, "e1")})
}

func TestReconnectsAfterDrainAndResumes(t *testing.T) {
	ts := newTestServer(t)
	c, rec, clock := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute))
	sc.send(t, pushFrame(push("user:alice", 1, "e1")), batchFrame(push("user:alice", 2, "e1"), push("user:alice", 3, "e1")))
	rec.expectPushes(t, push("user:alice", 1, "e1"), push("user:alice", 2, "e1"), push("user:alice", 3, "e1"))

	sc.disconnect(t, 1001, "server shutting down", true, 5*time.Second)
	st := rec.waitState(t, StateReconnecting)
	if st.Code != 1001 || st.Reason != "server shutting down" || st.Delay != 5*time.Second || st.Attempt != 1 {
		t.Fatalf("Reconnecting = %+v, want code 1001, the reason, delay 5s (reconnect_after), attempt 1", st)
	}
	if d := <-clock.waits; d != 5*time.Second {
		t.Fatalf("waited %v before reconnecting, want reconnect_after 5s", d)
	}

	sc2 := ts.accept(t)
	if got := sc2.header.Get("Authorization"); got != "Bearer tok-2" {
		t.Fatalf("reconnect Authorization = %q: token provider not asked again", got)
	}
	f := sc2.recv(t)
	want := &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{
		Streams: []*clientv1.StreamPosition{pos("user:alice", 3, "e1")},
	}}}
	if !proto.Equal(f, want) {
		t.Fatalf("first frame after reconnect = %v, want %v", f, want)
	}
	// Welcome after the Resume is fine; the replay overlaps what the client
	// already has, and live traffic follows.
	sc2.send(t,
		welcomeFrame("s2", time.Minute),
		resumeResultFrame(&clientv1.StreamResult{Stream: "user:alice", Recovered: true, Offset: 5, Epoch: "e1"}),
		batchFrame(push("user:alice", 3, "e1"), push("user:alice", 4, "e1")),
		pushFrame(push("user:alice", 5, "e1")),
	)
	rec.waitState(t, StateConnected)
	rec.expectPushes(t, push("user:alice", 4, "e1"), push("user:alice", 5, "e1"))
	select {
	case r := <-rec.failed:
		t.Fatalf("OnResumeFailed(%v) for a recovered stream", r)
	default:
	}
}

func TestResumeNotRecovered(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) {
		o.Resume = []*clientv1.StreamPosition{pos("user:alice", 10, "e1")}
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	// Positions saved by the app are resumed on the very first connect.
	if r := sc.recv(t).GetResume(); len(r.GetStreams()) != 1 || !proto.Equal(r.Streams[0], pos("user:alice", 10, "e1")) {
		t.Fatalf("first frame resume = %v", r)
	}
	sc.send(t,
		welcomeFrame("s1", time.Minute),
		resumeResultFrame(&clientv1.StreamResult{Stream: "user:alice", Recovered: false, Offset: 20, Epoch: "e2"}),
		pushFrame(push("user:alice", 20, "e2")), // at the reported position: already accounted for
		pushFrame(push("user:alice", 21, "e2")),
	)
	select {
	case r := <-rec.failed:
		if r.Stream != "user:alice" || r.Offset != 20 || r.Epoch != "e2" {
			t.Fatalf("OnResumeFailed(%v)", r)
		}
	case <-time.After(waitFor):
		t.Fatal("OnResumeFailed not called")
	}
	rec.expectPushes(t, push("user:alice", 21, "e2"))
	equalPositions(t, c.Positions(), []*clientv1.StreamPosition{pos("user:alice", 21, "e2")})
}

func TestStopsWhenServerSaysNoReconnect(t *testing.T) {
	for _, withFrame := range []bool{true, false} {
		name := "disconnect frame"
		if !withFrame {
			name = "close code only"
		}
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t)
			c, rec, _ := newTestClient(t, ts.URL, nil)
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			sc := ts.accept(t)
			sc.send(t, welcomeFrame("s1", time.Minute))
			rec.waitState(t, StateConnected)
			if withFrame {
				sc.disconnect(t, 4002, "disconnected by admin", false, 0)
			} else {
				_ = sc.ws.WriteClose(4002, []byte("disconnected by admin"))
			}
			st := rec.waitState(t, StateClosed)
			if st.Code != 4002 || st.Reason != "disconnected by admin" || !errors.Is(st.Err, ErrDisconnected) {
				t.Fatalf("Closed = %+v, want 4002, the reason, ErrDisconnected", st)
			}
			select {
			case <-c.done:
			case <-time.After(waitFor):
				t.Fatal("run loop still running after the server refused reconnects")
			}
			if len(ts.conns) != 0 {
				t.Fatal("client reconnected")
			}
			if err := c.RefreshToken("x"); !errors.Is(err, ErrClosed) {
				t.Fatalf("RefreshToken after the end = %v, want ErrClosed", err)
			}
		})
	}
}

func TestSilentServerIsDropped(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	// Heartbeat 20ms: three silent intervals, 60ms, and the client gives up.
	sc.send(t, welcomeFrame("s1", 20*time.Millisecond))
	rec.waitState(t, StateConnected)
	st := rec.waitState(t, StateReconnecting)
	if !errors.Is(st.Err, ErrSilentServer) {
		t.Fatalf("Reconnecting err = %v, want ErrSilentServer", st.Err)
	}
	sc.waitClosed(t)
	ts.accept(t) // and it came back
}

func TestNoWelcomeIsDropped(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) { o.HandshakeTimeout = 200 * time.Millisecond })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ts.accept(t) // and never says a word
	// On a loaded machine the short HandshakeTimeout may also cut a
	// handshake short; the client then simply tries again.
	for {
		st := rec.waitState(t, StateReconnecting)
		if errors.Is(st.Err, ErrSilentServer) {
			return
		}
		if !errors.Is(st.Err, os.ErrDeadlineExceeded) {
			t.Fatalf("Reconnecting err = %v, want ErrSilentServer", st.Err)
		}
	}
}

func TestPingsAnsweredAndKeepConnectionAlive(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	// Silence limit 3 x 200ms; pings every 40ms for 1.2s, twice the limit,
	// keep it alive.
	sc.send(t, welcomeFrame("s1", 200*time.Millisecond))
	rec.waitState(t, StateConnected)
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for i := range 30 {
		<-tick.C
		payload := []byte{byte(i)}
		if err := sc.ws.WritePing(payload); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-sc.pongs:
			if string(got) != string(payload) {
				t.Fatalf("pong payload %v, want the ping's %v", got, payload)
			}
		case <-time.After(waitFor):
			t.Fatal("no pong")
		}
	}
	select {
	case st := <-rec.states:
		t.Fatalf("state changed to %+v while the server pinged", st)
	case <-sc.closed:
		t.Fatalf("connection closed while the server pinged: %v", sc.closeErr)
	default:
	}
}

func TestCloseSendsNormalClosureAndLeaksNothing(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute))
	rec.waitState(t, StateConnected)

	if err := c.Close(ctxFor(t)); err != nil {
		t.Fatalf("Close = %v", err)
	}
	var ce *gws.CloseError
	if err := sc.waitClosed(t); !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("server saw close %v, want code 1000", err)
	}
	st := rec.waitState(t, StateClosed)
	if !errors.Is(st.Err, ErrClosed) || st.Code != 1000 {
		t.Fatalf("Closed = %+v, want ErrClosed, 1000", st)
	}
	if err := c.Close(ctxFor(t)); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := c.Ack(ctxFor(t)); err != nil { // nothing delivered: nothing to send
		t.Fatalf("empty Ack after Close = %v", err)
	}
	if err := c.RefreshToken("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("RefreshToken after Close = %v, want ErrClosed", err)
	}
	ts.close(t)
	goleak.VerifyNone(t)
}

func TestCloseDuringBackoff(t *testing.T) {
	ts := newTestServer(t)
	ts.reject.Store(401)
	c, rec, clock := newTestClient(t, ts.URL, nil)
	clock.block = true // the reconnect wait never ends by itself
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	st := rec.waitState(t, StateReconnecting)
	if !errors.Is(st.Err, ErrUnauthorized) || st.Delay != 100*time.Millisecond {
		t.Fatalf("Reconnecting = %+v, want ErrUnauthorized after 100ms", st)
	}
	if err := c.Close(ctxFor(t)); err != nil {
		t.Fatalf("Close during backoff = %v", err)
	}
	if st := rec.waitState(t, StateClosed); !errors.Is(st.Err, ErrClosed) {
		t.Fatalf("Closed = %+v", st)
	}
}

func TestTryLaterHonoursRetryAfter(t *testing.T) {
	ts := newTestServer(t)
	ts.reject.Store(503)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	st := rec.waitState(t, StateReconnecting)
	if !errors.Is(st.Err, ErrTryLater) || st.Delay != 7*time.Second {
		t.Fatalf("Reconnecting = %+v, want ErrTryLater and Retry-After 7s", st)
	}
	ts.reject.Store(0)
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute))
	rec.waitState(t, StateConnected)
}

func TestCloseDuringHandshake(t *testing.T) {
	// A server that accepts TCP and never answers the upgrade request.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		conn, err := ln.Accept()
		if err == nil {
			accepted <- conn
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-acceptDone
	})

	c, rec, _ := newTestClient(t, "ws://"+ln.Addr().String()+"/ws", func(o *Options) { o.HandshakeTimeout = time.Minute })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	select {
	case conn = <-accepted:
		defer conn.Close()
	case <-time.After(waitFor):
		t.Fatal("client did not dial")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close during a hung handshake = %v: it waited out HandshakeTimeout", err)
	}
	rec.waitState(t, StateClosed)
}

func TestBackoffResetsAfterStableConnection(t *testing.T) {
	ts := newTestServer(t)
	c, rec, clock := newTestClient(t, ts.URL, func(o *Options) { o.StableAfter = time.Minute })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// connectAndDrop connects, optionally lets the fake clock run past
	// StableAfter, then drops the connection; it returns the chosen delay.
	connectAndDrop := func(uptime time.Duration) StateChange {
		t.Helper()
		sc := ts.accept(t)
		sc.send(t, welcomeFrame("s", time.Minute))
		rec.waitState(t, StateConnected)
		clock.advance(uptime)
		sc.disconnect(t, 1011, "internal error", true, 0)
		return rec.waitState(t, StateReconnecting)
	}
	for i, step := range []struct {
		uptime  time.Duration
		delay   time.Duration
		attempt int
	}{
		{0, 100 * time.Millisecond, 1},
		{time.Second, 200 * time.Millisecond, 2}, // flapping: keeps growing
		{0, 400 * time.Millisecond, 3},
		{2 * time.Minute, 100 * time.Millisecond, 1}, // stable: starts over
	} {
		st := connectAndDrop(step.uptime)
		if st.Delay != step.delay || st.Attempt != step.attempt || st.Code != 1011 {
			t.Fatalf("drop %d: Reconnecting = %+v, want delay %v attempt %d code 1011", i, st, step.delay, step.attempt)
		}
	}
}

func TestAutoAckRefreshTokenAckAndErrors(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) { o.AutoAck = true })
	if err := c.RefreshToken("early"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("RefreshToken before connecting = %v, want ErrNotConnected", err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute))
	rec.waitState(t, StateConnected)

	sc.send(t, batchFrame(push("user:a", 1, "e"), push("group:g", 5, "g"), push("user:a", 2, "e")))
	rec.expectPushes(t, push("user:a", 1, "e"), push("group:g", 5, "g"), push("user:a", 2, "e"))
	wantAck := &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ack{Ack: &clientv1.Ack{
		Positions: []*clientv1.StreamPosition{pos("user:a", 2, "e"), pos("group:g", 5, "g")},
	}}}
	if f := sc.recv(t); !proto.Equal(f, wantAck) {
		t.Fatalf("auto ack = %v, want %v", f, wantAck)
	}

	if err := c.RefreshToken("fresh"); err != nil {
		t.Fatal(err)
	}
	if got := sc.recv(t).GetRefreshToken().GetToken(); got != "fresh" {
		t.Fatalf("RefreshToken frame token = %q", got)
	}
	sc.send(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Error{Error: &clientv1.Error{Code: "invalid_token", Message: "bad"}}})
	select {
	case e := <-rec.errors:
		if e.Code != "invalid_token" {
			t.Fatalf("OnError(%v)", e)
		}
	case <-time.After(waitFor):
		t.Fatal("OnError not called")
	}

	if err := c.Ack(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	wantAll := &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ack{Ack: &clientv1.Ack{
		Positions: []*clientv1.StreamPosition{pos("group:g", 5, "g"), pos("user:a", 2, "e")},
	}}}
	if f := sc.recv(t); !proto.Equal(f, wantAll) {
		t.Fatalf("Ack() = %v, want every position %v", f, wantAll)
	}
	if err := c.Ack(ctxFor(t), push("user:a", 1, "e")); err != nil {
		t.Fatal(err)
	}
	if got := sc.recv(t).GetAck().GetPositions(); len(got) != 1 || !proto.Equal(got[0], pos("user:a", 1, "e")) {
		t.Fatalf("Ack(push) positions = %v", got)
	}
}

func TestBadFrameReconnects(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute))
	rec.waitState(t, StateConnected)
	if err := sc.ws.WriteMessage(gws.OpcodeBinary, []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if st := rec.waitState(t, StateReconnecting); !errors.Is(st.Err, ErrBadFrame) {
		t.Fatalf("Reconnecting err = %v, want ErrBadFrame", st.Err)
	}
	var ce *gws.CloseError
	if err := sc.waitClosed(t); !errors.As(err, &ce) || ce.Code != 1007 {
		t.Fatalf("server saw %v, want close 1007", err)
	}
	ts.accept(t)
}

func TestCompressionCanBeDisabled(t *testing.T) {
	ts := newTestServer(t)
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) { o.DisableCompression = true })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	if ext := sc.header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("offered %q with compression disabled", ext)
	}
	sc.send(t, welcomeFrame("s1", time.Minute), pushFrame(push("broadcast", 1, "b")))
	rec.expectPushes(t, push("broadcast", 1, "b"))
}

func TestDial(t *testing.T) {
	ts := newTestServer(t)
	ts.autoWelcome.Store(true)
	c, err := Dial(ctxFor(t), Options{URL: ts.URL, Token: staticToken})
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	if c.State() != StateConnected {
		t.Fatalf("State after Dial = %v", c.State())
	}
	if err := c.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}

	ts.reject.Store(401)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, Options{URL: ts.URL, Token: staticToken, MinBackoff: 10 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Dial to a refusing server = %v, want DeadlineExceeded and ErrUnauthorized", err)
	}
}

func TestWSS(t *testing.T) {
	ts := newTLSTestServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(ts.hs.Certificate())
	cfg := &tls.Config{RootCAs: pool}
	c, rec, _ := newTestClient(t, ts.URL, func(o *Options) { o.TLSConfig = cfg })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	sc := ts.accept(t)
	sc.send(t, welcomeFrame("s1", time.Minute), pushFrame(push("broadcast", 1, "b")))
	rec.expectPushes(t, push("broadcast", 1, "b"))
	if cfg.ServerName != "" {
		t.Fatal("the caller's TLSConfig was modified")
	}
}
