package grpcapi

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pushv1 "github.com/herald-push/herald/gen/herald/push/v1"
)

// Request validation. Each check returns InvalidArgument naming the first
// offending field the way the .proto spells it, e.g. "user_ids[3]: must not
// be empty", so that a grpcurl user can tell what to fix. Requests are
// checked in field order and nothing reaches pushsvc unchecked.

// invalid builds the InvalidArgument error for field.
func invalid(field, format string, args ...any) error {
	return status.Error(codes.InvalidArgument, field+": "+fmt.Sprintf(format, args...))
}

// tooLong reports a string or byte field over its limit.
func tooLong(field string, n, limit int) error {
	return invalid(field, "%d bytes exceeds the limit of %d", n, limit)
}

// names checks a list of user ids or group names: required says whether
// it may be empty.
func names(field string, list []string, required bool, maxCount, maxBytes int) error {
	if len(list) == 0 {
		if required {
			return invalid(field, "must not be empty")
		}
		return nil
	}
	if len(list) > maxCount {
		return invalid(field, "%d entries exceeds the limit of %d", len(list), maxCount)
	}
	for i, s := range list {
		switch {
		case s == "":
			return invalid(fmt.Sprintf("%s[%d]", field, i), "must not be empty")
		case len(s) > maxBytes:
			return tooLong(fmt.Sprintf("%s[%d]", field, i), len(s), maxBytes)
		}
	}
	return nil
}

// name checks one required user id or group name.
func name(field, s string, maxBytes int) error {
	switch {
	case s == "":
		return invalid(field, "required")
	case len(s) > maxBytes:
		return tooLong(field, len(s), maxBytes)
	}
	return nil
}

func (l *Limits) userIDs(field string, ids []string) error {
	return names(field, ids, true, l.MaxUserIDs, l.MaxNameBytes)
}

func (l *Limits) message(m *pushv1.Message) error {
	switch {
	case m == nil:
		return invalid("message", "required")
	case m.GetTopic() == "":
		return invalid("message.topic", "required")
	case len(m.GetTopic()) > l.MaxTopicBytes:
		return tooLong("message.topic", len(m.GetTopic()), l.MaxTopicBytes)
	case len(m.GetPayload()) > l.MaxPayloadBytes:
		return tooLong("message.payload", len(m.GetPayload()), l.MaxPayloadBytes)
	case len(m.GetId()) > l.MaxIDBytes:
		return tooLong("message.id", len(m.GetId()), l.MaxIDBytes)
	}
	if m.Ttl != nil {
		if d, ok := duration(m.Ttl); !ok || d <= 0 {
			return invalid("message.ttl", "must be a positive duration")
		}
	}
	return nil
}

func (l *Limits) pushToUsers(r *pushv1.PushToUsersRequest) error {
	if err := l.userIDs("user_ids", r.GetUserIds()); err != nil {
		return err
	}
	if err := l.message(r.GetMessage()); err != nil {
		return err
	}
	if r.AckTimeout != nil {
		if d, ok := duration(r.AckTimeout); !ok || d <= 0 || d > l.MaxAckTimeout {
			return invalid("ack_timeout", "must be positive and at most %s", fmtDuration(l.MaxAckTimeout))
		}
	}
	return nil
}

func (l *Limits) pushToGroups(r *pushv1.PushToGroupsRequest) error {
	if err := names("groups", r.GetGroups(), true, l.MaxGroups, l.MaxNameBytes); err != nil {
		return err
	}
	if err := l.message(r.GetMessage()); err != nil {
		return err
	}
	return names("exclude_user_ids", r.GetExcludeUserIds(), false, l.MaxUserIDs, l.MaxNameBytes)
}

func (l *Limits) broadcast(r *pushv1.BroadcastRequest) error {
	return l.message(r.GetMessage())
}

// membership checks AddToGroup and RemoveFromGroup, which share a shape.
func (l *Limits) membership(group string, users []string) error {
	if err := name("group", group, l.MaxNameBytes); err != nil {
		return err
	}
	return l.userIDs("user_ids", users)
}

func (l *Limits) listGroupMembers(r *pushv1.ListGroupMembersRequest) error {
	return name("group", r.GetGroup(), l.MaxNameBytes)
}

func (l *Limits) disconnectUser(r *pushv1.DisconnectUserRequest) error {
	if err := name("user_id", r.GetUserId(), l.MaxNameBytes); err != nil {
		return err
	}
	if len(r.GetReason()) > l.MaxReasonBytes {
		return tooLong("reason", len(r.GetReason()), l.MaxReasonBytes)
	}
	return nil
}

func (l *Limits) getPresence(r *pushv1.GetPresenceRequest) error {
	return l.userIDs("user_ids", r.GetUserIds())
}

// watchStats checks the interval and returns the one to use.
func (l *Limits) watchStats(r *pushv1.WatchStatsRequest) (time.Duration, error) {
	if r.Interval == nil {
		return l.DefaultStatsInterval, nil
	}
	d, ok := duration(r.Interval)
	if !ok || d < l.MinStatsInterval || d > l.MaxStatsInterval {
		return 0, invalid("interval", "must be between %s and %s", fmtDuration(l.MinStatsInterval), fmtDuration(l.MaxStatsInterval))
	}
	return d, nil
}

// duration converts d, reporting false when it is out of the range
// google.protobuf.Duration allows (seconds and nanos of mixed sign, say).
func duration(d *durationpb.Duration) (time.Duration, bool) {
	if d.CheckValid() != nil {
		return 0, false
	}
	return d.AsDuration(), true
}

// fmtDuration writes d the way people do: "1h" and "5m", not "1h0m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
