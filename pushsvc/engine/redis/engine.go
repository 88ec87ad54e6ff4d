package redis

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Engine is the Redis engine: one per node, all nodes of a cluster sharing
// one Redis. It implements engine.Engine and engine.Cluster.
type Engine struct {
	// immutable after New
	opts     Options
	keys     keys
	client   *goredis.Client
	log      *slog.Logger
	instance string          // this process's heartbeat value, to spot a second process with our NodeID
	ctx      context.Context // canceled by Close; parent of the goroutines' calls
	cancel   context.CancelFunc
	stop     chan struct{} // closed by Close
	ready    chan struct{} // closed when the receiver first subscribed
	wg       sync.WaitGroup

	closeOnce sync.Once
	readyOnce sync.Once

	seq        atomic.Uint64 // request ids of Publish and Disconnect
	knownNodes atomic.Int64  // size of the node registry at the last heartbeat
	pending    pendingSet    // requests waiting for the nodes' counts
	replies    replyQueue    // counts this node owes other nodes, for the replier

	// health, written by the receiver and the keeper
	subscribed atomic.Bool
	beating    atomic.Bool                    // the last heartbeat reached Redis
	sub        atomic.Pointer[goredis.PubSub] // the receiver's subscription, for pings and Close
	lastRecv   atomic.Int64                   // unix ns of the receiver's last message or session start

	rx rxState // owned by the receiver goroutine

	presMu sync.Mutex             // guards conns; held across presence writes to keep them ordered
	conns  map[string]engine.Conn // this node's registered connections by session id
	resync atomic.Bool            // Redis lost this node's presence records: rewrite them

	gate atomic.Pointer[chan struct{}] // tests: while set, the receiver waits before subscribing
}

var (
	_ engine.Engine  = (*Engine)(nil)
	_ engine.Cluster = (*Engine)(nil)
)

// New connects to Redis, clears what a previous life of this node left
// there, starts the receiver, replier and keeper goroutines, and returns
// once the node is subscribed to the fan-out channel (or ctx is done).
// It fails when Redis is unreachable or is a Redis Cluster.
func New(ctx context.Context, opts Options) (*Engine, error) {
	opts.setDefaults()
	ro, err := opts.validate()
	if err != nil {
		return nil, err
	}
	useClientLogger(opts.Logger)
	ectx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		opts:     opts,
		keys:     newKeys(opts.KeyPrefix, opts.NodeID),
		client:   goredis.NewClient(opts.clientOptions(ro)),
		log:      opts.Logger.With("engine", "redis", "node", opts.NodeID),
		instance: randomID(),
		ctx:      ectx,
		cancel:   cancel,
		stop:     make(chan struct{}),
		ready:    make(chan struct{}),
		conns:    make(map[string]engine.Conn),
	}
	e.pending.init()
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
	e.wg.Add(3)
	go e.receive()
	go e.sendReplies()
	go e.keep()
	// The first subscription takes one round trip; the cap is for a
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

// join checks the server, clears this node's records from a previous life
// (a restart with the same NodeID), and sends the first heartbeat.
func (e *Engine) join(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*e.opts.CommandTimeout)
	defer cancel()
	info, err := e.client.Info(ctx, "server", "cluster").Result()
	if err != nil {
		return unavailable(ctx, "connect", err)
	}
	if err := checkServer(info); err != nil {
		return err
	}
	prev, err := e.client.Get(ctx, e.keys.node).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return unavailable(ctx, "join", err)
	}
	if prev != "" {
		e.log.Warn("node id was heartbeating when this node started: a restart within the node TTL, or another process with the same node id", "node_ttl", e.opts.NodeTTL)
	}
	if err := e.reapNode(ctx, e.opts.NodeID, true); err != nil {
		return unavailable(ctx, "join", err)
	}
	if _, err := e.heartbeat(ctx); err != nil {
		return unavailable(ctx, "join", err)
	}
	e.beating.Store(true)
	return nil
}

// checkServer refuses servers the engine does not support: Redis Cluster
// (the scripts touch keys across slots and fan-out uses plain PUBLISH) and
// Redis before 7.0 (Claim needs SET NX GET).
func checkServer(info string) error {
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "cluster_enabled":
			if v == "1" {
				return errors.New("redis: URL points at a Redis Cluster, which this engine does not support: use a standalone Redis (with replicas and Sentinel or a managed failover if needed)")
			}
		case "redis_version":
			major, _, _ := strings.Cut(v, ".")
			if n, err := strconv.Atoi(major); err == nil && n < 7 {
				return fmt.Errorf("redis: server version %s: 7.0 or later is required", v)
			}
		}
	}
	return nil
}

// NodeID implements engine.Cluster.
func (e *Engine) NodeID() string { return e.opts.NodeID }

// Healthy implements engine.Cluster: the node is subscribed to the fan-out
// channel and its last heartbeat reached Redis.
func (e *Engine) Healthy() bool {
	return e.subscribed.Load() && e.beating.Load() && !e.closed()
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
		if ps := e.sub.Load(); ps != nil {
			// Unblocks the receiver's read.
			_ = ps.Close()
		}
		e.wg.Wait()
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
	if err := e.reapNode(ctx, e.opts.NodeID, true); err != nil {
		return err
	}
	pipe := e.client.TxPipeline()
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

// expected is how many counts to wait for when PUBLISH reached receivers
// subscribers. Every node subscribes once, so receivers is the number of
// nodes that got the message, exactly; but any other client subscribed to
// the fan-out channel (an operator's redis-cli SUBSCRIBE) counts too and
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
