package client_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/heraldproc"
	"github.com/herald-push/herald/server/tokens"
)

// These tests run the real herald binary as a process, so that a node can
// be killed or sent SIGTERM like in production.

// creds are the shared secrets of a test cluster.
type creds struct {
	secret string
	apiKey string
}

func newCreds() creds {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return creds{secret: hex.EncodeToString(b), apiKey: "key-" + hex.EncodeToString(b[:8])}
}

func (c creds) token(t testing.TB, user string) string {
	t.Helper()
	tok, err := tokens.Mint([]byte(c.secret), tokens.MintClaims{UserID: user, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// proc is a herald serve process; ws and grpc are its listeners'
// host:port.
type proc struct {
	*heraldproc.Process
	ws, grpc string
}

// startHerald starts `herald serve` with creds and extra flags, waits until
// it serves, and kills it at cleanup if it is still running.
func startHerald(t testing.TB, c creds, args ...string) *proc {
	t.Helper()
	p := heraldproc.Start(t, []string{"HERALD_JWT_SECRET=" + c.secret, "HERALD_API_KEY=" + c.apiKey}, args...)
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

// pushClient dials a node's gRPC API with the API key.
func pushClient(t *testing.T, addr string, c creds) pushv1.PushServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(apiKey(c.apiKey)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return pushv1.NewPushServiceClient(conn)
}

type apiKey string

func (k apiKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(k)}, nil
}
func (apiKey) RequireTransportSecurity() bool { return false }

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
