package client

import (
	"testing"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

func push(stream string, offset uint64, epoch string) *clientv1.Push {
	return &clientv1.Push{Stream: stream, Offset: offset, Epoch: epoch, Payload: []byte(stream)}
}

func pos(stream string, offset uint64, epoch string) *clientv1.StreamPosition {
	return &clientv1.StreamPosition{Stream: stream, Offset: offset, Epoch: epoch}
}

func equalPositions(t *testing.T, got, want []*clientv1.StreamPosition) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("positions = %v, want %v", got, want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("positions = %v, want %v", got, want)
		}
	}
}

func TestPositionsDedupe(t *testing.T) {
	p := newPositions(nil)
	steps := []struct {
		push *clientv1.Push
		want bool
	}{
		{push("user:a", 1, "e1"), true},
		{push("user:a", 2, "e1"), true},
		{push("user:a", 2, "e1"), false}, // replayed twice
		{push("user:a", 1, "e1"), false}, // older
		{push("group:g", 1, "e1"), true}, // another stream, own offsets
		{push("user:a", 5, "e1"), true},  // a gap is not a duplicate
		{push("user:a", 3, "e1"), false}, // behind the gap
		{push("user:a", 1, "e2"), true},  // new epoch: offsets restart
		{push("user:a", 1, "e2"), false},
		{push("user:a", 0, ""), true}, // untracked push
		{push("user:a", 0, ""), true},
	}
	for i, s := range steps {
		if got := p.advance(s.push); got != s.want {
			t.Fatalf("step %d: advance(%v) = %v, want %v", i, s.push, got, s.want)
		}
	}
	equalPositions(t, p.snapshot(), []*clientv1.StreamPosition{pos("group:g", 1, "e1"), pos("user:a", 1, "e2")})
}

func TestPositionsInitialAndReset(t *testing.T) {
	p := newPositions([]*clientv1.StreamPosition{pos("user:a", 10, "e1")})
	if p.advance(push("user:a", 10, "e1")) {
		t.Fatal("push at the resumed offset delivered again")
	}
	if !p.advance(push("user:a", 11, "e1")) {
		t.Fatal("push after the resumed offset dropped")
	}
	p.reset("user:a", 40, "e9")
	if p.advance(push("user:a", 40, "e9")) {
		t.Fatal("push at the reset offset delivered")
	}
	equalPositions(t, p.snapshot(), []*clientv1.StreamPosition{pos("user:a", 40, "e9")})
}

func TestAckPositions(t *testing.T) {
	got := ackPositions([]*clientv1.Push{
		push("user:a", 3, "e1"),
		push("broadcast", 7, "b"),
		push("user:a", 4, "e1"),
		push("user:a", 0, ""), // untracked: nothing to ack
		push("broadcast", 1, "b2"),
	})
	equalPositions(t, got, []*clientv1.StreamPosition{pos("user:a", 4, "e1"), pos("broadcast", 1, "b2")})
	if got := ackPositions([]*clientv1.Push{push("x", 0, "")}); len(got) != 0 {
		t.Fatalf("ackPositions of untracked = %v, want none", got)
	}
}
