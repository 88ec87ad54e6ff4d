package pushsvc

import (
	"testing"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

func pingFrame(t *testing.T, nonce uint64) []byte {
	return mustMarshal(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_Ping{Ping: &clientv1.Ping{Nonce: nonce}}})
}

// TestDropOldestDropsOnlyPushes: drop-oldest makes room by dropping the
// oldest pushes, never the Welcome, a Pong, a ResumeResult or an Error
// queued before them.
func TestDropOldestDropsOnlyPushes(t *testing.T) {
	svc := newTestService(t, Options{SendQueueLen: 6, SlowPolicy: SlowDropOldest})
	s, ft := connect(t, svc, "alice") // queued: Welcome
	push := func() { _, _ = svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"}) }
	push() // offset 1
	if err := s.HandleFrame(ctx(t), pingFrame(t, 7)); err != nil {
		t.Fatal(err)
	}
	push() // offset 2
	if err := s.HandleFrame(ctx(t), resumeFrame(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.HandleFrame(ctx(t), mustMarshal(t, &clientv1.ClientFrame{Kind: &clientv1.ClientFrame_RefreshToken{RefreshToken: &clientv1.RefreshToken{}}})); err != nil {
		t.Fatal(err)
	}
	// Six frames wait: Welcome, 1, Pong, 2, ResumeResult, Error. Each push
	// now drops the oldest push.
	push() // offset 3 drops 1
	push() // offset 4 drops 2
	push() // offset 5 drops 3
	ft.run()
	var kinds []string
	for _, f := range ft.decoded(t) {
		switch {
		case f.GetWelcome() != nil:
			kinds = append(kinds, "welcome")
		case f.GetPong() != nil:
			kinds = append(kinds, "pong")
		case f.GetResumeResult() != nil:
			kinds = append(kinds, "result")
		case f.GetError() != nil:
			kinds = append(kinds, "error")
		}
	}
	if got := len(kinds); got != 4 || kinds[0] != "welcome" || kinds[1] != "pong" || kinds[2] != "result" || kinds[3] != "error" {
		t.Errorf("control frames written %v, want [welcome pong result error]", kinds)
	}
	if ps := ft.pushes(t); len(ps) != 2 || ps[0].GetOffset() != 4 || ps[1].GetOffset() != 5 {
		t.Errorf("pushes %v, want the newest two, 4 and 5", ps)
	}
	if st := svc.Stats(ctx(t)); st.Drops != 3 || st.SlowConsumerDisconnects != 0 {
		t.Errorf("drops %d, slow-consumer closes %d; want 3 and 0", st.Drops, st.SlowConsumerDisconnects)
	}
	if len(ft.closes()) != 0 {
		t.Errorf("closed: %v", ft.closes())
	}
}

// TestDropOldestFallsBackToDisconnect: when the queue is over its budget
// and holds no push to drop, drop-oldest closes the session as a slow
// consumer (4003), by frame count and by bytes.
func TestDropOldestFallsBackToDisconnect(t *testing.T) {
	for name, opts := range map[string]Options{
		"frames": {SendQueueLen: 3, SlowPolicy: SlowDropOldest},
		"bytes":  {SendQueueBytes: 512, SlowPolicy: SlowDropOldest},
	} {
		t.Run(name, func(t *testing.T) {
			svc := newTestService(t, opts)
			s, ft := connect(t, svc, "alice") // queued: Welcome
			for i := range 2 {
				if err := s.HandleFrame(ctx(t), pingFrame(t, uint64(i))); err != nil {
					t.Fatal(err)
				}
			}
			res, _ := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t", Payload: make([]byte, 600)})
			if res.Delivered != 0 {
				t.Errorf("push delivered to a session with nothing to drop: %+v", res)
			}
			if cl := ft.closes(); len(cl) != 1 || cl[0].Code != CodeSlowConsumer {
				t.Fatalf("closes %v, want one 4003", cl)
			}
			if st := svc.Stats(ctx(t)); st.SlowConsumerDisconnects != 1 {
				t.Errorf("slow-consumer closes %d, want 1", st.SlowConsumerDisconnects)
			}
		})
	}
}
