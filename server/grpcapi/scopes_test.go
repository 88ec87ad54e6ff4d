package grpcapi_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
	"github.com/herald-push/herald/server/grpcapi"
)

// pushServiceCalls makes one valid call of each PushService method, with
// the scope it needs.
var pushServiceCalls = []struct {
	method string
	scope  string
	call   func(context.Context, pushv1.PushServiceClient) error
}{
	{"PushToUsers", "push", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.PushToUsers(ctx, &pushv1.PushToUsersRequest{UserIds: []string{"alice"}, Message: message()})
		return err
	}},
	{"PushToGroups", "push", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.PushToGroups(ctx, &pushv1.PushToGroupsRequest{Groups: []string{"team"}, Message: message()})
		return err
	}},
	{"Broadcast", "push", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.Broadcast(ctx, &pushv1.BroadcastRequest{Message: message()})
		return err
	}},
	{"AddToGroup", "push", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.AddToGroup(ctx, &pushv1.AddToGroupRequest{Group: "team", UserIds: []string{"alice"}})
		return err
	}},
	{"RemoveFromGroup", "push", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.RemoveFromGroup(ctx, &pushv1.RemoveFromGroupRequest{Group: "team", UserIds: []string{"alice"}})
		return err
	}},
	{"ListGroupMembers", "push", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.ListGroupMembers(ctx, &pushv1.ListGroupMembersRequest{Group: "team"})
		return err
	}},
	{"DisconnectUser", "admin", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.DisconnectUser(ctx, &pushv1.DisconnectUserRequest{UserId: "alice"})
		return err
	}},
	{"GetPresence", "admin", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.GetPresence(ctx, &pushv1.GetPresenceRequest{UserIds: []string{"alice"}})
		return err
	}},
	{"GetStats", "admin", func(ctx context.Context, c pushv1.PushServiceClient) error {
		_, err := c.GetStats(ctx, &pushv1.GetStatsRequest{})
		return err
	}},
	{"WatchStats", "admin", func(ctx context.Context, c pushv1.PushServiceClient) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := c.WatchStats(ctx, &pushv1.WatchStatsRequest{Interval: durationpb.New(time.Hour)})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}},
	{"WatchEvents", "admin|events", func(ctx context.Context, c pushv1.PushServiceClient) error {
		// Nothing happens: an accepted stream waits, a refused one ends.
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		st, err := c.WatchEvents(ctx, &pushv1.WatchEventsRequest{})
		if err != nil {
			return err
		}
		if _, err = st.Recv(); status.Code(err) == codes.DeadlineExceeded {
			return nil
		}
		return err
	}},
	{"PushStream", "push", func(ctx context.Context, c pushv1.PushServiceClient) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := c.PushStream(ctx)
		if err != nil {
			return err
		}
		// A refused stream ends at once: Send then reports io.EOF, and
		// Recv the status.
		if err := st.Send(toUsers("x", "alice")); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		res, err := st.Recv()
		if err != nil {
			return err
		}
		return status.ErrorProto(&spb.Status{Code: int32(res.GetCode()), Message: res.GetMessage()})
	}},
}

// allowedWith reports whether a key with scopes (as the server writes
// them, "push+admin") may call a method needing one of need ("admin|events").
func allowedWith(scopes, need string) bool {
	for _, n := range strings.Split(need, "|") {
		if strings.Contains(scopes, n) {
			return true
		}
	}
	return false
}

func TestScopesLimitWhatAKeyMayCall(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{APIKeys: []string{"pusher:push", "ops:admin", "both:push+admin", "watcher:events", "all"}}})
	for _, key := range []struct {
		key    string
		scopes string // what the server says the key has
	}{{"pusher", "push"}, {"ops", "admin"}, {"both", "push+admin"}, {"watcher", "events"}, {"all", "push+admin+events"}} {
		c := pushv1.NewPushServiceClient(dial(t, ts.addr, key.key))
		for _, m := range pushServiceCalls {
			t.Run(key.key+"/"+m.method, func(t *testing.T) {
				err := m.call(testContext(t), c)
				if allowedWith(key.scopes, m.scope) {
					if err != nil {
						t.Errorf("key with scope %s: %v", key.scopes, err)
					}
					return
				}
				wantPermissionDenied(t, err, m.method, m.scope, key.scopes)
			})
		}
	}
}

// The scope is checked before the request: a caller learns nothing about
// the methods it may not call.
func TestScopeCheckedBeforeValidation(t *testing.T) {
	ts := startAPI(t, setup{opts: grpcapi.Options{APIKeys: []string{"pusher:push"}}})
	c := pushv1.NewPushServiceClient(dial(t, ts.addr, "pusher"))
	_, err := c.DisconnectUser(testContext(t), &pushv1.DisconnectUserRequest{})
	wantPermissionDenied(t, err, "DisconnectUser", "admin", "push")
}

// Reflection is open to every valid key; a method nobody listed needs
// admin.
func TestScopesOfOtherServices(t *testing.T) {
	ts := startAPI(t, setup{
		opts:     grpcapi.Options{APIKeys: []string{"pusher:push", "ops:admin"}},
		register: func(s *grpc.Server) { s.RegisterService(&panicService, struct{}{}) },
	})
	for _, key := range []string{"pusher", "ops"} {
		c := reflectionpb.NewServerReflectionClient(dial(t, ts.addr, key))
		st, err := c.ServerReflectionInfo(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
		}); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Errorf("reflection with key %s: %v", key, err)
		}
	}
	err := dial(t, ts.addr, "pusher").Invoke(testContext(t), "/herald.test.Panicker/Panic", &emptypb.Empty{}, &emptypb.Empty{})
	wantCode(t, err, codes.PermissionDenied)
}

// wantPermissionDenied fails the test unless err is PermissionDenied
// naming the method, the scopes of which it needs one ("admin|events")
// and the key's scopes.
func wantPermissionDenied(t *testing.T, err error, method, missing, has string) {
	t.Helper()
	st := status.Convert(err)
	want := "/herald.push.v1.PushService/" + method + ` needs an API key with scope "` +
		strings.ReplaceAll(missing, "|", `" or "`) + `"; this key has scope "` + has + `"`
	if st.Code() != codes.PermissionDenied || st.Message() != want {
		t.Errorf("got %v %q, want PermissionDenied %q", st.Code(), st.Message(), want)
	}
}
