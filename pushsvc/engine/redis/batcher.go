package redis

import (
	"context"
	"runtime"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Bounds of one pipeline of publish scripts.
const (
	// slotsPerMaster is how many pipelines of publishes may be on the
	// wire to one Redis master at once. While they are, the publishes that
	// arrive wait and leave together in the next one. Redis runs commands
	// one at a time, so more in flight only split them into more, smaller
	// pipelines; a second one keeps the connection busy while a reply is
	// read. With 64 publishers on one node (BenchmarkPublish
	// redis/1-node-parallel, 2 cores shared with other work) one, two and
	// four cost about the same CPU per publish (10-16 µs here, 12-17 µs
	// in Redis), for 0.04, 0.06 and 0.11 round trips per publish; two was
	// the fastest.
	slotsPerMaster = 2
	// maxBatch and maxBatchBytes cap a pipeline, so that it fits the
	// write buffer of go-redis's pipeline connections (128 KiB), and large
	// payloads do not hold the others long. A pipeline takes at least one
	// publish.
	maxBatch      = 128
	maxBatchBytes = 128 << 10
)

// batcher sends the publish scripts of concurrent Publish calls to Redis
// in shared pipelines, as rueidis does with every command: go-redis alone
// sends one command per pooled connection and round trip, so each push
// cost a write and a read system call on both sides and a turn of Redis's
// event loop.
//
// There is no goroutine and no timer. A Publish that finds fewer than
// slotsPerMaster pipelines on the wire to its stream's master sends its
// script at once, on its own goroutine, with whatever queued, in one
// pipeline: at low load that is its script alone, as before, with no
// added latency. One that finds them all busy queues; the caller whose
// pipeline returns hands the lead to the first caller in the queue, who
// sends the next pipeline with whatever queued by then. So under load
// each round trip carries what arrived during the previous one.
//
// Nothing is ever sent twice after it may have run. A pipeline is written
// and read once (the commands say NoRetry, and the clients have no
// retries); a command whose reply was lost to a broken or timed-out
// connection may have run, and its caller fails with ErrUnavailable as a
// lone command's would, free to retry with its idempotency key, which the
// script checks (scripts.go). Only a command Redis refused without running
// it is sent again, alone, through the ordinary client (refusedUnrun):
// redirected on a Redis Cluster (MOVED, ASK: the cluster client follows
// them), refused during a slot move (TRYAGAIN), or not in the script cache
// (NOSCRIPT, after a restart: Script.Run loads it).
//
// On a Redis Cluster each master has its own queue and pipelines, found
// from the stream's slot, so that a master that is slow or down holds up
// only its own slots' publishes.
//
// What grows: a queue holds callers blocked in Publish, so it is bounded
// by the number of concurrent publishers (the gRPC server's limits); a
// caller whose context ends while queued leaves the queue, its script
// unsent.
type batcher struct {
	// immutable after init
	client  goredis.UniversalClient
	cluster *goredis.ClusterClient // nil on a standalone Redis
	ctx     context.Context        // the engine's: Close ends the pipelines on the wire
	timeout time.Duration          // bounds each pipeline's round trip

	mu     sync.Mutex                 // guards routes, their fields, and the calls' state and lead
	routes map[*goredis.Client]*route // masters with pipelines on the wire, by client
}

// route is the pipelines of publishes to one Redis master.
type route struct {
	client *goredis.Client
	queue  []*pubCall // waiting for a pipeline, in arrival order
	flying int        // pipelines on the wire, at most slotsPerMaster
}

// pubCall is one Publish's script on its way.
type pubCall struct {
	cmd  noRetryCmd
	keys []string
	args []any
	size int // its payload's bytes, for maxBatchBytes

	state callState // guarded by batcher.mu
	// done carries one token: the call's command has its reply (or
	// error), or, with state callLeads, the call is to send the next
	// pipeline.
	done chan struct{}
}

type callState uint8

const (
	callQueued callState = iota
	callSent             // in a pipeline another caller sends
	callLeads            // out of the queue, to send the next pipeline
	callGone             // left the queue unsent: its context ended
)

// noRetryCmd is a command go-redis never sends again after a failure,
// whatever a client's retry settings.
type noRetryCmd struct{ *goredis.Cmd }

// NoRetry implements goredis.Cmder.
func (noRetryCmd) NoRetry() bool { return true }

func (b *batcher) init(client goredis.UniversalClient, ctx context.Context, timeout time.Duration) {
	b.client = client
	b.cluster, _ = client.(*goredis.ClusterClient)
	b.ctx = ctx
	b.timeout = timeout
	b.routes = make(map[*goredis.Client]*route)
}

// publish runs the publish script with keys and args, in a pipeline with
// the other callers' when they are concurrent, and returns its reply. size
// is the payload's length.
func (b *batcher) publish(ctx context.Context, keys []string, args []any, size int) ([]any, error) {
	c := &pubCall{keys: keys, args: args, size: size, done: make(chan struct{}, 1)}
	master := b.masterOf(ctx, keys[0])
	if master == nil {
		// The cluster client knows no master for the slot now: the
		// ordinary path finds one, or fails as it would have.
		return b.alone(ctx, c)
	}
	full := make([]any, 0, 3+len(keys)+len(args))
	full = append(full, "evalsha", publishScript.Hash(), len(keys))
	for _, k := range keys {
		full = append(full, k)
	}
	c.cmd = noRetryCmd{goredis.NewCmd(ctx, append(full, args...)...)}

	b.mu.Lock()
	r := b.routes[master]
	if r == nil {
		r = &route{client: master}
		b.routes[master] = r
	}
	if r.flying < slotsPerMaster {
		r.flying++
		b.mu.Unlock()
		b.lead(r, c)
		return b.result(ctx, c)
	}
	r.queue = append(r.queue, c)
	b.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		b.mu.Lock()
		if c.state == callQueued {
			r.removeLocked(c)
			c.state = callGone
			b.mu.Unlock()
			return nil, ctx.Err()
		}
		b.mu.Unlock()
		// On the wire, or about to be sent by this caller: the round
		// trip is bounded by timeout.
		<-c.done
	}
	if c.state == callLeads { // written before the token was sent
		b.lead(r, c)
	}
	return b.result(ctx, c)
}

