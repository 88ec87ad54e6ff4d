package grpcapi

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// PushStreamLimits bound the PushStream calls. Zero means the default
// named on each field.
//
// What one stream holds is its window: the requests it has read and not
// yet answered, each with a goroutine carrying it out. When the window is
// full the stream stops reading, and HTTP/2 flow control stops the
// caller once the transport's own buffer (its stream window) is full.
// A stream therefore holds at most Window requests, and at most
// WindowBytes of them plus one request (a request's size is known only
// once it is read; MaxRecvMsgBytes bounds it).
type PushStreamLimits struct {
	// Window bounds the requests a stream has read and not yet answered.
	// Default DefaultPushStreamWindow.
	Window int
	// WindowBytes bounds the size of those requests: the stream reads no
	// further while they add up to this many bytes or more. Default
	// DefaultPushStreamWindowBytes.
	WindowBytes int
	// MaxPerCaller bounds the PushStream calls one caller (an API key, or
	// a client certificate's subject) has open at once; one more is
	// refused with ResourceExhausted. A negative value means no limit.
	// Default DefaultMaxPushStreamsPerCaller.
	MaxPerCaller int
}

// Defaults of PushStreamLimits.
const (
	// DefaultPushStreamWindow is PushStreamLimits.Window's default. A
	// push takes the memory engine a few microseconds and Redis a round
	// trip (about 200 µs here): 128 requests in flight keep a stream busy
	// over Redis, and a stream's throughput on the memory engine stops
	// growing well below that (README, Performance).
	DefaultPushStreamWindow = 128
	// DefaultPushStreamWindowBytes is PushStreamLimits.WindowBytes's
	// default: 128 requests of 32 KiB.
	DefaultPushStreamWindowBytes = 4 << 20
	// DefaultMaxPushStreamsPerCaller is PushStreamLimits.MaxPerCaller's
	// default: a stream carries tens of thousands of pushes a second, so
	// a backend needs one or two per instance; 16 streams hold at most
	// 16 × (4 MiB + one request) of requests for one key.
	DefaultMaxPushStreamsPerCaller = 16
)

func (l *PushStreamLimits) setDefaults() {
	if l.Window == 0 {
		l.Window = DefaultPushStreamWindow
	}
	if l.WindowBytes == 0 {
		l.WindowBytes = DefaultPushStreamWindowBytes
	}
	if l.MaxPerCaller == 0 {
		l.MaxPerCaller = DefaultMaxPushStreamsPerCaller
	}
}

// validate checks limits after setDefaults; its errors name the field.
func (l *PushStreamLimits) validate() []error {
	var errs []error
	if l.Window < 0 {
		errs = append(errs, fmt.Errorf("grpcapi: Options.PushStream.Window %d: must be > 0", l.Window))
	}
	if l.WindowBytes < 0 {
		errs = append(errs, fmt.Errorf("grpcapi: Options.PushStream.WindowBytes %d: must be > 0", l.WindowBytes))
	}
	return errs
}

// openPushStream counts a PushStream of c against PushStreamLimits.
// MaxPerCaller, or refuses it with ResourceExhausted; close gives the slot
// back. A nil caller (Insecure) is not counted.
func openPushStream(c *caller, limits PushStreamLimits) (close func(), err error) {
	if c == nil || limits.MaxPerCaller < 0 {
		return func() {}, nil
	}
	if n := c.pushStreams.Add(1); n > int64(limits.MaxPerCaller) {
		c.pushStreams.Add(-1)
		return nil, status.Errorf(codes.ResourceExhausted,
			"this caller (API key or client certificate) has %d PushStream calls open, the most one caller may: push on them, or close one first", limits.MaxPerCaller)
	}
	return func() { c.pushStreams.Add(-1) }, nil
}

// window is a PushStream's flow control: the requests read and not yet
// answered, in number and bytes. The receiving goroutine waits for room
// before each read (wait), takes a slot once it has the request (take),
// and the goroutine that answers the request gives it back (release).
type window struct {
	// immutable after newWindow
	max, maxBytes int
	wake          chan struct{} // capacity 1: room was made while the receiver waited

	mu      sync.Mutex
	n       int  // requests held; guarded by mu
	bytes   int  // their sizes; guarded by mu
	closed  bool // no more slots are handed out; guarded by mu
	waiting bool // the receiver waits for room; guarded by mu
	held    sync.WaitGroup
}

func newWindow(l PushStreamLimits) *window {
	return &window{max: l.Window, maxBytes: l.WindowBytes, wake: make(chan struct{}, 1)}
}

// wait returns once the window has room for another request, or with
// ctx's error once ctx ends.
func (w *window) wait(ctx context.Context) error {
	w.mu.Lock()
	for w.n >= w.max || w.bytes >= w.maxBytes {
		w.waiting = true
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// take holds a slot for a request of size bytes and returns how many
// requests the window holds with it, or 0, with nothing held, once the
// window is closed.
func (w *window) take(size int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0
	}
	w.n++
	w.bytes += size
	w.held.Add(1)
	return w.n
}

// release gives back the slot of a request of size bytes.
func (w *window) release(size int) {
	w.mu.Lock()
	w.n--
	w.bytes -= size
	wake := w.waiting
	w.waiting = false
	w.mu.Unlock()
	if wake {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.held.Done()
}

// close hands out no more slots and waits until every slot held has been
// released.
func (w *window) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.held.Wait()
}
