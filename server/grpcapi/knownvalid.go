package grpcapi

import (
	"google.golang.org/protobuf/proto"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// The push requests' rules, checked in plain Go. protovalidate (v1.4.0)
// walks a message by reflection and checks the rules of a repeated
// field's items with a CEL program per item: about 3 µs for a PushStream
// request to one user, a third of the node's CPU for that request
// (`herald bench --scenario stream --offline` under pprof), and as much
// for a unary push. knownValid answers true only for a push request that
// certainly keeps every rule push.proto sets on it; checkRequest then skips
// protovalidate. Anything else goes to protovalidate, which words the
// violations: a request that breaks a rule, and one with a ttl or an
// ack_timeout, whose duration rules are left to it.
//
// TestKnownValidFollowsTheSchema fails as soon as push.proto's rules on
// these messages change, so that this code changes with them, and
// TestKnownValidAgreesWithProtovalidate compares the two on requests
// around every bound.

// schemaMaxCorrelationIDBytes is PushStreamRequest.correlation_id's bound.
const schemaMaxCorrelationIDBytes = 128

// knownValid reports whether m is a push request that keeps every rule of
// push.proto.
func knownValid(m proto.Message) bool {
	switch r := m.(type) {
	case *pushv1.PushStreamRequest:
		if len(r.GetCorrelationId()) > schemaMaxCorrelationIDBytes {
			return false
		}
		switch p := r.GetPush().(type) {
		case *pushv1.PushStreamRequest_Users:
			return knownValidUsers(p.Users)
		case *pushv1.PushStreamRequest_Groups:
			return knownValidGroups(p.Groups)
		case *pushv1.PushStreamRequest_Broadcast:
			return p.Broadcast != nil && knownValidMessage(p.Broadcast.GetMessage())
		}
	case *pushv1.PushToUsersRequest:
		return knownValidUsers(r)
	case *pushv1.PushToGroupsRequest:
		return knownValidGroups(r)
	case *pushv1.BroadcastRequest:
		return knownValidMessage(r.GetMessage())
	}
	return false
}

func knownValidUsers(r *pushv1.PushToUsersRequest) bool {
	return r != nil && r.GetAckTimeout() == nil &&
		knownValidNames(r.GetUserIds(), 1, schemaMaxUserIDs) &&
		knownValidMessage(r.GetMessage())
}

func knownValidGroups(r *pushv1.PushToGroupsRequest) bool {
	return r != nil &&
		knownValidNames(r.GetGroups(), 1, schemaMaxGroups) &&
		knownValidNames(r.GetExcludeUserIds(), 0, schemaMaxUserIDs) &&
		knownValidMessage(r.GetMessage())
}

// knownValidMessage checks a required Message. Its topic's min_len counts
// characters, and a non-empty string has at least one.
func knownValidMessage(m *pushv1.Message) bool {
	return m != nil && m.GetTtl() == nil &&
		len(m.GetTopic()) >= 1 && len(m.GetTopic()) <= schemaMaxTopicBytes &&
		len(m.GetPayload()) <= schemaMaxPayloadBytes &&
		len(m.GetId()) <= schemaMaxIDBytes
}

// knownValidNames checks a list of user ids or group names: between
// minItems and maxItems of them, each of 1 to schemaMaxNameBytes bytes.
func knownValidNames(list []string, minItems, maxItems int) bool {
	if len(list) < minItems || len(list) > maxItems {
		return false
	}
	for _, s := range list {
		if len(s) < 1 || len(s) > schemaMaxNameBytes {
			return false
		}
	}
	return true
}
