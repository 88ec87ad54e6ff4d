package grpcapi

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
)

// PushStream carries many pushes on one call, to spare each the costs of a
// call of its own: HTTP/2 headers both ways, the interceptor chain, a
// goroutine and a context.
//
// Each request is checked and carried out as the unary call of its kind
// would be: one token from the caller's rate limit (the call itself took
// one when it opened, like any stream), then push.proto's rules and the
// configured Limits (checkRequest), then the push, whose error becomes a
// status through toStatus. A refused request gets a result with its code and message and
// the stream goes on; only a broken stream (the caller gone, a message
// over MaxRecvMsgBytes) ends it. Scope "push" was checked when the call
// opened, since every request of the stream is a push.
//
// Concurrency: the receiving goroutine reads a request whenever the
// window (pushwindow.go) has room and queues it for the stream's workers
// (one per request held, up to pushStreamWorkers, each kept for the
// stream's life), which carry requests out and send their results. Results therefore come
// in the order pushes finish, not the order they were sent, and carry the
// request's correlation_id. Sends are serialised by sendMu. The handler
// waits until the caller closes its side (io.EOF), the stream breaks, or
// API.Shutdown; then it closes the window, waits for every request read
// to be answered, and stops the workers before it returns.
func (s *pushServer) PushStream(stream grpc.BidiStreamingServer[pushv1.PushStreamRequest, pushv1.PushStreamResponse]) error {
	a := s.api
	ctx := stream.Context()
	c := callerFrom(ctx)
	done, err := openPushStream(c, a.pushStream)
	if err != nil {
		return err
	}
	defer done()

	ps := &pushStream{
		api: a, stream: stream, caller: c,
		win:      newWindow(a.pushStream),
		queue:    make(chan job, a.pushStream.Window),
		received: make(chan struct{}),
	}
	if c != nil && c.limiter != nil {
		ps.limiter = newCallerLimiter(a.rateLimit)
	}
	// The receiver ends when its Recv fails: at io.EOF, when the stream
	// breaks, and at the latest when this handler has returned, which
	// ends the stream (the shutdown case below).
	go ps.receive(ctx)
	var end error
	select {
	case <-ps.received:
		end = ps.recvErr
	case <-a.stopped:
		end = status.Error(codes.Unavailable, "server shutting down: retry the requests without a result, with the same message id")
	}
	ps.win.close()
	// Every request taken has been answered, and the window hands out no
	// more: nothing is queued or will be.
	close(ps.queue)
	ps.workers.Wait()
	if end == nil {
		// The caller closed its side: the stream ends well, unless a send
		// failed on the way.
		end = ps.sendError()
	}
	return end
}

// pushStream is one PushStream call.
type pushStream struct {
	// immutable after PushStream starts it
	api     *API
	stream  grpc.BidiStreamingServer[pushv1.PushStreamRequest, pushv1.PushStreamResponse]
	caller  *caller       // nil when Insecure
	limiter callerLimiter // zero when the caller is not rate limited
	win     *window
	queue   chan job // to the workers; room for the whole window

	started int            // workers started; owned by receive
	workers sync.WaitGroup // one per worker started

	received chan struct{} // closed when receive returns
	recvErr  error         // nil at io.EOF; written before received is closed

	sendMu  sync.Mutex // serialises stream.Send
	sendErr error      // the first failed Send; guarded by sendMu
}

// pushStreamWorkers bounds the goroutines that carry out one stream's
// requests. Over Redis a push waits a round trip (about 200 µs here), so
// 32 at once let a stream carry about 160,000 pushes a second; the memory
// engine needs one per core. They are kept for the stream's life: a
// goroutine per request spent almost half the CPU growing its stack
// (runtime.copystack, 46% of a profile under BenchmarkPushStream).
const pushStreamWorkers = 32

// job is a request taken into the window.
type job struct {
	req  *pushv1.PushStreamRequest
	size int // what it holds of the window's bytes
}

