package server

import (
	"math"
	"time"

	"github.com/herald-push/herald/server/grpcapi"
)

// gRPC callers.
var grpcSettings = []setting{
	&spec[float64]{
		Flag: "grpc-rate-limit", Help: "gRPC calls per second per API key; inf: no limit",
		Field:   func(c *Config) *float64 { return &c.GRPCRateLimit },
		Default: grpcapi.DefaultRateLimit,
		Over:    "ResourceExhausted",
		Checks:  []func(float64) string{atLeast(0.0)},
		To:      func(o *options, v float64) { o.grpc.RateLimit.PerSecond = v },
	},
	&spec[int]{
		Flag: "grpc-rate-burst", Help: "gRPC calls per API key at once after a quiet spell",
		Field:  func(c *Config) *int { return &c.GRPCRateBurst },
		Shown:  "twice the rate",
		Over:   "ResourceExhausted",
		Checks: []func(int) string{atLeast(0)},
		To:     func(o *options, v int) { o.grpc.RateLimit.Burst = v },
	},
	&spec[int]{
		Flag: "grpc-max-message-bytes", Help: "largest gRPC request",
		Field:   func(c *Config) *int { return &c.GRPCMaxMessageBytes },
		Default: grpcapi.DefaultMaxRecvMsgBytes,
		Over:    "ResourceExhausted",
		Checks:  []func(int) string{atLeast(0)},
		To:      func(o *options, v int) { o.grpc.MaxRecvMsgBytes = v },
	},
	&spec[int]{
		Flag: "max-payload-bytes", Help: "largest push payload; at most the bound in push.proto",
		Field:   func(c *Config) *int { return &c.MaxPayloadBytes },
		Default: grpcapi.DefaultMaxPayloadBytes,
		Over:    "InvalidArgument naming the field",
		Checks:  []func(int) string{atLeast(0), atMost(grpcapi.DefaultMaxPayloadBytes, schemaBound)},
		To:      func(o *options, v int) { o.grpc.Limits.MaxPayloadBytes = v },
	},
	&spec[int]{
		Flag: "max-user-ids", Help: "user_ids (and exclude_user_ids) per request; at most the bound in push.proto",
		Field:   func(c *Config) *int { return &c.MaxUserIDs },
		Default: grpcapi.DefaultMaxUserIDs,
		Over:    "InvalidArgument naming the field",
		Checks:  []func(int) string{atLeast(0), atMost(grpcapi.DefaultMaxUserIDs, schemaBound)},
		To:      func(o *options, v int) { o.grpc.Limits.MaxUserIDs = v },
	},
	&spec[int]{
		Flag: "max-groups", Help: "groups per PushToGroups request; at most the bound in push.proto",
		Field:   func(c *Config) *int { return &c.MaxGroups },
		Default: grpcapi.DefaultMaxGroups,
		Over:    "InvalidArgument naming the field",
		Checks:  []func(int) string{atLeast(0), atMost(grpcapi.DefaultMaxGroups, schemaBound)},
		To:      func(o *options, v int) { o.grpc.Limits.MaxGroups = v },
	},
	&spec[int]{
		Flag: "grpc-max-connections", Help: "gRPC connections open at once",
		Field:   func(c *Config) *int { return &c.GRPCMaxConnections },
		Default: grpcapi.DefaultMaxConnections,
		Off:     "no limit",
		Over:    "the connection is closed as soon as it is accepted",
		Checks:  []func(int) string{atLeast(0)},
		To:      func(o *options, v int) { o.grpc.Capacity.MaxConnections = v },
	},
	&spec[int]{
		Flag: "grpc-max-streams-per-connection", Help: "gRPC calls open at once on one connection; clients queue the rest",
		Field:   func(c *Config) *int { return &c.GRPCMaxStreamsPerConnection },
		Default: grpcapi.DefaultMaxStreamsPerConnection,
		Off:     "no limit",
		Over:    "RST_STREAM REFUSED_STREAM (grpc-go clients queue instead)",
		Checks:  []func(int) string{atLeast(0), atMost(math.MaxUint32, " (HTTP/2 carries it in 32 bits)")},
		To:      func(o *options, v int) { o.grpc.Capacity.MaxStreamsPerConnection = v },
	},
	&spec[time.Duration]{
		Flag: "grpc-request-timeout", Help: "time a gRPC call has to send its request once it opened",
		Field:   func(c *Config) *time.Duration { return &c.GRPCRequestTimeout },
		Default: grpcapi.DefaultRequestTimeout,
		Off:     "no limit",
		Over:    "the call is cancelled (Canceled)",
		Checks:  []func(time.Duration) string{atLeast(time.Duration(0))},
		To:      func(o *options, v time.Duration) { o.grpc.Capacity.RequestTimeout = v },
	},
	&spec[time.Duration]{
		Flag: "grpc-slow-call", Help: "a unary gRPC call that takes longer (beyond its ack_timeout) is logged at warn, as failed calls are",
		Field:   func(c *Config) *time.Duration { return &c.GRPCSlowCall },
		Default: grpcapi.DefaultSlowCall,
		Off:     "every call is logged, at info",
		Checks:  []func(time.Duration) string{atLeast(time.Duration(0))},
		To:      func(o *options, v time.Duration) { o.grpc.SlowCall = v },
	},
}

// schemaBound says where the bound of a request limit comes from.
const schemaBound = ", the bound in push.proto"
