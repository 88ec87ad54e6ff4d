package redis_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/redistest"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/engine/enginetest"
	"github.com/herald-push/herald/pushsvc/engine/memory"
	"github.com/herald-push/herald/pushsvc/engine/redis"
)

func TestPublishAssignsOffsetsAndCarriesTheMessage(t *testing.T) {
	srv := redistest.Start(t)
	clk := enginetest.NewClock()
	a := newNode(t, srv.URL, "a", func(o *redis.Options) { o.Now = clk.Now })
	a.deliverN.Store(3)
	ctx := testCtx(t, 10*time.Second)

	m := engine.Message{ID: "m1", Topic: "chat", Payload: []byte{0, 1, 2, 0xff}, TTL: 30 * time.Second, Exclude: []string{"x", "y"}, Local: "receipt"}
	p1, n := publish(t, ctx, a, "user:u", m)
	if n != 3 {
		t.Errorf("delivered = %d, want 3 (this node's Deliver)", n)
	}
	if p1.Offset != 1 || p1.Epoch == "" || p1.Stream != "user:u" || !p1.Time.Equal(clk.Now()) || p1.Local != "receipt" {
		t.Errorf("first publication = %+v", p1)
	}
	p2, _ := publish(t, ctx, a, "user:u", engine.Message{ID: "m2"})
	p3, _ := publish(t, ctx, a, "user:u", engine.Message{ID: "m3"})
	if p2.Offset != 2 || p3.Offset != 3 || p2.Epoch != p1.Epoch || p3.Epoch != p1.Epoch {
		t.Errorf("offsets/epochs = %d %s, %d %s after 1 %s", p2.Offset, p2.Epoch, p3.Offset, p3.Epoch, p1.Epoch)
	}
	q1, _ := publish(t, ctx, a, "group:g", engine.Message{ID: "q1"})
	if q1.Offset != 1 || q1.Epoch == p1.Epoch {
		t.Errorf("another stream: offset %d epoch %s; want 1 and its own epoch", q1.Offset, q1.Epoch)
	}

	// Deliver got a decoded copy of everything but Local's origin-only
	// value, which this node re-attached.
	got := a.pubs("user:u")
	if !slices.Equal(offsets(got), []uint64{1, 2, 3}) {
		t.Fatalf("delivered offsets %v, want 1 2 3", offsets(got))
	}
	d := got[0]
	if d.ID != m.ID || d.Topic != m.Topic || !bytes.Equal(d.Payload, m.Payload) || d.TTL != m.TTL ||
		!slices.Equal(d.Exclude, m.Exclude) || d.Local != "receipt" || !d.Time.Equal(p1.Time) || d.Epoch != p1.Epoch {
		t.Errorf("delivered %+v, want the message %+v at %v", d, m, p1.Time)
	}
}

// sinceStep is one step of a scenario run against both engines.
type sinceStep struct {
	advance time.Duration   // move the clock first
	publish *engine.Message // then publish this, or
	since   *sinceCall      // ask this
}

type sinceCall struct {
	offset uint64
	epoch  string // "cur": the stream's own epoch, "": none, else as is
	want   bool   // expected ok, checked against memory too
}

