package server

import (
	"errors"
	"log/slog"
	"strings"
)

// The node: its name, its engine, its logs.
var nodeSettings = []setting{
	&spec[string]{
		Flag: "node-id", Help: "this node's name, unique among the nodes sharing a Redis",
		Field: func(c *Config) *string { return &c.NodeID },
		Shown: "generated",
		To:    func(o *options, v string) { o.svc.NodeID = v },
	},
	&spec[string]{
		Flag:  "redis-url",
		Help:  "Redis 7.0+ (standalone, or any node of a Redis Cluster) shared by the nodes: redis:// or rediss://; empty: the in-memory engine, one node",
		Field: func(c *Config) *string { return &c.RedisURL },
		Checks: []func(string) string{ifSet(func(v string) error {
			if !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") {
				return errors.New("must start with redis:// or rediss://")
			}
			return nil
		})},
		To: func(o *options, v string) { o.redis.URL = v },
	},
	&spec[bool]{
		Flag:    "redis-exact-delivered",
		Help:    "with --redis-url, delivered counts the connections of every node, each sending its count to the node that took the call; false: that node's only, sparing each other node a message through Redis per push and the call the wait for the slowest node",
		Field:   func(c *Config) *bool { return &c.RedisExactDelivered },
		Default: true,
		To:      func(o *options, v bool) { o.redis.LocalDelivered = !v },
	},
	&spec[slog.Level]{
		Flag: "log-level", Help: "log `level`: debug, info, warn or error",
		Field:   func(c *Config) *slog.Level { return &c.LogLevel },
		Default: slog.LevelInfo,
		Shown:   "info",
		Parse: func(v string) (slog.Level, error) {
			var l slog.Level
			if err := l.UnmarshalText([]byte(v)); err != nil {
				return l, errors.New("debug, info, warn or error")
			}
			return l, nil
		},
	},
}
