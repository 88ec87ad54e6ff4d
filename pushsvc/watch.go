package pushsvc

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Watching events. A watcher reads the engine's event log from a cursor
// (or from now on), filtered by kind and user: first on its own, the
// events between its cursor and where the node's shared reader stood when
// it joined (catch-up), then the batches the shared reader hands it
// (eventhub.go). Its position in each partition of the log tells both
// apart: an event at or before it was seen and is skipped, so the two
// meet with no gap and nothing twice. Delivery is at least once across
// reconnects: a caller resumes after the last cursor it processed.

// WatchRequest says which events a watcher wants and from where.
type WatchRequest struct {
	// Kinds are the kinds wanted; empty means every kind.
	Kinds []engine.EventKind
	// Users are the users whose events are wanted; empty means everyone.
	Users []string
	// Cursor resumes after the event that carried it; empty means from
	// now on.
	Cursor string
}

// WatchedEvent is an event and the cursor that resumes after it.
type WatchedEvent struct {
	engine.Event
	Cursor string
}

// Watcher is one caller's stream of events. Next and Close are called by
// one goroutine, the caller's.
type Watcher struct {
	// immutable after WatchEvents
	hub   *eventHub
	kinds uint8               // bit k set: kind k wanted; 0: every kind
	users map[string]struct{} // nil: every user
	wake  chan struct{}       // one token: pending or err changed

	// owned by the caller's goroutine
	pos      engine.Cursor // position in the log: everything at or before it was seen
	upTo     engine.Cursor // where catch-up ends: the shared reader's position at the join
	catching bool          // reading the log on its own up to upTo
	closed   bool

	// guarded by hub.mu
	pending  [][]engine.Event // batches from the shared reader, oldest first
	buffered int              // events in pending
	err      error            // why the watcher was cut; nil while it is not
}

// WatchEvents starts a watcher. Its events come from Next until Close.
func (s *Service) WatchEvents(ctx context.Context, r WatchRequest) (*Watcher, error) {
	if s.events == nil {
		return nil, ErrEventsUnsupported
	}
	w := &Watcher{hub: s.events, wake: make(chan struct{}, 1)}
	for _, k := range r.Kinds {
		if k < 1 || k > engine.NumEventKinds {
			return nil, fmt.Errorf("%w: unknown event kind %d", ErrInvalidArgument, k)
		}
		w.kinds |= 1 << k
	}
	if len(r.Users) > 0 {
		w.users = make(map[string]struct{}, len(r.Users))
		for _, u := range r.Users {
			w.users[u] = struct{}{}
		}
	}
	var from engine.Cursor
	if r.Cursor != "" {
		c, err := engine.ParseCursor(r.Cursor)
		if err != nil {
			return nil, fmt.Errorf("%w: cursor: not a cursor this service issued", ErrInvalidArgument)
		}
		from = c
	}
	if err := s.events.add(ctx, w, from); err != nil {
		return nil, err
	}
	return w, nil
}

// Next returns the next events, at least one, oldest first, waiting for
// them until ctx ends. It fails with ErrCursorExpired when the watcher's
// cursor is no longer in the log, ErrWatcherTooSlow when the watcher was
// cut, ErrClosed when the service closes, and ErrUnavailable when the log
// cannot be read.
func (w *Watcher) Next(ctx context.Context) ([]WatchedEvent, error) {
	for {
		if err := w.cutErr(); err != nil {
			return nil, err
		}
		if w.catching {
			evs, err := w.hub.log.ReadEvents(ctx, w.pos, w.upTo, w.hub.batch)
			if err != nil {
				return nil, w.hub.readErr(ctx, err)
			}
			if len(evs) == 0 {
				w.catching = false
				continue
			}
			if out := w.take(nil, evs); len(out) > 0 {
				return out, nil
			}
			continue
		}
		w.hub.mu.Lock()
		batches, err := w.pending, w.err
		w.pending, w.buffered = nil, 0
		w.hub.mu.Unlock()
		if err != nil {
			return nil, err
		}
		var out []WatchedEvent
		for _, b := range batches {
			out = w.take(out, b)
		}
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (w *Watcher) cutErr() error {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return w.err
}

// take appends to out the events of evs the watcher has not seen and
// wants, each with its cursor, and moves past all of evs.
func (w *Watcher) take(out []WatchedEvent, evs []engine.Event) []WatchedEvent {
	for i := range evs {
		ev := &evs[i]
		if w.pos.Covers(ev) {
			continue
		}
		w.pos.Advance(ev)
		if !w.wants(ev) {
			continue
		}
		out = append(out, WatchedEvent{Event: *ev, Cursor: w.pos.String()})
	}
	return out
}

func (w *Watcher) wants(ev *engine.Event) bool {
	if w.kinds != 0 && w.kinds&(1<<ev.Kind) == 0 {
		return false
	}
	if w.users != nil {
		if _, ok := w.users[ev.UserID]; !ok {
			return false
		}
	}
	return true
}

// Close ends the watcher. It is safe to call more than once.
func (w *Watcher) Close() {
	if w.closed {
		return
	}
	w.closed = true
	w.hub.remove(w)
}

// readErr words a failed read of the log for a watcher.
func (h *eventHub) readErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, engine.ErrCursorExpired):
		return fmt.Errorf("%w: %w", ErrCursorExpired, err)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return ctx.Err()
	}
	return errUnavailable(err)
}
