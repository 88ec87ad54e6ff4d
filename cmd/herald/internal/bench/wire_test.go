package bench

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

func marshal(t testing.TB, f *clientv1.ServerFrame) []byte {
	t.Helper()
	b, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecorderReadsPushesAndBatches(t *testing.T) {
	const tag = 0xC0FFEE
	rec := newRecorder(tag, 2)
	sent := time.Now().Add(-5 * time.Millisecond)
	p0, p1 := newPayload(100, tag, 0), newPayload(100, tag, 1)
	stamp(p0, sent)
	stamp(p1, sent)
	other := newPayload(100, tag+1, 0) // another run's push
	stamp(other, sent)

	welcome := marshal(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Welcome{Welcome: &clientv1.Welcome{UserId: "u"}}})
	single := marshal(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Push{Push: &clientv1.Push{Id: "1", Topic: "bench", Stream: "broadcast", Offset: 7, Payload: p0}}})
	batch := marshal(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Batch{Batch: &clientv1.PushBatch{Pushes: []*clientv1.Push{
		{Id: "2", Payload: p0, Offset: 8}, {Id: "3", Payload: p1, Offset: 9}, {Id: "4", Payload: other},
	}}}})
	disconnect := marshal(t, &clientv1.ServerFrame{Kind: &clientv1.ServerFrame_Disconnect{Disconnect: &clientv1.Disconnect{Code: 4003}}})

	now := time.Now().UnixNano()
	for _, c := range []struct {
		frame []byte
		want  frameKind
	}{{welcome, frameWelcome}, {single, framePush}, {batch, framePush}, {disconnect, frameDisconnect}, {[]byte{0xff, 0xff}, frameBad}} {
		if got := rec.frame(c.frame, 1, now); got != c.want {
			t.Errorf("frame kind %d, want %d", got, c.want)
		}
	}
	snaps := rec.snapshots()
	if snaps[0].total != 2 || snaps[1].total != 1 {
		t.Fatalf("step counts %d, %d; want 2, 1", snaps[0].total, snaps[1].total)
	}
	if rec.foreign.Load() != 1 {
		t.Fatalf("foreign = %d, want 1", rec.foreign.Load())
	}
	if lat := time.Duration(snaps[0].max); lat < 5*time.Millisecond || lat > time.Minute {
		t.Fatalf("latency %v, want about 5ms", lat)
	}
	if rec.received() != 3 {
		t.Fatalf("received = %d, want 3", rec.received())
	}

	// The receive path must not allocate per delivery.
	if n := testing.AllocsPerRun(200, func() { rec.frame(batch, 2, now) }); n != 0 {
		t.Fatalf("recording a batch allocates %v times", n)
	}
}