// lead sends c and what queued behind it as one pipeline, holding one of
// r's slots. It first lets the goroutines that are ready run: under load
// some of them are publishes, which then queue and join this pipeline.
// That is no wait when nothing else is ready (a low load), and no timer.
// With the node and Redis on one core, where Redis answers as soon as it
// is written to, it took a round trip from 2 publishes on average to 4
// to 13, and cut Redis's CPU per publish from 31-33 µs to 23-26 µs, the
// node's staying at 93-101 µs (herald bench --scenario users at
// saturation).
func (b *batcher) lead(r *route, c *pubCall) {
	runtime.Gosched()
	b.mu.Lock()
	batch := r.takeLocked(c)
	b.mu.Unlock()
	b.send(r, batch)
}

// masterOf is the client of the master that holds key: the one client on
// a standalone Redis, nil when the cluster client cannot tell.
func (b *batcher) masterOf(ctx context.Context, key string) *goredis.Client {
	if b.cluster == nil {
		c, _ := b.client.(*goredis.Client)
		return c
	}
	c, err := b.cluster.MasterForKey(ctx, key)
	if err != nil {
		return nil
	}
	return c
}

// takeLocked removes from the queue what the next pipeline carries,
// after first when there is one.
func (r *route) takeLocked(first *pubCall) []*pubCall {
	n, size := 0, 0
	if first != nil {
		n, size = 1, first.size
	}
	k := 0
	for k < len(r.queue) && n < maxBatch && (n == 0 || size+r.queue[k].size <= maxBatchBytes) {
		size += r.queue[k].size
		n++
		k++
	}
	batch := make([]*pubCall, 0, n)
	if first != nil {
		first.state = callSent
		batch = append(batch, first)
	}
	for _, c := range r.queue[:k] {
		c.state = callSent
		batch = append(batch, c)
	}
	// Shift rather than reslice, so the queue's array is reused and
	// holds no call that has left it.
	rest := copy(r.queue, r.queue[k:])
	clear(r.queue[rest:])
	r.queue = r.queue[:rest]
	return batch
}

func (r *route) removeLocked(c *pubCall) {
	for i, q := range r.queue {
		if q == c {
			last := len(r.queue) - 1
			copy(r.queue[i:], r.queue[i+1:])
			r.queue[last] = nil
			r.queue = r.queue[:last]
			return
		}
	}
}

// send writes batch, whose first call is the caller's, as one pipeline,
// reads the replies, wakes the other callers, and hands what queued
// meanwhile to the first of them that is still waiting.
func (b *batcher) send(r *route, batch []*pubCall) {
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	pipe := r.client.Pipeline()
	for _, c := range batch {
		_ = pipe.Process(ctx, c.cmd)
	}
	// Each command carries its own outcome; Exec's error is the first.
	_, _ = pipe.Exec(ctx)
	cancel()
	for _, c := range batch[1:] {
		c.done <- struct{}{}
	}
	b.mu.Lock()
	if len(r.queue) == 0 {
		if r.flying--; r.flying == 0 {
			delete(b.routes, r.client)
		}
		b.mu.Unlock()
		return
	}
	next := r.queue[0]
	r.removeLocked(next)
	next.state = callLeads
	b.mu.Unlock()
	next.done <- struct{}{}
}

// result is c's reply, sending c again alone when Redis refused it
// without running it.
func (b *batcher) result(ctx context.Context, c *pubCall) ([]any, error) {
	err := c.cmd.Err()
	if err != nil && refusedUnrun(err) {
		return b.alone(ctx, c)
	}
	return c.cmd.Slice()
}

// alone runs c's script by itself through the client, which follows
// cluster redirects and loads the script when Redis lost it.
func (b *batcher) alone(ctx context.Context, c *pubCall) ([]any, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return publishScript.Run(cctx, b.client, c.keys, c.args...).Slice()
}

// refusedUnrun reports whether Redis answered err instead of running the
// command: a redirect, a slot in the middle of a move, or an unknown
// script.
func refusedUnrun(err error) bool {
	if _, ok := goredis.IsMovedError(err); ok {
		return true
	}
	if _, ok := goredis.IsAskError(err); ok {
		return true
	}
	return goredis.IsTryAgainError(err) || goredis.HasErrorPrefix(err, "NOSCRIPT")
}
