package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/herald-push/herald/pushsvc"
)

// toStatus turns an error from pushsvc into a gRPC status error. It is the
// one place where domain errors become status codes; handlers return
// whatever it gives. Errors that already carry a status pass through.
func (a *API) toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, pushsvc.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, pushsvc.ErrCursorExpired):
		return status.Error(codes.FailedPrecondition, err.Error()+
			": resync (GetPresence), then call WatchEvents again without a cursor")
	case errors.Is(err, pushsvc.ErrWatcherTooSlow):
		return status.Error(codes.ResourceExhausted, err.Error()+": resume with the last cursor you processed")
	case errors.Is(err, pushsvc.ErrEventsUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, pushsvc.ErrUnavailable), errors.Is(err, pushsvc.ErrClosed):
		// Both are worth a retry, on this node later or on another.
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	a.log.ErrorContext(ctx, "grpc: unexpected service error", "err", err)
	return status.Error(codes.Internal, err.Error())
}