// receive reads requests while the window has room and queues them for
// the workers, until Recv fails.
func (ps *pushStream) receive(ctx context.Context) {
	defer close(ps.received)
	for {
		if err := ps.win.wait(ctx); err != nil {
			ps.recvErr = status.FromContextError(err).Err()
			return
		}
		req, err := ps.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				ps.recvErr = err
			}
			return
		}
		size := proto.Size(req)
		held := 0
		if !ps.api.isStopped() {
			held = ps.win.take(size)
		}
		if held == 0 {
			// The node shuts down (API.Shutdown): the request is not
			// carried out, and the caller learns that from the missing
			// result and the Unavailable end.
			return
		}
		// There are as many workers as requests held, up to
		// pushStreamWorkers, so that a request never waits behind
		// pushes that wait for their engine while a worker could start.
		// A worker is started before the request is queued, so that the
		// handler, once every request taken is answered, knows of every
		// worker it must wait for.
		if ps.started < min(held, pushStreamWorkers) {
			ps.started++
			ps.workers.Add(1)
			go ps.work(ctx)
		}
		ps.queue <- job{req: req, size: size} // never blocks: the window holds fewer than its capacity
	}
}

// work carries out queued requests until the queue is closed.
func (ps *pushStream) work(ctx context.Context) {
	defer ps.workers.Done()
	for j := range ps.queue {
		ps.handle(ctx, j.req)
		ps.win.release(j.size)
	}
}

// handle carries out one request and sends its result.
func (ps *pushStream) handle(ctx context.Context, req *pushv1.PushStreamRequest) {
	res := &pushv1.PushStreamResponse{CorrelationId: req.GetCorrelationId()}
	func() {
		// The recovery interceptor guards the handler's goroutine only.
		defer func() {
			if p := recover(); p != nil {
				setStatus(res, ps.api.recovered(ctx, p))
			}
		}()
		ps.push(ctx, req, res)
	}()
	ps.sendMu.Lock()
	defer ps.sendMu.Unlock()
	if ps.sendErr != nil {
		return
	}
	ps.sendErr = ps.stream.Send(res)
}

// push checks req as the unary call would, carries it out and fills res.
func (ps *pushStream) push(ctx context.Context, req *pushv1.PushStreamRequest, res *pushv1.PushStreamResponse) {
	a := ps.api
	if ps.caller != nil && ps.caller.limiter != nil {
		if err := ps.limiter.Limit(ctx); err != nil {
			setStatus(res, status.Error(codes.ResourceExhausted, err.Error()))
			return
		}
	}
	if err := a.checkRequest(ctx, req); err != nil {
		setStatus(res, err)
		return
	}
	var r pushsvc.Result
	var err error
	switch p := req.GetPush().(type) {
	case *pushv1.PushStreamRequest_Users:
		r, err = a.svc.PushToUsers(ctx, p.Users.GetUserIds(), toMessage(p.Users.GetMessage()))
	case *pushv1.PushStreamRequest_Groups:
		r, err = a.svc.PushToGroups(ctx, p.Groups.GetGroups(), p.Groups.GetExcludeUserIds(), toMessage(p.Groups.GetMessage()))
	case *pushv1.PushStreamRequest_Broadcast:
		r, err = a.svc.Broadcast(ctx, toMessage(p.Broadcast.GetMessage()))
	default:
		// checkRequest refuses a request without a push.
		err = status.Errorf(codes.Internal, "grpcapi: PushStream request of kind %T", p)
	}
	if err != nil {
		setStatus(res, a.toStatus(ctx, err))
		return
	}
	res.MessageId = r.MessageID
	res.Delivered = uint64(r.Delivered)
}

// isStopped reports whether API.Shutdown has been called.
func (a *API) isStopped() bool {
	select {
	case <-a.stopped:
		return true
	default:
		return false
	}
}

// sendError is the first Send that failed, if any.
func (ps *pushStream) sendError() error {
	ps.sendMu.Lock()
	defer ps.sendMu.Unlock()
	return ps.sendErr
}

// setStatus sets res's code and message from a status error.
func setStatus(res *pushv1.PushStreamResponse, err error) {
	st := status.Convert(err)
	res.Code = uint32(st.Code())
	res.Message = st.Message()
}

// validatesEachMessage selects the streams whose every request the
// validation interceptor checks. PushStream checks its own requests: a bad
// one gets a result and the stream goes on, where the interceptor would
// end the stream.
func validatesEachMessage(_ context.Context, c interceptors.CallMeta) bool {
	return isPushService(c.FullMethod()) && c.Method != "PushStream"
}
