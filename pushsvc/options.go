package pushsvc

import (
	"errors"
	"fmt"
	"log/slog"
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

// Options configure a Service. The zero value of each field means its
// default, filled in by setDefaults.
type Options struct {
	// NodeID names this node in Welcome frames and presence. Default: a
	// generated id.
	NodeID string
	// HistorySize is how many pushes each stream keeps for resume.
	// Default 1000; negative means none.
	HistorySize int
	// HistoryTTL is how long a push stays resumable. Default 5m.
	HistoryTTL time.Duration
	// SendQueueBytes bounds the bytes waiting in one session's queue.
	// Default 1 MiB.
	SendQueueBytes int
	// SendQueueLen bounds the frames waiting in one session's queue.
	// Default 4096.
	SendQueueLen int
	// MaxBatchBytes bounds one PushBatch frame. Default 64 KiB.
	MaxBatchBytes int
	// SlowPolicy applies when a send queue is full. Default SlowDisconnect.
	SlowPolicy SlowPolicy
	// HeartbeatInterval is told to clients in Welcome. Default 25s.
	HeartbeatInterval time.Duration
	// ResumeWait is how long a session that announced a Resume holds live
	// pushes for it. Default 5s.
	ResumeWait time.Duration
	// NewEngine builds the engine, given the callbacks that act on this
	// node's sessions. Default: the in-memory engine.
	NewEngine func(h engine.Handler) (engine.Engine, error)
	// Logger receives the service's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.NodeID == "" {
		o.NodeID = "node-" + newID()[:8]
	}
	if o.HistorySize == 0 {
		o.HistorySize = 1000
	}
	if o.HistorySize < 0 {
		o.HistorySize = 0
	}
	if o.HistoryTTL == 0 {
		o.HistoryTTL = 5 * time.Minute
	}
	if o.SendQueueBytes == 0 {
		o.SendQueueBytes = 1 << 20
	}
	if o.SendQueueLen == 0 {
		o.SendQueueLen = 4096
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = 64 << 10
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = 25 * time.Second
	}
	if o.ResumeWait == 0 {
		o.ResumeWait = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.HistoryTTL < 0 {
		errs = append(errs, fmt.Errorf("history-ttl %v: must be > 0", o.HistoryTTL))
	}
	if o.SendQueueBytes < 0 {
		errs = append(errs, fmt.Errorf("send-queue-bytes %d: must be > 0", o.SendQueueBytes))
	}
	if o.SendQueueLen < 0 {
		errs = append(errs, fmt.Errorf("send-queue-len %d: must be > 0", o.SendQueueLen))
	}
	if o.MaxBatchBytes < 0 {
		errs = append(errs, fmt.Errorf("max-batch-bytes %d: must be > 0", o.MaxBatchBytes))
	}
	if o.SlowPolicy != SlowDisconnect && o.SlowPolicy != SlowDropOldest {
		errs = append(errs, fmt.Errorf("slow-policy %d: unknown", o.SlowPolicy))
	}
	if o.HeartbeatInterval < 0 {
		errs = append(errs, fmt.Errorf("heartbeat-interval %v: must be > 0", o.HeartbeatInterval))
	}
	return errors.Join(errs...)
}
