package pushsvc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// eventHub fans the event log out to this node's watchers. While there is
// at least one, one reader goroutine reads the log after its position,
// woken by the engine's tail, and hands each batch to every watcher:
// appended to the watcher's pending batches, never waited for. Batches
// are shared, read-only. A watcher with more than Options.WatcherBuffer
// events pending is cut (ErrWatcherTooSlow) and its batches dropped, so a
// slow watcher costs the reader nothing and memory no more than its
// buffer.
type eventHub struct {
	// immutable after newEventHub
	svc    *Service
	log    engine.EventLog
	batch  int // events per read
	buffer int // Options.WatcherBuffer
	warn   *rateLimitedWarn

	mu sync.Mutex // guards everything below and every Watcher's pending, buffered and err
	// watchers has one entry per WatchEvents call open: its caller bounds
	// them (the gRPC adapter: grpcapi's Capacity.MaxEventWatchers).
	watchers map[*Watcher]struct{}
	run      *readerRun // the running reader; nil while there is none
	closed   bool

	wg sync.WaitGroup // reader goroutines, awaited by close
}

// readBatch bounds the events one read of the log returns.
const readBatch = 512

// eventPoll is how often the shared reader reads the log without being
// woken: a tail that missed a wake-up (after an error) costs at most this.
const eventPoll = 2 * time.Second

// readerRun is one life of the shared reader.
type readerRun struct {
	pos    engine.Cursor // after the last batch handed out; guarded by eventHub.mu
	cancel context.CancelFunc
}

func newEventHub(s *Service, log engine.EventLog) *eventHub {
	return &eventHub{
		svc:      s,
		log:      log,
		batch:    max(1, min(readBatch, s.opts.WatcherBuffer/4)), // a watcher may lag a few batches
		buffer:   s.opts.WatcherBuffer,
		warn:     newRateLimitedWarn(s.opts.Logger, "reading the event log failed; watchers wait; retrying"),
		watchers: make(map[*Watcher]struct{}),
	}
}

// add registers w, starting the shared reader at the log's head when
// none runs. With a cursor, w first catches up from it to the reader's
// position; without, it starts there.
func (h *eventHub) add(ctx context.Context, w *Watcher, from engine.Cursor) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if h.run == nil {
		// The head is read without the lock: it is a network call.
		h.mu.Unlock()
		hctx, cancel := context.WithTimeout(ctx, clusterTimeout)
		head, err := h.log.EventsHead(hctx)
		cancel()
		h.mu.Lock()
		if err != nil {
			return errUnavailable(err)
		}
		if h.closed {
			return ErrClosed
		}
		if h.run == nil {
			h.startLocked(head)
		}
	}
	w.upTo = h.run.pos.Clone()
	if from.IsZero() {
		w.pos = w.upTo.Clone()
	} else {
		w.pos, w.catching = from.Clone(), true
	}
	h.watchers[w] = struct{}{}
	return nil
}

// startLocked starts a reader at head.
func (h *eventHub) startLocked(head engine.Cursor) {
	ctx, cancel := context.WithCancel(context.Background())
	run := &readerRun{pos: head, cancel: cancel}
	h.run = run
	h.wg.Add(1)
	go h.read(ctx, run, head.Clone())
}

// remove unregisters w and stops the reader after the last watcher.
func (h *eventHub) remove(w *Watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
	w.pending, w.buffered = nil, 0
	if len(h.watchers) == 0 && h.run != nil {
		h.run.cancel()
		h.run = nil
	}
}

// close cuts every watcher with ErrClosed and waits for the reader.
func (h *eventHub) close() {
	h.mu.Lock()
	h.closed = true
	h.cutAllLocked(ErrClosed)
	h.mu.Unlock()
	h.wg.Wait()
}

// cutAllLocked cuts every watcher with err and stops the reader.
func (h *eventHub) cutAllLocked(err error) {
	for w := range h.watchers {
		h.cutLocked(w, err)
	}
	if h.run != nil {
		h.run.cancel()
		h.run = nil
	}
}

func (h *eventHub) cutLocked(w *Watcher, err error) {
	w.err = err
	w.pending, w.buffered = nil, 0
	delete(h.watchers, w)
	signal(w.wake)
}

// read is the shared reader goroutine of run, reading from pos.
func (h *eventHub) read(ctx context.Context, run *readerRun, pos engine.Cursor) {
	defer h.wg.Done()
	tail := h.log.TailEvents(pos)
	defer tail.Close()
	poll := time.NewTimer(eventPoll)
	defer poll.Stop()
	for {
		changed := tail.Changed()
		evs, err := h.log.ReadEvents(ctx, pos, engine.Cursor{}, h.batch)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, engine.ErrCursorExpired):
			// The log started over (Redis lost it), or this reader fell
			// behind its retention: what the watchers were to get next
			// is gone, and so are the events after their cursors.
			h.svc.opts.Logger.Warn("the event log no longer holds this node's position; cutting its watchers", "err", err)
			h.mu.Lock()
			if h.run == run {
				h.cutAllLocked(fmt.Errorf("%w: the event log no longer holds this node's position: %w", ErrCursorExpired, err))
			}
			h.mu.Unlock()
			return
		case err != nil:
			h.warn.warn(h.svc.opts.Now(), "err", err)
			changed = nil // wait for the poll: a failing log does not wake
		case len(evs) > 0:
			for i := range evs {
				pos.Advance(&evs[i])
			}
			h.handOut(run, evs, pos.Clone())
			continue
		}
		poll.Reset(eventPoll)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-poll.C:
		}
	}
}

// handOut gives a batch to every watcher, cutting those it overfills.
func (h *eventHub) handOut(run *readerRun, evs []engine.Event, pos engine.Cursor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run != run {
		return // a reader that was stopped
	}
	run.pos = pos
	for w := range h.watchers {
		if w.buffered+len(evs) > h.buffer {
			h.cutLocked(w, fmt.Errorf("%w: more than %d events waited for it", ErrWatcherTooSlow, h.buffer))
			continue
		}
		w.pending = append(w.pending, evs)
		w.buffered += len(evs)
		signal(w.wake)
	}
}

// signal leaves a token in a one-token channel.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
