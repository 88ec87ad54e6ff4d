package pushsvc

import (
	"fmt"
	"strings"
	"testing"
)

// state returns s's three machines.
func state(s *Session) (lifecycle, writerState, resumePhase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.life, s.writerState, s.resumePhase
}

// TestGracefulCloseStates: Close moves a session to closing, its writer
// writes what was queued, closes the transport and goes idle (closed);
// Disconnected removes it, once.
func TestGracefulCloseStates(t *testing.T) {
	svc := newTestService(t, Options{})
	s, ft := connect(t, svc, "alice")
	if l, w, r := state(s); l != lifeOpen || w != writerScheduled || r != resumeNone {
		t.Fatalf("after Connect: %v, %v, %v; want open, scheduled (the Welcome), none", l, w, r)
	}
	ft.run()
	if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	s.Close(DisconnectShutdown)
	if l, w, _ := state(s); l != lifeClosing || w != writerScheduled {
		t.Fatalf("after Close: %v, %v; want closing, scheduled", l, w)
	}
	ft.run()
	if l, w, _ := state(s); l != lifeClosed || w != writerIdle {
		t.Fatalf("after the flush: %v, %v; want closed, idle", l, w)
	}
	if n := len(ft.pushes(t)); n != 1 {
		t.Errorf("%d pushes written before the close, want 1", n)
	}
	if c := ft.closes(); len(c) != 1 || c[0] != DisconnectShutdown {
		t.Errorf("transport closes %v, want one %v", c, DisconnectShutdown)
	}
	svc.Disconnected(s)
	svc.Disconnected(s)
	if l, _, _ := state(s); l != lifeRemoved {
		t.Errorf("after Disconnected: %v, want removed", l)
	}
	if st := svc.Stats(ctx(t)); st.Connections != 0 {
		t.Errorf("%d connections after Disconnected, want 0", st.Connections)
	}
}

// TestAbortWhileClosing: an Abort during a graceful close drops the queue
// and closes at once with its own Disconnect; the session leaves the hub.
func TestAbortWhileClosing(t *testing.T) {
	svc := newTestService(t, Options{})
	s, ft := connect(t, svc, "alice")
	ft.run()
	if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	s.Close(DisconnectShutdown)
	s.Abort(DisconnectBadFrame)
	if l, _, _ := state(s); l != lifeRemoved {
		t.Fatalf("after Abort: %v, want removed (finishAbort unregisters)", l)
	}
	ft.run()
	if n := len(ft.pushes(t)); n != 0 {
		t.Errorf("%d pushes written after the Abort, want 0", n)
	}
	if c := ft.closes(); len(c) != 1 || c[0] != DisconnectBadFrame {
		t.Errorf("transport closes %v, want one %v", c, DisconnectBadFrame)
	}
	if st := svc.Stats(ctx(t)); st.Drops != 1 || st.Connections != 0 {
		t.Errorf("drops %d, connections %d; want 1 and 0", st.Drops, st.Connections)
	}
}

// TestCloseEndsResumeHold: a resume=1 session closed before its Resume
// came holds nothing any longer; ResumeWait passing afterwards writes
// nothing after the close frame.
func TestCloseEndsResumeHold(t *testing.T) {
	svc := newTestService(t, Options{})
	ft := &fakeTransport{}
	s, err := svc.Connect(SessionInfo{UserID: "alice", AwaitResume: true}, ft)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, r := state(s); r != resumeAwaiting {
		t.Fatalf("resume=1 session starts %v, want awaiting", r)
	}
	if _, err := svc.PushToUsers(ctx(t), []string{"alice"}, Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	s.Close(DisconnectShutdown)
	ft.run()
	if _, _, r := state(s); r != resumeNone {
		t.Errorf("after Close: resume %v, want none", r)
	}
	s.releaseHold() // what the ResumeWait timer runs
	ft.run()
	if n := len(ft.pushes(t)); n != 0 {
		t.Errorf("%d held pushes written after the close, want 0", n)
	}
}

// TestIllegalTransitionsPanic: the machines refuse what they do not
// allow, loudly under test.
func TestIllegalTransitionsPanic(t *testing.T) {
	svc := newTestService(t, Options{})
	cases := []struct {
		name string
		do   func(s *Session)
		want string
	}{
		{"a flush nobody scheduled", func(s *Session) { s.w.Flush() }, "illegal writer transition from idle to a flush"},
		{"reopening a removed session", func(s *Session) {
			svc.Disconnected(s)
			s.mu.Lock()
			defer s.mu.Unlock()
			s.setLifeLocked(lifeOpen)
		}, "illegal life transition from removed to open"},
		{"closing an aborted session", func(s *Session) {
			s.Abort(DisconnectBadFrame)
			s.mu.Lock()
			defer s.mu.Unlock()
			s.setLifeLocked(lifeClosing)
		}, "illegal life transition from removed to closing"},
		{"awaiting a Resume mid-connection", func(s *Session) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.setResumeLocked(resumeAwaiting)
		}, "illegal resume transition from none to awaiting"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ft := connect(t, svc, "alice")
			ft.run()
			defer func() {
				if got := fmt.Sprint(recover()); !strings.Contains(got, tc.want) {
					t.Errorf("panic %q, want one saying %q", got, tc.want)
				}
			}()
			tc.do(s)
		})
	}
}
