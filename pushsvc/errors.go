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

	// errBadSnapshot means a node's stats snapshot in the cluster is not
	// a herald.cluster.v1.NodeStats.
	errBadSnapshot = errors.New("pushsvc: not a stats snapshot")
)
