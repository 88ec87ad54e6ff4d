package grpcapi

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
)

// API is the gRPC face of one pushsvc.Service: the PushService
// implementation and the interceptors that guard it.
type API struct {
	// immutable after New
	svc         *pushsvc.Service
	limits      Limits
	pushStream  PushStreamLimits
	rateLimit   RateLimit
	capacity    Capacity
	timings     transportTimings // tests shorten them before ServerOptions (export_test.go)
	maxRecvMsg  int
	log         *slog.Logger
	slowCall    time.Duration  // negative: every call is logged
	callers     *callers       // nil when Insecure
	limiter     *callerLimiter // nil when no caller is rate limited
	validator   protovalidate.Validator
	callMetrics *callMetrics // nil without Options.Registry
	metrics     *metrics
	srv         *pushServer

	statsWatchers *watchers                         // WatchStats streams open; its own lock
	eventWatchers *watchers                         // WatchEvents streams open; its own lock
	listener      atomic.Pointer[connLimitListener] // set once by Listener

	stopOnce sync.Once
	stopped  chan struct{} // closed by Shutdown
}

// New validates opts, fills in defaults and builds an API. When
// opts.Registry is set, the call metrics and the API's own are registered
// with it here.
func New(opts Options) (*API, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	v, err := newValidator()
	if err != nil {
		return nil, err
	}
	a := &API{
		svc:        opts.Service,
		limits:     opts.Limits,
		pushStream: opts.PushStream,
		rateLimit:  opts.RateLimit,
		capacity:   opts.Capacity,
		timings:    defaultTransportTimings,
		maxRecvMsg: opts.MaxRecvMsgBytes,
		log:        opts.Logger,
		slowCall:   opts.SlowCall,
		validator:  v,
		stopped:    make(chan struct{}),

		statsWatchers: newWatchers("WatchStats", opts.Capacity.MaxStatsWatchers, opts.Capacity.MaxStatsWatchersPerCaller),
		eventWatchers: newWatchers("WatchEvents", opts.Capacity.MaxEventWatchers, opts.Capacity.MaxEventWatchersPerCaller),
	}
	a.metrics = newMetrics(func() float64 {
		if l := a.listener.Load(); l != nil {
			return float64(l.open())
		}
		return 0
	})
	if !opts.Insecure {
		a.callers = newCallers(&opts)
		if opts.RateLimit.enabled() {
			l := newCallerLimiter(opts.RateLimit)
			a.limiter = &l
		}
	}
	if opts.Registry != nil {
		a.callMetrics = newCallMetrics()
		if err := opts.Registry.Register(a.callMetrics); err != nil {
			return nil, fmt.Errorf("grpcapi: Registry: %w", err)
		}
		if err := opts.Registry.Register(a.metrics); err != nil {
			return nil, fmt.Errorf("grpcapi: Registry: %w", err)
		}
	}
	a.srv = &pushServer{api: a}
	return a, nil
}

// Register registers PushService on s.
func (a *API) Register(s grpc.ServiceRegistrar) {
	pushv1.RegisterPushServiceServer(s, a.srv)
}

// InitializeMetrics sets every registered method's call counters to zero,
// so that dashboards show a zero rather than no series before the first
// call. Call it after every service is registered on s; it does nothing
// without metrics.
func (a *API) InitializeMetrics(s *grpc.Server) {
	if a.callMetrics != nil {
		a.callMetrics.initialize(s)
	}
}

// Shutdown ends every open WatchStats and WatchEvents stream with
// Unavailable, and every later one at once; an open PushStream stops
// reading, answers the requests it has read, then ends with Unavailable.
// grpc.Server.GracefulStop waits for running calls, and these streams run
// until their caller ends them, so call Shutdown just before
// GracefulStop. It is safe to call more than once.
func (a *API) Shutdown() {
	a.stopOnce.Do(func() { close(a.stopped) })
}
