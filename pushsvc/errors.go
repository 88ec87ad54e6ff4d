package pushsvc

import "errors"

var (
	// ErrInvalidFrame means a client frame is not a valid ClientFrame.
	ErrInvalidFrame = errors.New("pushsvc: invalid client frame")
	// ErrClosed means the service is shutting down.
	ErrClosed = errors.New("pushsvc: closed")
	// ErrUnavailable means the engine could not publish; the caller may
	// retry.
	ErrUnavailable = errors.New("pushsvc: unavailable")
	// ErrInvalidArgument means a request was malformed.
	ErrInvalidArgument = errors.New("pushsvc: invalid argument")
	// ErrCursorExpired means a watcher's cursor cannot be resumed from:
	// the events after it left the log (retention), or the log started
	// over (a restarted in-memory node, a Redis that lost it). The
	// watcher resynchronises from presence and watches from now on.
	ErrCursorExpired = errors.New("pushsvc: event cursor expired")
	// ErrWatcherTooSlow means a watcher was cut because events came
	// faster than it took them and its buffer filled up; it resumes with
	// the last cursor it processed.
	ErrWatcherTooSlow = errors.New("pushsvc: watcher too slow")
	// ErrEventsUnsupported means the engine keeps no event log.
	ErrEventsUnsupported = errors.New("pushsvc: the engine keeps no event log")

	// errBadSnapshot means a node's stats snapshot in the cluster is not
	// a herald.cluster.v1.NodeStats.
	errBadSnapshot = errors.New("pushsvc: not a stats snapshot")
)
