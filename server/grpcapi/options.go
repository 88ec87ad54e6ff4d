package grpcapi

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-push/herald/pushsvc"
)

// Options configure an API. The zero value of each optional field means its
// default, filled in by New (setDefaults).
type Options struct {
	// Service is the push service the API serves. Required.
	Service *pushsvc.Service
	// APIKeys are the bearer keys callers may present as
	// "authorization: Bearer <key>", each optionally limited to scopes
	// (ParseAPIKey): "KEY" may call every method, "KEY:push" the push
	// methods, "KEY:admin" the admin methods, "KEY:push+admin" both. Keys
	// must differ. At least one is required unless ClientCertOnly or
	// Insecure is set.
	APIKeys []string
	// ClientCertOnly accepts only callers with a TLS client certificate
	// the server verified (mutual TLS), and no API key at all: the mode of
	// a node run with a client CA and no keys. APIKeys must be empty. The
	// grpc.Server must verify client certificates (tls.Config.ClientCAs);
	// without that every call but health checks gets Unauthenticated.
	ClientCertOnly bool
	// Insecure turns authentication off: every caller is accepted, with
	// every scope and no rate limit. It is meant for tests and
	// loopback-only development, and cannot be combined with APIKeys or
	// ClientCertOnly. Callers with a verified TLS client certificate
	// (mTLS) are accepted without a key either way, with every scope.
	Insecure bool
	// Logger receives the call log (calllog.go) and panics. Default
	// slog.Default().
	Logger *slog.Logger
	// SlowCall is how long a unary call may take, beyond any wait its
	// request asks for (PushToUsers' ack_timeout), before its end is
	// logged at warn; failed calls are logged at their code's level, the
	// others at debug. Default DefaultSlowCall; negative: every call is
	// logged, at info.
	SlowCall time.Duration
	// Registry, when set, gets the metrics of every call (callmetrics.go:
	// grpc_server_handled_total, grpc_server_handling_seconds...) and the
	// API's own (metrics.go). Default: no metrics.
	Registry prometheus.Registerer
	// RateLimit is each caller's request budget.
	RateLimit RateLimit
	// MaxRecvMsgBytes bounds a request message; gRPC refuses a larger one
	// with ResourceExhausted before decoding it. Default
	// DefaultMaxRecvMsgBytes (1 MiB): the largest request the schema
	// allows is about 350 KiB (1000 user ids of 256 bytes and a 64 KiB
	// payload), so a smaller setting refuses some valid requests.
	MaxRecvMsgBytes int
	// Limits bound what a request may ask for, below the schema's bounds.
	Limits Limits
	// Capacity bounds what callers may hold open on the node:
	// connections, streams, WatchStats and WatchEvents streams.
	Capacity Capacity
	// PushStream bounds what each PushStream may hold, and how many one
	// caller may open.
	PushStream PushStreamLimits
}

