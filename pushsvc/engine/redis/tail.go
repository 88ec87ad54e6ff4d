package redis

import (
	"context"
	"errors"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// tailBlock is how long one XREAD of a tail waits for an event.
const tailBlock = 5 * time.Second

// tailBatch bounds what one XREAD of a tail returns; the tail only needs
// to know that something came, and where it ends.
const tailBatch = 256

// A tail tells its owner when events are appended to the log: goroutines
// blocked in XREAD on the log's streams, one for all sixteen on a
// standalone Redis, one per partition on a Redis Cluster (a command there
// reaches one slot). They read on a client of their own, created with the
// first tail, so that a blocked read never holds a connection that pushes
// and presence writes need. The owner reads the events with ReadEvents,
// which checks the cursor; a tail only wakes it.
type tail struct {
	// immutable after TailEvents
	e      *Engine
	client goredis.UniversalClient
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex    // guards ch
	ch chan struct{} // closed when events may have come, then replaced
}

// TailEvents implements engine.EventLog. Without a client for blocked
// reads (the engine is closed, or it cannot be made), the tail never
// wakes its owner, who reads now and then on its own.
func (e *Engine) TailEvents(from engine.Cursor) engine.Tail {
	t := &tail{e: e, ch: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(e.ctx)
	e.tailMu.Lock()
	defer e.tailMu.Unlock()
	if e.closed() {
		return t
	}
	if e.tailClient == nil {
		c, err := e.newTailClient()
		if err != nil {
			e.log.Warn("event tail: no client for blocked reads; watchers are woken by polling", "err", err)
			return t
		}
		e.tailClient = c
	}
	t.client = e.tailClient
	var groups [][]int
	if _, cluster := e.client.(*goredis.ClusterClient); cluster {
		for p := range numPartitions {
			groups = append(groups, []int{p})
		}
	} else {
		all := make([]int, numPartitions)
		for p := range all {
			all[p] = p
		}
		groups = [][]int{all}
	}
	e.tails.Add(len(groups))
	t.wg.Add(len(groups))
	for _, g := range groups {
		ids := make([]string, len(g))
		for i, p := range g {
			ids[i] = "$"
			if len(from.Parts) == numPartitions {
				ids[i] = formatID(from.Parts[p])
			}
		}
		go t.run(g, ids)
	}
	return t
}

// fromHead sets ids to the last events of parts now, or, when Redis does
// not answer, to "$" (what comes after the XREAD starts): the owner's own
// reads cover what the tail then misses.
func (t *tail) fromHead(parts []int, ids []string) {
	head, err := t.e.readParts(t.ctx, nil, engine.Cursor{}, 0)
	for i, p := range parts {
		ids[i] = "$"
		if err == nil {
			ids[i] = formatID(head[p].last)
		}
	}
}

// newTailClient makes the client of the tails' blocked reads: like the
// engine's, with a pool for one blocked read per partition.
func (e *Engine) newTailClient() (goredis.UniversalClient, error) {
	ro, err := goredis.ParseURL(e.opts.URL)
	if err != nil {
		return nil, err
	}
	ro = e.opts.clientOptions(ro)
	ro.ClientName += "-events"
	if _, cluster := e.client.(*goredis.ClusterClient); !cluster {
		ro.PoolSize = 2
		return goredis.NewClient(ro), nil
	}
	co, err := e.opts.clusterOptions(ro)
	if err != nil {
		return nil, err
	}
	co.PoolSize = numPartitions + 1
	return goredis.NewClusterClient(co), nil
}

// Changed implements engine.Tail.
func (t *tail) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ch
}

func (t *tail) signal() {
	t.mu.Lock()
	close(t.ch)
	t.ch = make(chan struct{})
	t.mu.Unlock()
}

// Close implements engine.Tail.
func (t *tail) Close() {
	t.cancel()
	t.wg.Wait()
}

// run blocks in XREAD on the streams of parts from ids until the tail is
// closed, and wakes the owner whenever it returns entries. After an error
// (Redis restarted, a slot moved) it wakes the owner too, who reads and
// so finds out, waits, and starts again from the log's head: what came
// in between, the owner's read finds.
func (t *tail) run(parts []int, ids []string) {
	defer t.e.tails.Done()
	defer t.wg.Done()
	streams := make([]string, 0, 2*len(parts))
	for _, p := range parts {
		streams = append(streams, t.e.keys.ev[p])
	}
	backoff := minBackoff
	for t.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(t.ctx, tailBlock+t.e.opts.CommandTimeout)
		res, err := t.client.XRead(ctx, &goredis.XReadArgs{
			Streams: append(streams[:len(parts):len(parts)], ids...),
			Count:   tailBatch,
			Block:   tailBlock,
		}).Result()
		cancel()
		switch {
		case errors.Is(err, goredis.Nil):
			continue // nothing within tailBlock
		case err != nil:
			if t.ctx.Err() != nil {
				return
			}
			t.signal()
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			t.fromHead(parts, ids)
			continue
		}
		backoff = minBackoff
		for _, st := range res {
			for i, p := range parts {
				if t.e.keys.ev[p] == st.Stream && len(st.Messages) > 0 {
					ids[i] = st.Messages[len(st.Messages)-1].ID
				}
			}
		}
		t.signal()
	}
}
