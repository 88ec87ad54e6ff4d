package grpcapi

import (
	"context"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// AddToGroup adds users to a group.
func (s *pushServer) AddToGroup(ctx context.Context, r *pushv1.AddToGroupRequest) (*pushv1.AddToGroupResponse, error) {
	a := s.api
	if err := a.svc.AddToGroup(ctx, r.GetGroup(), r.GetUserIds()); err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.AddToGroupResponse{}, nil
}

// RemoveFromGroup removes users from a group.
func (s *pushServer) RemoveFromGroup(ctx context.Context, r *pushv1.RemoveFromGroupRequest) (*pushv1.RemoveFromGroupResponse, error) {
	a := s.api
	if err := a.svc.RemoveFromGroup(ctx, r.GetGroup(), r.GetUserIds()); err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.RemoveFromGroupResponse{}, nil
}

// ListGroupMembers lists a group's members, sorted (pushsvc sorts them).
func (s *pushServer) ListGroupMembers(ctx context.Context, r *pushv1.ListGroupMembersRequest) (*pushv1.ListGroupMembersResponse, error) {
	a := s.api
	members, err := a.svc.GroupMembers(ctx, r.GetGroup())
	if err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.ListGroupMembersResponse{UserIds: members}, nil
}
