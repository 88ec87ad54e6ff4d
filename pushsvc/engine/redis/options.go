package redis

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/herald-push/herald/pushsvc/engine"
)

// Options configure the Redis engine. The zero value of each optional field
// means its default, filled in by setDefaults.
type Options struct {
	// URL locates Redis: redis://[user:pass@]host:port[/db] or rediss://
	// for TLS (unix:// also works). Required. Query parameters that
	// go-redis understands (dial_timeout, pool_size, ...) are honoured.
	URL string
	// NodeID names this node in the cluster: its inbox channel, presence
	// and stats records. Required, and unique among running nodes.
	NodeID string
	// HistorySize is how many publications each stream keeps. Default
	// engine.DefaultHistorySize; engine.NoHistory (any negative size)
	// keeps none: resume then recovers nothing that was missed.
	HistorySize int
	// HistoryTTL is how long a publication stays in history, and how long
	// an idle stream keeps its epoch and offset. Default
	// engine.DefaultHistoryTTL; at least 1ms.
	HistoryTTL time.Duration
	// Handler acts on this node's sessions: the dispatcher goroutine
	// calls it with what the node receives. Required.
	Handler engine.Handler
	// NodeTTL bounds how long the connections and stats of a node that
	// stopped heartbeating stay visible. The node heartbeats every
	// NodeTTL/3. Default 5s.
	NodeTTL time.Duration
	// ReplyTimeout bounds how long Publish and Disconnect wait for the
	// other nodes' counts. Default 1s.
	ReplyTimeout time.Duration
	// LocalDelivered makes Publish count this node's sessions only: the
	// other nodes send no count back for its publications, and Publish
	// returns once this node has delivered the publication (which
	// reaches it through Redis, as it reaches every node), without
	// waiting for the slowest node. A count costs each other node a share
	// of a message to this node's inbox, through Redis, and the publisher
	// a second hop: BenchmarkPublish redis/2-nodes-parallel against
	// redis/2-nodes-parallel-local. Default false: every node's count
	// (Disconnect's counts stay exact either way).
	LocalDelivered bool
	// CommandTimeout bounds each Redis round trip, so that callers fail
	// fast when Redis is unreachable. Default 1s.
	CommandTimeout time.Duration
	// KeyPrefix starts every key and channel the engine uses, so that
	// several deployments can share one Redis. Default "herald:".
	KeyPrefix string
	// Logger receives the engine's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of publication times and history expiry. Default
	// time.Now. Key expiry in Redis runs on Redis's own clock.
	Now func() time.Time
	// EventRetention bounds the events the event log keeps, a sixteenth
	// of it in each partition (about: Redis trims whole stream nodes).
	// Default engine.DefaultEventRetention.
	EventRetention int
	// EventMaxAge bounds how long the event log keeps an event: older
	// ones go at the partition's next append. Default
	// engine.DefaultEventMaxAge.
	EventMaxAge time.Duration
}

// Defaults of the optional settings.
const (
	DefaultNodeTTL        = 5 * time.Second
	DefaultReplyTimeout   = time.Second
	DefaultCommandTimeout = time.Second
	DefaultKeyPrefix      = "herald:"
)

// minNodeTTL keeps the heartbeat period (NodeTTL/3) above a few
// milliseconds, which Redis's PX resolution and a busy machine still honour.
const minNodeTTL = 30 * time.Millisecond

func (o *Options) setDefaults() {
	if o.HistorySize == 0 {
		o.HistorySize = engine.DefaultHistorySize
	}
	if o.HistoryTTL == 0 {
		o.HistoryTTL = engine.DefaultHistoryTTL
	}
	if o.NodeTTL == 0 {
		o.NodeTTL = DefaultNodeTTL
	}
	if o.ReplyTimeout == 0 {
		o.ReplyTimeout = DefaultReplyTimeout
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventRetention == 0 {
		o.EventRetention = engine.DefaultEventRetention
	}
	if o.EventMaxAge == 0 {
		o.EventMaxAge = engine.DefaultEventMaxAge
	}
}

// validate checks the options after setDefaults and parses the URL. Every
// error names the field.
func (o *Options) validate() (*goredis.Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("redis: Options."+format, args...)) }
	var ro *goredis.Options
	if o.URL == "" {
		bad("URL: required (redis:// or rediss://)")
	} else {
		var err error
		if ro, err = goredis.ParseURL(o.URL); err != nil {
			// The URL may hold a password: name the problem, not the URL.
			bad("URL: %w", err)
		}
	}
	if o.NodeID == "" {
		bad("NodeID: required")
	} else if err := CheckNodeID(o.NodeID); err != nil {
		bad("NodeID %q: %w", o.NodeID, err)
	}
	if o.HistoryTTL < time.Millisecond {
		bad("HistoryTTL %v: must be >= 1ms", o.HistoryTTL)
	}
	if o.Handler == nil {
		bad("Handler: required")
	}
	if o.NodeTTL < minNodeTTL {
		bad("NodeTTL %v: must be >= %v", o.NodeTTL, minNodeTTL)
	}
	if o.ReplyTimeout < 0 {
		bad("ReplyTimeout %v: must be > 0", o.ReplyTimeout)
	}
	if o.CommandTimeout < 0 {
		bad("CommandTimeout %v: must be > 0", o.CommandTimeout)
	}
	if o.EventRetention < 0 {
		bad("EventRetention %d: must be > 0", o.EventRetention)
	}
	if o.EventMaxAge < 0 {
		bad("EventMaxAge %v: must be > 0", o.EventMaxAge)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ro, nil
}

// CheckNodeID refuses a node id the engine cannot take: it names keys, a
// channel and the Redis client of the node.
func CheckNodeID(id string) error {
	if len(id) > 200 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("at most 200 bytes, no spaces or control characters")
	}
	return nil
}

// clientOptions adapts the parsed URL to an engine that must fail fast.
func (o *Options) clientOptions(ro *goredis.Options) *goredis.Options {
	// No retries: the publish script is not idempotent, and a retry after
	// a lost reply would publish the push twice. Callers retry instead.
	ro.MaxRetries = -1
	// One dial attempt per command; the receiver has its own backoff.
	ro.DialerRetries = 1
	if ro.DialTimeout == 0 {
		ro.DialTimeout = o.CommandTimeout
	}
	if ro.ReadTimeout == 0 {
		ro.ReadTimeout = o.CommandTimeout
	}
	if ro.WriteTimeout == 0 {
		ro.WriteTimeout = o.CommandTimeout
	}
	if ro.PoolTimeout == 0 {
		ro.PoolTimeout = o.CommandTimeout
	}
	ro.ContextTimeoutEnabled = true
	// Maintenance notifications are a Redis Enterprise feature; asking a
	// plain Redis for them costs a round trip per new connection.
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if ro.ClientName == "" {
		ro.ClientName = "herald-" + o.NodeID
	}
	return ro
}
