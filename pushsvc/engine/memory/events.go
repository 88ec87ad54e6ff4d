package memory

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

// eventLog is the in-memory event log: one partition, the last
// events, bounded by a count and an age. Its fingerprint is drawn at
// start, so a cursor from a previous process is told apart.
type eventLog struct {
	// immutable after newEventLog
	fingerprint uint64
	max         int
	maxAge      time.Duration
	now         func() time.Time

	mu lockorder.Mutex[lockorder.EventLog] // guards everything below
	// The events held, oldest first, in chunks of eventChunk: chunks[0]
	// holds the oldest at index head. Chunks come and go as events do,
	// so the log holds about what it keeps. A ring grown by doubling
	// held up to twice that and left its old arrays as garbage: 20,000
	// connect events (10,000 clients) took 7.3 MB of ring and as much
	// garbage, 1.5-2 KiB of RSS per idle connection.
	chunks [][]engine.Event
	spare  []engine.Event // the last chunk emptied, for the next one needed
	head   int            // index in chunks[0] of the oldest event
	n      int            // events held
	last   engine.EventID // id of the last event appended (zero before any)
	wake   chan struct{}  // closed on append, then replaced
}

// eventChunk is how many events a chunk of the log holds: 256 events of
// about 230 bytes, 58 KB.
const eventChunk = 256

func newEventLog(max int, maxAge time.Duration, now func() time.Time) *eventLog {
	var b [8]byte
	_, _ = rand.Read(b[:])
	fp := binary.BigEndian.Uint64(b[:]) | 1 // never 0: a zero Cursor is no cursor
	return &eventLog{fingerprint: fp, max: max, maxAge: maxAge, now: now, wake: make(chan struct{})}
}

// append adds evs, setting their positions.
func (l *eventLog) append(evs []engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	ms := uint64(max(now.UnixMilli(), 1))
	for _, ev := range evs {
		// Ms never goes backwards, so ids grow even if the clock does.
		l.last = engine.EventID{Ms: max(ms, l.last.Ms), Seq: l.last.Seq + 1}
		ev.Part, ev.ID = 0, l.last
		l.pushLocked(ev)
	}
	l.expireLocked(now)
	close(l.wake)
	l.wake = make(chan struct{})
}

func (l *eventLog) pushLocked(ev engine.Event) {
	if l.n == l.max {
		l.dropOldestLocked()
	}
	pos := l.head + l.n
	if pos/eventChunk == len(l.chunks) {
		c := l.spare
		if c == nil {
			c = make([]engine.Event, eventChunk)
		}
		l.chunks, l.spare = append(l.chunks, c), nil
	}
	l.chunks[pos/eventChunk][pos%eventChunk] = ev
	l.n++
}

// at returns the i-th oldest event held.
func (l *eventLog) at(i int) *engine.Event {
	pos := l.head + i
	return &l.chunks[pos/eventChunk][pos%eventChunk]
}

// dropOldestLocked forgets the oldest event, and its chunk once empty.
func (l *eventLog) dropOldestLocked() {
	*l.at(0) = engine.Event{}
	l.head++
	l.n--
	if l.head == eventChunk || l.n == 0 {
		l.spare = l.chunks[0]
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.head = 0
	}
}

// expire drops the events older than maxAge.
func (l *eventLog) expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
}

// expireLocked drops the events older than maxAge, oldest first.
func (l *eventLog) expireLocked(now time.Time) {
	cut := uint64(now.Add(-l.maxAge).UnixMilli())
	for l.n > 0 && l.at(0).ID.Ms < cut {
		l.dropOldestLocked()
	}
}

func (l *eventLog) headCursor() engine.Cursor {
	l.mu.Lock()
	defer l.mu.Unlock()
	return engine.Cursor{Log: l.fingerprint, Parts: []engine.EventID{l.last}}
}

// read implements ReadEvents.
func (l *eventLog) read(after, upTo engine.Cursor, limit int) ([]engine.Event, error) {
	if after.Log != l.fingerprint || len(after.Parts) != 1 || (!upTo.IsZero() && len(upTo.Parts) != 1) {
		return nil, engine.ErrCursorExpired
	}
	from := after.Parts[0].Seq
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(l.now())
	if from > l.last.Seq {
		return nil, engine.ErrCursorExpired // ahead of the log
	}
	first := l.last.Seq + 1 - uint64(l.n) // seq of the oldest held event
	if from+1 < first {
		return nil, engine.ErrCursorExpired // events after it were dropped
	}
	end := l.last.Seq
	if !upTo.IsZero() {
		end = min(end, upTo.Parts[0].Seq)
	}
	if from >= end || limit <= 0 {
		return nil, nil
	}
	count := min(end-from, uint64(limit))
	out := make([]engine.Event, 0, count)
	for i := from + 1 - first; i < from+1-first+count; i++ {
		out = append(out, *l.at(int(i)))
	}
	return out, nil
}

// changed returns the channel the next append closes.
func (l *eventLog) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wake
}

// AppendEvents implements engine.EventLog.
func (e *Engine) AppendEvents(_ context.Context, evs []engine.Event) error {
	e.events.append(evs)
	return nil
}

// EventsHead implements engine.EventLog.
func (e *Engine) EventsHead(context.Context) (engine.Cursor, error) {
	return e.events.headCursor(), nil
}

// ReadEvents implements engine.EventLog.
func (e *Engine) ReadEvents(_ context.Context, after, upTo engine.Cursor, limit int) ([]engine.Event, error) {
	return e.events.read(after, upTo, limit)
}

// TailEvents implements engine.EventLog: appends close the log's channel.
func (e *Engine) TailEvents(engine.Cursor) engine.Tail { return memTail{e.events} }

type memTail struct{ l *eventLog }

func (t memTail) Changed() <-chan struct{} { return t.l.changed() }
func (memTail) Close()                     {}
