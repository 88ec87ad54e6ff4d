package grpcapi

import (
	"context"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// DisconnectUser closes every connection of a user.
func (s *pushServer) DisconnectUser(ctx context.Context, r *pushv1.DisconnectUserRequest) (*pushv1.DisconnectUserResponse, error) {
	a := s.api
	n, err := a.svc.DisconnectUser(ctx, r.GetUserId(), r.GetReason(), r.GetReconnect())
	if err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.DisconnectUserResponse{Disconnected: uint64(n)}, nil
}

// GetPresence reports each user's connections, in request order.
func (s *pushServer) GetPresence(ctx context.Context, r *pushv1.GetPresenceRequest) (*pushv1.GetPresenceResponse, error) {
	a := s.api
	ps, err := a.svc.Presence(ctx, r.GetUserIds())
	if err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.GetPresenceResponse{Users: fromPresence(ps)}, nil
}
