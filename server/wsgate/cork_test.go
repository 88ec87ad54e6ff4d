package wsgate

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc"
)

// writeLog is a net.Conn that records each Write call.
type writeLog struct {
	net.Conn
	mu     sync.Mutex // guards writes
	writes [][]byte
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	w.mu.Unlock()
	return len(p), nil
}

func TestCorkCoalescesDataFramesAndKeepsOrder(t *testing.T) {
	log := &writeLog{}
	c := &wireConn{Conn: log, g: newTestGateway(t)}
	data1 := appendBinaryFrame(nil, []byte("one"))
	data2 := appendBinaryFrame(nil, []byte("two"))
	pong := []byte{0x8A, 0x00}

	c.cork()
	for _, f := range [][]byte{data1, data2} {
		if n, err := c.Write(f); err != nil || n != len(f) {
			t.Fatalf("corked write: %d, %v", n, err)
		}
	}
	if len(log.writes) != 0 {
		t.Fatalf("corked data frames reached the socket: %d writes", len(log.writes))
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if len(log.writes) != 1 || !bytes.Equal(log.writes[0], append(append([]byte(nil), data1...), data2...)) {
		t.Fatalf("uncork wrote %q, want both frames in one write", log.writes)
	}

	// A control frame while corked goes out at once, after what collected.
	log.writes = nil
	c.cork()
	_, _ = c.Write(data1)
	_, _ = c.Write(pong)
	_, _ = c.Write(data2)
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{data1, pong, data2}
	if len(log.writes) != len(want) {
		t.Fatalf("got %d writes %q, want %q", len(log.writes), log.writes, want)
	}
	for i := range want {
		if !bytes.Equal(log.writes[i], want[i]) {
			t.Fatalf("write %d = %q, want %q", i, log.writes[i], want[i])
		}
	}
}

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
