package grpcapi

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// The call log: one "finished call" record per call worth a line, with
// the fields go-grpc-middleware's logging interceptor gave it before
// (grpc.service, grpc.method, grpc.code, grpc.time_ms...). A call is worth
// a line when it failed, at its code's level (a call its own caller ended
// at debug), or when it was slow (Options.SlowCall), at warn; any other
// call is logged at debug, or at info when Options.SlowCall asks for
// every call. Nothing is built for a record the logger would drop: at the
// default info level, a call that succeeded in time costs a comparison.
// The middleware built its fields on every call whatever the level: 46
// allocations (2.5 KB) and 4 µs or more a call, against 0 and 0.1 µs
// here (BenchmarkCallLog); in the users scenario's profile it was 9% of
// a PushToUsers call.

// logStream is the logging interceptor for streams, which are never
// slow: they last as long as their caller wants.
func (a *API) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	a.logCall(ss.Context(), info.FullMethod, methodType(info.IsClientStream, info.IsServerStream), start, time.Since(start), 0, err)
	return err
}

// requestedWait is how long a request asks its call to wait on purpose:
// PushToUsers' ack_timeout. A call is slow only past it.
func requestedWait(req any) time.Duration {
	if r, ok := req.(*pushv1.PushToUsersRequest); ok && r.GetAckTimeout() != nil {
		return r.GetAckTimeout().AsDuration()
	}
	return 0
}

// logCall logs the end of the call to fullMethod, of type typ, that
// started at start and took d, of which it waited on purpose for waited.
func (a *API) logCall(ctx context.Context, fullMethod, typ string, start time.Time, d, waited time.Duration, err error) {
	code := codeOf(err)
	slow := typ == typeUnary && a.slowCall > 0 && d-waited > a.slowCall
	lvl := a.callLevel(ctx, code, slow)
	if !a.log.Enabled(ctx, lvl) {
		return
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	attrs := make([]slog.Attr, 0, 13)
	attrs = append(attrs,
		slog.String("protocol", "grpc"),
		slog.String("grpc.component", "server"),
		slog.String("grpc.service", service),
		slog.String("grpc.method", method),
		slog.String("grpc.method_type", typ))
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
	}
	attrs = append(attrs, slog.String("grpc.start_time", start.Format(time.RFC3339)))
	if dl, ok := ctx.Deadline(); ok {
		attrs = append(attrs, slog.String("grpc.request.deadline", dl.Format(time.RFC3339)))
	}
	attrs = append(attrs, slog.String("grpc.code", code.String()))
	if err != nil {
		attrs = append(attrs, slog.String("grpc.error", err.Error()))
	}
	if slow {
		attrs = append(attrs, slog.Bool("grpc.slow", true))
	}
	attrs = append(attrs, slog.Float64("grpc.time_ms", float64(d.Microseconds())/1000))
	a.log.LogAttrs(ctx, lvl, "finished call", attrs...)
}

// callLevel is the level of a call's record. A call that ended Canceled
// or DeadlineExceeded because its own context ended first (its caller
// cancelled, its deadline passed, its connection went away) is the
// caller's choice, not the node's trouble: it is logged at debug, like a
// call that succeeded, unless it was slow. A WatchStats stream ends that
// way every time.
func (a *API) callLevel(ctx context.Context, code codes.Code, slow bool) slog.Level {
	lvl := slog.LevelDebug
	switch {
	case code == codes.OK:
		if a.slowCall < 0 {
			lvl = slog.LevelInfo
		}
	case ctx.Err() != nil && (code == codes.Canceled || code == codes.DeadlineExceeded):
	default:
		lvl = codeLevel(code)
	}
	if slow {
		lvl = max(lvl, slog.LevelWarn)
	}
	return lvl
}

// codeLevel is the level of a failed call's record, as go-grpc-middleware
// chose it: info for what the caller got wrong, warn for what it may
// retry or fix, error for what points at the node.
func codeLevel(c codes.Code) slog.Level {
	switch c {
	case codes.NotFound, codes.Canceled, codes.AlreadyExists, codes.InvalidArgument, codes.Unauthenticated:
		return slog.LevelInfo
	case codes.DeadlineExceeded, codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition,
		codes.Aborted, codes.OutOfRange, codes.Unavailable:
		return slog.LevelWarn
	}
	return slog.LevelError
}
