package server

import (
	"time"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/pushsvc/engine"
)

// Delivery: history and send queues.
var deliverySettings = []setting{
	&spec[int]{
		Flag: "history-size", Help: "pushes kept per stream for resume",
		Field:   func(c *Config) *int { return &c.HistorySize },
		Default: engine.DefaultHistorySize,
		Off:     "none",
		Checks:  []func(int) string{atLeast(0)},
		To:      func(o *options, v int) { o.svc.HistorySize, o.redis.HistorySize = v, v },
	},
	&spec[time.Duration]{
		Flag: "history-ttl", Help: "how long a push stays resumable; also the idempotency window",
		Field:   func(c *Config) *time.Duration { return &c.HistoryTTL },
		Default: engine.DefaultHistoryTTL,
		Checks:  []func(time.Duration) string{above[time.Duration](0)},
		To:      func(o *options, v time.Duration) { o.svc.HistoryTTL, o.redis.HistoryTTL = v, v },
	},
	&spec[int]{
		Flag: "send-queue-bytes", Help: "bytes a connection may have waiting before it is a slow consumer",
		Field:   func(c *Config) *int { return &c.SendQueueBytes },
		Default: pushsvc.DefaultSendQueueBytes,
		Over:    "Disconnect + close 4003 (or, with --slow-consumer-policy drop-oldest, the oldest pushes are dropped)",
		Checks:  []func(int) string{atLeast(4096)},
		To:      func(o *options, v int) { o.svc.SendQueueBytes = v },
	},
	&spec[string]{
		Flag:    "slow-consumer-policy",
		Help:    "what a full send queue does: disconnect (close 4003; the client resumes from history) or drop-oldest (the oldest pushes go, and the client sees a gap in offsets; a queue still full with no push left to drop closes with 4003)",
		Field:   func(c *Config) *string { return &c.SlowPolicy },
		Default: slowPolicies[0].String(),
		Checks:  []func(string) string{ifSet(oneOf(slowPolicies...))},
		To:      func(o *options, v string) { o.svc.SlowPolicy = slowPolicy(v) },
	},
	&spec[int]{
		Flag: "max-batch-bytes", Help: "largest PushBatch frame; 1: no batching",
		Field:   func(c *Config) *int { return &c.MaxBatchBytes },
		Default: pushsvc.DefaultMaxBatchBytes,
		Checks:  []func(int) string{atLeast(0)},
		To:      func(o *options, v int) { o.svc.MaxBatchBytes = v },
	},
}

// slowPolicies are the values of --slow-consumer-policy, the default first.
var slowPolicies = []pushsvc.SlowPolicy{pushsvc.SlowDisconnect, pushsvc.SlowDropOldest}

// slowPolicy is the policy named name (checked by Validate); "" is the
// default.
func slowPolicy(name string) pushsvc.SlowPolicy {
	for _, p := range slowPolicies {
		if p.String() == name {
			return p
		}
	}
	return pushsvc.SlowDisconnect
}
