package client_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/internal/nodetest"

	"github.com/herald-push/herald/client"
)

// recorder collects what one SDK client saw.
type recorder struct {
	mu        sync.Mutex // guards the fields below
	states    []client.StateChange
	stateAt   []time.Time
	pushes    []*clientv1.Push
	connected chan struct{} // a value per Connected
	pushed    chan struct{} // a value per push
}

func newRecorder() *recorder {
	return &recorder{connected: make(chan struct{}, 16), pushed: make(chan struct{}, 4096)}
}

func (r *recorder) options(url string, token func() string) client.Options {
	return client.Options{
		URL:        url,
		Token:      func(context.Context) (string, error) { return token(), nil },
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond,
		OnPush: func(p *clientv1.Push) {
			r.mu.Lock()
			r.pushes = append(r.pushes, p)
			r.mu.Unlock()
			r.pushed <- struct{}{}
		},
		OnState: func(sc client.StateChange) {
			r.mu.Lock()
			r.states = append(r.states, sc)
			r.stateAt = append(r.stateAt, time.Now())
			r.mu.Unlock()
			if sc.State == client.StateConnected {
				r.connected <- struct{}{}
			}
		},
	}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not within 30s", what)
	}
}

func startClient(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// TestReconnectAfterServerKilled kills the node with SIGKILL, starts a new
// one on the same port: the SDK comes back by itself and gets the next push.
func TestReconnectAfterServerKilled(t *testing.T) {
	cr := nodetest.NewCreds()
	first := startHerald(t, cr)
	rec := newRecorder()
	startClient(t, rec.options("ws://"+first.ws+"/ws", func() string { return cr.Token(t, "alice") }))
	waitFor(t, rec.connected, "first connect")

	first.signal(t, syscall.SIGKILL)
	first.wait(t, 10*time.Second)
	second := startHerald(t, cr, "--ws-addr", first.ws)
	waitFor(t, rec.connected, "reconnect")

	res, err := cr.Client(t, second.grpc).PushToUsers(ctxT(t), &pushv1.PushToUsersRequest{
		UserIds: []string{"alice"}, Message: &pushv1.Message{Topic: "t", Payload: []byte("after restart")}})
	if err != nil || res.GetDelivered() != 1 {
		t.Fatalf("push: %v %v", res, err)
	}
	waitFor(t, rec.pushed, "push after restart")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if string(rec.pushes[0].GetPayload()) != "after restart" {
		t.Errorf("push = %v", rec.pushes[0])
	}
	var seq []client.State
	for _, s := range rec.states {
		seq = append(seq, s.State)
	}
	i := slices.Index(seq, client.StateReconnecting)
	if i < 0 || !slices.Contains(seq[i:], client.StateConnected) {
		t.Errorf("states %v: want reconnecting then connected", seq)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestDrainMovesClientsToAnotherNode: 1,000 SDK clients on node A behind a
// failover proxy, node B up. SIGTERM A: every client gets 1001, keeps the
// push queued before the drain, reconnects to B, spread over the window,
// and A exits 0.
func TestDrainMovesClientsToAnotherNode(t *testing.T) {
	const clients = 1000
	const window = 3 * time.Second
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	cr := nodetest.NewCreds()
	a := startHerald(t, cr, "--drain-timeout", window.String())
	b := startHerald(t, cr)
	var aUp atomic.Bool
	aUp.Store(true)
	lb := startFailover(t, func() []string {
		if aUp.Load() {
			return []string{a.ws}
		}
		return []string{b.ws}
	})

	recs := make([]*recorder, clients)
	for i := range recs {
		recs[i] = newRecorder()
		user := fmt.Sprintf("u%d", i)
		tok := cr.Token(t, user)
		startClient(t, recs[i].options(lb.url(), func() string { return tok }))
	}
	for i, r := range recs {
		waitFor(t, r.connected, fmt.Sprintf("client %d connect", i))
	}
	apiA := cr.Client(t, a.grpc)
	res, err := apiA.Broadcast(ctxT(t), &pushv1.BroadcastRequest{Message: &pushv1.Message{Topic: "t", Payload: []byte("before drain")}})
	if err != nil || res.GetDelivered() != clients {
		t.Fatalf("broadcast on A: %v %v", res, err)
	}
	drainStart := time.Now()
	a.signal(t, syscall.SIGTERM)
	aUp.Store(false) // the load balancer takes A out as its readiness fails
	if code := a.wait(t, window+10*time.Second); code != 0 {
		t.Errorf("A exited %d, want 0", code)
	}

	var back []time.Duration
	for i, r := range recs {
		waitFor(t, r.connected, fmt.Sprintf("client %d reconnect", i))
		waitFor(t, r.pushed, fmt.Sprintf("client %d push", i))
		r.mu.Lock()
		if string(r.pushes[0].GetPayload()) != "before drain" {
			t.Errorf("client %d: push %v", i, r.pushes[0])
		}
		var sawGoingAway bool
		for j, s := range r.states {
			if s.State == client.StateReconnecting && s.Code == 1001 {
				sawGoingAway = true
			}
			if s.State == client.StateConnected && r.stateAt[j].After(drainStart) {
				back = append(back, r.stateAt[j].Sub(drainStart))
			}
		}
		r.mu.Unlock()
		if !sawGoingAway {
			t.Errorf("client %d: no reconnecting state with close 1001", i)
		}
	}
	st, err := cr.Client(t, b.grpc).GetStats(ctxT(t), &pushv1.GetStatsRequest{})
	if err != nil || st.GetStats().GetConnections() != clients {
		t.Fatalf("B holds %v connections (err %v), want %d", st.GetStats().GetConnections(), err, clients)
	}
	slices.Sort(back)
	if len(back) != clients {
		t.Fatalf("%d reconnect times, want %d", len(back), clients)
	}
	t.Logf("reconnect after SIGTERM: min %v, median %v, max %v (window %v)",
		back[0].Round(time.Millisecond), back[len(back)/2].Round(time.Millisecond), back[len(back)-1].Round(time.Millisecond), window)
	early := 0
	for _, d := range back {
		if d < window/10 {
			early++
		}
	}
	if early > clients/2 {
		t.Errorf("%d of %d clients reconnected within the first tenth of the window: no spread", early, clients)
	}
	if spread := back[len(back)-1] - back[0]; spread < window/4 {
		t.Errorf("reconnects spread over %v, want at least %v", spread, window/4)
	}
}
