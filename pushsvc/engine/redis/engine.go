package redis

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Engine is the Redis engine: one per node, all nodes of a cluster sharing
// one Redis, standalone or Redis Cluster. It implements engine.Engine and
// engine.Cluster.
type Engine struct {
	// immutable after New
	opts     Options
	keys     keys
	client   goredis.UniversalClient // a *goredis.ClusterClient on a Redis Cluster
	subs     []*subscription         // the receiver's subscriptions
	log      *slog.Logger
	instance string          // this process's heartbeat value, to spot a second process with our NodeID
	ctx      context.Context // canceled by Close; parent of the goroutines' calls
	cancel   context.CancelFunc
	stop     chan struct{} // closed by Close
	ready    chan struct{} // closed when every subscription was first confirmed
	events   chan rxEvent  // from the subscription readers to the dispatcher
	wg       sync.WaitGroup

	closeOnce sync.Once

	seq        atomic.Uint64 // request ids of Publish and Disconnect
	knownNodes atomic.Int64  // size of the node registry at the last heartbeat
	pending    pendingSet    // requests waiting for the nodes' counts
	batch      batcher       // pipelines of concurrent publishes
	replies    replyQueue    // counts this node owes other nodes, for the replier

	beating atomic.Bool // the last heartbeat reached Redis; written by the keeper

	// owned by the dispatcher goroutine
	rx            rxState
	confirmedOnce int // subscriptions confirmed at least once

	presMu sync.Mutex             // guards conns; held across presence writes to keep them ordered
	conns  map[string]engine.Conn // this node's registered connections by session id
	resync atomic.Bool            // Redis lost this node's presence records: rewrite them

	masterRuns map[string]string // a Redis Cluster's masters' run ids by address; set by join, then owned by the keeper

	tailMu     sync.Mutex              // guards tailClient, and tails.Add against Close
	tailClient goredis.UniversalClient // the event tails' client (tail.go); nil before the first tail
	tails      sync.WaitGroup          // the event tails' goroutines

	gate atomic.Pointer[chan struct{}] // tests: while set, the readers wait before subscribing
}

var (
	_ engine.Engine  = (*Engine)(nil)
	_ engine.Cluster = (*Engine)(nil)
)

// New connects to Redis, standalone or a Redis Cluster (told apart by the
// server's INFO), clears what a previous life of this node left there,
// starts the receiver, replier and keeper goroutines, and returns once the
// node is subscribed to every partition channel and its inbox (or ctx is
// done). It fails when Redis is unreachable or older than 7.0.
func New(ctx context.Context, opts Options) (*Engine, error) {
	opts.setDefaults()
	ro, err := opts.validate()
	if err != nil {
		return nil, err
	}
	useClientLogger(opts.Logger)
	cctx, ccancel := context.WithTimeout(ctx, 3*opts.CommandTimeout)
	client, cluster, err := connect(cctx, &opts, ro)
	ccancel()
	if err != nil {
		return nil, err
	}
	ectx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		opts:     opts,
		keys:     newKeys(opts.KeyPrefix, opts.NodeID),
		client:   client,
		log:      opts.Logger.With("engine", "redis", "node", opts.NodeID),
		instance: randomID(),
		ctx:      ectx,
		cancel:   cancel,
		stop:     make(chan struct{}),
		ready:    make(chan struct{}),
		events:   make(chan rxEvent, rxQueue),
		conns:    make(map[string]engine.Conn),
	}
	e.subs = e.newSubscriptions(cluster)
	if cluster {
		e.log.Info("Redis Cluster: sharded pub/sub, one subscription per partition", "partitions", numPartitions)
	}
	e.pending.init(opts.NodeID)
	e.batch.init(client, ectx, opts.CommandTimeout)
	e.replies.init()
	e.rx.init()
	// Request ids start at random so that counts meant for a previous life
	// of this NodeID cannot be taken for ours.
	e.seq.Store(binary.BigEndian.Uint64(randomBytes(8)) >> 1)

	if err := e.join(ctx); err != nil {
		cancel()
		_ = e.client.Close()
		return nil, err
	}
	e.wg.Add(3 + len(e.subs))
	go e.dispatch()
	for _, s := range e.subs {
		go e.read(s)
	}
	go e.sendReplies()
	go e.keep()
	// The first subscriptions take one round trip; the cap is for a
	// caller without a deadline.
	limit := time.NewTimer(5 * e.opts.CommandTimeout)
	defer limit.Stop()
	select {
	case <-e.ready:
		return e, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-limit.C:
		err = context.DeadlineExceeded
	}
	_ = e.shutdown(true)
	return nil, fmt.Errorf("redis: subscribe: %w: %w", engine.ErrUnavailable, err)
}

