// Package redistest starts a real redis-server for tests: on 127.0.0.1, a
// free port, no persistence, in the test's temporary directory, killed at
// cleanup. Stop and Restart simulate an outage on the same address.
// StartCluster starts a Redis Cluster of three such servers, whose slots
// SlotMove moves between masters; EachBackend runs a test on both kinds.
//
// It needs redis-server (and, for a cluster, redis-cli) on PATH (Debian's package redis-server; `make test`
// installs it). Without it the test fails rather than skips, so that a
// machine missing it cannot pass by running less.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a starting server may take to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server process and its address, which stays the same
// across Stop and Restart.
type Server struct {
	// URL is redis://127.0.0.1:<port>.
	URL string
	// Addr is 127.0.0.1:<port>.
	Addr string

	t    testing.TB
	dir  string
	args []string

	mu   sync.Mutex // guards proc
	proc *process   // nil while stopped
}

// process is a running redis-server; exited yields its Wait result once.
type process struct {
	cmd    *exec.Cmd
	exited chan error
}

// Start starts a redis-server for t and stops it at t's cleanup. args are
// added to the server's command line (for example "--cluster-enabled",
// "yes").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found on PATH (%v): `make test` installs it (Debian package redis-server)", err)
	}
	s := &Server{t: t, dir: t.TempDir(), args: args}
	// A free port can be taken by someone else between our probe and the
	// server's bind: try a few.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: finding a free port: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.URL = "redis://" + s.Addr
		err = s.start(bin)
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("redistest: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop kills the server (SIGKILL, as a crash) and waits for it to exit.
// Everything it held is lost. It is safe to call when stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	// SIGKILL works on a paused process too.
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.exited
	s.proc = nil
}

// Pause freezes the server (SIGSTOP): connections stay open and new ones
// are accepted by the kernel, but nothing answers, as with a hung server
// or a network that drops packets. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		_ = s.proc.cmd.Process.Signal(sig)
	}
}

// Restart starts the server again on the same address, empty, after a
// Stop, and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	if err := s.start(bin); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) start(bin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("already running")
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	logPath := filepath.Join(s.dir, "redis-"+port+".log")
	args := append([]string{
		"--bind", "127.0.0.1",
		"--port", port,
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logPath,
		"--daemonize", "no",
	}, s.args...)
	cmd := exec.Command(bin, args...)
	// If the test process dies before its cleanup runs, so does Redis.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ping(s.Addr) == nil {
			s.proc = &process{cmd: cmd, exited: exited}
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on %s exited: %v; log: %s", s.Addr, err, tail(logPath))
		case <-deadline.C:
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v; log: %s", s.Addr, startTimeout, tail(logPath))
		case <-tick.C:
		}
	}
}

// ping sends PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
