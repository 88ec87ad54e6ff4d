package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

// testCtx is a context that ends with the test or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("after %v: %s", timeout, what)
		case <-tick.C:
		}
	}
}

// event is what a node's handler saw, in order.
type event struct {
	pub     *engine.Publication
	control *engine.Control
}

// node is an engine with a recording handler.
type node struct {
	*redis.Engine
	id string

	deliverN atomic.Int64 // what Deliver returns
	controlN atomic.Int64 // what Control returns

	mu     sync.Mutex // guards events
	events []event
}

// newNode starts a node on url. mod may adjust the options.
func newNode(t testing.TB, url, id string, mod func(*redis.Options)) *node {
	t.Helper()
	n := &node{id: id}
	n.deliverN.Store(1)
	opts := redis.Options{
		URL:         url,
		NodeID:      id,
		HistorySize: 100,
		HistoryTTL:  time.Minute,
		NodeTTL:     600 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: enginetest.Handler{
			OnDeliver: func(p *engine.Publication) int {
				n.mu.Lock()
				n.events = append(n.events, event{pub: p})
				n.mu.Unlock()
				return int(n.deliverN.Load())
			},
			OnControl: func(c engine.Control) int {
				n.mu.Lock()
				n.events = append(n.events, event{control: &c})
				n.mu.Unlock()
				return int(n.controlN.Load())
			},
		},
	}
	if mod != nil {
		mod(&opts)
	}
	e, err := redis.New(testCtx(t, 10*time.Second), opts)
	if err != nil {
		t.Fatalf("node %s: %v", id, err)
	}
	n.Engine = e
	t.Cleanup(func() { _ = e.Close() })
	return n
}

// pubs returns the publications of stream the node delivered, in order.
func (n *node) pubs(stream string) []*engine.Publication {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*engine.Publication
	for _, ev := range n.events {
		if ev.pub != nil && ev.pub.Stream == stream {
			out = append(out, ev.pub)
		}
	}
	return out
}

func (n *node) controls() []engine.Control {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []engine.Control
	for _, ev := range n.events {
		if ev.control != nil {
			out = append(out, *ev.control)
		}
	}
	return out
}

// positions renders publications as "epoch/offset" for comparisons.
func positions(ps []*engine.Publication) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s/%d", p.Epoch, p.Offset)
	}
	return out
}

// offsets lists the publications' offsets.
func offsets(ps []*engine.Publication) []uint64 {
	out := make([]uint64, len(ps))
	for i, p := range ps {
		out[i] = p.Offset
	}
	return out
}

// seq is 1..n.
func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// publish publishes or fails the test.
func publish(t testing.TB, ctx context.Context, e engine.Engine, stream string, m engine.Message) (*engine.Publication, int) {
	t.Helper()
	p, n, err := e.Publish(ctx, stream, m)
	if err != nil {
		t.Fatalf("publish to %s: %v", stream, err)
	}
	return p, n
}

// rawClient is a plain client for looking at Redis directly.
func rawClient(t testing.TB, url string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.MaxRetries = -1
	c := goredis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
