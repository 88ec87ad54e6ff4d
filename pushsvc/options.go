package pushsvc

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/herald-push/herald/pushsvc/engine"
)

// SlowPolicy says what happens to a session whose send queue is full.
type SlowPolicy int

const (
	// SlowDisconnect closes the session with 4003; the client resumes from
	// history when it comes back. The default.
	SlowDisconnect SlowPolicy = iota
	// SlowDropOldest drops the oldest queued pushes to make room; the
	// client sees a gap in offsets. Other frames (Welcome, ResumeResult,
	// Pong, Error) are never dropped: when no push is left to drop, the
	// session is closed with 4003 as with SlowDisconnect.
	SlowDropOldest
)

// String names the policy: "disconnect" or "drop-oldest".
func (p SlowPolicy) String() string {
	switch p {
	case SlowDisconnect:
		return "disconnect"
	case SlowDropOldest:
		return "drop-oldest"
	}
	return fmt.Sprintf("SlowPolicy(%d)", int(p))
}

// Defaults of Options.
const (
	// DefaultSendQueueBytes bounds a session's queue in bytes: 16 full
	// PushBatch frames.
	DefaultSendQueueBytes = 1 << 20
	// DefaultSendQueueLen bounds a session's queue in frames.
	DefaultSendQueueLen = 4096
	// DefaultMaxBatchBytes bounds a PushBatch frame.
	DefaultMaxBatchBytes = 64 << 10
	// DefaultResumeWait is how long a session that announced a Resume
	// holds live pushes for it.
	DefaultResumeWait = 5 * time.Second
	// DefaultWatcherBuffer is about a second of a busy cluster's events.
	DefaultWatcherBuffer = 4096
)

// Options configure a Service. The zero value of each field means its
// default, filled in by New; where a field can be turned off, a distinct
// value says so.
type Options struct {
	// NodeID names this node in Welcome frames and presence. Default: a
	// generated id, which NewEngine receives.
	NodeID string
	// HistorySize is how many pushes each stream of the default in-memory
	// engine keeps for resume. Default engine.DefaultHistorySize;
	// engine.NoHistory (any negative size) keeps none. An engine from
	// NewEngine has its own.
	HistorySize int
	// HistoryTTL is how long a push stays resumable in the default
	// in-memory engine, and its idempotency window. Default
	// engine.DefaultHistoryTTL.
	HistoryTTL time.Duration
	// SendQueueBytes bounds the bytes waiting in one session's queue.
	// Default DefaultSendQueueBytes.
	SendQueueBytes int
	// SendQueueLen bounds the frames waiting in one session's queue.
	// Default DefaultSendQueueLen.
	SendQueueLen int
	// MaxBatchBytes bounds one PushBatch frame; 1 sends every push alone.
	// Default DefaultMaxBatchBytes.
	MaxBatchBytes int
	// SlowPolicy applies when a send queue is full. Default SlowDisconnect.
	SlowPolicy SlowPolicy
	// ResumeWait is how long a session that announced a Resume holds live
	// pushes for it. Default DefaultResumeWait.
	ResumeWait time.Duration
	// NewEngine builds the engine for the node nodeID (Options.NodeID, or
	// the generated one), given the callbacks that act on this node's
	// sessions. Default: the in-memory engine.
	NewEngine func(nodeID string, h engine.Handler) (engine.Engine, error)
	// Logger receives the service's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// EventRetention and EventMaxAge bound the default in-memory
	// engine's event log. Default engine.DefaultEventRetention and
	// engine.DefaultEventMaxAge. An engine from NewEngine has its own.
	EventRetention int
	EventMaxAge    time.Duration
	// WatcherBuffer bounds the events waiting for one watcher: past it the
	// watcher is cut (ErrWatcherTooSlow). Default DefaultWatcherBuffer.
	WatcherBuffer int
}

func (o *Options) setDefaults() {
	if o.NodeID == "" {
		o.NodeID = "node-" + strings.ToLower(newID()[:8])
	}
	if o.SendQueueBytes == 0 {
		o.SendQueueBytes = DefaultSendQueueBytes
	}
	if o.SendQueueLen == 0 {
		o.SendQueueLen = DefaultSendQueueLen
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.ResumeWait == 0 {
		o.ResumeWait = DefaultResumeWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WatcherBuffer == 0 {
		o.WatcherBuffer = DefaultWatcherBuffer
	}
	// HistorySize, HistoryTTL, EventRetention and EventMaxAge go to the
	// in-memory engine as they are: its zero values are the same
	// defaults.
}

// validate checks the options after setDefaults; its errors name the
// field.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("pushsvc: Options."+format, args...)) }
	if o.HistoryTTL < 0 {
		bad("HistoryTTL %v: must be > 0", o.HistoryTTL)
	}
	if o.SendQueueBytes < 0 {
		bad("SendQueueBytes %d: must be > 0", o.SendQueueBytes)
	}
	if o.SendQueueLen < 0 {
		bad("SendQueueLen %d: must be > 0", o.SendQueueLen)
	}
	if o.MaxBatchBytes < 0 {
		bad("MaxBatchBytes %d: must be > 0", o.MaxBatchBytes)
	}
	if o.SlowPolicy != SlowDisconnect && o.SlowPolicy != SlowDropOldest {
		bad("SlowPolicy %d: unknown", o.SlowPolicy)
	}
	if o.ResumeWait < 0 {
		bad("ResumeWait %v: must be > 0", o.ResumeWait)
	}
	if o.EventRetention < 0 {
		bad("EventRetention %d: must be > 0", o.EventRetention)
	}
	if o.EventMaxAge < 0 {
		bad("EventMaxAge %v: must be > 0", o.EventMaxAge)
	}
	if o.WatcherBuffer < 0 {
		bad("WatcherBuffer %d: must be > 0", o.WatcherBuffer)
	}
	return errors.Join(errs...)
}
