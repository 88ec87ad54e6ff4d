//go:build !lockcheck

package lockorder

import "sync"

// Checked reports whether this build checks the lock order.
const Checked = false

// Mutex is a sync.Mutex of rank R.
type Mutex[R Rank] struct{ sync.Mutex }

// RWMutex is a sync.RWMutex of rank R.
type RWMutex[R Rank] struct{ sync.RWMutex }