// TestSinceMirrorsMemory runs the same publications and questions against
// the in-memory engine and the Redis engine, with one clock, and expects
// the same answers: ok, the offsets returned, and the current position.
func TestSinceMirrorsMemory(t *testing.T) {
	srv := redistest.Start(t)
	msg := func(ttl time.Duration) *engine.Message { return &engine.Message{ID: "x", TTL: ttl} }
	since := func(off uint64, epoch string, ok bool) sinceStep {
		return sinceStep{since: &sinceCall{offset: off, epoch: epoch, want: ok}}
	}
	pub := func(ttl time.Duration) sinceStep { return sinceStep{publish: msg(ttl)} }
	cases := []struct {
		name  string
		size  int
		ttl   time.Duration
		steps []sinceStep
	}{
		{"nothing published", 3, time.Minute, []sinceStep{
			since(0, "", true), since(0, "ABC", true), since(1, "", false), since(1, "ABC", false),
		}},
		{"trimmed by size", 3, time.Minute, []sinceStep{
			pub(0), pub(0), pub(0), pub(0), pub(0),
			since(5, "cur", true), since(4, "cur", true), since(2, "cur", true),
			since(1, "cur", false), since(0, "cur", false), since(0, "", false),
			since(6, "cur", false), since(3, "OTHER", false), since(3, "", false),
		}},
		{"all retained", 10, time.Minute, []sinceStep{
			pub(0), pub(0), since(0, "", true), since(0, "cur", true), since(1, "cur", true),
		}},
		{"history TTL", 10, time.Minute, []sinceStep{
			pub(0), {advance: 30 * time.Second}, pub(0),
			since(0, "cur", true),
			{advance: 31 * time.Second, since: &sinceCall{offset: 0, epoch: "cur", want: false}},
			since(1, "cur", true), since(2, "cur", true),
			{advance: 30 * time.Second, since: &sinceCall{offset: 1, epoch: "cur", want: false}},
			since(2, "cur", true),
		}},
		{"message TTL shortens life", 10, time.Minute, []sinceStep{
			pub(0), pub(5 * time.Second),
			{advance: 6 * time.Second, since: &sinceCall{offset: 1, epoch: "cur", want: true}},
			// The short-lived one sits behind a live one: kept, as in memory.
			since(0, "cur", true),
			{advance: 60 * time.Second, since: &sinceCall{offset: 1, epoch: "cur", want: false}},
		}},
		{"message TTL at the head", 10, time.Minute, []sinceStep{
			pub(5 * time.Second), pub(0),
			{advance: 6 * time.Second, since: &sinceCall{offset: 0, epoch: "cur", want: false}},
			since(1, "cur", true),
		}},
		{"message TTL never lengthens", 10, time.Minute, []sinceStep{
			pub(time.Hour),
			{advance: 61 * time.Second, since: &sinceCall{offset: 0, epoch: "cur", want: false}},
		}},
		{"no history", engine.NoHistory, time.Minute, []sinceStep{
			pub(0), pub(0), since(2, "cur", true), since(1, "cur", false), since(0, "", false),
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := enginetest.NewClock()
			stream := fmt.Sprintf("user:since-%d", i)
			mem, err := memory.New(memory.Options{HistorySize: tc.size, HistoryTTL: tc.ttl, Handler: enginetest.Handler{}, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer mem.Close()
			red := newNode(t, srv.URL, fmt.Sprintf("since-%d", i), func(o *redis.Options) {
				o.HistorySize, o.HistoryTTL, o.Now = tc.size, tc.ttl, clk.Now
			})
			ctx := testCtx(t, 10*time.Second)
			engines := []engine.Engine{mem, red}
			epochs := make([]string, 2)
			for si, st := range tc.steps {
				clk.Advance(st.advance)
				if st.publish != nil {
					for k, e := range engines {
						p, _ := publish(t, ctx, e, stream, *st.publish)
						epochs[k] = p.Epoch
					}
					continue
				}
				if st.since == nil {
					continue
				}
				// Every limit gives the same ok and position; pubs are the
				// first limit of the whole answer.
				for _, limit := range []int{-1, 0, 1, 2} {
					var answers []string
					for k, e := range engines {
						pos := engine.Position{Offset: st.since.offset, Epoch: st.since.epoch}
						if pos.Epoch == "cur" {
							pos.Epoch = epochs[k]
						}
						pubs, cur, ok, err := e.Since(ctx, stream, pos, limit)
						if err != nil {
							t.Fatalf("step %d: %v", si, err)
						}
						if cur.Epoch != epochs[k] {
							t.Errorf("step %d engine %d: current epoch %q, want %q", si, k, cur.Epoch, epochs[k])
						}
						if limit >= 0 && len(pubs) > limit {
							t.Errorf("step %d engine %d: %d publications past limit %d", si, k, len(pubs), limit)
						}
						answers = append(answers, fmt.Sprintf("ok=%v offsets=%v cur=%d", ok, offsets(pubs), cur.Offset))
						if ok != st.since.want {
							t.Errorf("step %d (%+v) engine %d limit %d: ok = %v, want %v", si, *st.since, k, limit, ok, st.since.want)
						}
					}
					if answers[0] != answers[1] {
						t.Errorf("step %d (%+v) limit %d: memory %s, redis %s", si, *st.since, limit, answers[0], answers[1])
					}
				}
			}
		})
	}
}

func TestSinceReturnsWholePublications(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", nil)
	ctx := testCtx(t, 10*time.Second)
	m := engine.Message{ID: "id", Topic: "t", Payload: []byte("hello"), TTL: time.Second * 30, Exclude: []string{"bob"}, Local: 42}
	p, _ := publish(t, ctx, a, "group:g", m)
	pubs, cur, ok, err := a.Since(ctx, "group:g", engine.Position{Epoch: p.Epoch}, -1)
	if err != nil || !ok || len(pubs) != 1 || cur != (engine.Position{Offset: 1, Epoch: p.Epoch}) {
		t.Fatalf("Since = %v, %+v, %v, %v", pubs, cur, ok, err)
	}
	h := pubs[0]
	if h.ID != "id" || h.Topic != "t" || string(h.Payload) != "hello" || h.TTL != m.TTL || !slices.Equal(h.Exclude, m.Exclude) ||
		h.Stream != "group:g" || h.Offset != 1 || h.Epoch != p.Epoch || !h.Time.Equal(p.Time) {
		t.Errorf("history has %+v, want %+v", h, p)
	}
	if h.Local != nil {
		t.Errorf("Local came back from Redis: %v", h.Local)
	}
}

func TestIdleStreamStartsANewEpoch(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL, "a", func(o *redis.Options) { o.HistoryTTL = 200 * time.Millisecond })
	ctx := testCtx(t, 10*time.Second)
	p1, _ := publish(t, ctx, a, "user:idle", engine.Message{ID: "1"})
	publish(t, ctx, a, "user:idle", engine.Message{ID: "2"})
	// Redis expires the stream's keys on its own clock.
	eventually(t, 5*time.Second, "the idle stream's keys to expire", func() bool {
		_, cur, _, err := a.Since(ctx, "user:idle", engine.Position{}, -1)
		return err == nil && cur.Offset == 0
	})
	p3, _ := publish(t, ctx, a, "user:idle", engine.Message{ID: "3"})
	if p3.Offset != 1 || p3.Epoch == p1.Epoch {
		t.Errorf("after idling: offset %d epoch %s; want offset 1 in a new epoch (was %s)", p3.Offset, p3.Epoch, p1.Epoch)
	}
	pubs, _, ok, err := a.Since(ctx, "user:idle", engine.Position{}, -1)
	if err != nil || !ok || !slices.Equal(offsets(pubs), []uint64{1}) || pubs[0].ID != "3" {
		t.Errorf("new epoch's history: %v %v %v", positions(pubs), ok, err)
	}
	// A client of the old epoch learns that its history is gone.
	if _, _, ok, _ := a.Since(ctx, "user:idle", engine.Position{Offset: 2, Epoch: p1.Epoch}, -1); ok {
		t.Error("Since from the old epoch: ok")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	h := enginetest.Handler{}
	good := redis.Options{URL: "redis://127.0.0.1:1", NodeID: "n", Handler: h} // zero HistorySize and HistoryTTL: the defaults
	cases := []struct {
		name string
		mod  func(*redis.Options)
		want string
	}{
		{"no URL", func(o *redis.Options) { o.URL = "" }, "redis: Options.URL: required"},
		{"bad scheme", func(o *redis.Options) { o.URL = "http://x" }, "URL: "},
		{"no node", func(o *redis.Options) { o.NodeID = "" }, "NodeID: required"},
		{"node with space", func(o *redis.Options) { o.NodeID = "a b" }, "NodeID \"a b\""},
		{"history TTL under 1ms", func(o *redis.Options) { o.HistoryTTL = time.Microsecond }, "redis: Options.HistoryTTL 1µs: must be >= 1ms"},
		{"no Handler", func(o *redis.Options) { o.Handler = nil }, "redis: Options.Handler: required"},
		{"tiny node TTL", func(o *redis.Options) { o.NodeTTL = time.Millisecond }, "NodeTTL 1ms"},
		{"negative reply timeout", func(o *redis.Options) { o.ReplyTimeout = -1 }, "ReplyTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.mod(&o)
			_, err := redis.New(testCtx(t, 5*time.Second), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		// Port 1 on loopback refuses at once.
		start := time.Now()
		_, err := redis.New(testCtx(t, 5*time.Second), good)
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("New against a closed port: %v; want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("New took %v to fail", d)
		}
	})
}
