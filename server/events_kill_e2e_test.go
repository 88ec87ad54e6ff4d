package server_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc/engine/redis/redistest"
	"github.com/herald-push/herald/server"
)

// heraldProcess is `herald serve` run as a process, so that a test can
// kill it the way a machine dies: no drain, no goodbye to Redis.
type heraldProcess struct {
	cmd    *exec.Cmd
	wsURL  string
	exited chan struct{}
}

var servingLine = regexp.MustCompile(`msg="herald serving".* ws=(ws://[0-9.:]+/ws)`)

// startHeraldProcess builds cmd/herald and runs `herald serve` with args,
// the secret and the test API key, until it serves. It is killed at the
// test's end if still running.
func startHeraldProcess(t *testing.T, secret string, args ...string) *heraldProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/herald-push/herald/cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := []string{"serve", "--ws-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}
	cmd := exec.Command(bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), server.EnvName("jwt-secret")+"="+secret, server.EnvName("api-key")+"="+testAPIKey)
	// If the test process dies first, so does the node.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &heraldProcess{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	select {
	case p.wsURL = <-ready:
	case <-p.exited:
		t.Fatal("herald exited before serving")
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not serve within 30s")
	}
	return p
}

// kill kills the process by its PID and waits for it.
func (p *heraldProcess) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// TestEventsNodeKilled, on a standalone Redis and on a Redis Cluster: a
// node process holding connections of three users is killed. A watcher
// on another node sees each of its connections disconnected once, with
// code 0, and the two users it alone held go offline once, within the
// node TTL and a janitor period; the user who also has a connection on
// the live node stays online. The test logs how long it took.
func TestEventsNodeKilled(t *testing.T) { redistest.EachBackend(t, testEventsNodeKilled) }

func testEventsNodeKilled(t *testing.T, redisURL string) {
	secret := "f00d" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
	a := startTestServer(t, func(c *server.Config) {
		c.RedisURL, c.NodeID, c.JWTSecret = redisURL, "node-a", secret
	})
	d := startHeraldProcess(t, secret, "--redis-url", redisURL, "--node-id", "node-d")
	w := a.watch(t, &pushv1.WatchEventsRequest{})
	for _, u := range []string{"u1", "u2", "u3", "u1"} {
		c, _, err := dialWS(t, d.wsURL, a.token(t, u), dialOpts{})
		if err != nil {
			t.Fatal(err)
		}
		c.Next(t) // the Welcome
	}
	a.mustDial(t, "u3")
	st := newPresenceState()
	apply := func(evs []*pushv1.Event) {
		for _, ev := range evs[st.applied:] {
			if err := st.apply(ev); err != nil {
				t.Fatalf("%v: %s", err, describeEvents(evs))
			}
		}
	}
	w.until(t, 30*time.Second, "five connections", func(evs []*pushv1.Event) bool {
		apply(evs)
		return len(st.seen) == 5
	})
	before := st.applied
	d.kill()
	killed := time.Now()
	evs := w.until(t, 60*time.Second, "u1 and u2 offline", func(evs []*pushv1.Event) bool {
		apply(evs)
		return !st.online["u1"] && !st.online["u2"] && st.closed["u3"] == 1
	})
	t.Logf("the killed node's users offline %v after the kill", time.Since(killed).Round(time.Millisecond))
	after := evs[before:]
	if got := describeEvents(after); len(after) != 6 {
		t.Fatalf("after the kill: %s; want 4 disconnected and 2 offline", got)
	}
	for _, ev := range after {
		if dis := ev.GetDisconnected(); dis != nil && (dis.GetCode() != 0 || dis.GetNodeId() != "node-d" || ev.GetNodeId() != "node-a") {
			t.Errorf("disconnected %v: want code 0, node-d's, recorded by node-a", ev)
		}
		if off := ev.GetOffline(); off != nil && off.GetCode() != 0 {
			t.Errorf("offline %v: want code 0", ev)
		}
	}
	if !st.online["u3"] || len(st.open["u3"]) != 1 {
		t.Errorf("u3, with a connection on node-a, is online %v with %d open", st.online["u3"], len(st.open["u3"]))
	}
}
