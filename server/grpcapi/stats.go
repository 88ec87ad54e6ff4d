package grpcapi

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/pushsvc"
)

// GetStats reports the counters.
func (s *pushServer) GetStats(ctx context.Context, _ *pushv1.GetStatsRequest) (*pushv1.GetStatsResponse, error) {
	total, nodes, err := s.api.stats(ctx)
	if err != nil {
		return nil, s.api.toStatus(ctx, err)
	}
	return &pushv1.GetStatsResponse{Stats: total, Nodes: nodes}, nil
}

// WatchStats sends a sample at once, then one per interval until the
// caller cancels, the server stops or API.Shutdown is called. Past
// Capacity.MaxStatsWatchers streams on the node, or
// MaxStatsWatchersPerCaller of the caller's, it answers ResourceExhausted.
func (s *pushServer) WatchStats(r *pushv1.WatchStatsRequest, stream grpc.ServerStreamingServer[pushv1.WatchStatsResponse]) error {
	a := s.api
	release, err := a.statsWatchers.acquire(callerFrom(stream.Context()))
	if err != nil {
		return err
	}
	defer release()
	// The validation interceptor has checked the interval against the
	// schema and the configured Limits.
	interval := a.limits.DefaultStatsInterval
	if r.Interval != nil {
		interval = r.Interval.AsDuration()
	}
	ctx := stream.Context()
	send := func() error {
		total, nodes, err := a.stats(ctx)
		if err != nil {
			return a.toStatus(ctx, err)
		}
		return stream.Send(&pushv1.WatchStatsResponse{Stats: total, Nodes: nodes})
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.stopped:
			return status.Error(codes.Unavailable, "server shutting down")
		default:
		}
		// Send returns an error once the stream's context ends, so a
		// cancelled caller cannot keep this loop alive.
		if err := send(); err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return err
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-a.stopped:
			return status.Error(codes.Unavailable, "server shutting down")
		case <-t.C:
		}
	}
}

// stats returns the cluster totals and the per-node breakdown.
func (a *API) stats(ctx context.Context) (*pushv1.Stats, []*pushv1.NodeStats, error) {
	all, err := a.svc.ClusterStats(ctx)
	if err != nil {
		return nil, nil, err
	}
	nodes := make([]*pushv1.NodeStats, 0, len(all))
	for _, n := range all {
		nodes = append(nodes, &pushv1.NodeStats{NodeId: n.NodeID, Stats: fromStats(n.Stats)})
	}
	return fromStats(pushsvc.Total(all)), nodes, nil
}
