package grpcapi_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
	"github.com/herald-push/herald/pushsvc"
)

// fakeSession is a pushsvc session over a fakeTransport.
type fakeSession struct {
	*pushsvc.Session
	transport *fakeTransport
}

// connect registers a session for info with svc; with ack set, it
// acknowledges every push it is sent.
func connect(t *testing.T, svc *pushsvc.Service, info pushsvc.SessionInfo, ack bool) fakeSession {
	t.Helper()
	ft := &fakeTransport{t: t, ack: ack}
	sess, err := svc.Connect(info, ft)
	if err != nil {
		t.Fatal(err)
	}
	ft.sess.Store(sess)
	t.Cleanup(func() { svc.Disconnected(sess) })
	return fakeSession{Session: sess, transport: ft}
}

// fakeTransport runs the session's writer inline, which is allowed since
// its writes never block, and acknowledges pushes when ack is set, the way
// an app would.
type fakeTransport struct {
	t    *testing.T
	ack  bool
	sess atomic.Pointer[pushsvc.Session] // set after Connect

	mu     sync.Mutex // guards closed
	closed []pushsvc.Disconnect
}

func (f *fakeTransport) Schedule(w pushsvc.Writer) { w.Flush() }

func (f *fakeTransport) Write(frame []byte) error {
	var sf clientv1.ServerFrame
	if err := proto.Unmarshal(frame, &sf); err != nil {
		f.t.Errorf("server wrote an undecodable frame: %v", err)
		return err
	}
	pushes := sf.GetBatch().GetPushes()
	if p := sf.GetPush(); p != nil {
		pushes = append(pushes, p)
	}
	sess := f.sess.Load()
	if !f.ack || len(pushes) == 0 || sess == nil {
		return nil
	}
	a := &clientv1.Ack{}
	for _, p := range pushes {
		a.Positions = append(a.Positions, &clientv1.StreamPosition{Stream: p.GetStream(), Offset: p.GetOffset(), Epoch: p.GetEpoch()})
	}
	data, err := proto.Marshal(&clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ack{Ack: a}})
	if err != nil {
		return err
	}
	return sess.HandleFrame(context.Background(), data)
}

func (f *fakeTransport) WriteShared(o *pushsvc.Outbound) error {
	o.Prepared(func(data []byte) any { return data })
	return f.Write(o.Data())
}

func (f *fakeTransport) WriteSharedRun(os []*pushsvc.Outbound) error {
	for _, o := range os {
		if err := f.WriteShared(o); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeTransport) Close(d pushsvc.Disconnect) {
	f.mu.Lock()
	f.closed = append(f.closed, d)
	f.mu.Unlock()
}

func (f *fakeTransport) closes() []pushsvc.Disconnect {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pushsvc.Disconnect(nil), f.closed...)
}