// Capacity bounds what callers may hold open. Zero means the default named
// on each field; a negative value means no limit.
//
// A caller without a valid key holds nothing beyond a connection: its
// streams are refused as they open, before grpc-go starts a goroutine for
// one or reads its request (tap.go; a stream with a deadline is held like
// an authenticated one until its request arrives). Before that check,
// 20,000 header-only streams on one raw HTTP/2 connection held 20,000
// goroutines, 156 MiB of stack and 59 MiB of heap (11 KiB a stream), for
// as long as the connection stayed open.
type Capacity struct {
	// MaxConnections bounds the connections the listener from
	// API.Listener holds at once; a connection over it is closed as soon
	// as it is accepted. Default 1000: an idle connection costs the node
	// three goroutines and 18 KiB (1,000 idle raw connections: 3,000
	// goroutines, 8.2 MiB of stack, 9.4 MiB of heap), so the cap holds
	// idle connections to 18 MiB while a fleet of backends keeps a few
	// connections per instance.
	MaxConnections int
	// MaxStreamsPerConnection bounds the calls one connection has open
	// at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a stream over it
	// is refused with RST_STREAM REFUSED_STREAM. grpc-go clients queue
	// calls past it rather than fail them. Default 100, the least RFC
	// 9113 recommends: a push takes about 100 µs, so 100 calls in flight
	// keep a node busy from one connection, while a caller with a key
	// that opens streams and never sends their request holds at most
	// 100 × 11 KiB per connection, each for RequestTimeout.
	MaxStreamsPerConnection int
	// RequestTimeout bounds how long an accepted stream may go without
	// its request: a unary call's whole request message, a stream's first
	// message. Past it the stream's context is cancelled, which ends the
	// pending read, and the call ends with Canceled. Default 10s: a
	// request is at most MaxRecvMsgBytes (1 MiB), which arrives within 10 s
	// even at 1 Mbit/s. With no limit, a stream that never sends its
	// request is held until its connection closes, or its own deadline
	// passes, with or without a valid key (see tap).
	RequestTimeout time.Duration
	// MaxStatsWatchers bounds the WatchStats streams open on the node;
	// one over it is refused with ResourceExhausted. Each holds a
	// goroutine and reads the cluster's stats once per interval (a Redis
	// round trip with the Redis engine), as often as 10 times a second.
	// Default 64: dashboards and grpcurl sessions of an ops team, at most
	// 640 stats reads a second.
	MaxStatsWatchers int
	// MaxStatsWatchersPerCaller bounds the WatchStats streams of one
	// caller (an API key, or a client certificate's subject), so one
	// caller cannot take every slot of MaxStatsWatchers. Default 8.
	MaxStatsWatchersPerCaller int
	// MaxEventWatchers bounds the WatchEvents streams open on the node;
	// one over it is refused with ResourceExhausted. Each holds a
	// goroutine and a buffer of up to the service's WatcherBuffer events
	// (pushsvc.Options); one reader of the event log serves them all.
	// Default 64.
	MaxEventWatchers int
	// MaxEventWatchersPerCaller bounds the WatchEvents streams of one
	// caller, as MaxStatsWatchersPerCaller does WatchStats'. Default 8: a
	// backend needs one, a few during a redeploy.
	MaxEventWatchersPerCaller int
}

// Defaults of Capacity.
const (
	DefaultMaxConnections            = 1000
	DefaultMaxStreamsPerConnection   = 100
	DefaultRequestTimeout            = 10 * time.Second
	DefaultMaxStatsWatchers          = 64
	DefaultMaxStatsWatchersPerCaller = 8
	DefaultMaxEventWatchers          = 64
	DefaultMaxEventWatchersPerCaller = 8
)

// RateLimit is a token bucket per caller: one per API key, and one per
// verified client certificate subject. Every call takes a token (a stream
// once, when it starts); a call that finds the bucket empty is refused
// with ResourceExhausted. Zero means the default named on each field.
type RateLimit struct {
	// PerSecond is the refill rate in calls per second. Default
	// DefaultRateLimit; math.Inf(1) turns rate limiting off.
	PerSecond float64
	// Burst is how many calls may come at once after a quiet spell.
	// Default twice PerSecond (at least 1).
	Burst int
}

// enabled reports whether r limits anything.
func (r RateLimit) enabled() bool { return !math.IsInf(r.PerSecond, 1) }

// Defaults of Options.
const (
	// DefaultSlowCall is SlowCall's default: a push takes well under a
	// millisecond on an idle node, and a threshold well above the
	// latency of a loaded one keeps an overloaded node from also
	// logging every call.
	DefaultSlowCall = time.Second
	// DefaultRateLimit is RateLimit.PerSecond's default: above the 30,000
	// calls/s the load generator's users scenario reaches with one key.
	DefaultRateLimit = 50_000
	// DefaultMaxRecvMsgBytes is MaxRecvMsgBytes's default.
	DefaultMaxRecvMsgBytes = 1 << 20
	// DefaultMaxUserIDs, DefaultMaxGroups and DefaultMaxPayloadBytes are
	// the defaults of the Limits of the same names: the schema's bounds,
	// which are also the most they may be.
	DefaultMaxUserIDs      = schemaMaxUserIDs
	DefaultMaxGroups       = schemaMaxGroups
	DefaultMaxPayloadBytes = schemaMaxPayloadBytes
)

