package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// BenchmarkPushStream compares pushes made one per unary PushToUsers call
// (64 calls in flight) with pushes on one PushStream (a window of 128
// requests in flight), over a real loopback connection to a real server.
// An op is one push to one user: "offline" has no connection, so it
// measures the API path alone; "connected" has one WebSocket client,
// which the op waits for. Client and server share the process, so ns/op
// and allocs/op count both sides; run it on one core to compare calls per
// second there (`taskset -c 0 go test ./server -run '^$' -bench
// PushStream -cpu 1`).
func BenchmarkPushStream(b *testing.B) {
	for _, target := range []struct {
		name      string
		connected bool
	}{{"offline", false}, {"connected", true}} {
		b.Run("unary/"+target.name, func(b *testing.B) { benchPushes(b, target.connected, unaryPushes) })
		b.Run("stream/"+target.name, func(b *testing.B) { benchPushes(b, target.connected, streamPushes) })
	}
}

// pushMaker makes n pushes of req to the node, however it likes.
type pushMaker func(b *testing.B, api pushv1.PushServiceClient, req *pushv1.PushToUsersRequest, n int)

func benchPushes(b *testing.B, connected bool, push pushMaker) {
	n := startBenchNode(b, nil)
	user := "nobody"
	var pc *pushCounter
	if connected {
		user = "u0"
		pc = connectPushCounter(b, n, user)
	}
	req := &pushv1.PushToUsersRequest{UserIds: []string{user}, Message: &pushv1.Message{Topic: "t", Payload: make([]byte, 100)}}
	b.ReportAllocs()
	b.ResetTimer()
	push(b, n.API, req, b.N)
	if pc != nil {
		pc.wait(b, int64(b.N))
	}
}

// unaryPushes makes n PushToUsers calls, 64 at a time.
func unaryPushes(b *testing.B, api pushv1.PushServiceClient, req *pushv1.PushToUsersRequest, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := api.PushToUsers(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// streamPushes sends n requests on one PushStream, keeping 128 without a
// result, and reads every result.
func streamPushes(b *testing.B, api pushv1.PushServiceClient, users *pushv1.PushToUsersRequest, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := api.PushStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	window := make(chan struct{}, 128)
	sent := make(chan error, 1)
	go func() {
		req := &pushv1.PushStreamRequest{Push: &pushv1.PushStreamRequest_Users{Users: users}}
		for range n {
			window <- struct{}{}
			if err := st.Send(req); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.CloseSend()
	}()
	for got := 0; ; got++ {
		res, err := st.Recv()
		if errors.Is(err, io.EOF) {
			if got != n {
				b.Fatalf("%d results, want %d", got, n)
			}
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if res.GetCode() != 0 {
			b.Fatalf("result %v", res)
		}
		<-window
	}
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
}

// pushCounter is a WebSocket client that counts the pushes it receives,
// batched or not.
type pushCounter struct {
	gws.BuiltinEventHandler
	pushes atomic.Int64
	want   atomic.Int64  // what wait waits for; 0: nothing
	got    chan struct{} // a send when pushes reaches want (capacity 1)
	closed chan struct{}
}

func connectPushCounter(b *testing.B, n *benchNode, user string) *pushCounter {
	b.Helper()
	tok := n.Token(b, user)
	pc := &pushCounter{got: make(chan struct{}, 1), closed: make(chan struct{})}
	conn, _, err := gws.NewClient(pc, &gws.ClientOption{Addr: n.WSURL, RequestHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		b.Fatal(err)
	}
	go conn.ReadLoop()
	b.Cleanup(func() { _ = conn.NetConn().Close(); <-pc.closed })
	// The session exists once its Welcome has come.
	pc.wait(b, 1)
	pc.pushes.Store(0)
	return pc
}

func (pc *pushCounter) OnMessage(_ *gws.Conn, m *gws.Message) {
	var f clientv1.ServerFrame
	err := proto.Unmarshal(m.Bytes(), &f)
	m.Close()
	var n int64
	switch {
	case err != nil:
		return
	case f.GetWelcome() != nil:
		n = pc.pushes.Add(1) // connectPushCounter's signal, reset after
	case f.GetPush() != nil:
		n = pc.pushes.Add(1)
	default:
		n = pc.pushes.Add(int64(len(f.GetBatch().GetPushes())))
	}
	if w := pc.want.Load(); w > 0 && n >= w {
		select {
		case pc.got <- struct{}{}:
		default:
		}
	}
}

func (pc *pushCounter) OnClose(*gws.Conn, error) { close(pc.closed) }

// wait waits until want pushes have arrived. A signal left from an
// earlier wait only makes it look again.
func (pc *pushCounter) wait(b *testing.B, want int64) {
	pc.want.Store(want)
	defer pc.want.Store(0)
	timeout := time.After(time.Minute)
	for pc.pushes.Load() < want {
		select {
		case <-pc.got:
		case <-timeout:
			b.Fatalf("%d of %d pushes arrived within a minute", pc.pushes.Load(), want)
		}
	}
}
