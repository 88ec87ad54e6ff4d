package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

func TestMalformedRequestsNameTheField(t *testing.T) {
	ts := startTestServer(t)
	c := ts.client
	manyUsers := make([]string, 1001)
	for i := range manyUsers {
		manyUsers[i] = fmt.Sprintf("u%d", i)
	}
	withPayload := func(n int) *pushv1.Message {
		m := message()
		m.Payload = make([]byte, n)
		return m
	}
	toUsers := func(r *pushv1.PushToUsersRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.PushToUsers(ctx, r); return err }
	}
	toGroups := func(r *pushv1.PushToGroupsRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.PushToGroups(ctx, r); return err }
	}
	watch := func(r *pushv1.WatchStatsRequest) func(context.Context) error {
		return func(ctx context.Context) error {
			st, err := c.WatchStats(ctx, r)
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}
	}

	for _, tc := range []struct {
		name string
		call func(context.Context) error
		want string // the status message
	}{
		{"empty user_ids", toUsers(&pushv1.PushToUsersRequest{Message: message()}),
			"user_ids: must not be empty"},
		{"empty user id", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a", "b", "c", ""}, Message: message()}),
			"user_ids[3]: must not be empty"},
		{"too many user_ids", toUsers(&pushv1.PushToUsersRequest{UserIds: manyUsers, Message: message()}),
			"user_ids: 1001 entries exceeds the limit of 1000"},
		{"user id too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{strings.Repeat("u", 257)}, Message: message()}),
			"user_ids[0]: 257 bytes exceeds the limit of 256"},
		{"missing message", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}}),
			"message: required"},
		{"missing topic", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Payload: []byte("x")}}),
			"message.topic: required"},
		{"topic too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: strings.Repeat("t", 257)}}),
			"message.topic: 257 bytes exceeds the limit of 256"},
		{"payload too large", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: withPayload(70000)}),
			"message.payload: 70000 bytes exceeds the limit of 65536"},
		{"message id too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: "t", Id: strings.Repeat("i", 129)}}),
			"message.id: 129 bytes exceeds the limit of 128"},
		{"negative ttl", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: "t", Ttl: durationpb.New(-time.Second)}}),
			"message.ttl: must be a positive duration"},
		{"ack_timeout too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: message(), AckTimeout: durationpb.New(time.Hour)}),
			"ack_timeout: must be positive and at most 30s"},
		{"empty groups", toGroups(&pushv1.PushToGroupsRequest{Message: message()}),
			"groups: must not be empty"},
		{"empty group name", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{""}, Message: message()}),
			"groups[0]: must not be empty"},
		{"too many groups", toGroups(&pushv1.PushToGroupsRequest{Groups: manyUsers[:101], Message: message()}),
			"groups: 101 entries exceeds the limit of 100"},
		{"empty excluded user", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{"g"}, Message: message(), ExcludeUserIds: []string{""}}),
			"exclude_user_ids[0]: must not be empty"},
		{"group push without message", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{"g"}}),
			"message: required"},
		{"broadcast without message", func(ctx context.Context) error {
			_, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{})
			return err
		}, "message: required"},
		{"AddToGroup without group", func(ctx context.Context) error {
			_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{UserIds: []string{"a"}})
			return err
		}, "group: required"},
		{"AddToGroup without users", func(ctx context.Context) error {
			_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: "g"})
			return err
		}, "user_ids: must not be empty"},
		{"RemoveFromGroup with an empty user", func(ctx context.Context) error {
			_, err := c.RemoveFromGroup(ctx, &pushv1.RemoveFromGroupRequest{Group: "g", UserIds: []string{"a", ""}})
			return err
		}, "user_ids[1]: must not be empty"},
		{"ListGroupMembers without group", func(ctx context.Context) error {
			_, err := c.ListGroupMembers(ctx, &pushv1.ListGroupMembersRequest{})
			return err
		}, "group: required"},
		{"DisconnectUser without user_id", func(ctx context.Context) error {
			_, err := c.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{Reason: "bye"})
			return err
		}, "user_id: required"},
		{"GetPresence empty", func(ctx context.Context) error {
			_, err := c.GetPresence(ctx, &pushv1.GetPresenceRequest{})
			return err
		}, "user_ids: must not be empty"},
		{"WatchStats interval too short", watch(&pushv1.WatchStatsRequest{Interval: durationpb.New(10 * time.Millisecond)}),
			"interval: must be between 100ms and 1h"},
		{"WatchStats interval too long", watch(&pushv1.WatchStatsRequest{Interval: durationpb.New(2 * time.Hour)}),
			"interval: must be between 100ms and 1h"},
		{"WatchStats invalid interval", watch(&pushv1.WatchStatsRequest{Interval: &durationpb.Duration{Seconds: 1, Nanos: -1}}),
			"interval: must be between 100ms and 1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(testContext(t))
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || st.Message() != tc.want {
				t.Errorf("got %v %q, want InvalidArgument %q", st.Code(), st.Message(), tc.want)
			}
		})
	}
}

// A rejected request changes nothing: no member of a half-valid list is
// added.
func TestMalformedRequestChangesNothing(t *testing.T) {
	ts := startTestServer(t)
	ctx := testContext(t)
	_, err := ts.client.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: "g", UserIds: []string{"alice", ""}})
	wantCode(t, err, codes.InvalidArgument)
	res, err := ts.client.ListGroupMembers(ctx, &pushv1.ListGroupMembersRequest{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetUserIds()) != 0 {
		t.Errorf("members %v after a rejected AddToGroup, want none", res.GetUserIds())
	}
}
