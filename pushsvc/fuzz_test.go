package pushsvc

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecodeClientFrame feeds arbitrary client messages through the whole
// handling path of a session: it must never panic, and a message it accepts
// must be a ClientFrame with a kind.
func FuzzDecodeClientFrame(f *testing.F) {
	for _, m := range []*clientv1.ClientFrame{
		{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: 7}}},
		{Kind: &clientv1.ClientFrame_Ack{Ack: &clientv1.Ack{Positions: []*clientv1.StreamPosition{{Stream: "user:a", Offset: 3, Epoch: "E"}}}}},
		{Kind: &clientv1.ClientFrame_Resume{Resume: &clientv1.Resume{Streams: []*clientv1.StreamPosition{{Stream: "broadcast", Offset: 1}}}}},
		{Kind: &clientv1.ClientFrame_RefreshToken{RefreshToken: &clientv1.RefreshToken{Token: "a.b.c"}}},
	} {
		f.Add(mustMarshal(f, m))
	}
	f.Add([]byte{})
	f.Add([]byte("\xff\xff"))
	svc, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	ft := &fakeTransport{}
	s, err := svc.Connect(SessionInfo{UserID: "fuzz", OnRefresh: func(string) error { return nil }}, ft)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, derr := DecodeClientFrame(data)
		herr := s.HandleFrame(context.Background(), data)
		if (derr == nil) != (herr == nil) {
			t.Fatalf("decode and handle disagree: %v / %v", derr, herr)
		}
		if derr == nil && fr.Kind == nil {
			t.Fatal("accepted a frame with no kind")
		}
		ft.run()
		ft.mu.Lock()
		ft.frames = ft.frames[:0]
		ft.mu.Unlock()
	})
}
