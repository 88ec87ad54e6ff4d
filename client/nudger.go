package client

import (
	"sync"
	"time"
)

// nudger has the server answer a Ping once a fill's deadline has passed:
// the Pong then runs gaps.expire on the connection's ReadLoop goroutine,
// which owns the fills and calls the app's callbacks. A deadline is thus
// acted on where the callbacks run, never concurrently with them, and
// without a goroutine per connection: a timer exists only while a fill
// waits.
type nudger struct {
	ping func() // sends the Ping; safe from any goroutine

	mu      sync.Mutex // guards the fields below
	timer   *time.Timer
	at      time.Time // when timer fires
	gen     uint64    // of timer, so a firing older timer does not clear a newer one
	stopped bool
	flights sync.WaitGroup // a scheduled ping, until it ran or was stopped
}

// arm has the Ping sent at at, unless one is due earlier.
func (n *nudger) arm(at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || (n.timer != nil && !at.Before(n.at)) {
		return
	}
	if n.timer != nil && n.timer.Stop() {
		n.flights.Done()
	}
	n.gen++
	gen := n.gen
	n.at = at
	n.flights.Add(1)
	n.timer = time.AfterFunc(time.Until(at), func() {
		defer n.flights.Done()
		n.mu.Lock()
		if n.gen == gen {
			n.timer = nil
		}
		stopped := n.stopped
		n.mu.Unlock()
		if !stopped {
			n.ping()
		}
	})
}

// disarm cancels the Ping scheduled, if any.
func (n *nudger) disarm() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.timer != nil && n.timer.Stop() {
		n.timer = nil
		n.flights.Done()
	}
}

// stop cancels what is scheduled and waits for a Ping being sent.
func (n *nudger) stop() {
	n.mu.Lock()
	n.stopped = true
	if n.timer != nil && n.timer.Stop() {
		n.timer = nil
		n.flights.Done()
	}
	n.mu.Unlock()
	n.flights.Wait()
}
