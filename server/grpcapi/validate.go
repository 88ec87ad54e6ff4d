package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// Request validation. push.proto states every request constraint as a
// protovalidate rule; the validation interceptor checks each PushService
// request against those rules (the push requests' by hand, with the same
// outcome: pushrules.go), then against the configured Limits, which
// may be tighter, and refuses a bad request with InvalidArgument before
// its method runs, so nothing reaches pushsvc unchecked. The status
// message names every offending field the way the .proto spells it, as
// protovalidate words it ("user_ids[3]: must be at least 1 characters",
// several joined with "; "), and its details carry the same as a
// google.rpc.BadRequest whose reasons are the rule ids.

// The bounds push.proto's rules set. Limits default to them and may only
// tighten them; TestSchemaBounds keeps these equal to the .proto.
const (
	schemaMaxUserIDs       = 1000
	schemaMaxGroups        = 100
	schemaMaxPayloadBytes  = 64 << 10
	schemaMaxTopicBytes    = 256
	schemaMaxIDBytes       = 128
	schemaMaxNameBytes     = 256
	schemaMaxReasonBytes   = 256
	schemaMaxAckTimeout    = 30 * time.Second
	schemaMinStatsInterval = 100 * time.Millisecond
	schemaMaxStatsInterval = time.Hour
)

// newValidator builds the rule evaluators of every PushService request up
// front, so that a rule that does not compile fails New rather than a call.
func newValidator() (protovalidate.Validator, error) {
	methods := pushv1.File_herald_push_v1_push_proto.Services().ByName("PushService").Methods()
	inputs := make([]protoreflect.MessageDescriptor, methods.Len())
	for i := range inputs {
		inputs[i] = methods.Get(i).Input()
	}
	v, err := protovalidate.New(protovalidate.WithMessageDescriptors(inputs...))
	if err != nil {
		return nil, fmt.Errorf("grpcapi: request validator: %w", err)
	}
	return v, nil
}

// validateStream is the validation interceptor for streams: it checks each
// message the handler receives.
func (a *API) validateStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &validatingStream{ServerStream: ss, api: a})
}

type validatingStream struct {
	grpc.ServerStream
	api *API
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.api.checkRequest(s.Context(), m)
}

// checkRequest checks m against the schema's rules, then, when it passes
// them, against the configured limits. The push requests' rules are
// checked by hand (pushrules.go), the others' by protovalidate.
func (a *API) checkRequest(ctx context.Context, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpcapi: cannot validate a %T", m)
	}
	vs, ok := pushRuleViolations(msg)
	if !ok {
		var err error
		if vs, err = a.schemaViolations(msg); err != nil {
			// A rule that does not compile or evaluate: a bug in push.proto.
			a.log.ErrorContext(ctx, "grpc: request validation failed", "err", err)
			return status.Error(codes.Internal, "grpcapi: request validation failed")
		}
	}
	if len(vs) > 0 {
		return vs.err()
	}
	return a.limits.check(msg)
}

// schemaViolations returns what in msg breaks push.proto's rules, as
// protovalidate finds and words it, or the error of a rule that does not
// evaluate.
func (a *API) schemaViolations(msg proto.Message) (violations, error) {
	err := a.validator.Validate(msg)
	var verr *protovalidate.ValidationError
	if err == nil || !errors.As(err, &verr) {
		return nil, err
	}
	vs := make(violations, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		vs = append(vs, &errdetails.BadRequest_FieldViolation{
			Field:       protovalidate.FieldPathString(v.Proto.GetField()),
			Description: v.Proto.GetMessage(),
			Reason:      v.Proto.GetRuleId(),
		})
	}
	return vs, nil
}

// check checks a request that passed the schema's rules against the
// configured limits, which only matter where they are tighter than the
// schema. Durations get the check the schema cannot express: that their
// seconds and nanos make a valid google.protobuf.Duration.
func (l *Limits) check(m proto.Message) error {
	return l.violations(m).err()
}

