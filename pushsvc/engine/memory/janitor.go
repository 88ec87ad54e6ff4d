package memory

import "time"

// janitor forgets streams whose history is empty and that saw no
// publication for a whole history TTL, expired idempotent ids, and events
// past the event log's age bound (appends and reads drop them too, but a
// quiet node makes neither). A
// forgotten stream starts over in a new epoch, which tells a resuming client
// that its history is gone.
func (e *Engine) janitor() {
	defer close(e.done)
	every := min(max(e.opts.HistoryTTL/2, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.sweep(e.opts.Now())
		}
	}
}

// sweep does one janitor pass at now.
func (e *Engine) sweep(now time.Time) {
	e.events.expire(now)
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for name, s := range sh.streams {
			s.mu.Lock()
			s.expireLocked(now, e.opts.HistoryTTL)
			s.ids.expire(now, e.opts.HistoryTTL)
			idle := s.n == 0 && now.Sub(s.last) >= e.opts.HistoryTTL
			s.mu.Unlock()
			if idle {
				delete(sh.streams, name)
			}
		}
		sh.mu.Unlock()
	}
}
