package memory

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"hash/maphash"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/pushsvc/internal/lockorder"
)

const shardCount = 64

// Engine is the in-memory engine.
type Engine struct {
	// immutable after New
	opts   Options
	seed   maphash.Seed
	shards [shardCount]shard
	events *eventLog
	stop   chan struct{}
	done   chan struct{}
}

type shard struct {
	mu      lockorder.Mutex[lockorder.EngineShard] // guards streams
	streams map[string]*stream
}

// stream is one stream's position and history.
type stream struct {
	mu      lockorder.Mutex[lockorder.EngineStream] // guards the fields below and delivery order
	epoch   string
	offset  uint64
	last    time.Time             // time of the last publication
	history []*engine.Publication // ring buffer, grown on demand up to HistorySize
	head    int                   // index of the oldest retained publication
	n       int                   // number of retained publications
	ids     streamIDs             // idempotent message ids of the last history TTL
}

var (
	_ engine.Engine   = (*Engine)(nil)
	_ engine.EventLog = (*Engine)(nil)
)

// New starts an in-memory engine.
func New(opts Options) (*Engine, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		opts: opts,
		seed: maphash.MakeSeed(),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	e.events = newEventLog(opts.EventRetention, opts.EventMaxAge, opts.Now)
	for i := range e.shards {
		e.shards[i].streams = make(map[string]*stream)
	}
	go e.janitor()
	return e, nil
}

func (e *Engine) shard(name string) *shard {
	return &e.shards[maphash.String(e.seed, name)%shardCount]
}

// Publish implements engine.Engine.
func (e *Engine) Publish(_ context.Context, name string, m engine.Message) (*engine.Publication, int, error) {
	sh := e.shard(name)
	sh.mu.Lock()
	s := sh.streams[name]
	if s == nil {
		s = &stream{epoch: newEpoch()}
		sh.streams[name] = s
	}
	s.mu.Lock()
	sh.mu.Unlock()
	defer s.mu.Unlock()

	now := e.opts.Now()
	if m.Idempotent {
		// Checked and recorded under the stream's lock, with the
		// publication: two publishes of one id cannot both pass.
		s.ids.expire(now, e.opts.HistoryTTL)
		if off, ok := s.ids.lookup(m.ID); ok {
			return &engine.Publication{Message: m, Stream: name, Offset: off, Epoch: s.epoch}, 0, engine.ErrDuplicate
		}
	}
	s.offset++
	s.last = now
	p := &engine.Publication{Message: m, Stream: name, Offset: s.offset, Epoch: s.epoch, Time: now}
	s.appendLocked(p, e.opts.HistorySize)
	if m.Idempotent {
		s.ids.record(m.ID, p.Offset, now)
	}
	return p, e.opts.Handler.Deliver(p), nil
}

// Since implements engine.Engine.
func (e *Engine) Since(_ context.Context, name string, pos engine.Position, limit int) ([]*engine.Publication, engine.Position, bool, error) {
	sh := e.shard(name)
	sh.mu.Lock()
	s := sh.streams[name]
	if s == nil {
		sh.mu.Unlock()
		// Nothing was ever published (or all of it was forgotten): only a
		// client that saw nothing has missed nothing.
		return nil, engine.Position{}, pos.Offset == 0, nil
	}
	s.mu.Lock()
	sh.mu.Unlock()
	defer s.mu.Unlock()

	cur := engine.Position{Offset: s.offset, Epoch: s.epoch}
	if pos.Epoch != "" && pos.Epoch != s.epoch {
		return nil, cur, false, nil
	}
	if pos.Epoch == "" && pos.Offset != 0 {
		return nil, cur, false, nil
	}
	if pos.Offset > s.offset {
		return nil, cur, false, nil
	}
	s.expireLocked(e.opts.Now(), e.opts.HistoryTTL)
	missed := int(s.offset - pos.Offset)
	if missed == 0 {
		return nil, cur, true, nil
	}
	if missed > s.n {
		return nil, cur, false, nil
	}
	n := missed
	if limit >= 0 && limit < n {
		n = limit
	}
	if n == 0 {
		return nil, cur, true, nil
	}
	out := make([]*engine.Publication, 0, n)
	for i := s.n - missed; i < s.n-missed+n; i++ {
		out = append(out, s.history[(s.head+i)%len(s.history)])
	}
	return out, cur, true, nil
}

// Positions implements engine.Engine. Each stream's position is read
// under its lock, which Publish holds from assigning an offset to the end
// of Handler.Deliver: a publication is either delivered before the read,
// at or below the position, or assigned an offset after it.
func (e *Engine) Positions(_ context.Context, names []string) ([]engine.Position, error) {
	out := make([]engine.Position, len(names))
	for i, name := range names {
		sh := e.shard(name)
		sh.mu.Lock()
		s := sh.streams[name]
		if s == nil {
			sh.mu.Unlock()
			continue // never published, or forgotten: the zero position
		}
		s.mu.Lock()
		sh.mu.Unlock()
		out[i] = engine.Position{Offset: s.offset, Epoch: s.epoch}
		s.mu.Unlock()
	}
	return out, nil
}

// Close stops the janitor.
func (e *Engine) Close() error {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	<-e.done
	return nil
}

// appendLocked adds p to the ring, growing it up to limit entries, then
// dropping the oldest; a limit of 0 or less (NoHistory) keeps nothing. Growing on demand keeps a stream that saw one push
// at a few slots, not limit: most user streams are short.
func (s *stream) appendLocked(p *engine.Publication, limit int) {
	if limit <= 0 {
		return
	}
	if s.n == len(s.history) {
		if len(s.history) < limit {
			grown := make([]*engine.Publication, min(max(2*len(s.history), 4), limit))
			for i := range s.n {
				grown[i] = s.history[(s.head+i)%len(s.history)]
			}
			s.history, s.head = grown, 0
		} else {
			s.history[s.head] = nil
			s.head = (s.head + 1) % len(s.history)
			s.n--
		}
	}
	s.history[(s.head+s.n)%len(s.history)] = p
	s.n++
}

// expireLocked drops publications past their time to live, oldest first.
// A publication's own TTL may only shorten the stream's.
func (s *stream) expireLocked(now time.Time, ttl time.Duration) {
	for s.n > 0 {
		p := s.history[s.head]
		life := ttl
		if p.TTL > 0 && p.TTL < life {
			life = p.TTL
		}
		if now.Sub(p.Time) < life {
			// Publications with a short TTL may sit behind older ones that
			// live longer; they stay until those go. Since treats them as
			// present, which errs on the side of delivering.
			return
		}
		s.history[s.head] = nil
		s.head = (s.head + 1) % len(s.history)
		s.n--
	}
}

func newEpoch() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.EncodeToString(b[:])
}
