package client_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/tokens"
)

// These tests run the real herald binary as a process, so that a node can
// be killed or sent SIGTERM like in production.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// heraldBinary builds cmd/herald once per test run.
func heraldBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "herald-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "herald")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/herald-push/herald/cmd/herald").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("go build: %s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building herald: %v", buildErr)
	}
	return binPath
}

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

// proc is a herald serve process.
type proc struct {
	cmd    *exec.Cmd
	ws     string // host:port
	grpc   string
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

var servingLine = regexp.MustCompile(`msg="herald serving".* ws=ws://([0-9.:]+)/ws grpc=([0-9.:]+)`)

// startHerald starts `herald serve` with creds and extra flags, waits until
// it serves, and kills it at cleanup if it is still running.
func startHerald(t testing.TB, c creds, args ...string) *proc {
	t.Helper()
	base := []string{"serve", "--ws-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	cmd := exec.Command(heraldBinary(t), append(base, args...)...)
	cmd.Env = append(os.Environ(), "HERALD_JWT_SECRET="+c.secret, "HERALD_API_KEY="+c.apiKey)
	// If the test process dies before its cleanup runs, so does the node.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil && p.ws == "" {
				p.ws, p.grpc = m[1], m[2]
				close(ready)
			}
			if testing.Verbose() {
				t.Log("herald:", sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill() // by PID
			<-p.exited
		}
	})
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("herald exited before serving: %v", p.err)
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not start within 30s")
	}
	return p
}

func (p *proc) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("herald did not exit within %v", within)
	}
	return p.cmd.ProcessState.ExitCode()
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
