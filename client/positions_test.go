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

func TestPositionsInitialCoverAndReset(t *testing.T) {
	p := newPositions([]*clientv1.StreamPosition{pos("user:a", 10, "e1")})
	if got, ok := p.get("user:a"); !ok || got != (position{offset: 10, epoch: "e1"}) {
		t.Fatalf("initial position = %+v %v", got, ok)
	}
	p.cover("user:a", "e1", 15)
	p.cover("user:a", "e0", 99) // another epoch: ignored
	p.delivered("user:a", 11, "e1", 0)
	if got, _ := p.get("user:a"); got != (position{offset: 11, epoch: "e1", covered: 15}) {
		t.Fatalf("after cover and a delivery = %+v, want the coverage kept", got)
	}
	p.delivered("user:a", 1, "e2", 0)
	if got, _ := p.get("user:a"); got != (position{offset: 1, epoch: "e2"}) {
		t.Fatalf("a new epoch = %+v, want no coverage", got)
	}
	p.reset("user:a", 40, "e9")
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
