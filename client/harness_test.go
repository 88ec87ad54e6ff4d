package client_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/heraldproc"
	"github.com/herald-push/herald/internal/nodetest"
)

// The end-to-end tests run nodes in this process with internal/nodetest,
// or run the real herald binary as a process (startHerald), with the same
// nodetest.Creds, so that a node can be killed or sent SIGTERM like in
// production.

// proc is a herald serve process; ws and grpc are its listeners'
// host:port.
type proc struct {
	*heraldproc.Process
	ws, grpc string
}

// startHerald starts `herald serve` with creds and extra flags, waits until
// it serves, and kills it at cleanup if it is still running.
func startHerald(t testing.TB, c nodetest.Creds, args ...string) *proc {
	t.Helper()
	p := heraldproc.Start(t, c.Env(), args...)
	return &proc{Process: p, ws: p.WS, grpc: p.GRPC}
}

func (p *proc) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.Exited:
	case <-time.After(within):
		t.Fatalf("herald did not exit within %v", within)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// failover is a TCP proxy standing in for a load balancer: each connection
// goes to the first backend that accepts it.
type failover struct {
	ln       net.Listener
	backends func() []string
	wg       sync.WaitGroup
	mu       sync.Mutex // guards conns
	conns    map[net.Conn]struct{}
}

func startFailover(t *testing.T, backends func() []string) *failover {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &failover{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *failover) accept() {
	defer f.wg.Done()
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.serve(in)
	}
}

func (f *failover) track(c net.Conn, add bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
}

func (f *failover) serve(in net.Conn) {
	defer f.wg.Done()
	defer in.Close()
	var out net.Conn
	for _, addr := range f.backends() {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			out = c
			break
		}
	}
	if out == nil {
		return
	}
	defer out.Close()
	f.track(in, true)
	f.track(out, true)
	defer f.track(in, false)
	defer f.track(out, false)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close is not enough for WebSockets: end both directions.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// cut closes every proxied connection but keeps listening.
func (f *failover) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
}

func (f *failover) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *failover) url() string { return "ws://" + f.ln.Addr().String() + "/ws" }

// push pushes payload to user through n's API.
func push(t *testing.T, n *nodetest.Node, user, payload string) *pushv1.PushToUsersResponse {
	t.Helper()
	res, err := n.API.PushToUsers(ctxT(t), &pushv1.PushToUsersRequest{UserIds: []string{user}, Message: &pushv1.Message{Topic: "t", Payload: []byte(payload)}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rawClient is a bare gws client for behaviour the SDK never shows (never
// acking, never reading).
type rawClient struct {
	conn   *gws.Conn
	frames chan *clientv1.ServerFrame
	closed chan struct{}
}

type rawHandler struct {
	gws.BuiltinEventHandler
	c *rawClient
}

func (h *rawHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	f := &clientv1.ServerFrame{}
	if proto.Unmarshal(m.Bytes(), f) == nil {
		h.c.frames <- f
	}
}

func (h *rawHandler) OnClose(*gws.Conn, error) { close(h.c.closed) }

// dialRaw connects; with read false the connection is never read from.
func dialRaw(t *testing.T, url, token string, read bool) *rawClient {
	t.Helper()
	c := &rawClient{frames: make(chan *clientv1.ServerFrame, 10000), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(&rawHandler{c: c}, &gws.ClientOption{Addr: url, RequestHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	started := read
	if read {
		go conn.ReadLoop()
	}
	t.Cleanup(func() {
		_ = conn.NetConn().Close()
		if !started {
			go conn.ReadLoop() // returns at once on the closed socket
		}
		<-c.closed
	})
	return c
}

func (c *rawClient) send(t *testing.T, f *clientv1.ClientFrame) {
	t.Helper()
	b, _ := proto.Marshal(f)
	if err := c.conn.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatal(err)
	}
}

func (c *rawClient) next(t *testing.T) *clientv1.ServerFrame {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(20 * time.Second):
		t.Fatal("no frame within 20s")
	}
	return nil
}
