package client

import (
	"sync"
	"time"

	clientv1 "github.com/herald-push/herald/gen/herald/client/v1"
)

// ackEvery is the shortest gap between two automatic Acks of a connection.
// One Ack per received frame would spend the server's per-connection frame
// budget (client-frames-per-second) on a busy stream; at most 50 Acks a
// second cost receipts at most 20ms.
const ackEvery = 20 * time.Millisecond

// acker coalesces automatic Acks: positions delivered within ackEvery of
// the last Ack go out together, in one Ack, when the gap has passed.
type acker struct {
	send func([]*clientv1.StreamPosition)

	mu      sync.Mutex // guards the fields below
	pending []*clientv1.StreamPosition
	last    time.Time
	timer   *time.Timer
	stopped bool
	flights sync.WaitGroup // a scheduled flush, until it ran or was stopped
}

func newAcker(send func([]*clientv1.StreamPosition)) *acker { return &acker{send: send} }

// add acks sps now, or with the next flush when one was just sent.
func (a *acker) add(sps []*clientv1.StreamPosition) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	a.pending = mergePositions(a.pending, sps)
	if a.timer != nil {
		a.mu.Unlock()
		return
	}
	if wait := ackEvery - time.Since(a.last); wait > 0 {
		a.flights.Add(1)
		a.timer = time.AfterFunc(wait, a.flush)
		a.mu.Unlock()
		return
	}
	out := a.takeLocked()
	a.mu.Unlock()
	a.send(out)
}

func (a *acker) flush() {
	defer a.flights.Done()
	a.mu.Lock()
	a.timer = nil
	if a.stopped {
		a.mu.Unlock()
		return
	}
	out := a.takeLocked()
	a.mu.Unlock()
	a.send(out)
}

func (a *acker) takeLocked() []*clientv1.StreamPosition {
	out := a.pending
	a.pending = nil
	a.last = time.Now()
	return out
}

// stop drops what is pending (the connection is gone) and waits for a
// flush in flight.
func (a *acker) stop() {
	a.mu.Lock()
	a.stopped = true
	if a.timer != nil && a.timer.Stop() {
		a.timer = nil
		a.flights.Done()
	}
	a.mu.Unlock()
	a.flights.Wait()
}

// mergePositions keeps the highest offset per stream, the newer epoch
// winning.
func mergePositions(dst, src []*clientv1.StreamPosition) []*clientv1.StreamPosition {
	for _, p := range src {
		merged := false
		for i, q := range dst {
			if q.GetStream() == p.GetStream() {
				if q.GetEpoch() != p.GetEpoch() || p.GetOffset() > q.GetOffset() {
					dst[i] = p
				}
				merged = true
				break
			}
		}
		if !merged {
			dst = append(dst, p)
		}
	}
	return dst
}