// Limits bound the size of requests. push.proto's validation rules set
// the hard bounds, which every request is checked against first; a limit
// here may tighten its bound, never loosen it (New refuses that). Zero
// means the default named on each field, which is the schema's bound.
type Limits struct {
	// MaxUserIDs bounds user_ids and exclude_user_ids. Default DefaultMaxUserIDs.
	MaxUserIDs int
	// MaxGroups bounds PushToGroups.groups. Default DefaultMaxGroups.
	MaxGroups int
	// MaxPayloadBytes bounds message.payload. Default DefaultMaxPayloadBytes.
	MaxPayloadBytes int
	// MaxTopicBytes bounds message.topic. Default 256.
	MaxTopicBytes int
	// MaxIDBytes bounds message.id. Default 128.
	MaxIDBytes int
	// MaxNameBytes bounds each user id and group name. Default 256.
	MaxNameBytes int
	// MaxReasonBytes bounds DisconnectUser.reason. Default 256.
	MaxReasonBytes int
	// MaxAckTimeout bounds PushToUsers.ack_timeout: the call holds a
	// server goroutine that long. Default 30s.
	MaxAckTimeout time.Duration
	// MinStatsInterval and MaxStatsInterval bound WatchStats.interval
	// (the schema allows 100ms to 1h); DefaultStatsInterval applies when
	// it is unset. Defaults 100ms, 1h and 1s.
	MinStatsInterval     time.Duration
	MaxStatsInterval     time.Duration
	DefaultStatsInterval time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SlowCall == 0 {
		o.SlowCall = DefaultSlowCall
	}
	if o.RateLimit.PerSecond == 0 {
		o.RateLimit.PerSecond = DefaultRateLimit
	}
	if o.RateLimit.Burst == 0 && o.RateLimit.enabled() {
		o.RateLimit.Burst = int(max(1, min(2*o.RateLimit.PerSecond, math.MaxInt32)))
	}
	if o.MaxRecvMsgBytes == 0 {
		o.MaxRecvMsgBytes = DefaultMaxRecvMsgBytes
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	c := &o.Capacity
	setInt(&c.MaxConnections, DefaultMaxConnections)
	setInt(&c.MaxStreamsPerConnection, DefaultMaxStreamsPerConnection)
	setDur(&c.RequestTimeout, DefaultRequestTimeout)
	setInt(&c.MaxStatsWatchers, DefaultMaxStatsWatchers)
	setInt(&c.MaxStatsWatchersPerCaller, DefaultMaxStatsWatchersPerCaller)
	setInt(&c.MaxEventWatchers, DefaultMaxEventWatchers)
	setInt(&c.MaxEventWatchersPerCaller, DefaultMaxEventWatchersPerCaller)
	l := &o.Limits
	setInt(&l.MaxUserIDs, schemaMaxUserIDs)
	setInt(&l.MaxGroups, schemaMaxGroups)
	setInt(&l.MaxPayloadBytes, schemaMaxPayloadBytes)
	setInt(&l.MaxTopicBytes, schemaMaxTopicBytes)
	setInt(&l.MaxIDBytes, schemaMaxIDBytes)
	setInt(&l.MaxNameBytes, schemaMaxNameBytes)
	setInt(&l.MaxReasonBytes, schemaMaxReasonBytes)
	setDur(&l.MaxAckTimeout, schemaMaxAckTimeout)
	setDur(&l.MinStatsInterval, schemaMinStatsInterval)
	setDur(&l.MaxStatsInterval, schemaMaxStatsInterval)
	setDur(&l.DefaultStatsInterval, time.Second)
	o.PushStream.setDefaults()
}

// validate checks options after setDefaults; its errors name the field.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("grpcapi: Options."+format, args...)) }
	if o.Service == nil {
		bad("Service: required")
	}
	switch {
	case o.Insecure && (len(o.APIKeys) > 0 || o.ClientCertOnly):
		bad("Insecure: cannot be combined with APIKeys or ClientCertOnly")
	case o.ClientCertOnly && len(o.APIKeys) > 0:
		bad("ClientCertOnly: cannot be combined with APIKeys")
	case !o.Insecure && !o.ClientCertOnly && len(o.APIKeys) == 0:
		bad("APIKeys: at least one key is required (or set ClientCertOnly or Insecure)")
	}
	seen := make(map[string]int, len(o.APIKeys))
	for i, spec := range o.APIKeys {
		// Errors never quote a key: it is a secret.
		k, err := ParseAPIKey(spec)
		if err != nil {
			bad("APIKeys[%d]: %w", i, err)
			continue
		}
		if j, dup := seen[k.Key]; dup {
			bad("APIKeys[%d]: the same key as APIKeys[%d]", i, j)
		}
		seen[k.Key] = i
	}
	r := o.RateLimit
	if !(r.PerSecond > 0) {
		bad("RateLimit.PerSecond %v: must be > 0 (+Inf: no limit)", r.PerSecond)
	}
	if r.Burst < 0 {
		bad("RateLimit.Burst %d: must be > 0", r.Burst)
	}
	if o.MaxRecvMsgBytes < 0 {
		bad("MaxRecvMsgBytes %d: must be > 0", o.MaxRecvMsgBytes)
	}
	if c := o.Capacity; int64(c.MaxStreamsPerConnection) > math.MaxUint32 {
		bad("Capacity.MaxStreamsPerConnection %d: must be at most %d", c.MaxStreamsPerConnection, uint32(math.MaxUint32))
	}
	l := &o.Limits
	for _, f := range []struct {
		name      string
		v, schema int
	}{
		{"MaxUserIDs", l.MaxUserIDs, schemaMaxUserIDs},
		{"MaxGroups", l.MaxGroups, schemaMaxGroups},
		{"MaxPayloadBytes", l.MaxPayloadBytes, schemaMaxPayloadBytes},
		{"MaxTopicBytes", l.MaxTopicBytes, schemaMaxTopicBytes},
		{"MaxIDBytes", l.MaxIDBytes, schemaMaxIDBytes},
		{"MaxNameBytes", l.MaxNameBytes, schemaMaxNameBytes},
		{"MaxReasonBytes", l.MaxReasonBytes, schemaMaxReasonBytes},
	} {
		if f.v < 0 || f.v > f.schema {
			bad("Limits.%s %d: must be > 0 and at most %d, the bound in push.proto", f.name, f.v, f.schema)
		}
	}
	if l.MaxAckTimeout < 0 || l.MaxAckTimeout > schemaMaxAckTimeout {
		bad("Limits.MaxAckTimeout %v: must be > 0 and at most %v, the bound in push.proto", l.MaxAckTimeout, schemaMaxAckTimeout)
	}
	if l.MinStatsInterval < schemaMinStatsInterval || l.MinStatsInterval > l.MaxStatsInterval {
		bad("Limits.MinStatsInterval %v: must be at least %v (the bound in push.proto) and at most MaxStatsInterval %v",
			l.MinStatsInterval, schemaMinStatsInterval, l.MaxStatsInterval)
	}
	if l.MaxStatsInterval > schemaMaxStatsInterval {
		bad("Limits.MaxStatsInterval %v: must be at most %v, the bound in push.proto", l.MaxStatsInterval, schemaMaxStatsInterval)
	}
	if l.DefaultStatsInterval < l.MinStatsInterval || l.DefaultStatsInterval > l.MaxStatsInterval {
		bad("Limits.DefaultStatsInterval %v: must be between MinStatsInterval and MaxStatsInterval", l.DefaultStatsInterval)
	}
	errs = append(errs, o.PushStream.validate()...)
	return errors.Join(errs...)
}
