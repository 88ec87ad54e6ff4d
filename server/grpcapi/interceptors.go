package grpcapi

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// ServerOptions returns the options for the grpc.Server that serves the
// API: the request size limit and the chained unary and stream
// interceptors, outermost first: metrics (when set), logging of finished
// calls, panic recovery, authentication with the scope check, the per-key
// rate limit, then request validation. Metrics and logging sit outside the
// rest so they see the final code of every call, Unauthenticated and
// recovered panics included; recovery sits outside the others so that
// nothing below it can crash the process; the rate limit follows
// authentication because it counts per caller, and comes before
// validation so that a flood is refused at the cheapest point.
// Validation applies to PushService only: other services' messages carry
// no rules.
func (a *API) ServerOptions() []grpc.ServerOption {
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if a.metrics != nil {
		unary = append(unary, a.metrics.UnaryServerInterceptor())
		stream = append(stream, a.metrics.StreamServerInterceptor())
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
	if a.callers != nil {
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(a.authenticate), selector.MatchFunc(needsAuth)))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(a.authenticate), selector.MatchFunc(needsAuth)))
		if a.rateLimit.enabled() {
			l := newCallerLimiter(a.rateLimit)
			unary = append(unary, ratelimit.UnaryServerInterceptor(l))
			stream = append(stream, ratelimit.StreamServerInterceptor(l))
		}
	}
	unary = append(unary, selector.UnaryServerInterceptor(a.validateUnary, selector.MatchFunc(isPushService)))
	stream = append(stream, selector.StreamServerInterceptor(a.validateStream, selector.MatchFunc(validatesEachMessage)))
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(a.maxRecvMsg),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}
}

// needsAuth exempts health checks: load balancers and orchestrators probe
// them without credentials. Everything else, reflection included, needs a
// key.
func needsAuth(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName
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
// middleware's levels are slog levels.
func slogLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
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
