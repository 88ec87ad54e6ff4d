//go:build lockcheck

package lockorder

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// mustPanic runs f and fails t unless it panics with a message holding
// want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if got := fmt.Sprint(recover()); !strings.Contains(got, want) {
			t.Errorf("panic %q, want one saying %q", got, want)
		}
	}()
	f()
}

// TestInOrderPasses: locks taken in the order, released in any order, and
// taken again, pass.
func TestInOrderPasses(t *testing.T) {
	var (
		stream Mutex[EngineStream]
		user   RWMutex[UserShard]
		group  RWMutex[GroupShard]
		sess   Mutex[Session]
	)
	n := 0 // what the locks guard
	stream.Lock()
	user.RLock()
	group.Lock()
	user.RUnlock() // not LIFO: allowed
	sess.Lock()
	n++
	sess.Unlock()
	group.Unlock()
	user.Lock()
	n++
	user.Unlock()
	stream.Unlock()
	if n != 2 {
		t.Fatal("a critical section did not run")
	}
}

// TestViolationsPanic: a lock taken under a later one, or under one of its
// own rank, panics before it can deadlock, naming both.
func TestViolationsPanic(t *testing.T) {
	var (
		user  RWMutex[UserShard]
		user2 RWMutex[UserShard]
		sess  Mutex[Session]
	)
	sess.Lock()
	mustPanic(t, "takes a hub user shard lock while holding [session]", user.RLock)
	sess.Unlock()

	user.RLock()
	mustPanic(t, "takes a hub user shard lock while holding [hub user shard]", user2.Lock)
	user.RUnlock()

	// Before sync.Mutex.Unlock would fail for good: the check runs first.
	mustPanic(t, "unlocks a session lock it does not hold", sess.Unlock)
}

// TestGoroutinesAreApart: what one goroutine holds does not constrain
// another.
func TestGoroutinesAreApart(t *testing.T) {
	var sess Mutex[Session]
	var user RWMutex[UserShard]
	n := 0 // what user guards
	sess.Lock()
	var wg sync.WaitGroup
	wg.Go(func() {
		user.Lock()
		n++
		user.Unlock()
	})
	wg.Wait()
	sess.Unlock()
	if n != 1 {
		t.Fatal("the other goroutine's critical section did not run")
	}
}
