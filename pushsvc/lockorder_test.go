//go:build lockcheck

package pushsvc

import (
	"fmt"
	"strings"
	"testing"
)

// TestLockOrderViolationIsCaught: the lockcheck build checks pushsvc's
// own locks: asking the hub about a session while holding the session's
// lock (the hub's lock comes first) panics.
func TestLockOrderViolationIsCaught(t *testing.T) {
	svc := newTestService(t, Options{})
	s, ft := connect(t, svc, "alice", "g")
	ft.run()
	defer func() {
		want := "takes a hub user shard lock while holding [session]"
		if got := fmt.Sprint(recover()); !strings.Contains(got, want) {
			t.Errorf("panic %q, want one saying %q", got, want)
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	svc.hub.receives(s, "g")
}
