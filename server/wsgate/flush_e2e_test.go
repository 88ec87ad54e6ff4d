package wsgate

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/internal/wstest"
	"github.com/herald-push/herald/pushsvc"
)

// writeCounter is a listener whose connections count their Writes. Its
// connections are not TCP to wireConn, which then writes as it does
// under TLS.
type writeCounter struct {
	net.Listener
	mu    sync.Mutex
	conns []*countedConn // in the order accepted; guarded by mu
}

type countedConn struct {
	net.Conn
	mu     sync.Mutex
	writes int // guarded by mu
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countedConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func (l *writeCounter) conn(i int) *countedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[i]
}

// TestFlushIsOneWrite: what one flush of a session takes goes to the
// socket in one write, whatever it holds: a control frame, pushes shared
// with other sessions and a push of its own, compressed or not. Through
// gws, each frame was a write of its own, and a shared one a task of its
// own behind the flush.
func TestFlushIsOneWrite(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := newTestService(t)
	g, err := New(Options{Service: svc, Verifier: &fakeVerifier{}, Logger: log, CompressThreshold: 64,
		HeartbeatInterval: time.Hour}) // no ping during the test
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &writeCounter{Listener: ln}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(g.Listener(rec))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		g.Close()
	})
	url := "ws://" + ln.Addr().String() + "/ws"
	dial := func(user, query string) *client {
		c, _, err := wstest.Dial(t, wstest.Options{URL: url + query, Token: "user:" + user, Compress: true})
		if err != nil {
			t.Fatal(err)
		}
		if c.Next(t).GetWelcome() == nil {
			t.Fatal("no Welcome")
		}
		return c
	}
	// alice's pushes wait for her Resume, then go out in one flush with
	// its result.
	alice := dial("alice", "?resume=1")
	dial("bob", "")
	pushes := []struct {
		personal bool
		payload  string
	}{{false, "one"}, {true, strings.Repeat("two", 100)}, {false, strings.Repeat("three", 100)}, {true, "four"}}
	for _, p := range pushes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if p.personal {
			_, err = svc.PushToUsers(ctx, []string{"alice"}, pushsvc.Message{Topic: "t", Payload: []byte(p.payload)})
		} else {
			_, err = svc.Broadcast(ctx, pushsvc.Message{Topic: "t", Payload: []byte(p.payload)})
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	socket := rec.conn(0)
	before := socket.count()
	alice.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{}}})
	if alice.Next(t).GetResumeResult() == nil {
		t.Fatal("the first frame after the Resume is not its result")
	}
	for _, p := range pushes {
		if got := alice.NextPush(t).GetPayload(); string(got) != p.payload {
			t.Fatalf("got push %.10q..., want %.10q...", got, p.payload)
		}
	}
	if n := socket.count() - before; n != 1 {
		t.Fatalf("the flush took %d writes, want 1", n)
	}
}
