package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// waitFor bounds every wait in these tests: generous, because a test that
// passes only waits as long as the client needs.
const waitFor = 10 * time.Second

// testServer is a scripted stand-in for the Herald WebSocket endpoint: each
// accepted connection is handed to the test through accept, which then
// plays the server's side frame by frame.
type testServer struct {
	URL   string
	hs    *httptest.Server
	conns chan *serverConn

	// reject, when non-zero, answers the handshake with this HTTP status
	// (and Retry-After: 7) instead of upgrading.
	reject atomic.Int32
	// autoWelcome sends Welcome right after the upgrade.
	autoWelcome atomic.Bool

	mu  sync.Mutex
	all []*serverConn // guarded by mu: every upgraded connection, for cleanup
}

func newTestServer(t *testing.T) *testServer { t.Helper(); return startTestServer(t, false) }

// newTLSTestServer serves wss:// with httptest's certificate.
func newTLSTestServer(t *testing.T) *testServer { t.Helper(); return startTestServer(t, true) }

func startTestServer(t *testing.T, useTLS bool) *testServer {
	t.Helper()
	ts := &testServer{conns: make(chan *serverConn, 16)}
	if useTLS {
		ts.hs = httptest.NewTLSServer(http.HandlerFunc(ts.serveWS))
	} else {
		ts.hs = httptest.NewServer(http.HandlerFunc(ts.serveWS))
	}
	// http://… becomes ws://…, https://… becomes wss://….
	ts.URL = "ws" + strings.TrimPrefix(ts.hs.URL, "http") + "/ws"
	t.Cleanup(func() { ts.close(t) })
	return ts
}

func (ts *testServer) serveWS(w http.ResponseWriter, r *http.Request) {
	if code := ts.reject.Load(); code != 0 {
		w.Header().Set("Retry-After", "7")
		http.Error(w, http.StatusText(int(code)), int(code))
		return
	}
	sc := &serverConn{
		header: r.Header.Clone(),
		frames: make(chan *clientv1.ClientFrame, 64),
		pongs:  make(chan []byte, 64),
		closed: make(chan struct{}),
	}
	up := gws.NewUpgrader(sc, &gws.ServerOption{PermessageDeflate: gws.PermessageDeflate{
		Enabled: true,
		// Compress every frame, so that the client's inflate path runs.
		Threshold: 1,
	}})
	ws, err := up.Upgrade(w, r)
	if err != nil {
		return
	}
	sc.ws = ws
	ts.mu.Lock()
	ts.all = append(ts.all, sc)
	ts.mu.Unlock()
	if ts.autoWelcome.Load() {
		_ = sc.write(welcomeFrame("auto", time.Minute))
	}
	go ws.ReadLoop() // ends when ts.close closes the socket
	ts.conns <- sc
}

// accept returns the next connection the client made.
func (ts *testServer) accept(t *testing.T) *serverConn {
	t.Helper()
	select {
	case sc := <-ts.conns:
		return sc
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for the client to connect")
		return nil
	}
}

// close stops the listener, closes every connection, and waits for their
// read loops: hijacked connections are not httptest's to close.
func (ts *testServer) close(t *testing.T) {
	ts.hs.Close()
	ts.mu.Lock()
	all := ts.all
	ts.all = nil
	ts.mu.Unlock()
	for _, sc := range all {
		_ = sc.ws.NetConn().Close()
		select {
		case <-sc.closed:
		case <-time.After(waitFor):
			t.Error("server connection read loop did not end")
		}
	}
}

// serverConn is the server side of one connection.
type serverConn struct {
	ws     *gws.Conn
	header http.Header
	frames chan *clientv1.ClientFrame // every frame the client sent
	pongs  chan []byte                // payloads of the client's pongs
	closed chan struct{}              // closed when the read loop ended
	// closeErr is what the read loop ended with; read after closed.
	closeErr error
}

func (sc *serverConn) OnOpen(*gws.Conn) {}

func (sc *serverConn) OnClose(_ *gws.Conn, err error) {
	sc.closeErr = err
	close(sc.closed)
}

func (sc *serverConn) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }

func (sc *serverConn) OnPong(_ *gws.Conn, payload []byte) { sc.pongs <- payload }

func (sc *serverConn) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	var f clientv1.ClientFrame
	if err := proto.Unmarshal(msg.Bytes(), &f); err != nil {
		_ = socket.WriteClose(1007, []byte("bad frame"))
		return
	}
	sc.frames <- &f
}

func (sc *serverConn) write(f *clientv1.ServerFrame) error {
	b, err := proto.Marshal(f)
	if err != nil {
		return err
	}
	return sc.ws.WriteMessage(gws.OpcodeBinary, b)
}

func (sc *serverConn) send(t *testing.T, frames ...*clientv1.ServerFrame) {
	t.Helper()
	for _, f := range frames {
		if err := sc.write(f); err != nil {
			t.Fatalf("server send %v: %v", f, err)
		}
	}
}

