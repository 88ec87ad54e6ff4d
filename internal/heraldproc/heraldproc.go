// Package heraldproc runs the herald binary as a process, for tests that
// must stop a node the way production does: SIGTERM, or a kill with no
// drain and no goodbye to Redis.
package heraldproc

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the wait for a process to serve.
const startTimeout = 30 * time.Second

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/herald once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-proc-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "herald")
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

// Process is a `herald serve` process.
type Process struct {
	Cmd  *exec.Cmd
	WS   string // the WebSocket listener's host:port
	GRPC string // the gRPC listener's host:port
	// Exited is closed once the process has exited; Err is then Wait's
	// result.
	Exited chan struct{}
	Err    error
}

var servingLine = regexp.MustCompile(`msg="herald serving".* ws=ws://([0-9.:]+)/ws grpc=([0-9.:]+)`)

// Start runs `herald serve` with its listeners on loopback port 0, env
// added to the environment and args after, waits until it serves, and
// kills it, by its PID, at the test's end if it still runs. With -v the
// process's log goes to the test's.
func Start(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	base := []string{"serve", "--ws-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	cmd := exec.Command(Binary(t), append(base, args...)...)
	cmd.Env = append(os.Environ(), env...)
	// If the test process dies before its cleanup runs, so does the node.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, Exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil && p.WS == "" {
				p.WS, p.GRPC = m[1], m[2]
				close(ready)
			}
			if testing.Verbose() {
				t.Log("herald:", sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.Err = cmd.Wait()
		close(p.Exited)
	}()
	t.Cleanup(p.Kill)
	select {
	case <-ready:
	case <-p.Exited:
		t.Fatalf("herald exited before serving: %v", p.Err)
	case <-time.After(startTimeout):
		t.Fatalf("herald did not serve within %v", startTimeout)
	}
	return p
}

// Kill kills the process by its PID, unless it has exited, and waits for
// it.
func (p *Process) Kill() {
	select {
	case <-p.Exited:
	default:
		_ = p.Cmd.Process.Kill()
		<-p.Exited
	}
}
