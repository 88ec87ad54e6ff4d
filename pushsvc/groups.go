package pushsvc

import (
	"context"
	"slices"
)

// AddToGroup makes users members of group, for their current and future
// sessions on every node.
func (s *Service) AddToGroup(ctx context.Context, group string, users []string) error {
	if s.cluster != nil {
		return errUnavailable(s.cluster.AddMembers(ctx, group, users))
	}
	for _, u := range users {
		s.hub.addMember(group, u)
	}
	return nil
}

// RemoveFromGroup ends users' membership of group. Sessions whose token
// names the group keep receiving it.
func (s *Service) RemoveFromGroup(ctx context.Context, group string, users []string) error {
	if s.cluster != nil {
		return errUnavailable(s.cluster.RemoveMembers(ctx, group, users))
	}
	for _, u := range users {
		s.hub.removeMember(group, u)
	}
	return nil
}

// GroupMembers lists group's members and the users whose sessions receive
// it, sorted. With a cluster, token groups count for this node's sessions
// only.
func (s *Service) GroupMembers(ctx context.Context, group string) ([]string, error) {
	local := s.hub.members(group)
	if s.cluster == nil {
		return local, nil
	}
	stored, err := s.cluster.Members(ctx, group)
	if err != nil {
		return nil, errUnavailable(err)
	}
	return mergeSorted(stored, local), nil
}

// mergeSorted merges two sorted lists, dropping repeats.
func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}