// violations lists what check finds wrong with m.
func (l *Limits) violations(m proto.Message) violations {
	var vs violations
	switch r := m.(type) {
	case *pushv1.PushToUsersRequest:
		vs.names("user_ids", r.GetUserIds(), l.MaxUserIDs, l.MaxNameBytes)
		vs.message(l, r.GetMessage())
		if d, ok := vs.duration("ack_timeout", r.GetAckTimeout()); ok && d > l.MaxAckTimeout {
			vs.add("ack_timeout", "duration.gt_lte", "must be greater than 0s and less than or equal to %s", seconds(l.MaxAckTimeout))
		}
	case *pushv1.PushToGroupsRequest:
		vs.names("groups", r.GetGroups(), l.MaxGroups, l.MaxNameBytes)
		vs.message(l, r.GetMessage())
		vs.names("exclude_user_ids", r.GetExcludeUserIds(), l.MaxUserIDs, l.MaxNameBytes)
	case *pushv1.BroadcastRequest:
		vs.message(l, r.GetMessage())
	case *pushv1.AddToGroupRequest:
		vs.maxBytes("group", r.GetGroup(), l.MaxNameBytes)
		vs.names("user_ids", r.GetUserIds(), l.MaxUserIDs, l.MaxNameBytes)
	case *pushv1.RemoveFromGroupRequest:
		vs.maxBytes("group", r.GetGroup(), l.MaxNameBytes)
		vs.names("user_ids", r.GetUserIds(), l.MaxUserIDs, l.MaxNameBytes)
	case *pushv1.ListGroupMembersRequest:
		vs.maxBytes("group", r.GetGroup(), l.MaxNameBytes)
	case *pushv1.DisconnectUserRequest:
		vs.maxBytes("user_id", r.GetUserId(), l.MaxNameBytes)
		vs.maxBytes("reason", r.GetReason(), l.MaxReasonBytes)
	case *pushv1.GetPresenceRequest:
		vs.names("user_ids", r.GetUserIds(), l.MaxUserIDs, l.MaxNameBytes)
	case *pushv1.WatchEventsRequest:
		vs.names("user_ids", r.GetUserIds(), l.MaxUserIDs, l.MaxNameBytes)
	case *pushv1.WatchStatsRequest:
		if d, ok := vs.duration("interval", r.GetInterval()); ok && (d < l.MinStatsInterval || d > l.MaxStatsInterval) {
			vs.add("interval", "duration.gte_lte", "must be greater than or equal to %s and less than or equal to %s",
				seconds(l.MinStatsInterval), seconds(l.MaxStatsInterval))
		}
	case *pushv1.PushStreamRequest:
		vs = l.streamViolations(r)
	}
	return vs
}

// streamViolations checks a PushStream request: its push as the unary
// request of its kind, with the fields named from the stream request
// ("users.user_ids[3]"), and no ack_timeout, which a stream cannot wait
// for.
func (l *Limits) streamViolations(r *pushv1.PushStreamRequest) violations {
	inner, name := streamPush(r)
	if inner == nil {
		return nil // the schema requires one
	}
	var vs violations
	if r.GetUsers().GetAckTimeout() != nil {
		vs.add("users.ack_timeout", "push_stream.ack_timeout", "not allowed on a stream: ask for receipts with PushToUsers")
	}
	for _, v := range l.violations(inner) {
		if v.GetField() == "ack_timeout" {
			continue // refused above whatever its value
		}
		v.Field = name + "." + v.GetField()
		vs = append(vs, v)
	}
	return vs
}

// violations collect what is wrong with a request, in field order.
type violations []*errdetails.BadRequest_FieldViolation

// add records a violation of rule (a protovalidate rule id) by field.
func (vs *violations) add(field, rule, format string, args ...any) {
	*vs = append(*vs, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...), Reason: rule})
}

func (vs *violations) maxBytes(field, s string, limit int) {
	if len(s) > limit {
		vs.add(field, "string.max_bytes", "must be at most %d bytes", limit)
	}
}

// names checks a list of user ids or group names.
func (vs *violations) names(field string, list []string, maxItems, maxBytes int) {
	if len(list) > maxItems {
		vs.add(field, "repeated.max_items", "must contain no more than %d item(s)", maxItems)
	}
	for i, s := range list {
		if len(s) > maxBytes {
			// The name only when needed: it would cost an allocation
			// per name of every request.
			vs.maxBytes(field+"["+strconv.Itoa(i)+"]", s, maxBytes)
		}
	}
}

func (vs *violations) message(l *Limits, m *pushv1.Message) {
	vs.maxBytes("message.topic", m.GetTopic(), l.MaxTopicBytes)
	if len(m.GetPayload()) > l.MaxPayloadBytes {
		vs.add("message.payload", "bytes.max_len", "must be at most %d bytes", l.MaxPayloadBytes)
	}
	vs.maxBytes("message.id", m.GetId(), l.MaxIDBytes)
	vs.duration("message.ttl", m.GetTtl())
}

// duration converts d when it is set and valid, and records it as a
// violation when it is set and invalid: seconds and nanos of mixed signs,
// say, which protovalidate normalizes rather than refuses.
func (vs *violations) duration(field string, d *durationpb.Duration) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	if err := d.CheckValid(); err != nil {
		vs.add(field, "duration.valid", "must be a valid duration: seconds and nanos of the same sign, nanos within a second")
		return 0, false
	}
	return d.AsDuration(), true
}

// err is the InvalidArgument status for the violations, nil when there
// are none.
func (vs violations) err() error {
	if len(vs) == 0 {
		return nil
	}
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = v.GetDescription()
		if v.GetField() != "" {
			msgs[i] = v.GetField() + ": " + msgs[i]
		}
	}
	st := status.New(codes.InvalidArgument, strings.Join(msgs, "; "))
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: vs}); err == nil {
		st = d
	}
	return st.Err()
}

// seconds writes d the way protovalidate's messages do: "0.1s", "3600s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
