package grpcapi

import (
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// The schema* constants must be the bounds push.proto's rules set: Limits
// default to them and New refuses limits beyond them.
func TestSchemaBounds(t *testing.T) {
	messages := pushv1.File_herald_push_v1_push_proto.Messages()
	rules := func(field string) *validate.FieldRules {
		t.Helper()
		full := protoreflect.FullName("herald.push.v1." + field)
		md := messages.ByName(full.Parent().Name())
		if md == nil {
			t.Fatalf("no message %s", full.Parent())
		}
		fd := md.Fields().ByName(full.Name())
		if fd == nil {
			t.Fatalf("no field %s", full)
		}
		r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
		if r == nil {
			t.Fatalf("%s has no rules", full)
		}
		return r
	}
	eq := func(field, rule string, got, want int64) {
		t.Helper()
		if got != want {
			t.Errorf("%s %s is %d in push.proto, %d in Go", field, rule, got, want)
		}
	}
	for _, f := range []string{
		"PushToUsersRequest.user_ids", "AddToGroupRequest.user_ids", "RemoveFromGroupRequest.user_ids",
		"GetPresenceRequest.user_ids", "PushToGroupsRequest.exclude_user_ids", "PushToGroupsRequest.groups",
		"WatchEventsRequest.user_ids",
	} {
		r := rules(f).GetRepeated()
		want := int64(schemaMaxUserIDs)
		if f == "PushToGroupsRequest.groups" {
			want = schemaMaxGroups
		}
		eq(f, "max_items", int64(r.GetMaxItems()), want)
		eq(f, "items.max_bytes", int64(r.GetItems().GetString().GetMaxBytes()), schemaMaxNameBytes)
		eq(f, "items.min_len", int64(r.GetItems().GetString().GetMinLen()), 1)
	}
	for _, f := range []string{"AddToGroupRequest.group", "RemoveFromGroupRequest.group", "ListGroupMembersRequest.group", "DisconnectUserRequest.user_id"} {
		eq(f, "max_bytes", int64(rules(f).GetString().GetMaxBytes()), schemaMaxNameBytes)
	}
	eq("Message.topic", "max_bytes", int64(rules("Message.topic").GetString().GetMaxBytes()), schemaMaxTopicBytes)
	eq("Message.payload", "max_len", int64(rules("Message.payload").GetBytes().GetMaxLen()), schemaMaxPayloadBytes)
	eq("Message.id", "max_bytes", int64(rules("Message.id").GetString().GetMaxBytes()), schemaMaxIDBytes)
	eq("DisconnectUserRequest.reason", "max_bytes", int64(rules("DisconnectUserRequest.reason").GetString().GetMaxBytes()), schemaMaxReasonBytes)
	dur := func(field, rule string, got interface{ AsDuration() time.Duration }, want time.Duration) {
		t.Helper()
		eq(field, rule, int64(got.AsDuration()), int64(want))
	}
	dur("PushToUsersRequest.ack_timeout", "lte", rules("PushToUsersRequest.ack_timeout").GetDuration().GetLte(), schemaMaxAckTimeout)
	dur("WatchStatsRequest.interval", "gte", rules("WatchStatsRequest.interval").GetDuration().GetGte(), schemaMinStatsInterval)
	dur("WatchStatsRequest.interval", "lte", rules("WatchStatsRequest.interval").GetDuration().GetLte(), schemaMaxStatsInterval)
}

// Every PushService method is listed with its scope: an unlisted one would
// silently need admin.
func TestEveryMethodHasAScope(t *testing.T) {
	methods := pushv1.File_herald_push_v1_push_proto.Services().ByName("PushService").Methods()
	for i := range methods.Len() {
		name := "/herald.push.v1.PushService/" + string(methods.Get(i).Name())
		if s, ok := methodScopes[name]; !ok || s == 0 {
			t.Errorf("%s has no scope in methodScopes", name)
		}
	}
	if got := requiredScope("/herald.test.Unknown/Method"); got != ScopeAdmin {
		t.Errorf("an unlisted method needs %v, want admin", got)
	}
}
