package server

import (
	"time"

	"github.com/herald-push/herald/pushsvc"
	"github.com/herald-push/herald/pushsvc/engine"
	"github.com/herald-push/herald/server/grpcapi"
)

// The event log and its watchers (WatchEvents).
var eventsSettings = []setting{
	&spec[int]{
		Flag: "events-retention", Help: "events the event log keeps for WatchEvents to resume from (with Redis, a sixteenth per partition)",
		Field:   func(c *Config) *int { return &c.EventsRetention },
		Default: engine.DefaultEventRetention,
		Checks:  []func(int) string{above(0)},
		To:      func(o *options, v int) { o.svc.EventRetention, o.redis.EventRetention = v, v },
	},
	&spec[time.Duration]{
		Flag: "events-max-age", Help: "how long the event log keeps an event",
		Field:   func(c *Config) *time.Duration { return &c.EventsMaxAge },
		Default: engine.DefaultEventMaxAge,
		Checks:  []func(time.Duration) string{above[time.Duration](0)},
		To:      func(o *options, v time.Duration) { o.svc.EventMaxAge, o.redis.EventMaxAge = v, v },
	},
	&spec[int]{
		Flag: "events-max-watchers", Help: "WatchEvents streams this node serves at once",
		Field:   func(c *Config) *int { return &c.EventsMaxWatchers },
		Default: grpcapi.DefaultMaxEventWatchers,
		Over:    "ResourceExhausted",
		Checks:  []func(int) string{above(0)},
		To:      func(o *options, v int) { o.grpc.Capacity.MaxEventWatchers = v },
	},
	&spec[int]{
		Flag: "events-max-watchers-per-key", Help: "WatchEvents streams one API key (or client certificate) may hold open on this node",
		Field:   func(c *Config) *int { return &c.EventsMaxWatchersPerKey },
		Default: grpcapi.DefaultMaxEventWatchersPerCaller,
		Over:    "ResourceExhausted",
		Checks:  []func(int) string{above(0)},
		To:      func(o *options, v int) { o.grpc.Capacity.MaxEventWatchersPerCaller = v },
	},
	&spec[int]{
		Flag: "events-buffer", Help: "events that may wait for one watcher",
		Field:   func(c *Config) *int { return &c.EventsBuffer },
		Default: pushsvc.DefaultWatcherBuffer,
		Over:    "the watcher is cut with ResourceExhausted and resumes from its cursor",
		Checks:  []func(int) string{above(0)},
		To:      func(o *options, v int) { o.svc.WatcherBuffer = v },
	},
}
