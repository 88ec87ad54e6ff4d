package grpcapi

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// The push requests' schema rules, written out by hand. protovalidate
// evaluates push.proto's rules as CEL programs: for a PushToUsers request
// to one user, 4 µs and 9 allocations, 10% of the call in the users
// scenario's profile. The three push requests, which carry a node's
// traffic, are checked here instead, in 11 ns and no allocation for a
// valid one (BenchmarkPushRules), and with the same outcome: the same violations,
// with the same field paths, messages and rule ids, in the same order
// (TestPushRulesMatchProtovalidate runs both on generated requests).
// Every other request goes to protovalidate. A change to these requests'
// rules in push.proto must be made here too; that test fails until it
// is.

// pushRuleViolations returns what in m breaks push.proto's rules, and
// true, when m is one of the push requests; nil and false otherwise.
func pushRuleViolations(m proto.Message) (violations, bool) {
	var vs violations
	switch r := m.(type) {
	case *pushv1.PushToUsersRequest:
		vs.nameList("user_ids", r.GetUserIds(), 1, schemaMaxUserIDs)
		vs.pushMessage("message", r.GetMessage())
		if d := r.GetAckTimeout(); d != nil && !inRange(d, schemaMaxAckTimeout) {
			vs.add("ack_timeout", "duration.gt_lte", "must be greater than 0s and less than or equal to %s", seconds(schemaMaxAckTimeout))
		}
	case *pushv1.PushToGroupsRequest:
		vs.nameList("groups", r.GetGroups(), 1, schemaMaxGroups)
		vs.pushMessage("message", r.GetMessage())
		vs.nameList("exclude_user_ids", r.GetExcludeUserIds(), 0, schemaMaxUserIDs)
	case *pushv1.BroadcastRequest:
		vs.pushMessage("message", r.GetMessage())
	case *pushv1.PushStreamRequest:
		return pushStreamRuleViolations(r)
	default:
		return nil, false
	}
	return vs, true
}

// streamPush returns a PushStream request's push, the unary request of
// its kind, and the name of its field; nil when it has none.
func streamPush(r *pushv1.PushStreamRequest) (proto.Message, string) {
	switch p := r.GetPush().(type) {
	case *pushv1.PushStreamRequest_Users:
		return p.Users, "users"
	case *pushv1.PushStreamRequest_Groups:
		return p.Groups, "groups"
	case *pushv1.PushStreamRequest_Broadcast:
		return p.Broadcast, "broadcast"
	}
	return nil, ""
}

// schemaMaxCorrelationIDBytes is PushStreamRequest.correlation_id's bound.
const schemaMaxCorrelationIDBytes = 128

// pushStreamRuleViolations checks a PushStream request: its correlation
// id, then its push as the unary request of its kind, the fields named
// from the stream request ("users.user_ids[3]"). A request without a
// push is left to protovalidate, which words the oneof's rule.
func pushStreamRuleViolations(r *pushv1.PushStreamRequest) (violations, bool) {
	inner, field := streamPush(r)
	if inner == nil || !inner.ProtoReflect().IsValid() {
		return nil, false
	}
	var vs violations
	if len(r.GetCorrelationId()) > schemaMaxCorrelationIDBytes {
		vs.add("correlation_id", "string.max_bytes", "must be at most %d bytes", schemaMaxCorrelationIDBytes)
	}
	innerVs, _ := pushRuleViolations(inner)
	for _, v := range innerVs {
		v.Field = field + "." + v.GetField()
		vs = append(vs, v)
	}
	return vs, true
}

// nameList checks a list of user ids or group names: minItems to
// maxItems names of 1 to schemaMaxNameBytes bytes. protovalidate checks
// every name, over maxItems or not.
func (vs *violations) nameList(field string, list []string, minItems, maxItems int) {
	switch {
	case len(list) < minItems:
		vs.add(field, "repeated.min_items", "must contain at least %d item(s)", minItems)
	case len(list) > maxItems:
		vs.add(field, "repeated.max_items", "must contain no more than %d item(s)", maxItems)
	}
	for i, s := range list {
		switch {
		case s == "":
			// min_len counts characters: a string has one unless empty.
			vs.add(field+"["+strconv.Itoa(i)+"]", "string.min_len", "must be at least 1 characters")
		case len(s) > schemaMaxNameBytes:
			vs.add(field+"["+strconv.Itoa(i)+"]", "string.max_bytes", "must be at most %d bytes", schemaMaxNameBytes)
		}
	}
}

// pushMessage checks a push's required Message.
func (vs *violations) pushMessage(field string, m *pushv1.Message) {
	if m == nil {
		vs.add(field, "required", "value is required")
		return
	}
	switch {
	case m.GetTopic() == "":
		vs.add(field+".topic", "required", "value is required")
	case len(m.GetTopic()) > schemaMaxTopicBytes:
		vs.add(field+".topic", "string.max_bytes", "must be at most %d bytes", schemaMaxTopicBytes)
	}
	if len(m.GetPayload()) > schemaMaxPayloadBytes {
		vs.add(field+".payload", "bytes.max_len", "must be at most %d bytes", schemaMaxPayloadBytes)
	}
	if len(m.GetId()) > schemaMaxIDBytes {
		vs.add(field+".id", "string.max_bytes", "must be at most %d bytes", schemaMaxIDBytes)
	}
	if d := m.GetTtl(); d != nil && d.AsDuration() <= 0 {
		vs.add(field+".ttl", "duration.gt", "must be greater than 0s")
	}
}

// inRange reports whether d is more than 0 and at most limit, as
// protovalidate compares durations: seconds and nanos added up whatever
// their signs, saturating at the bounds of a time.Duration.
func inRange(d *durationpb.Duration, limit time.Duration) bool {
	v := d.AsDuration()
	return v > 0 && v <= limit
}
