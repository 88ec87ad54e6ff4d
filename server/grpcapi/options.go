package grpcapi

import (
	"errors"
	"fmt"
	"log/slog"
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
	// "authorization: Bearer <key>". At least one is required unless
	// Insecure is set.
	APIKeys []string
	// Insecure turns authentication off: every caller is accepted. It is
	// meant for tests and loopback-only development, and cannot be combined
	// with APIKeys. Callers with a verified TLS client certificate (mTLS)
	// are accepted without a key either way.
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
	// Limits bound what a request may ask for.
	Limits Limits
}

// Limits bound the size of requests. Zero means the default named on each
// field.
type Limits struct {
	// MaxUserIDs bounds user_ids and exclude_user_ids. Default 1000.
	MaxUserIDs int
	// MaxGroups bounds PushToGroups.groups. Default 100.
	MaxGroups int
	// MaxPayloadBytes bounds message.payload. Default 64 KiB.
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
	// MinStatsInterval and MaxStatsInterval bound WatchStats.interval;
	// DefaultStatsInterval applies when it is unset. Defaults 100ms, 1h
	// and 1s.
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
	setInt(&l.MaxUserIDs, 1000)
	setInt(&l.MaxGroups, 100)
	setInt(&l.MaxPayloadBytes, 64<<10)
	setInt(&l.MaxTopicBytes, 256)
	setInt(&l.MaxIDBytes, 128)
	setInt(&l.MaxNameBytes, 256)
	setInt(&l.MaxReasonBytes, 256)
	setDur(&l.MaxAckTimeout, 30*time.Second)
	setDur(&l.MinStatsInterval, 100*time.Millisecond)
	setDur(&l.MaxStatsInterval, time.Hour)
	setDur(&l.DefaultStatsInterval, time.Second)
}

// validate checks options after setDefaults; its errors name the field.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("grpcapi: "+format, args...)) }
	if o.Service == nil {
		bad("Service: required")
	}
	switch {
	case o.Insecure && len(o.APIKeys) > 0:
		bad("Insecure: cannot be combined with APIKeys")
	case !o.Insecure && len(o.APIKeys) == 0:
		bad("APIKeys: at least one key is required (or set Insecure)")
	}
	for i, k := range o.APIKeys {
		if k == "" {
			bad("APIKeys[%d]: must not be empty", i)
		}
	}
	l := &o.Limits
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxUserIDs", l.MaxUserIDs}, {"MaxGroups", l.MaxGroups}, {"MaxPayloadBytes", l.MaxPayloadBytes},
		{"MaxTopicBytes", l.MaxTopicBytes}, {"MaxIDBytes", l.MaxIDBytes}, {"MaxNameBytes", l.MaxNameBytes},
		{"MaxReasonBytes", l.MaxReasonBytes},
	} {
		if f.v < 0 {
			bad("Limits.%s %d: must be > 0", f.name, f.v)
		}
	}
	if l.MaxAckTimeout < 0 {
		bad("Limits.MaxAckTimeout %v: must be > 0", l.MaxAckTimeout)
	}
	if l.MinStatsInterval < 0 || l.MinStatsInterval > l.MaxStatsInterval {
		bad("Limits.MinStatsInterval %v: must be > 0 and at most MaxStatsInterval %v", l.MinStatsInterval, l.MaxStatsInterval)
	}
	if l.DefaultStatsInterval < l.MinStatsInterval || l.DefaultStatsInterval > l.MaxStatsInterval {
		bad("Limits.DefaultStatsInterval %v: must be between MinStatsInterval and MaxStatsInterval", l.DefaultStatsInterval)
	}
	return errors.Join(errs...)
}
