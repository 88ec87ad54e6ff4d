package grpcapi

import (
	"context"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// PushToUsers pushes to every connection of each user; with ack_timeout it
// waits for the devices' acknowledgements and answers receipts.
func (s *pushServer) PushToUsers(ctx context.Context, r *pushv1.PushToUsersRequest) (*pushv1.PushToUsersResponse, error) {
	a := s.api
	m := toMessage(r.GetMessage())
	if r.AckTimeout != nil {
		m.AckTimeout = r.AckTimeout.AsDuration()
	}
	res, err := a.svc.PushToUsers(ctx, r.GetUserIds(), m)
	if err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.PushToUsersResponse{
		MessageId: res.MessageID,
		Delivered: uint64(res.Delivered),
		Receipts:  fromReceipts(res.Receipts),
	}, nil
}

// PushToGroups pushes to the members of each group except the excluded
// users.
func (s *pushServer) PushToGroups(ctx context.Context, r *pushv1.PushToGroupsRequest) (*pushv1.PushToGroupsResponse, error) {
	a := s.api
	res, err := a.svc.PushToGroups(ctx, r.GetGroups(), r.GetExcludeUserIds(), toMessage(r.GetMessage()))
	if err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.PushToGroupsResponse{MessageId: res.MessageID, Delivered: uint64(res.Delivered)}, nil
}

// Broadcast pushes to every connection.
func (s *pushServer) Broadcast(ctx context.Context, r *pushv1.BroadcastRequest) (*pushv1.BroadcastResponse, error) {
	a := s.api
	res, err := a.svc.Broadcast(ctx, toMessage(r.GetMessage()))
	if err != nil {
		return nil, a.toStatus(ctx, err)
	}
	return &pushv1.BroadcastResponse{MessageId: res.MessageID, Delivered: uint64(res.Delivered)}, nil
}