// join clears this node's records from a previous life (a restart with
// the same NodeID), and sends the first heartbeat.
func (e *Engine) join(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*e.opts.CommandTimeout)
	defer cancel()
	prev, err := e.client.Get(ctx, e.keys.node).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return unavailable(ctx, "join", err)
	}
	if prev != "" {
		e.log.Warn("node id was heartbeating when this node started: a restart within the node TTL, or another process with the same node id", "node_ttl", e.opts.NodeTTL)
	}
	if err := e.reapNode(ctx, e.opts.NodeID, true, "node restarted"); err != nil {
		return unavailable(ctx, "join", err)
	}
	if _, err := e.heartbeat(ctx); err != nil {
		return unavailable(ctx, "join", err)
	}
	e.masterRestarted(ctx) // learns the masters' run ids
	e.beating.Store(true)
	return nil
}

// NodeID implements engine.Cluster.
func (e *Engine) NodeID() string { return e.opts.NodeID }

// Healthy implements engine.Cluster: the node is subscribed to every
// partition channel and its inbox, and its last heartbeat reached Redis.
func (e *Engine) Healthy() bool {
	return e.subscribed() && e.beating.Load() && !e.closed()
}

// Close stops the engine's goroutines, waits for them, and removes this
// node's heartbeat, presence records and stats from Redis (best effort),
// so that they leave presence at once rather than after NodeTTL.
func (e *Engine) Close() error {
	return e.shutdown(true)
}

// shutdown stops everything; leave removes this node's records. Without
// leave it is what a killed process leaves behind, which tests use.
func (e *Engine) shutdown(leave bool) error {
	var err error
	e.closeOnce.Do(func() {
		close(e.stop)
		e.cancel()
		for _, s := range e.subs {
			if ps := s.ps.Load(); ps != nil {
				// Unblocks the reader's read.
				_ = ps.Close()
			}
		}
		e.wg.Wait()
		// No tail starts once stop is closed; those running end with ctx.
		e.tailMu.Lock()
		tc := e.tailClient
		e.tailMu.Unlock()
		e.tails.Wait()
		if tc != nil {
			_ = tc.Close()
		}
		if leave {
			ctx, cancel := context.WithTimeout(context.Background(), e.opts.CommandTimeout)
			if lerr := e.leave(ctx); lerr != nil {
				e.log.Warn("leaving the cluster failed; records expire with the node TTL", "err", lerr)
			}
			cancel()
		}
		err = e.client.Close()
	})
	return err
}

func (e *Engine) leave(ctx context.Context) error {
	if err := e.reapNode(ctx, e.opts.NodeID, true, "node left"); err != nil {
		return err
	}
	// Two slots: not a transaction. If the second fails, the janitors
	// drop this node from the set once its heartbeat is gone.
	pipe := e.client.Pipeline()
	pipe.Del(ctx, e.keys.node)
	pipe.SRem(ctx, e.keys.nodes, e.opts.NodeID)
	_, err := pipe.Exec(ctx)
	return err
}

func (e *Engine) closed() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}

// expected is how many counts to wait for when SPUBLISH reached receivers
// subscribers. Every node subscribes once to each partition channel, so
// receivers is the number of nodes that got the message, exactly; but any
// other client subscribed to the channel (an operator's redis-cli SUBSCRIBE) counts too and
// would never answer. The node registry, which holds every node from its
// start until its records are reaped, caps it; a registry seen smaller
// than receivers is read again first, as a node may just have joined.
func (e *Engine) expected(ctx context.Context, receivers int64) int {
	k := e.knownNodes.Load()
	if k < receivers {
		cctx, cancel := e.cmdCtx(ctx)
		if n, err := e.client.SCard(cctx, e.keys.nodes).Result(); err == nil {
			k = n
			e.knownNodes.Store(n)
		}
		cancel()
	}
	if k > 0 && k < receivers {
		return int(k)
	}
	return int(receivers)
}

// cmdCtx bounds one Redis round trip made for a caller.
func (e *Engine) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.CommandTimeout)
}

func (e *Engine) now() time.Time { return e.opts.Now() }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomID is 8 base32 characters: an epoch or an instance id.
func randomID() string {
	return base32.StdEncoding.EncodeToString(randomBytes(5))
}
