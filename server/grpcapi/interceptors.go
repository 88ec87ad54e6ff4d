package grpcapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ServerOptions returns the chained unary and stream interceptors for the
// grpc.Server that serves the API, outermost first: metrics (when set),
// logging of finished calls, panic recovery, then authentication. Metrics
// and logging sit outside the rest so they see the final code of every
// call, Unauthenticated and recovered panics included; recovery sits
// outside auth so that nothing below it can crash the process.
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
	if a.keys != nil {
		unary = append(unary, selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(a.authenticate), selector.MatchFunc(needsAuth)))
		stream = append(stream, selector.StreamServerInterceptor(auth.StreamServerInterceptor(a.authenticate), selector.MatchFunc(needsAuth)))
	}
	return []grpc.ServerOption{
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

// authenticate accepts a caller with a verified TLS client certificate or
// with "authorization: Bearer <key>" naming one of the API keys.
func (a *API) authenticate(ctx context.Context) (context.Context, error) {
	if verifiedClientCert(ctx) {
		return ctx, nil
	}
	key, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, `missing API key: send metadata "authorization: Bearer <api key>"`)
	}
	if !a.validKey(key) {
		return nil, status.Error(codes.Unauthenticated, "invalid API key")
	}
	return ctx, nil
}

// validKey compares digests rather than keys: subtle.ConstantTimeCompare
// returns early on a length mismatch, which would leak each key's length.
// Every key is compared, so the time taken does not tell which one matched.
func (a *API) validKey(key string) bool {
	sum := sha256.Sum256([]byte(key))
	match := 0
	for i := range a.keys {
		match |= subtle.ConstantTimeCompare(sum[:], a.keys[i][:])
	}
	return match == 1
}

// verifiedClientCert reports whether the peer presented a client
// certificate that the server's TLS config verified (mTLS). Chains are
// only filled in when the server asked for and checked the certificate.
func verifiedClientCert(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	return ok && len(ti.State.VerifiedChains) > 0
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
