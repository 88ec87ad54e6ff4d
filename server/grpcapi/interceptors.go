package grpcapi

import (
	"context"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
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
	unary = append(unary, a.logUnary)
	stream = append(stream, a.logStream)
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
