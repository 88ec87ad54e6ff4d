package bench

import (
	"sync/atomic"
)

// recorder collects what the clients of one process receive: per rate
// step, a latency histogram whose count is also the step's deliveries.
// It is safe for concurrent use; recording allocates nothing.
type recorder struct {
	// immutable after newRecorder
	tag   uint32
	steps []*shardedHist

	// foreign counts pushes whose payload is not from this run (another
	// tool pushing to the same server, or a step index out of range).
	foreign atomic.Uint64
}

func newRecorder(tag uint32, steps int) *recorder {
	r := &recorder{tag: tag, steps: make([]*shardedHist, steps)}
	for i := range r.steps {
		r.steps[i] = new(shardedHist)
	}
	return r
}

// frame records every push of one ServerFrame received at now (UnixNano)
// by the client whose index is shard, and returns the frame's kind.
func (r *recorder) frame(b []byte, shard int, now int64) frameKind {
	return scanFrame(b, func(p []byte) {
		sent, tag, step, ok := parsePayload(p)
		if !ok || tag != r.tag || step >= len(r.steps) {
			r.foreign.Add(1)
			return
		}
		r.steps[step].record(shard, now-sent)
	})
}

// received is the number of deliveries of this run recorded so far.
func (r *recorder) received() uint64 {
	var n uint64
	for _, s := range r.steps {
		n += s.count()
	}
	return n
}

// snapshots copies every step's histogram.
func (r *recorder) snapshots() []histSnapshot {
	out := make([]histSnapshot, len(r.steps))
	for i, s := range r.steps {
		out[i] = s.snapshot()
	}
	return out
}
