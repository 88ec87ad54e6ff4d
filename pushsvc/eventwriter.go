package pushsvc

import (
	"context"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

// maxPendingEvents bounds the events waiting for the event writer. Past
// it new ones are dropped and counted: while the log is unreachable a
// node keeps at most this many (about 200 bytes each).
const maxPendingEvents = 16384

// eventWriter appends the events this node records (undelivered pushes,
// and with the in-memory engine nothing else goes through it) off the
// paths that make them: fan-out and a session's enqueue must never wait
// on the network. One goroutine, owned by the Service and stopped by
// Close, appends what is pending in batches.
type eventWriter struct {
	log     engine.EventLog
	wake    chan struct{} // one token: pending changed
	stop    chan struct{}
	stopped chan struct{}

	mu      lockorder.Mutex[lockorder.EventWriter] // guards pending and dropped
	pending []engine.Event
	dropped uint64 // events dropped because pending was full

	warn *rateLimitedWarn // owned by the writer goroutine
}

func newEventWriter(s *Service, log engine.EventLog) *eventWriter {
	return &eventWriter{
		log:     log,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		warn:    newRateLimitedWarn(s.opts.Logger, "appending events failed: the event log is unreachable; retrying"),
	}
}

// add queues evs. It never blocks.
func (q *eventWriter) add(evs ...engine.Event) {
	if q == nil || len(evs) == 0 {
		return
	}
	q.mu.Lock()
	room := maxPendingEvents - len(q.pending)
	if len(evs) > room {
		q.dropped += uint64(len(evs) - max(room, 0))
		evs = evs[:max(room, 0)]
	}
	q.pending = append(q.pending, evs...)
	q.mu.Unlock()
	signal(q.wake)
}

// run is the writer goroutine: it appends what is pending, waiting
// presenceRetry after a failure, until stop; then it makes one last
// attempt.
func (q *eventWriter) run(s *Service) {
	defer close(q.stopped)
	for {
		select {
		case <-q.stop:
			q.flush(s)
			return
		case <-q.wake:
		}
		if !q.flush(s) {
			select {
			case <-q.stop:
				return
			case <-time.After(presenceRetry):
			}
			signal(q.wake)
		}
	}
}

// flush appends everything pending; on failure it puts it back, ahead of
// what came meanwhile, and reports false.
func (q *eventWriter) flush(s *Service) bool {
	q.mu.Lock()
	batch := q.pending
	q.pending = nil
	dropped := q.dropped
	q.dropped = 0
	q.mu.Unlock()
	if dropped > 0 {
		s.opts.Logger.Warn("events dropped: too many waited for the event log", "dropped", dropped)
	}
	if len(batch) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	err := q.log.AppendEvents(ctx, batch)
	cancel()
	if err == nil {
		return true
	}
	q.warn.warn(s.opts.Now(), "pending_events", len(batch), "err", err)
	q.mu.Lock()
	q.pending = append(batch, q.pending...)
	if over := len(q.pending) - maxPendingEvents; over > 0 {
		q.pending = q.pending[:maxPendingEvents]
		q.dropped += uint64(over)
	}
	q.mu.Unlock()
	return false
}
