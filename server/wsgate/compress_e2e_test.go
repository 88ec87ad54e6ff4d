package wsgate

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc"
)

// Pushes released together to a compressed client go out as separate
// messages prepared once for everyone (not a per-session PushBatch), in
// order, and decode after inflating.
func TestCompressedClientGetsSharedRunInOrder(t *testing.T) {
	tg := startGate(t, func(o *Options) { o.DisableCompression = false; o.CompressThreshold = 64 })
	a := tg.mustDial(t, "alice", dialOpts{compress: true, query: "resume=1"})
	tg.mustDial(t, "bob", dialOpts{compress: true})
	// alice's pushes wait for her Resume, so they reach her writer at once.
	var want []string
	for i := range 5 {
		p := strings.Repeat(string(rune('a'+i)), 300)
		want = append(want, p)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := tg.svc.Broadcast(ctx, pushsvc.Message{Topic: "t", Payload: []byte(p)})
		cancel()
		if err != nil || res.Delivered != 2 {
			t.Fatalf("broadcast %d: delivered %d, %v", i, res.Delivered, err)
		}
	}
	a.Send(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{}}})
	got := 0
	for got < len(want) {
		f := a.Next(t)
		if f.GetResumeResult() != nil {
			continue
		}
		if f.GetBatch() != nil {
			t.Fatal("compressed client got a PushBatch of broadcast pushes")
		}
		p := f.GetPush()
		if p == nil {
			t.Fatalf("unexpected frame %v", f)
		}
		if string(p.GetPayload()) != want[got] {
			t.Fatalf("push %d = %.10q..., want %.10q...", got, p.GetPayload(), want[got])
		}
		got++
	}
}
