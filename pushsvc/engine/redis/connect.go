package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// connect opens the client for opts.URL: a plain client for a standalone
// Redis, a cluster client when the server's INFO says cluster_enabled:1.
// The same URL serves both, so an operator moving to Redis Cluster only
// points --redis-url at one of its nodes. It reports whether Redis is a
// cluster.
func connect(ctx context.Context, opts *Options, ro *goredis.Options) (goredis.UniversalClient, bool, error) {
	plain := goredis.NewClient(opts.clientOptions(ro))
	info, err := plain.Info(ctx, "server", "cluster").Result()
	if err != nil {
		_ = plain.Close()
		return nil, false, unavailable(ctx, "connect", err)
	}
	cluster, err := checkServer(info)
	if err != nil || !cluster {
		if err != nil {
			_ = plain.Close()
			return nil, false, err
		}
		return plain, false, nil
	}
	_ = plain.Close()
	co, err := opts.clusterOptions(ro)
	if err != nil {
		return nil, false, err
	}
	return goredis.NewClusterClient(co), true, nil
}

// checkServer refuses servers the engine does not support, Redis before
// 7.0 (fan-out needs sharded pub/sub, the heartbeat SET GET), and reports
// whether the server is a Redis Cluster node.
func checkServer(info string) (cluster bool, err error) {
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "cluster_enabled":
			cluster = v == "1"
		case "redis_version":
			major, _, _ := strings.Cut(v, ".")
			if n, err := strconv.Atoi(major); err == nil && n < 7 {
				return false, fmt.Errorf("redis: server version %s: 7.0 or later is required", v)
			}
		}
	}
	return cluster, nil
}

// clusterOptions are clientOptions for a Redis Cluster seeded with the
// URL's node (more seeds may be given as addr=host:port query parameters).
func (o *Options) clusterOptions(ro *goredis.Options) (*goredis.ClusterOptions, error) {
	if ro.Network == "unix" {
		return nil, errors.New("redis: Options.URL: a Redis Cluster needs a redis:// or rediss:// address")
	}
	if ro.DB != 0 {
		return nil, fmt.Errorf("redis: Options.URL: database %d: a Redis Cluster has database 0 only", ro.DB)
	}
	co, err := goredis.ParseClusterURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: Options.URL: %w", err)
	}
	// As for a standalone Redis (clientOptions): fail fast, never retry.
	co.MaxRetries = -1
	co.DialerRetries = 1
	co.DialTimeout = ro.DialTimeout
	co.ReadTimeout = ro.ReadTimeout
	co.WriteTimeout = ro.WriteTimeout
	co.PoolTimeout = ro.PoolTimeout
	co.ContextTimeoutEnabled = true
	co.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if co.ClientName == "" {
		co.ClientName = ro.ClientName
	}
	// go-redis spends one budget, MaxRedirects, on following MOVED and
	// ASK (the command did not run: safe) and on retrying a command whose
	// reply was lost (it may have run: a publish could publish twice).
	// Keep the first, and make the second impossible: each master's client
	// hides from the retry logic any failure that may have followed the
	// command's delivery (lostReply).
	co.MaxRedirects = 3
	co.NewClient = func(no *goredis.Options) *goredis.Client {
		c := goredis.NewClient(no)
		c.AddHook(lostReplyHook{})
		return c
	}
	return co, nil
}

// lostReplyHook wraps, in each master's client of a cluster client, every
// error after which the command may have run, so that the cluster client
// does not run it again: go-redis retries on io.EOF and timeouts, and
// finds them through Unwrap, which lostReply does not have. Pipelines are
// not covered (go-redis retries them below the hooks). The publishes'
// pipelines go to a master's own client, which has no retries, and their
// commands say NoRetry (batcher.go); every other pipeline of the engine is
// safe to run twice: reads, idempotent writes, and counts, which
// pendingSet takes once per node.
type lostReplyHook struct{}

func (lostReplyHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (lostReplyHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if mayHaveRun(err) {
			return &lostReply{err: err}
		}
		return err
	}
}

func (lostReplyHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// mayHaveRun reports whether err leaves open whether Redis ran the
// command: not a reply from Redis, not a failure to connect or to get a
// connection, and not the caller's deadline (which go-redis never retries).
func mayHaveRun(err error) bool {
	if err == nil || isReplyError(err) ||
		errors.Is(err, goredis.ErrClosed) || errors.Is(err, goredis.ErrPoolTimeout) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var op *net.OpError
	return !errors.As(err, &op) || op.Op != "dial"
}

// lostReply is a failure after which the command may have run. It has no
// Unwrap on purpose (see lostReplyHook).
type lostReply struct{ err error }

func (e *lostReply) Error() string { return "reply lost, the command may have run: " + e.err.Error() }
