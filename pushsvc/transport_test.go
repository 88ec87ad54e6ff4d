package pushsvc

import (
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// fakeTransport records writes. Scheduled flushes wait in tasks until the
// test calls run, so a test decides when the "writer" works. Like the
// WebSocket transport, it collects the frames a flush writes and puts them
// on its "socket" (frames) when the flush returns.
type fakeTransport struct {
	mu      sync.Mutex // guards everything below
	tasks   []func()
	pending [][]byte // written by the running flush
	frames  [][]byte
	shared  int // frames written through WriteShared or WriteSharedRun
	runs    int // WriteSharedRun calls
	closed  []Disconnect
}

func (f *fakeTransport) Schedule(w Writer) {
	f.task(func() {
		w.Flush()
		f.mu.Lock()
		f.frames = append(f.frames, f.pending...)
		f.pending = nil
		f.mu.Unlock()
	})
}

// task queues fn on the writer.
func (f *fakeTransport) task(fn func()) {
	f.mu.Lock()
	f.tasks = append(f.tasks, fn)
	f.mu.Unlock()
}

func (f *fakeTransport) Write(frame []byte) error {
	f.mu.Lock()
	f.pending = append(f.pending, append([]byte(nil), frame...))
	f.mu.Unlock()
	return nil
}

func (f *fakeTransport) WriteShared(o *Outbound) error {
	data := o.Prepared(func(d []byte) any { return d }).([]byte)
	f.mu.Lock()
	f.pending = append(f.pending, data)
	f.shared++
	f.mu.Unlock()
	return nil
}

func (f *fakeTransport) WriteSharedRun(os []*Outbound) error {
	f.mu.Lock()
	f.runs++
	f.mu.Unlock()
	for _, o := range os {
		_ = f.WriteShared(o)
	}
	return nil
}

func (f *fakeTransport) Close(d Disconnect) {
	f.mu.Lock()
	f.closed = append(f.closed, d)
	f.mu.Unlock()
}

// runOne runs the oldest scheduled task, if any.
func (f *fakeTransport) runOne() {
	f.mu.Lock()
	if len(f.tasks) == 0 {
		f.mu.Unlock()
		return
	}
	fn := f.tasks[0]
	f.tasks = f.tasks[1:]
	f.mu.Unlock()
	fn()
}

// run runs scheduled tasks, including those they schedule, until none is
// left.
func (f *fakeTransport) run() {
	for {
		f.mu.Lock()
		if len(f.tasks) == 0 {
			f.mu.Unlock()
			return
		}
		fn := f.tasks[0]
		f.tasks = f.tasks[1:]
		f.mu.Unlock()
		fn()
	}
}

// decoded returns every frame written, decoded.
func (f *fakeTransport) decoded(t *testing.T) []*clientv1.ServerFrame {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*clientv1.ServerFrame, 0, len(f.frames))
	for _, b := range f.frames {
		fr := &clientv1.ServerFrame{}
		if err := proto.Unmarshal(b, fr); err != nil {
			t.Fatalf("written frame does not decode: %v", err)
		}
		out = append(out, fr)
	}
	return out
}

// pushes flattens the pushes of every Push and PushBatch frame written.
func (f *fakeTransport) pushes(t *testing.T) []*clientv1.Push {
	t.Helper()
	var out []*clientv1.Push
	for _, fr := range f.decoded(t) {
		switch k := fr.Kind.(type) {
		case *clientv1.ServerFrame_Push:
			out = append(out, k.Push)
		case *clientv1.ServerFrame_Batch:
			out = append(out, k.Batch.GetPushes()...)
		}
	}
	return out
}

func (f *fakeTransport) closes() []Disconnect {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Disconnect(nil), f.closed...)
}
