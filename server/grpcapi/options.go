package grpcapi

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
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
	// must differ. At least one is required unless Insecure is set.
	APIKeys []string
	// Insecure turns authentication off: every caller is accepted, with
	// every scope and no rate limit. It is meant for tests and
	// loopback-only development, and cannot be combined with APIKeys.
	// Callers with a verified TLS client certificate (mTLS) are accepted
	// without a key either way, with every scope.
	Insecure bool
	// Logger receives the call log (finished calls only) and panics.
	// Default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, counts calls and their latency. Default: none,
	// unless Registry is set.
	Metrics *grpcprom.ServerMetrics
	// Registry, when set, gets Metrics registered with it; when Metrics is
	// nil, New creates server metrics with a handling-time histogram first.
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
	// PushStream bounds what each PushStream may hold, and how many one
	// caller may open.
	PushStream PushStreamLimits
}

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
	if o.Metrics == nil && o.Registry != nil {
		o.Metrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
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
	l := &o.Limits
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
	case o.Insecure && len(o.APIKeys) > 0:
		bad("Insecure: cannot be combined with APIKeys")
	case !o.Insecure && len(o.APIKeys) == 0:
		bad("APIKeys: at least one key is required (or set Insecure)")
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
