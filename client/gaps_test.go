package client

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// gapsHarness drives a gaps directly, as the ReadLoop would, and records
// what it hands the app and sends the server.
type gapsHarness struct {
	t   *testing.T
	g   *gaps
	now time.Time

	got    []string                 // pushes delivered, "stream/offset/epoch"
	failed []*clientv1.StreamResult // streams reported
	sent   []*clientv1.ClientFrame  // frames to the server
	armed  []time.Time
}

func newGapsHarness(t *testing.T, limit int, initial ...*clientv1.StreamPosition) *gapsHarness {
	h := &gapsHarness{t: t, now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	h.g = &gaps{
		pos:     newPositions(initial),
		timeout: 10 * time.Second,
		limit:   limit,
		log:     slog.New(slog.DiscardHandler),
		send:    func(f *clientv1.ClientFrame) error { h.sent = append(h.sent, f); return nil },
		emit: func(p *clientv1.Push) {
			h.got = append(h.got, fmt.Sprintf("%s/%d/%s", p.GetStream(), p.GetOffset(), p.GetEpoch()))
		},
		failed: func(sr *clientv1.StreamResult) { h.failed = append(h.failed, sr) },
		arm:    func(at time.Time) { h.armed = append(h.armed, at) },
		disarm: func() {},
		fills:  map[string]*fill{},
		stale:  map[string]int{},
	}
	return h
}

func (h *gapsHarness) push(stream string, offsets ...uint64) {
	for _, o := range offsets {
		h.g.push(push(stream, o, "e"), h.now)
	}
}

func (h *gapsHarness) result(stream string, recovered bool, offset uint64, epoch string) {
	h.g.result(&clientv1.StreamResult{Stream: stream, Recovered: recovered, Offset: offset, Epoch: epoch}, h.now)
}

// delivered checks, and forgets, what the app got since the last check.
func (h *gapsHarness) delivered(stream string, offsets ...uint64) {
	h.t.Helper()
	var want []string
	for _, o := range offsets {
		want = append(want, fmt.Sprintf("%s/%d/e", stream, o))
	}
	if !slices.Equal(h.got, want) {
		h.t.Fatalf("delivered %v, want %v", h.got, want)
	}
	h.got = nil
}

// asked checks, and forgets, the frames sent: a Resume of stream alone,
// from offset.
func (h *gapsHarness) asked(stream string, offset uint64, epoch string) {
	h.t.Helper()
	want := &clientv1.Resume{Streams: []*clientv1.StreamPosition{pos(stream, offset, epoch)}}
	if len(h.sent) != 1 || !proto.Equal(h.sent[0].GetResume(), want) {
		h.t.Fatalf("sent %v, want Resume %v", h.sent, want)
	}
	h.sent = nil
}

// after moves the clock on by d and has the deadlines checked.
func (h *gapsHarness) after(d time.Duration) {
	h.now = h.now.Add(d)
	h.g.expire(h.now)
}

func (h *gapsHarness) quiet() {
	h.t.Helper()
	if len(h.sent) != 0 || len(h.failed) != 0 {
		h.t.Fatalf("sent %v, reported %v; want neither", h.sent, h.failed)
	}
}

func TestGapDedupeAndOrder(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("user:a", 1, 2, 2, 1)
	h.delivered("user:a", 1, 2)
	h.push("group:g", 7) // a stream first seen mid-way: nothing to compare with
	h.delivered("group:g", 7)
	h.g.pos.reset("group:h", 0, "") // the server had nothing of it: 1 is next
	h.push("group:h", 1)
	h.delivered("group:h", 1)
	h.g.push(push("user:a", 1, "e2"), h.now) // new epoch: offsets restart
	h.g.push(push("user:a", 0, ""), h.now)   // untracked
	h.g.push(push("user:a", 0, ""), h.now)
	if want := []string{"user:a/1/e2", "user:a/0/", "user:a/0/"}; !slices.Equal(h.got, want) {
		t.Fatalf("delivered %v, want %v", h.got, want)
	}
	h.quiet()
}

// TestGapFromAnEmptyPosition: a stream at offset 0 with no epoch (the
// server had nothing of it when the client got the position: a Welcome
// position, or a ResumeResult) starts a new epoch: a first push above 1
// is a gap from 0 of its epoch, and the replay fills it.
func TestGapFromAnEmptyPosition(t *testing.T) {
	h := newGapsHarness(t, 16, pos("group:news", 0, ""))
	h.push("group:news", 3)
	h.delivered("group:news")
	h.asked("group:news", 0, "e")
	h.result("group:news", true, 3, "e")
	h.push("group:news", 1, 2, 3)
	h.delivered("group:news", 1, 2, 3)
	h.quiet()
}

// TestConnectResumeFromAnEmptyPosition: the connect-time Resume of a
// stream at offset 0 with no epoch is answered, recovered, with the epoch
// the stream got meanwhile: the replay of that epoch is delivered, none
// reported lost.
func TestConnectResumeFromAnEmptyPosition(t *testing.T) {
	h := newGapsHarness(t, 16, pos("group:news", 0, ""))
	h.g.start([]*clientv1.StreamPosition{pos("group:news", 0, "")}, h.now)
	h.result("group:news", true, 2, "e")
	h.push("group:news", 1, 2)
	h.delivered("group:news", 1, 2)
	h.push("group:news", 3)
	h.delivered("group:news", 3)
	h.quiet()
	if len(h.g.fills) != 0 {
		t.Errorf("fills left: %v", h.g.fills)
	}
}

// TestMarkersAdvanceWithoutDelivering: the markers of pushes that
// excluded this client's user take their offsets, live and in a replay:
// no gap is asked for, nothing reaches the app, and the position moves.
func TestMarkersAdvanceWithoutDelivering(t *testing.T) {
	h := newGapsHarness(t, 16)
	marker := func(stream string, off uint64) *clientv1.Push {
		p := push(stream, off, "e")
		p.Topic, p.Payload, p.Excluded = "", nil, true
		return p
	}
	h.push("group:chat", 1)
	h.g.push(marker("group:chat", 2), h.now)
	h.g.push(marker("group:chat", 3), h.now)
	h.push("group:chat", 4)
	h.delivered("group:chat", 1, 4)
	h.g.push(marker("group:chat", 5), h.now)
	h.quiet()
	if p, _ := h.g.pos.get("group:chat"); p.offset != 5 {
		t.Errorf("position %+v, want offset 5", p)
	}
	// A gap whose replay holds markers: filled, the markers not delivered.
	h.push("group:chat", 8)
	h.asked("group:chat", 5, "e")
	h.result("group:chat", true, 8, "e")
	h.g.push(marker("group:chat", 6), h.now)
	h.push("group:chat", 7, 8)
	h.delivered("group:chat", 7, 8)
	// An untracked marker is dropped.
	h.g.push(&clientv1.Push{Excluded: true}, h.now)
	h.delivered("group:chat")
	h.quiet()
}

// TestGapFilledByReplay: a jump is held, asked for, and delivered after
// the replay, each push once, in order.
func TestGapFilledByReplay(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("user:a", 1, 2)
	h.delivered("user:a", 1, 2)
	h.push("user:a", 5)
	h.delivered("user:a")
	h.asked("user:a", 2, "e")
	h.push("user:a", 6)  // a later live push: held too
	h.push("group:g", 1) // other streams flow
	if want := []string{"group:g/1/e"}; !slices.Equal(h.got, want) {
		t.Fatalf("delivered %v, want only the other stream's push", h.got)
	}
	h.got = nil
	if p, _ := h.g.pos.get("user:a"); p.offset != 2 {
		t.Fatalf("position %+v moved past the gap", p)
	}
	h.result("user:a", true, 6, "e")
	h.push("user:a", 3, 4, 5, 6) // the replay
	h.delivered("user:a", 3, 4, 5, 6)
	h.push("user:a", 6, 7) // the server's floor let a duplicate through
	h.delivered("user:a", 7)
	h.quiet()
	if len(h.g.fills) != 0 || len(h.g.stale) != 0 {
		t.Fatalf("fills %v stale %v left", h.g.fills, h.g.stale)
	}
}

// TestGapOfExcludedPushes: pushes that excluded this user leave holes
// that the replay leaves too; the ResumeResult covers them, and no
// stream is reported.
func TestGapOfExcludedPushes(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("group:g", 1)
	h.push("group:g", 3) // 2 excluded this user
	h.delivered("group:g", 1)
	h.asked("group:g", 1, "e")
	h.result("group:g", true, 5, "e") // 4 and 5 were published meanwhile; 4 excluded too
	h.push("group:g", 3)
	h.delivered("group:g", 3)
	h.push("group:g", 5)
	h.delivered("group:g", 5)
	h.push("group:g", 6)
	h.delivered("group:g", 6)
	h.quiet()
}

// TestGapRaceWithTheReplayEnd: a live push passed the server's read of
// history and arrived before the ResumeResult, and the pushes before it
// excluded this user: nothing says the replay is over but a later push or
// FillTimeout without one.
func TestGapRaceWithTheReplayEnd(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("user:a", 1)
	h.push("user:a", 4) // 2 and 3 excluded this user; 4 passed the read of history
	h.delivered("user:a", 1)
	h.asked("user:a", 1, "e")
	h.after(9 * time.Second)
	h.result("user:a", true, 3, "e")
	h.after(9 * time.Second)
	h.delivered("user:a") // 2 and 3 may still come in the replay
	h.after(time.Second)
	h.delivered("user:a", 4)
	h.quiet()

	// Likewise, a replay is over when a live push passes its end.
	h.push("user:a", 6)
	h.asked("user:a", 4, "e")
	h.push("user:a", 7)
	h.result("user:a", true, 6, "e") // 5 excluded: nothing to replay but 6
	h.push("user:a", 6)
	h.delivered("user:a", 6, 7)
	h.push("user:a", 9) // 8 excluded
	h.asked("user:a", 7, "e")
	h.push("user:a", 10)
	h.result("user:a", true, 9, "e")
	h.push("user:a", 11) // no replay came: 9 was sent before the answer
	h.delivered("user:a", 9, 10, 11)
	h.quiet()
}

// TestGapSecondJumpWhileFilling: a second jump while a fill is in flight
// is held with the first; a hole that opens past the replay's end (pushes
// the server dropped after its read of history) is asked for in a second
// round.
func TestGapSecondJumpWhileFilling(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("user:a", 1, 3)
	h.delivered("user:a", 1)
	h.asked("user:a", 1, "e")
	h.push("user:a", 6) // 4 and 5 missing as well
	h.result("user:a", true, 6, "e")
	h.push("user:a", 2, 3, 4, 5, 6)
	h.delivered("user:a", 2, 3, 4, 5, 6)
	h.quiet()

	h.push("user:a", 8)
	h.asked("user:a", 6, "e")
	h.push("user:a", 11) // passed the read of history; 9 and 10 dropped
	h.result("user:a", true, 8, "e")
	h.push("user:a", 7, 8)
	h.delivered("user:a", 7, 8)
	h.push("user:a", 12) // live, past the replay: it is over
	h.asked("user:a", 8, "e")
	h.result("user:a", true, 12, "e")
	h.push("user:a", 9, 10, 11, 12)
	h.delivered("user:a", 9, 10, 11, 12)
	h.quiet()
}

func TestGapNotRecovered(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("user:a", 1)
	h.push("user:a", 50, 52)
	h.delivered("user:a", 1)
	h.asked("user:a", 1, "e")
	h.result("user:a", false, 52, "e")
	if len(h.failed) != 1 || !proto.Equal(h.failed[0], &clientv1.StreamResult{Stream: "user:a", Offset: 49, Epoch: "e"}) {
		t.Fatalf("reported %v, want user:a, not recovered, going on after 49", h.failed)
	}
	h.failed = nil
	h.delivered("user:a", 50, 52)
	h.push("user:a", 53)
	h.delivered("user:a", 53)
	h.quiet()
}

// TestGapTimeout: no answer within FillTimeout reports the stream and
// delivers what was held; the late answer is matched to the Resume it
// answers, not to the next one.
func TestGapTimeout(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("user:a", 1, 3)
	h.delivered("user:a", 1)
	h.asked("user:a", 1, "e")
	if len(h.armed) == 0 || !h.armed[len(h.armed)-1].Equal(h.now.Add(10*time.Second)) {
		t.Fatalf("armed %v, want the deadline 10s on", h.armed)
	}
	h.after(9 * time.Second)
	h.quiet()
	h.after(time.Second)
	if len(h.failed) != 1 || h.failed[0].GetOffset() != 2 {
		t.Fatalf("reported %v, want user:a going on after 2", h.failed)
	}
	h.failed = nil
	h.delivered("user:a", 3)
	h.push("user:a", 5)
	h.asked("user:a", 3, "e")
	h.result("user:a", true, 3, "e") // the late answer to the first Resume
	h.push("user:a", 2, 3)           // and its replay
	h.delivered("user:a")
	h.result("user:a", true, 5, "e")
	h.push("user:a", 4, 5)
	h.delivered("user:a", 4, 5)
	h.quiet()
}

func TestGapBufferBounded(t *testing.T) {
	h := newGapsHarness(t, 3)
	h.push("user:a", 1, 3, 4, 5)
	h.delivered("user:a", 1)
	h.asked("user:a", 1, "e")
	h.quiet()
	h.push("user:a", 6)
	if len(h.failed) != 1 || h.failed[0].GetOffset() != 2 {
		t.Fatalf("reported %v, want user:a going on after 2", h.failed)
	}
	h.failed = nil
	h.delivered("user:a", 3, 4, 5, 6)
	h.result("user:a", true, 6, "e") // its late answer and replay change nothing
	h.push("user:a", 2, 3)
	h.push("user:a", 7)
	h.delivered("user:a", 7)
	h.quiet()
}

// TestGapEpochChanges: a stream that starts over with its first pushes
// missing asks for the new epoch from its start; a push of a new epoch
// while filling waits for the fill.
func TestGapEpochChanges(t *testing.T) {
	h := newGapsHarness(t, 16)
	h.push("user:a", 1)
	h.delivered("user:a", 1)
	h.g.push(push("user:a", 3, "f"), h.now)
	h.asked("user:a", 0, "f")
	h.g.result(&clientv1.StreamResult{Stream: "user:a", Recovered: true, Offset: 3, Epoch: "f"}, h.now)
	h.g.push(push("user:a", 1, "f"), h.now)
	h.g.push(push("user:a", 2, "f"), h.now)
	h.g.push(push("user:a", 3, "f"), h.now)
	if want := []string{"user:a/1/f", "user:a/2/f", "user:a/3/f"}; !slices.Equal(h.got, want) {
		t.Fatalf("delivered %v, want %v", h.got, want)
	}
	h.got = nil

	h.g.push(push("user:a", 5, "f"), h.now)
	h.asked("user:a", 3, "f")
	h.g.push(push("user:a", 1, "g"), h.now) // the stream started over again
	h.g.result(&clientv1.StreamResult{Stream: "user:a", Recovered: false, Offset: 1, Epoch: "g"}, h.now)
	if want := []string{"user:a/5/f", "user:a/1/g"}; !slices.Equal(h.got, want) {
		t.Fatalf("delivered %v, want %v", h.got, want)
	}
	if len(h.failed) != 1 || !proto.Equal(h.failed[0], &clientv1.StreamResult{Stream: "user:a", Offset: 4, Epoch: "f"}) {
		t.Fatalf("reported %v", h.failed)
	}
}

// TestGapConnectResume: the Resume that opens a connection holds pushes
// that come before its answer, like a gap's.
func TestGapConnectResume(t *testing.T) {
	h := newGapsHarness(t, 16, pos("user:a", 4, "e"), pos("group:g", 9, "e"))
	h.g.start(h.g.pos.snapshot(), h.now)
	h.push("user:a", 7) // before the answer: held
	h.delivered("user:a")
	h.result("group:g", false, 20, "x")
	h.result("user:a", true, 6, "e")
	h.push("user:a", 5, 6)
	h.delivered("user:a", 5, 6, 7)
	if len(h.failed) != 1 || h.failed[0].GetStream() != "group:g" || h.failed[0].GetOffset() != 20 {
		t.Fatalf("reported %v, want group:g going on from the server's 20", h.failed)
	}
	if p, _ := h.g.pos.get("group:g"); p != (position{offset: 20, epoch: "x"}) {
		t.Fatalf("group:g position %+v, want the server's", p)
	}
	h.failed = nil
	h.quiet()
}
