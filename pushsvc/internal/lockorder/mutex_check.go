//go:build lockcheck

package lockorder

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Checked reports whether this build checks the lock order.
const Checked = true

// Mutex is a sync.Mutex of rank R whose Lock checks the order.
type Mutex[R Rank] struct{ mu sync.Mutex }

// Lock locks m, or panics when the goroutine holds a lock of R's rank or
// a later one.
func (m *Mutex[R]) Lock() { take[R](m.mu.Lock) }

// Unlock unlocks m.
func (m *Mutex[R]) Unlock() { release[R](m.mu.Unlock) }

// RWMutex is a sync.RWMutex of rank R whose Lock and RLock check the
// order.
type RWMutex[R Rank] struct{ mu sync.RWMutex }

// Lock locks m for writing, checking the order as Mutex.Lock does.
func (m *RWMutex[R]) Lock() { take[R](m.mu.Lock) }

// Unlock unlocks m for writing.
func (m *RWMutex[R]) Unlock() { release[R](m.mu.Unlock) }

// RLock locks m for reading, checking the order as Mutex.Lock does.
func (m *RWMutex[R]) RLock() { take[R](m.mu.RLock) }

// RUnlock unlocks m for reading.
func (m *RWMutex[R]) RUnlock() { release[R](m.mu.RUnlock) }

// take checks that the goroutine may take a lock of rank R, takes it with
// lock, and records it.
func take[R Rank](lock func()) {
	var r R
	acquire(r)
	lock()
	held.add(r)
}

// release forgets a lock of rank R the goroutine holds and releases it
// with unlock.
func release[R Rank](unlock func()) {
	var r R
	held.remove(r)
	unlock()
}

// held is the ranks each goroutine holds, in the order it took them.
var held = heldRanks{by: make(map[uint64][]Rank)}

type heldRanks struct {
	mu sync.Mutex // guards by
	by map[uint64][]Rank
}

// acquire panics when the calling goroutine may not take a lock of rank
// r: it holds one of r's rank or a later one.
func acquire(r Rank) {
	g := goid()
	held.mu.Lock()
	hs := slices.Clone(held.by[g])
	held.mu.Unlock()
	for _, h := range hs {
		if h.rank() >= r.rank() {
			names := make([]string, len(hs))
			for i, h := range hs {
				names[i] = h.String()
			}
			panic(fmt.Sprintf("lockorder: goroutine %d takes a %s lock while holding [%s]: see pushsvc/internal/lockorder for the order",
				g, r, strings.Join(names, ", ")))
		}
	}
}

func (h *heldRanks) add(r Rank) {
	g := goid()
	h.mu.Lock()
	h.by[g] = append(h.by[g], r)
	h.mu.Unlock()
}

// remove forgets the latest r the goroutine holds. It panics when it holds
// none: a lock unlocked by another goroutine than the one that locked it,
// which the order cannot follow.
func (h *heldRanks) remove(r Rank) {
	g := goid()
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.by[g]
	i := len(hs) - 1
	for i >= 0 && hs[i].rank() != r.rank() {
		i--
	}
	if i < 0 {
		panic(fmt.Sprintf("lockorder: goroutine %d unlocks a %s lock it does not hold", g, r))
	}
	hs = slices.Delete(hs, i, i+1)
	if len(hs) == 0 {
		delete(h.by, g)
		return
	}
	h.by[g] = hs
}

// goid returns the calling goroutine's id, from the first line of its
// stack trace ("goroutine 42 [running]:"): slow, but this build is for
// tests.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("lockorder: cannot read the goroutine id from " + strconv.Quote(string(buf[:])))
	}
	return id
}
