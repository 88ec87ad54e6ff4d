package grpcapi

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// ServerOptions returns the options for the grpc.Server that serves the
// API: the tap that authenticates each stream as it opens (tap.go), the
// connection bounds (transport.go), the request size limit and the
// chained unary and stream interceptors, outermost first: the stop of the
// request timer, metrics (when set), logging of finished calls, panic
// recovery, the per-key rate limit, then request validation. Metrics and
// logging sit outside the rest so they see the final code of every call
// that passed the tap, recovered panics included; recovery sits outside
// the others so that nothing below it can crash the process; the rate
// limit counts per caller, the one the tap identified, and comes before
// validation so that a flood is refused at the cheapest point.
// Validation applies to PushService only: other services' messages carry
// no rules.
func (a *API) ServerOptions() []grpc.ServerOption {
	unary := []grpc.UnaryServerInterceptor{requestArrivedUnary}
	stream := []grpc.StreamServerInterceptor{requestArrivedStream}
	if a.callMetrics != nil {
		unary = append(unary, a.callMetrics.unary)
		stream = append(stream, a.callMetrics.stream)
	}
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(codeToLevel),
	}
	unary = append(unary, logging.UnaryServerInterceptor(slogLogger(a.log), logOpts...))
	stream = append(stream, logging.StreamServerInterceptor(slogLogger(a.log), logOpts...))
	rec := recovery.WithRecoveryHandlerContext(a.recovered)
	unary = append(unary, recovery.UnaryServerInterceptor(rec))
	stream = append(stream, recovery.StreamServerInterceptor(rec))
	if a.callers != nil && a.rateLimit.enabled() {
		l := newCallerLimiter(a.rateLimit)
		unary = append(unary, ratelimit.UnaryServerInterceptor(l))
		stream = append(stream, ratelimit.StreamServerInterceptor(l))
	}
	unary = append(unary, selector.UnaryServerInterceptor(a.validateUnary, selector.MatchFunc(isPushService)))
	stream = append(stream, selector.StreamServerInterceptor(a.validateStream, selector.MatchFunc(isPushService)))
	return append(a.transportOptions(),
		grpc.MaxRecvMsgSize(a.maxRecvMsg),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)
}

func isPushService(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service == pushv1.PushService_ServiceDesc.ServiceName
}

// recovered logs a handler's panic with its stack and answers Internal;
// without a handler the recovery interceptor answers Unknown.
func (a *API) recovered(ctx context.Context, p any) error {
	method, _ := grpc.Method(ctx)
	a.log.ErrorContext(ctx, "grpc: panic in handler", "grpc.method", method, "panic", p, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

// slogLogger adapts a slog.Logger to the logging interceptor; the
// middleware's levels are slog levels. A call that ended Canceled or
// DeadlineExceeded because its own context ended first (its caller
// cancelled, its deadline passed, its connection went away) is the
// caller's choice, not the node's trouble: it is logged at debug, like a
// call that succeeded. A WatchStats stream ends that way every time.
func slogLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		if ctx.Err() != nil && callerEnded(fields) {
			lvl = logging.LevelDebug
		}
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// callerEnded reports whether the logging interceptor's fields give the
// call's code as Canceled or DeadlineExceeded.
func callerEnded(fields []any) bool {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "grpc.code" {
			c := fields[i+1]
			return c == codes.Canceled.String() || c == codes.DeadlineExceeded.String()
		}
	}
	return false
}

// codeToLevel logs successful calls at debug: a busy backend pushes
// thousands of times a second, and an info line per push would drown the
// log. Failures keep the middleware's levels.
func codeToLevel(c codes.Code) logging.Level {
	if c == codes.OK {
		return logging.LevelDebug
	}
	return logging.DefaultServerCodeToLevel(c)
}