// disconnect plays the server's close: a Disconnect frame, then the close.
func (sc *serverConn) disconnect(t *testing.T, code uint16, reason string, reconnect bool, after time.Duration) {
	t.Helper()
	d := &clientv1.Disconnect{Code: uint32(code), Reason: reason, Reconnect: reconnect}
	if after > 0 {
		d.ReconnectAfter = durationpb.New(after)
	}
	sc.send(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Disconnect{Disconnect: d}})
	_ = sc.ws.WriteClose(code, []byte(reason))
}

// recv returns the next frame the client sent.
func (sc *serverConn) recv(t *testing.T) *clientv1.ClientFrame {
	t.Helper()
	select {
	case f := <-sc.frames:
		return f
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for a client frame")
		return nil
	}
}

// waitClosed waits for the connection to end and returns why.
func (sc *serverConn) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case <-sc.closed:
		return sc.closeErr
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for the connection to close")
		return nil
	}
}

func welcomeFrame(session string, heartbeat time.Duration) *clientv1.ServerFrame {
	return &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Welcome{Welcome: &clientv1.Welcome{
		SessionId: session, UserId: "alice", NodeId: "n1", HeartbeatInterval: durationpb.New(heartbeat),
	}}}
}

func pushFrame(p *clientv1.Push) *clientv1.ServerFrame {
	return &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Push{Push: p}}
}

func batchFrame(ps ...*clientv1.Push) *clientv1.ServerFrame {
	return &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Batch{Batch: &clientv1.PushBatch{Pushes: ps}}}
}

func resumeResultFrame(rs ...*clientv1.StreamResult) *clientv1.ServerFrame {
	return &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_ResumeResult{ResumeResult: &clientv1.ResumeResult{Streams: rs}}}
}

// fakeClock is Options.Clock for tests: Now moves only when advanced, and
// After records the delay asked for and, unless blocked, fires at once, so
// reconnect waits take no time and their lengths can be checked.
type fakeClock struct {
	waits chan time.Duration // every delay After was asked for
	block bool               // After never fires

	mu  sync.Mutex
	now time.Time // guarded by mu
}

func newFakeClock() *fakeClock {
	return &fakeClock{waits: make(chan time.Duration, 64), now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.waits <- d
	ch := make(chan time.Time, 1)
	if !f.block {
		ch <- f.Now()
	}
	return ch
}

// recorder collects what the client reports through its callbacks.
type recorder struct {
	pushes chan *clientv1.Push
	states chan StateChange
	failed chan *clientv1.StreamResult
	errors chan *clientv1.Error
	tokens atomic.Int32 // Token calls
}

// newTestClient builds (but does not start) a client for url whose
// callbacks feed a recorder, with a fake clock and a backoff that always
// draws its ceiling. mod adjusts the options.
func newTestClient(t *testing.T, url string, mod func(*Options)) (*Client, *recorder, *fakeClock) {
	t.Helper()
	rec := &recorder{
		pushes: make(chan *clientv1.Push, 256),
		states: make(chan StateChange, 256),
		failed: make(chan *clientv1.StreamResult, 16),
		errors: make(chan *clientv1.Error, 16),
	}
	clock := newFakeClock()
	opts := Options{
		URL: url,
		Token: func(context.Context) (string, error) {
			return "tok-" + strconv.Itoa(int(rec.tokens.Add(1))), nil
		},
		OnPush:         func(p *clientv1.Push) { rec.pushes <- p },
		OnState:        func(sc StateChange) { rec.states <- sc },
		OnResumeFailed: func(r *clientv1.StreamResult) { rec.failed <- r },
		OnError:        func(e *clientv1.Error) { rec.errors <- e },
		MinBackoff:     100 * time.Millisecond,
		MaxBackoff:     10 * time.Second,
		Rand:           maxRand,
		Clock:          clock,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c, rec, clock
}

// waitState skips state changes until one in state want arrives.
func (r *recorder) waitState(t *testing.T, want State) StateChange {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case sc := <-r.states:
			if sc.State == want {
				return sc
			}
		case <-timeout:
			t.Fatalf("timed out waiting for state %v", want)
		}
	}
}

// nextPush returns the next push delivered to the app.
func (r *recorder) nextPush(t *testing.T) *clientv1.Push {
	t.Helper()
	select {
	case p := <-r.pushes:
		return p
	case <-time.After(waitFor):
		t.Fatal("timed out waiting for a push")
		return nil
	}
}

// expectPushes checks the next pushes delivered, by stream, offset, epoch.
func (r *recorder) expectPushes(t *testing.T, want ...*clientv1.Push) {
	t.Helper()
	for i, w := range want {
		p := r.nextPush(t)
		if p.Stream != w.Stream || p.Offset != w.Offset || p.Epoch != w.Epoch || string(p.Payload) != string(w.Payload) {
			t.Fatalf("push %d = %v, want %v", i, p, w)
		}
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}
