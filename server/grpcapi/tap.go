package grpcapi

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// What runs when a stream opens. grpc-go reads a unary call's whole
// request before any interceptor runs, on a goroutine of the call's own,
// so a stream that sends its headers and never its request would hold
// that goroutine for good, key or no key. The tap runs earlier, in the
// connection's reader goroutine, when the headers arrive: it refuses a
// stream without a valid key or outside the key's scopes there, before
// grpc-go spends anything on it, and starts the request timer of every
// stream it lets through. The first interceptor stops the timer once the
// request has arrived (requestArrived).

// call is what the tap learned about a stream, kept in its context.
type call struct {
	// immutable after the tap
	caller *caller // nil for calls that need no key (health) or when Insecure
	// refused is why the tap refused a stream it let through all the
	// same (see tap); the first interceptor returns it.
	refused error
	// requestTimer cancels the stream's context unless the request
	// arrives first; nil without a RequestTimeout.
	requestTimer *time.Timer
}

type callKey struct{}

// callerFrom returns the caller the tap identified for the call of ctx,
// or nil for calls that need no key (health checks) and when Insecure.
func callerFrom(ctx context.Context) *caller {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		return c.caller
	}
	return nil
}

// tap is the grpc.InTapHandle. grpc-go calls it for each new stream in the
// connection's reader goroutine, holding the connection's lock, so it must
// be quick: a digest and a constant-time compare per configured key. The
// context it gets carries the request headers and the peer, TLS state
// included. Returning an error refuses the stream with that status.
//
// Except for a stream with a deadline (a grpc-timeout header): grpc-go
// (v1.85.0, http2_server.go operateHeaders) never cancels the context of a
// stream its tap refuses, so the deadline's timer would outlive the stream
// and its connection until the deadline the client chose, up to 11,000
// years: against herald serve, every 10,000 header-only streams with
// "grpc-timeout: 99999999H" refused here kept 3.2 MB more heap for good.
// Such a stream is let through with the refusal in its call, which the
// first interceptor returns as soon as the request has arrived, or the
// request timer ends it: it costs a goroutine for at most RequestTimeout,
// within MaxStreamsPerConnection, and the heap stays flat.
func (a *API) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	c := &call{}
	if a.callers != nil && needsKey(info.FullMethodName) {
		var err error
		if c.caller, err = a.authenticate(ctx, info.FullMethodName); err != nil {
			code := status.Code(err)
			a.metrics.streamsRefused.WithLabelValues(code.String()).Inc()
			a.log.DebugContext(ctx, "grpc: stream refused", "grpc.method", info.FullMethodName, "grpc.code", code.String())
			if _, ok := ctx.Deadline(); !ok {
				return nil, err
			}
			c.refused = err
		}
	}
	if d := a.capacity.RequestTimeout; d > 0 {
		streamCtx, cancel := context.WithCancel(ctx)
		c.requestTimer = time.AfterFunc(d, func() {
			// A stream that ended before its request arrived (its
			// caller reset it, its connection closed) leaves its timer
			// running: it fires then on a context already done.
			if streamCtx.Err() == nil {
				a.metrics.requestTimeouts.Inc()
			}
			cancel()
		})
		ctx = streamCtx
	}
	return context.WithValue(ctx, callKey{}, c), nil
}

// requestArrived stops the request timer of the call of ctx and returns
// the tap's refusal of the call, if any. A timer that already fired has
// cancelled the call: it then ends with Canceled.
func requestArrived(ctx context.Context) (refused error) {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return nil
	}
	if c.requestTimer != nil {
		c.requestTimer.Stop()
	}
	return c.refused
}

// requestArrivedStream is the first stream interceptor. A stream's
// interceptors run before it reads anything: a refused stream ends at
// once, and the timer of the others stops when the first message arrives,
// or when the call ends without reading any.
func requestArrivedStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	defer requestArrived(ss.Context())
	if c, ok := ss.Context().Value(callKey{}).(*call); ok && c.refused != nil {
		return c.refused
	}
	return handler(srv, &firstRecvStream{ServerStream: ss})
}

// firstRecvStream stops the request timer when its first RecvMsg returns.
type firstRecvStream struct {
	grpc.ServerStream
	received bool // owned by the goroutine that calls RecvMsg
}

func (s *firstRecvStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if !s.received {
		s.received = true
		requestArrived(s.Context())
	}
	return err
}

// healthPrefix starts the full method name of every health check.
var healthPrefix = "/" + healthpb.Health_ServiceDesc.ServiceName + "/"

// needsKey exempts health checks: load balancers and orchestrators probe
// them without credentials. Everything else, reflection and unknown
// methods included, needs a key.
func needsKey(fullMethod string) bool {
	return !strings.HasPrefix(fullMethod, healthPrefix)
}
