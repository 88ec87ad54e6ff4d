package wsgate

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writerSlice is how long a writer runs flushes before it yields the
// processor (runtime.Gosched), so that a gRPC call that became runnable
// meanwhile does not wait for a whole broadcast: one push to 10,000
// connections keeps a writer busy for about 110 ms on one core.
const writerSlice = 500 * time.Microsecond

// writerCount is how many writers a Gateway runs with procs processors:
// all but one, and at least one. A writer never waits on a socket, so more
// writers than processors would only take turns; and while every
// processor runs a writer, the Go runtime looks for network events only
// every 10 ms (its sysmon), so a gRPC call waits that long before it even
// starts. One processor left idle sits in the network poller and takes a
// call at once. During a broadcast at 40/s to 10,000 connections on one
// core, a GetStats took p50 9-11 ms, p99 35-48 ms with one processor
// running the one writer, and p50 4 ms, p99 10-14 ms with two processors
// and one writer (README, Performance; herald serve runs with at least
// two).
func writerCount(procs int) int { return max(1, procs-1) }

// writerPool runs the sessions' flushes: a few goroutines (writerCount),
// owned by the Gateway and stopped by its Close, take the connections
// whose sessions scheduled a flush from one ready queue, oldest first, and
// run each flush, whose frames go to the socket in one write that never
// waits (rawwrite.go). A socket whose buffer is full has its flush
// finished by a goroutine of its own, also owned by the pool.
//
// It replaces gws's write queue (Conn.Async), which runs each
// connection's writes on a goroutine of its own: one broadcast to 10,000
// connections made 10,000 goroutines runnable, and everything else the
// node did, a gRPC call included, waited behind them.
type writerPool struct {
	// immutable after newWriterPool
	slice  time.Duration       // writerSlice
	epoch  time.Time           // when the pool started: conn.scheduledAt counts from it
	waited prometheus.Observer // how long each flush waited for a writer

	mu   sync.Mutex
	work sync.Cond // a worker waits on it for the queue to fill; L is &mu
	// The ready queue, linked through conn.nextReady, guarded by mu. A
	// connection is in it at most once: a session has at most one flush
	// scheduled or running (pushsvc.Transport.Schedule), and a flush
	// that found its socket held is scheduled again only by the writer
	// that releases it (wireConn.release).
	head, tail *conn
	idle       int  // workers waiting on work; guarded by mu
	stopped    bool // guarded by mu: the workers end once the queue is empty

	wg sync.WaitGroup // the workers and the goroutines finishing writes
}

// newWriterPool starts n workers.
func newWriterPool(n int, slice time.Duration, waited prometheus.Observer) *writerPool {
	p := &writerPool{slice: slice, epoch: time.Now(), waited: waited}
	p.work.L = &p.mu
	p.wg.Add(n)
	for range n {
		go p.run()
	}
	return p
}

// schedule puts c's flush in the ready queue. It never blocks for long
// and allocates nothing. After close, nothing runs it: every session of
// the gateway has gone by then, and so has its need to write.
func (p *writerPool) schedule(c *conn) {
	now := time.Since(p.epoch)
	p.mu.Lock()
	c.scheduledAt = now
	if p.tail == nil {
		p.head = c
	} else {
		p.tail.nextReady = c
	}
	p.tail = c
	wake := p.idle > 0
	p.mu.Unlock()
	if wake {
		p.work.Signal()
	}
}

// next takes the oldest connection from the queue, waiting for one, and
// returns it with when it was scheduled; nil once the pool is stopped and
// the queue empty.
func (p *writerPool) next() (*conn, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.head == nil {
		if p.stopped {
			return nil, 0
		}
		p.idle++
		p.work.Wait()
		p.idle--
	}
	c := p.head
	p.head, c.nextReady = c.nextReady, nil
	if p.head == nil {
		p.tail = nil
	}
	return c, c.scheduledAt
}

// writer is what a worker keeps from one flush to the next.
type writer struct {
	frames []byte    // the running flush's frames
	raw    *rawWrite // its non-blocking write
}

// run is a worker: it runs the flushes of the queue, one at a time.
func (p *writerPool) run() {
	defer p.wg.Done()
	w := &writer{raw: newRawWrite()}
	start := time.Since(p.epoch) // of the running slice
	for {
		c, scheduled := p.next()
		if c == nil {
			return
		}
		now := time.Since(p.epoch)
		p.waited.Observe((now - scheduled).Seconds())
		if now-start >= p.slice {
			runtime.Gosched()
			start = time.Since(p.epoch)
		}
		c.runFlush(w)
		if cap(w.frames) > maxKeptBuffer {
			w.frames = nil // one flush of a session's whole queue: do not keep it
		}
	}
}

// maxKeptBuffer is the largest flush buffer a worker keeps for the next
// flush. A flush is usually a push or a batch (MaxBatchBytes, 64 KiB);
// one that took a session's whole queue (1 MiB) is not kept.
const maxKeptBuffer = 256 << 10

// close stops the workers once the queue is empty and waits for them and
// for the writes they handed to goroutines of their own.
func (p *writerPool) close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.work.Broadcast()
	p.wg.Wait()
}
