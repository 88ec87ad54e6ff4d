package grpcapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

func TestMalformedRequestsNameTheField(t *testing.T) {
	ts := startAPI(t, setup{})
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
			"user_ids: must contain at least 1 item(s)"},
		{"empty user id", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a", "b", "c", ""}, Message: message()}),
			"user_ids[3]: must be at least 1 characters"},
		{"too many user_ids", toUsers(&pushv1.PushToUsersRequest{UserIds: manyUsers, Message: message()}),
			"user_ids: must contain no more than 1000 item(s)"},
		{"user id too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{strings.Repeat("u", 257)}, Message: message()}),
			"user_ids[0]: must be at most 256 bytes"},
		// Bytes, not characters: 86 three-byte runes are 258 bytes.
		{"user id too long in bytes", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{strings.Repeat("€", 86)}, Message: message()}),
			"user_ids[0]: must be at most 256 bytes"},
		{"missing message", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}}),
			"message: value is required"},
		{"missing topic", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Payload: []byte("x")}}),
			"message.topic: value is required"},
		{"topic too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: strings.Repeat("t", 257)}}),
			"message.topic: must be at most 256 bytes"},
		{"payload too large", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: withPayload(70000)}),
			"message.payload: must be at most 65536 bytes"},
		{"message id too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: "t", Id: strings.Repeat("i", 129)}}),
			"message.id: must be at most 128 bytes"},
		{"negative ttl", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: "t", Ttl: durationpb.New(-time.Second)}}),
			"message.ttl: must be greater than 0s"},
		{"zero ttl", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: "t", Ttl: durationpb.New(0)}}),
			"message.ttl: must be greater than 0s"},
		{"invalid ttl", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: &pushv1.Message{Topic: "t", Ttl: &durationpb.Duration{Seconds: 5, Nanos: -1}}}),
			"message.ttl: must be a valid duration: seconds and nanos of the same sign, nanos within a second"},
		{"ack_timeout too long", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: message(), AckTimeout: durationpb.New(time.Hour)}),
			"ack_timeout: must be greater than 0s and less than or equal to 30s"},
		{"zero ack_timeout", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: message(), AckTimeout: durationpb.New(0)}),
			"ack_timeout: must be greater than 0s and less than or equal to 30s"},
		{"invalid ack_timeout", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: message(), AckTimeout: &durationpb.Duration{Nanos: 2e9}}),
			"ack_timeout: must be a valid duration: seconds and nanos of the same sign, nanos within a second"},
		{"several violations", toUsers(&pushv1.PushToUsersRequest{UserIds: []string{""}, AckTimeout: durationpb.New(-time.Second)}),
			"user_ids[0]: must be at least 1 characters; message: value is required; ack_timeout: must be greater than 0s and less than or equal to 30s"},
		{"empty groups", toGroups(&pushv1.PushToGroupsRequest{Message: message()}),
			"groups: must contain at least 1 item(s)"},
		{"empty group name", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{""}, Message: message()}),
			"groups[0]: must be at least 1 characters"},
		{"group name too long", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{"g", strings.Repeat("g", 257)}, Message: message()}),
			"groups[1]: must be at most 256 bytes"},
		{"too many groups", toGroups(&pushv1.PushToGroupsRequest{Groups: manyUsers[:101], Message: message()}),
			"groups: must contain no more than 100 item(s)"},
		{"empty excluded user", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{"g"}, Message: message(), ExcludeUserIds: []string{""}}),
			"exclude_user_ids[0]: must be at least 1 characters"},
		{"too many excluded users", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{"g"}, Message: message(), ExcludeUserIds: manyUsers}),
			"exclude_user_ids: must contain no more than 1000 item(s)"},
		{"group push without message", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{"g"}}),
			"message: value is required"},
		{"group push with a bad message", toGroups(&pushv1.PushToGroupsRequest{Groups: []string{"g"}, Message: withPayload(65537)}),
			"message.payload: must be at most 65536 bytes"},
		{"broadcast without message", func(ctx context.Context) error {
			_, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{})
			return err
		}, "message: value is required"},
		{"broadcast without topic", func(ctx context.Context) error {
			_, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{Message: &pushv1.Message{}})
			return err
		}, "message.topic: value is required"},
		{"AddToGroup without group", func(ctx context.Context) error {
			_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{UserIds: []string{"a"}})
			return err
		}, "group: value is required"},
		{"AddToGroup with a long group", func(ctx context.Context) error {
			_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: strings.Repeat("g", 257), UserIds: []string{"a"}})
			return err
		}, "group: must be at most 256 bytes"},
		{"AddToGroup without users", func(ctx context.Context) error {
			_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: "g"})
			return err
		}, "user_ids: must contain at least 1 item(s)"},
		{"AddToGroup with too many users", func(ctx context.Context) error {
			_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: "g", UserIds: manyUsers})
			return err
		}, "user_ids: must contain no more than 1000 item(s)"},
		{"RemoveFromGroup without group", func(ctx context.Context) error {
			_, err := c.RemoveFromGroup(ctx, &pushv1.RemoveFromGroupRequest{UserIds: []string{"a"}})
			return err
		}, "group: value is required"},
		{"RemoveFromGroup with an empty user", func(ctx context.Context) error {
			_, err := c.RemoveFromGroup(ctx, &pushv1.RemoveFromGroupRequest{Group: "g", UserIds: []string{"a", ""}})
			return err
		}, "user_ids[1]: must be at least 1 characters"},
		{"ListGroupMembers without group", func(ctx context.Context) error {
			_, err := c.ListGroupMembers(ctx, &pushv1.ListGroupMembersRequest{})
			return err
		}, "group: value is required"},
		{"ListGroupMembers with a long group", func(ctx context.Context) error {
			_, err := c.ListGroupMembers(ctx, &pushv1.ListGroupMembersRequest{Group: strings.Repeat("g", 257)})
			return err
		}, "group: must be at most 256 bytes"},
		{"DisconnectUser without user_id", func(ctx context.Context) error {
			_, err := c.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{Reason: "bye"})
			return err
		}, "user_id: value is required"},
		{"DisconnectUser with a long user_id", func(ctx context.Context) error {
			_, err := c.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{UserId: strings.Repeat("u", 257)})
			return err
		}, "user_id: must be at most 256 bytes"},
		{"DisconnectUser with a long reason", func(ctx context.Context) error {
			_, err := c.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{UserId: "a", Reason: strings.Repeat("r", 257)})
			return err
		}, "reason: must be at most 256 bytes"},
		{"GetPresence empty", func(ctx context.Context) error {
			_, err := c.GetPresence(ctx, &pushv1.GetPresenceRequest{})
			return err
		}, "user_ids: must contain at least 1 item(s)"},
		{"GetPresence with too many users", func(ctx context.Context) error {
			_, err := c.GetPresence(ctx, &pushv1.GetPresenceRequest{UserIds: manyUsers})
			return err
		}, "user_ids: must contain no more than 1000 item(s)"},
		{"GetPresence with an empty user", func(ctx context.Context) error {
			_, err := c.GetPresence(ctx, &pushv1.GetPresenceRequest{UserIds: []string{""}})
			return err
		}, "user_ids[0]: must be at least 1 characters"},
		{"WatchStats interval too short", watch(&pushv1.WatchStatsRequest{Interval: durationpb.New(10 * time.Millisecond)}),
			"interval: must be greater than or equal to 0.1s and less than or equal to 3600s"},
		{"WatchStats interval too long", watch(&pushv1.WatchStatsRequest{Interval: durationpb.New(2 * time.Hour)}),
			"interval: must be greater than or equal to 0.1s and less than or equal to 3600s"},
		{"WatchStats invalid interval", watch(&pushv1.WatchStatsRequest{Interval: &durationpb.Duration{Seconds: 1, Nanos: -1}}),
			"interval: must be a valid duration: seconds and nanos of the same sign, nanos within a second"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, tc.call(testContext(t)), tc.want)
		})
	}
}

// A rejected request changes nothing: no member of a half-valid list is
// added.
func TestMalformedRequestChangesNothing(t *testing.T) {
	ts := startAPI(t, setup{})
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

// Limits tighten the schema's bounds, and are refused with the same
// wording.
func TestConfiguredLimitsTightenTheSchema(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{Limits: grpcapi.Limits{
		MaxUserIDs:       2,
		MaxGroups:        1,
		MaxPayloadBytes:  10,
		MaxTopicBytes:    4,
		MaxIDBytes:       3,
		MaxNameBytes:     5,
		MaxReasonBytes:   6,
		MaxAckTimeout:    time.Second,
		MinStatsInterval: time.Second,
		MaxStatsInterval: time.Minute,
	}}})
	c := ts.client
	msg := &pushv1.Message{Topic: "chat", Payload: []byte("0123456789"), Id: "abc"}

	// Requests at every limit pass.
	ctx := testContext(t)
	if _, err := c.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice", "bob"}, Message: msg, AckTimeout: durationpb.New(time.Millisecond)}); err != nil {
		t.Fatalf("a push at the limits: %v", err)
	}
	if _, err := c.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{UserId: "alice", Reason: "banned"}); err != nil {
		t.Fatalf("a disconnect at the limits: %v", err)
	}

	for _, tc := range []struct {
		name string
		call func(context.Context) error
		want string
	}{
		{"user_ids", func(ctx context.Context) error {
			_, err := c.GetPresence(ctx, &pushv1.GetPresenceRequest{UserIds: []string{"a", "b", "c"}})
			return err
		}, "user_ids: must contain no more than 2 item(s)"},
		{"user id bytes", func(ctx context.Context) error {
			_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: "g", UserIds: []string{"a", "bobby1"}})
			return err
		}, "user_ids[1]: must be at most 5 bytes"},
		{"group bytes", func(ctx context.Context) error {
			_, err := c.RemoveFromGroup(ctx, &pushv1.RemoveFromGroupRequest{Group: "group1", UserIds: []string{"a"}})
			return err
		}, "group: must be at most 5 bytes"},
		{"listed group bytes", func(ctx context.Context) error {
			_, err := c.ListGroupMembers(ctx, &pushv1.ListGroupMembersRequest{Group: "group1"})
			return err
		}, "group: must be at most 5 bytes"},
		{"groups and excluded users", func(ctx context.Context) error {
			_, err := c.PushToGroups(ctx, &pushv1.PushToGroupsRequest{Groups: []string{"g", "h"}, Message: msg, ExcludeUserIds: []string{"a", "b", "c"}})
			return err
		}, "groups: must contain no more than 1 item(s); exclude_user_ids: must contain no more than 2 item(s)"},
		{"message", func(ctx context.Context) error {
			_, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{Message: &pushv1.Message{Topic: "chats", Payload: make([]byte, 11), Id: "abcd"}})
			return err
		}, "message.topic: must be at most 4 bytes; message.payload: must be at most 10 bytes; message.id: must be at most 3 bytes"},
		{"ack_timeout", func(ctx context.Context) error {
			_, err := c.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"a"}, Message: msg, AckTimeout: durationpb.New(2 * time.Second)})
			return err
		}, "ack_timeout: must be greater than 0s and less than or equal to 1s"},
		{"user_id and reason", func(ctx context.Context) error {
			_, err := c.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{UserId: "alice1", Reason: "banned!"})
			return err
		}, "user_id: must be at most 5 bytes; reason: must be at most 6 bytes"},
		{"interval", func(ctx context.Context) error {
			st, err := c.WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(500 * time.Millisecond)})
			if err == nil {
				_, err = st.Recv()
			}
			return err
		}, "interval: must be greater than or equal to 1s and less than or equal to 60s"},
		// The schema's rules come first: a request that breaks them is
		// not also checked against the limits.
		{"schema first", func(ctx context.Context) error {
			_, err := c.GetPresence(ctx, &pushv1.GetPresenceRequest{UserIds: []string{"a", "b", ""}})
			return err
		}, "user_ids[2]: must be at least 1 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, tc.call(testContext(t)), tc.want)
		})
	}
}

// wantInvalid fails the test unless err is InvalidArgument with message
// want, and its google.rpc.BadRequest details say the same, each with the
// rule's id as its reason.
func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || st.Message() != want {
		t.Errorf("got %v %q, want InvalidArgument %q", st.Code(), st.Message(), want)
		return
	}
	var parts []string
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			t.Errorf("detail %T, want only google.rpc.BadRequest", d)
			continue
		}
		for _, v := range br.GetFieldViolations() {
			parts = append(parts, v.GetField()+": "+v.GetDescription())
			if v.GetReason() == "" {
				t.Errorf("violation %v has no reason", v)
			}
		}
	}
	if got := strings.Join(parts, "; "); got != want {
		t.Errorf("BadRequest details say %q, want %q", got, want)
	}
}
